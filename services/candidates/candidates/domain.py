"""Candidate rules, free of frameworks: postcodes, BSN, the werkprofiel and the lifecycle."""

from __future__ import annotations

import re

POSTCODE = re.compile(r"^([1-9][0-9]{3})\s?([A-Za-z]{2})?\Z")

REGISTERED = "registered"
INTAKE = "intake"
IN_TRAJECTORY = "in_trajectory"
AVAILABLE = "available"
INTRODUCED = "introduced"
PLACED = "placed"
SUSTAINED = "sustained"
STATUSES = (REGISTERED, INTAKE, IN_TRAJECTORY, AVAILABLE, INTRODUCED, PLACED, SUSTAINED)
# Not a lifecycle stage: an erased candidate keeps only an anonymous row, so
# nothing moves it anywhere (next_status refuses every move out of it).
ERASED = "erased"
# What a professional may set by hand; introduced, placed and sustained
# follow matching's and aftercare's events, so the two systems never disagree.
MANUAL_STATUSES = (INTAKE, IN_TRAJECTORY, AVAILABLE)

# Who may move where. A placement can come straight from any stage before it:
# a jobhunter may find work for someone still in intake.
TRANSITIONS = {
    REGISTERED: {INTAKE, IN_TRAJECTORY, AVAILABLE, INTRODUCED, PLACED},
    INTAKE: {IN_TRAJECTORY, AVAILABLE, INTRODUCED, PLACED},
    IN_TRAJECTORY: {AVAILABLE, INTRODUCED, PLACED},
    AVAILABLE: {IN_TRAJECTORY, INTRODUCED, PLACED},
    INTRODUCED: {AVAILABLE, PLACED},
    PLACED: {AVAILABLE, SUSTAINED},
    SUSTAINED: {AVAILABLE},
}

# VUM eisAanWerk, as codes that may travel in the matching profile; the
# person's own words about them stay in condition_notes (personal data).
CONDITIONS = (
    "low_stimulus_workplace", "jobcoach_needed", "no_night_shifts", "childcare_window",
    "workplace_adaptation", "no_heavy_lifting", "fixed_schedule",
)
# A plain skill URI (the spine's form) is a skill shown at work, independently.
DEFAULT_LEVEL = 2
DEFAULT_EVIDENCE = "work_experience"
CERTIFICATE_LEVEL = 2


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


def may_move(current: str, wanted: str) -> bool:
    return wanted in TRANSITIONS.get(current, ())


def status_on_enrolment(current: str) -> str | None:
    """The status an enrolment moves to, or None to leave it.

    Someone already introduced or at work keeps that status: a trajectory next
    to a job (a leerwerkbaan) is normal and must not push them back.
    """
    if current == IN_TRAJECTORY or not may_move(current, IN_TRAJECTORY):
        return None
    return IN_TRAJECTORY


# --- BSN --------------------------------------------------------------------------------

BSN_DIGITS = re.compile(r"^[0-9]{9}\Z")


def elfproef(bsn: str) -> bool:
    """The BSN check: weights 9..2 and -1 for the last digit, sum divisible by 11."""
    if not isinstance(bsn, str) or not BSN_DIGITS.match(bsn) or bsn == "000000000":
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(w * int(d) for w, d in zip(weights, bsn, strict=True)) % 11 == 0


def normalise_bsn(raw: str) -> str:
    """'1112 22 333' -> '111222333'; ValueError (never echoing the number) if invalid."""
    bsn = re.sub(r"[\s.]", "", raw) if isinstance(raw, str) else ""
    if not elfproef(bsn):
        raise ValueError("not a valid BSN (9 digits passing the elfproef)")
    return bsn


# --- werkprofiel ------------------------------------------------------------------------


def skill_claims(items) -> list[dict]:
    """Plain URIs and {skill, level, evidence} objects as one claim per skill.

    A skill named twice keeps its highest level (the first such claim).
    """
    best: dict[str, dict] = {}
    for item in items:
        claim = (
            {"skill": item, "level": DEFAULT_LEVEL, "evidence": DEFAULT_EVIDENCE}
            if isinstance(item, str)
            else {"skill": item["skill"], "level": item["level"], "evidence": item["evidence"]}
        )
        known = best.get(claim["skill"])
        if known is None or claim["level"] > known["level"]:
            best[claim["skill"]] = claim
    return [best[s] for s in sorted(best)]


def with_certificate(claims: list[dict], skill: str) -> list[dict]:
    """A certificate proves the skill: evidence becomes certificate, level at least independent."""
    out = [c for c in claims if c["skill"] != skill]
    had = next((c for c in claims if c["skill"] == skill), None)
    level = max(had["level"], CERTIFICATE_LEVEL) if had else CERTIFICATE_LEVEL
    out.append({"skill": skill, "level": level, "evidence": "certificate"})
    return sorted(out, key=lambda c: c["skill"])


def profile_problems(profile: dict) -> dict[str, list[str]]:
    """Rules across fields of a (merged) werkprofiel, by the field to fix."""
    problems: dict[str, list[str]] = {}
    hours_min, hours_max = profile.get("hours_min"), profile.get("hours_per_week")
    if hours_min is not None and hours_max is not None and hours_min > hours_max:
        problems["hours_min"] = ["must not exceed hours_per_week (the most hours wanted)"]
    if profile.get("banenafspraak") and "doelgroepregister" not in (profile.get("target_groups") or ()):
        problems["banenafspraak"] = ["a banenafspraak indication needs the target group doelgroepregister"]
    return problems


# --- placements ---------------------------------------------------------------------------
# Events about one placement travel on different queues and may overtake each
# other; these rules look at what is known of the candidate's placements.


def status_on_placement_recorded(placement_ended: bool) -> str | None:
    """'placed', unless the end of this placement was already heard of."""
    return None if placement_ended else PLACED


def status_on_placement_ended(other_active_placements: int) -> str | None:
    """Back in the pool when no other job is still running."""
    return None if other_active_placements else AVAILABLE


def status_on_placement_sustained(placement_ended: bool) -> str | None:
    return None if placement_ended else SUSTAINED
