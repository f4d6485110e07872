"""werkbrug vacancies service."""
