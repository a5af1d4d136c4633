"""pbrl's command line (``pbrl --help``)."""
