"""Apply events to the read models. Plain functions over a session, so a
rebuild can replay the event store through exactly the same code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from reporting.models import (
    CandidateOutflow,
    CandidateTargetGroup,
    ErasedCandidate,
    PlacementFact,
    PlacementTargetGroup,
    StoredEvent,
)
from werkbrug_shared.events.envelope import utcnow

# What an erased person's events keep: ids, dates and the bounded groupings the
# counts use. The matching profile (area, skills, wishes, conditions) goes.
KEPT_AFTER_ERASURE = frozenset({
    "candidate_id", "placement_id", "vacancy_id", "employer_id", "plan_id", "task_id", "match_id",
    "jobcoach_id", "region", "target_groups", "cohort", "trajectory", "module", "start_date", "end_date",
    "months", "outcome", "from_status", "to_status", "hours_per_week", "task_count", "kind", "due",
})


def anonymised(data: dict) -> dict:
    return {k: v for k, v in data.items() if k in KEPT_AFTER_ERASURE}


def is_erased(session: Session, candidate_id: str | None) -> bool:
    return candidate_id is not None and session.get(ErasedCandidate, candidate_id) is not None


def _candidate(session: Session, candidate_id: str) -> CandidateOutflow:
    row = session.get(CandidateOutflow, candidate_id)
    if row is None:
        row = CandidateOutflow(candidate_id=candidate_id, placements=0)
        session.add(row)
    return row


def _target_groups(session: Session, candidate_id: str, groups) -> None:
    have = set(session.scalars(
        select(CandidateTargetGroup.target_group).where(CandidateTargetGroup.candidate_id == candidate_id)
    ))
    for group in set(groups) - have:
        session.add(CandidateTargetGroup(candidate_id=candidate_id, target_group=group))


def candidate_registered(session: Session, data: dict) -> None:
    row = _candidate(session, data["candidate_id"])
    row.region = data["region"]
    row.cohort = data.get("cohort") or row.cohort
    _target_groups(session, row.candidate_id, data["target_groups"])


def candidate_enrolled(session: Session, data: dict) -> None:
    row = _candidate(session, data["candidate_id"])
    row.region = data["region"]
    row.cohort = data["cohort"]
    _target_groups(session, row.candidate_id, data["target_groups"])


def placement_recorded(session: Session, data: dict) -> None:
    if session.get(PlacementFact, data["placement_id"]) is not None:
        return
    session.add(PlacementFact(
        placement_id=data["placement_id"], candidate_id=data["candidate_id"], region=data["region"],
        cohort=data.get("cohort"), start_date=data["start_date"],
    ))
    for group in set(data["target_groups"]):
        session.add(PlacementTargetGroup(placement_id=data["placement_id"], target_group=group))
    # the placement may overtake the candidate's own events: it carries enough to count them
    row = _candidate(session, data["candidate_id"])
    row.region = row.region or data["region"]
    row.cohort = row.cohort or data.get("cohort")
    row.placements = (row.placements or 0) + 1
    if row.first_placed_on is None or data["start_date"] < row.first_placed_on:
        row.first_placed_on = data["start_date"]
    _target_groups(session, row.candidate_id, data["target_groups"])


def candidate_erased(session: Session, data: dict) -> None:
    """AVG erasure: strip this person's stored events down to what the counts need."""
    candidate_id = data["candidate_id"]
    if session.get(ErasedCandidate, candidate_id) is None:
        session.add(ErasedCandidate(candidate_id=candidate_id, erased_at=utcnow()))
    for stored in session.scalars(select(StoredEvent).where(StoredEvent.candidate_id == candidate_id)):
        stored.data = anonymised(stored.data)


PROJECTIONS = {
    "nl.werkbrug.candidate.registered.v1": candidate_registered,
    "nl.werkbrug.candidate.enrolled.v1": candidate_enrolled,
    "nl.werkbrug.placement.recorded.v1": placement_recorded,
    "nl.werkbrug.candidate.erased.v1": candidate_erased,
}


def apply(session: Session, event_type: str, data: dict) -> None:
    projection = PROJECTIONS.get(event_type)
    if projection is not None:
        projection(session, data)
