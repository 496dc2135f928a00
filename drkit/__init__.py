"""drkit: encrypted, deduplicated backups with restore drills that prove them."""

__version__ = "0.1.0"
