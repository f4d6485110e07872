"""werkbrug aftercare (nazorg) service."""
