"""Data shapes: API bodies and answers (`api`), stored rows (`integration`)."""
