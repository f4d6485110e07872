"""Vacancy rules, free of frameworks: who changes a vacancy in the shared pool
(who sees one is the platform's rule, :mod:`werkbrug_shared.visibility`), how
openings move with placements."""

from __future__ import annotations

import re
from collections.abc import Collection

from werkbrug_shared.visibility import VISIBILITIES as VISIBILITIES  # the one rule's; schemas check with it

KVK = re.compile(r"^[0-9]{8}\Z")
# SBI (Standaard Bedrijfsindeling) codes, from section digits to the 5-digit subclass
SBI = re.compile(r"^[0-9]{2,5}\Z")
POSTCODE = re.compile(r"^([1-9][0-9]{3})\s?([A-Za-z]{2})?\Z")

# a vacancy's status: open while an opening is free, filled when none is, closed for good
OPEN, FILLED, CLOSED = "open", "filled", "closed"
STATUSES = (OPEN, FILLED, CLOSED)
# a placement as vacancies has heard of it (PlacementSeen.status): each moves an opening once
PLACEMENT_ACTIVE, PLACEMENT_GONE = "active", "ended"
CONDITIONS_OFFERED = (
    "low_stimulus_workplace", "job_carving", "on_the_job_guidance",
    "adapted_workplace", "flexible_hours", "accessible_building",
)
# A closed vacancy's reason travels in vacancy.closed, so it is a code, never
# free text that could name a person; a steward's own words stay in ``note``.
CLOSE_REASONS = (
    "filled_elsewhere", "withdrawn_by_employer", "expired", "duplicate", "no_suitable_candidates", "other",
)


class Refused(Exception):
    """A rule said no; ``field`` names the input it is about."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# --- openings ---------------------------------------------------------------------------


def status_for(openings: int, filled: int, status: str) -> str:
    """Open while an opening is free, filled when none is; closed stays closed."""
    if status == CLOSED:
        return status
    return FILLED if filled >= openings else OPEN


def fill_opening(openings: int, filled: int, status: str = OPEN) -> tuple[int, str]:
    """One more placement on a vacancy: new filled count and status.

    A placement beyond the openings is still counted (the employer hired one
    more), but the vacancy is filled either way.
    """
    filled += 1
    return filled, status_for(openings, filled, status)


def free_opening(openings: int, filled: int, status: str = OPEN) -> tuple[int, str]:
    """A placement ended: its opening comes back, and a filled vacancy opens again."""
    filled = max(filled - 1, 0)
    return filled, status_for(openings, filled, status)


def check_openings(openings: int, filled: int) -> None:
    if openings < filled:
        raise Refused("openings", f"{filled} openings are already filled; cannot lower openings to {openings}")


# --- who changes (who sees: werkbrug_shared.visibility) ----------------------------------


def may_change(steward_organisations: Collection[str], region: str,
               caller_organisation: str | None, caller_region: str | None) -> bool:
    """Any professional of a stewarding organisation may change a vacancy. One
    opened without a credential has no stewards: the partners of its region
    look after it."""
    if caller_organisation is None:
        return False
    if steward_organisations:
        return caller_organisation in steward_organisations
    return caller_region == region


# --- skills -------------------------------------------------------------------------------


def requirements(must_have: list[dict], nice_to_have: list[dict]) -> list[tuple[str, float, bool]]:
    """(skill, weight, is_must_have) per skill; a skill is one or the other, not both."""
    must = {s["skill"]: s["weight"] for s in must_have}
    both = [i for i, s in enumerate(nice_to_have) if s["skill"] in must]
    if both:
        raise Refused("nice_to_have", f"skills also listed as must-have (positions {both})")
    nice = {s["skill"]: s["weight"] for s in nice_to_have}
    return [(k, w, True) for k, w in sorted(must.items())] + [(k, w, False) for k, w in sorted(nice.items())]


def normalise_postcode(postcode: str) -> tuple[str, str]:
    """'7511 jd' -> ('7511JD', '7511'): stored form and PC4 area."""
    compact = postcode.replace(" ", "").upper()
    return compact, compact[:4]
