"""werkbrug matching service."""
