"""werkbrug reporting service."""
