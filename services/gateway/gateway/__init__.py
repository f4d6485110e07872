"""werkbrug HTTP gateway."""
