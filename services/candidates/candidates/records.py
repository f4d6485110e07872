"""Candidates as rows to write and as dicts to answer with.

One registration path for ``register`` and ``register_many``: a validated
payload becomes plain row dicts, written with bulk inserts, so a batch of a
thousand costs a handful of statements, not thousands.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from candidates import domain
from candidates.bsn import BsnVault
from candidates.models import Candidate, CandidateSkill, CandidateTargetGroup, PersonalData, Plan
from werkbrug_shared.db import insert_rows
from werkbrug_shared.events.catalogue import WEEKDAYS

PROFILE_COLUMNS = (
    "region", "pc4", "banenafspraak", "occupations_wanted", "work_thinking_level", "dutch_level",
    "hours_per_week", "hours_min", "available_days", "available_from", "max_travel_minutes",
    "max_distance_km", "transport_modes", "conditions", "cohort",
)
PERSONAL_FIELDS = (
    "given_name", "family_name", "postcode", "birth_date", "phone", "email", "address", "condition_notes",
)
ADDRESS_COLUMNS = ("street", "house_number", "city")
# what an erased candidate keeps: enough for the counts, nothing about the person
ERASED_PROFILE = {
    "pc4": None, "banenafspraak": False, "occupations_wanted": [], "work_thinking_level": None,
    "dutch_level": None, "hours_min": None, "available_days": [], "available_from": None,
    "max_travel_minutes": None, "max_distance_km": None, "transport_modes": [], "conditions": [],
}


def _iso(value):
    return value.isoformat() if value is not None else None


def profile_columns(data: Mapping) -> dict:
    """The werkprofiel columns from a validated payload (or a validated change)."""
    out = {}
    for field in PROFILE_COLUMNS:
        if field not in data:
            continue
        value = data[field]
        if field == "available_days":
            value = [d for d in WEEKDAYS if d in set(value)]  # week order, once each
        elif field in ("occupations_wanted", "transport_modes", "conditions"):
            value = sorted(set(value))
        out[field] = value
    return out


def matching_profile(candidate_id: str, columns: Mapping, target_groups, claims: list[dict]) -> dict:
    """The anonymous profile events carry (catalogue: MatchingProfile)."""
    return {
        "candidate_id": candidate_id,
        "region": columns["region"],
        "pc4": columns["pc4"],
        "target_groups": sorted(target_groups),
        "banenafspraak": bool(columns["banenafspraak"]),
        "skills": [c["skill"] for c in claims],
        "skill_evidence": [dict(c) for c in claims],
        "occupations_wanted": list(columns["occupations_wanted"]),
        "work_thinking_level": columns["work_thinking_level"],
        "dutch_level": columns["dutch_level"],
        "hours_per_week": columns["hours_per_week"],
        "hours_min": columns["hours_min"],
        "available_days": list(columns["available_days"]),
        "available_from": _iso(columns["available_from"]),
        "max_travel_minutes": columns["max_travel_minutes"],
        "max_distance_km": columns["max_distance_km"],
        "transport_modes": list(columns["transport_modes"]),
        "conditions": list(columns["conditions"]),
        "cohort": columns["cohort"],
    }


def profile_of(row: Candidate) -> dict:
    return matching_profile(row.id, {f: getattr(row, f) for f in PROFILE_COLUMNS}, row.target_groups,
                            row.skill_claims)


def view(candidate_id: str, status: str, registered_at: datetime, registered_by: str | None, profile: dict) -> dict:
    """What every caller may see of a candidate: the profile, no personal data."""
    out = {"id": candidate_id, "status": status, "registered_at": _iso(registered_at),
           "registered_by": registered_by, **profile}
    del out["candidate_id"]
    return out


def candidate_dict(row: Candidate) -> dict:
    out = view(row.id, row.status, row.registered_at, row.registered_by, profile_of(row))
    if row.erased_at is not None:
        out["erased_at"] = _iso(row.erased_at)
    return out


def personal_dict(personal: PersonalData, plan: Plan | None) -> dict:
    address = {c: getattr(personal, c) for c in ADDRESS_COLUMNS}
    return {
        "given_name": personal.given_name,
        "family_name": personal.family_name,
        "postcode": personal.postcode,
        "birth_date": _iso(personal.birth_date),
        "phone": personal.phone,
        "email": personal.email,
        "address": address if any(address.values()) else None,
        "condition_notes": personal.condition_notes,
        # never the number itself: whoever needs it asks the person
        "has_bsn": personal.bsn_hash is not None,
        "plan": plan_dict(plan) if plan is not None else None,
    }


def plan_dict(plan: Plan) -> dict:
    return {"goal": plan.goal, "steps": list(plan.steps), "organisation": plan.organisation,
            "professional": plan.professional, "updated_at": _iso(plan.updated_at)}


def personal_columns(data: Mapping) -> dict:
    """Personal-data columns from a validated payload (or change), BSN aside."""
    out = {f: data[f] for f in PERSONAL_FIELDS if f in data and f not in ("address", "postcode")}
    if "postcode" in data:
        out["postcode"], _ = domain.normalise_postcode(data["postcode"])
    if "address" in data:
        address = data["address"] or {}
        out.update({c: address.get(c) for c in ADDRESS_COLUMNS})
    return out


@dataclass
class NewCandidate:
    """One registration, as the rows it writes."""

    candidate: dict
    personal: dict
    target_groups: list[str]
    claims: list[dict]
    matching_consent: bool = True  # intake's record: may matching rank them (handlers.write)

    @property
    def id(self) -> str:
        return self.candidate["id"]

    @property
    def source_ref(self) -> str | None:
        return self.candidate["source_ref"]

    @property
    def bsn_hash(self) -> str | None:
        return self.personal["bsn_hash"]

    @property
    def cohort(self) -> str | None:
        return self.candidate["cohort"]

    def profile(self) -> dict:
        return matching_profile(self.id, self.candidate, self.target_groups, self.claims)

    def view(self) -> dict:
        c = self.candidate
        return view(c["id"], c["status"], c["registered_at"], c["registered_by"], self.profile())


def prepare(data: Mapping, organisation: str | None, now: datetime, vault: BsnVault | None) -> NewCandidate:
    """Rows for a validated registration; ``vault`` is needed only when it carries a BSN."""
    candidate_id = str(uuid.uuid4())
    _, pc4 = domain.normalise_postcode(data["postcode"])
    candidate = {
        "id": candidate_id,
        **profile_columns(data),
        "pc4": pc4,
        "status": domain.REGISTERED,
        "registered_by": organisation,
        "source_ref": data.get("source_ref"),
        "registered_at": now,
        "updated_at": now,
        "erased_at": None,
    }
    personal = {
        "candidate_id": candidate_id,
        "birth_date": None, "phone": None, "email": None, "condition_notes": None,
        **dict.fromkeys(ADDRESS_COLUMNS),
        **personal_columns(data),
        "bsn_ciphertext": None,
        "bsn_hash": None,
    }
    if data.get("bsn"):
        bsn = domain.normalise_bsn(data["bsn"])
        personal["bsn_ciphertext"] = vault.encrypt(bsn, candidate_id)
        personal["bsn_hash"] = vault.digest(bsn)
    return NewCandidate(candidate, personal, sorted(set(data["target_groups"])), domain.skill_claims(data["skills"]),
                        data.get("matching_consent", True))


# Which of a batch's keys are taken, as one index probe per key. A bulk import grows
# the tables faster than autovacuum analyses them: planned from stale statistics,
# ``source_ref IN (...1,000 keys)`` read every row of the partner (the index on
# registered_by alone, the keys as a filter) and ``bsn_hash IN (...)`` every row
# of candidate_personal_data, per batch: quadratic in the import. A LATERAL
# subquery with LIMIT cannot be flattened into a join, so each key is looked up in
# the unique index, whatever the statistics say; both keys are unique, so LIMIT 1
# drops nothing.
_IMPORTED_PG = text(
    "SELECT k.ref, c.id FROM unnest(CAST(:refs AS varchar[])) AS k(ref) CROSS JOIN LATERAL "
    "(SELECT id FROM candidates WHERE registered_by = :organisation AND source_ref = k.ref LIMIT 1) AS c")
_BSN_OWNERS_PG = text(
    "SELECT k.hash, p.candidate_id FROM unnest(CAST(:hashes AS varchar[])) AS k(hash) CROSS JOIN LATERAL "
    "(SELECT candidate_id FROM candidate_personal_data WHERE bsn_hash = k.hash LIMIT 1) AS p")


def imported(session: Session, organisation: str | None, source_refs) -> dict[str, str]:
    """source_ref -> candidate id, of those ``organisation`` imported before."""
    refs = sorted(set(source_refs))
    if not refs:
        return {}
    if session.get_bind().dialect.name == "postgresql" and organisation is not None:
        return dict(session.execute(_IMPORTED_PG, {"refs": refs, "organisation": organisation}).all())
    return imported_in(session, organisation, refs)


def imported_in(session: Session, organisation: str | None, refs) -> dict[str, str]:
    """:func:`imported` as a plain ``IN`` query (SQLite; the probes are held to it by a test)."""
    return dict(session.execute(
        select(Candidate.source_ref, Candidate.id).where(
            Candidate.registered_by == organisation, Candidate.source_ref.in_(refs))
    ).all())


def bsn_owners(session: Session, hashes) -> dict[str, str]:
    """BSN hash -> the candidate registered with it, of those known."""
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        return dict(session.execute(_BSN_OWNERS_PG, {"hashes": wanted}).all())
    return bsn_owners_in(session, wanted)


def bsn_owners_in(session: Session, hashes) -> dict[str, str]:
    """:func:`bsn_owners` as a plain ``IN`` query (SQLite; the probes are held to it by a test)."""
    return dict(session.execute(
        select(PersonalData.bsn_hash, PersonalData.candidate_id).where(PersonalData.bsn_hash.in_(hashes))
    ).all())


# The services plan every statement anew (werkbrug_shared.db: plan_cache_mode =
# force_custom_plan), and PostgreSQL's foreign-key checks are statements too: each
# row of a COPY into a child table planned ``SELECT 1 FROM ONLY candidates WHERE id
# = $1 FOR KEY SHARE`` again, half of PostgreSQL's CPU in a bulk import. That check
# is a primary-key lookup whatever the table holds, so for the rest of this
# transaction (the COPYs, the outbox and the reply record) the default plan cache
# applies: the check is planned once per connection.
PLAN_FK_CHECKS_ONCE = text("SET LOCAL plan_cache_mode = auto")


def insert_all(session: Session, batch: list[NewCandidate]) -> None:
    if not batch:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(PLAN_FK_CHECKS_ONCE)
    insert_rows(session, Candidate.__table__, [n.candidate for n in batch])
    insert_rows(session, PersonalData.__table__, [n.personal for n in batch])
    insert_rows(session, CandidateTargetGroup.__table__,
                [{"candidate_id": n.id, "target_group": g} for n in batch for g in n.target_groups])
    insert_rows(session, CandidateSkill.__table__, [{"candidate_id": n.id, **c} for n in batch for c in n.claims])


def replace_claims(row: Candidate, claims: list[dict]) -> None:
    """Set the candidate's skills to ``claims``, changing only what differs."""
    have = {s.skill: s for s in row.skill_rows}
    wanted = {c["skill"]: c for c in claims}
    row.skill_rows = [s for s in row.skill_rows if s.skill in wanted]
    for skill, claim in wanted.items():
        if skill in have:
            have[skill].level, have[skill].evidence = claim["level"], claim["evidence"]
        else:
            row.skill_rows.append(CandidateSkill(candidate_id=row.id, **claim))


def replace_target_groups(row: Candidate, groups) -> None:
    wanted = set(groups)
    row.target_group_rows = [t for t in row.target_group_rows if t.target_group in wanted]
    for group in sorted(wanted - set(row.target_groups)):
        row.target_group_rows.append(CandidateTargetGroup(candidate_id=row.id, target_group=group))
