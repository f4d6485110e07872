"""Candidate rules, free of frameworks: postcodes and the lifecycle."""

from __future__ import annotations

import re

POSTCODE = re.compile(r"^([1-9][0-9]{3})\s?([A-Za-z]{2})?\Z")

STATUSES = ("registered", "intake", "in_trajectory", "available", "introduced", "placed", "sustained")

# Who may move where. A placement can come straight from any stage before it:
# a jobhunter may find work for someone still in intake.
TRANSITIONS = {
    "registered": {"intake", "in_trajectory", "available", "introduced", "placed"},
    "intake": {"in_trajectory", "available", "introduced", "placed"},
    "in_trajectory": {"available", "introduced", "placed"},
    "available": {"in_trajectory", "introduced", "placed"},
    "introduced": {"available", "placed"},
    "placed": {"available", "sustained"},
    "sustained": {"available"},
}


class IllegalTransition(Exception):
    pass


def normalise_postcode(postcode: str) -> tuple[str, str]:
    """'1234 ab' -> ('1234AB', '1234'); the PC4 area is what may travel."""
    match = POSTCODE.match(postcode.strip())
    if not match:
        raise ValueError("not a Dutch postcode")
    pc4, letters = match.group(1), (match.group(2) or "").upper()
    return pc4 + letters, pc4


def next_status(current: str, wanted: str) -> str:
    if wanted not in TRANSITIONS.get(current, ()):
        raise IllegalTransition(f"a candidate cannot go from {current} to {wanted}")
    return wanted
