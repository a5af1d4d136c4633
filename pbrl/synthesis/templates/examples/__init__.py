"""Few-shot example reward programs (Text2Reward style), one task each (package data)."""
