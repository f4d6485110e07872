"""Vacancy rules, free of frameworks."""

from __future__ import annotations

import re

KVK = re.compile(r"^[0-9]{8}\Z")


def fill_opening(openings: int, filled: int) -> tuple[int, str]:
    """One more placement on a vacancy: new filled count and status.

    A placement beyond the openings is still counted (the employer hired one
    more), but the vacancy is filled either way.
    """
    filled += 1
    return filled, "filled" if filled >= openings else "open"
