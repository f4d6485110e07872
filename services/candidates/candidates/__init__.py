"""werkbrug candidates service."""
