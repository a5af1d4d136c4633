"""Prompt templates of the LLM teacher (package data; ``LLMTeacher(templates_dir=...)`` overrides them)."""
