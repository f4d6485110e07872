"""Apply events to the read models. Plain code over a session, so a rebuild
can replay the event store through exactly the same path.

A :class:`Projector` serves one batch: it loads every row the batch touches in
a handful of ``IN (...)`` queries, applies the events in memory in order, and
writes: rows that are new in one bulk insert each (:meth:`Projector.write`),
changed rows through the session's flush. Per event that was six statements.
"""

from __future__ import annotations

from types import SimpleNamespace

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
from werkbrug_shared.db import insert_rows
from werkbrug_shared.events.envelope import utcnow

REGISTERED = "nl.werkbrug.candidate.registered.v1"
ENROLLED = "nl.werkbrug.candidate.enrolled.v1"
PLACEMENT_RECORDED = "nl.werkbrug.placement.recorded.v1"
ERASED = "nl.werkbrug.candidate.erased.v1"

# What an erased person's events keep: ids, dates and the bounded groupings the
# counts use. The matching profile (area, skills, wishes, conditions) goes.
KEPT_AFTER_ERASURE = frozenset({
    "candidate_id", "placement_id", "vacancy_id", "employer_id", "plan_id", "task_id", "match_id",
    "jobcoach_id", "region", "target_groups", "cohort", "trajectory", "module", "start_date", "end_date",
    "months", "outcome", "from_status", "to_status", "hours_per_week", "task_count", "kind", "due",
})


def anonymised(data: dict) -> dict:
    return {k: v for k, v in data.items() if k in KEPT_AFTER_ERASURE}


class Projector:
    def __init__(self, session: Session, events):
        self.session = session
        self.new_candidates: list[SimpleNamespace] = []
        self.new_groups: list[dict] = []
        ids = {e.data.get("candidate_id") for e in events} - {None}
        placements = {e.data["placement_id"] for e in events if e.type == PLACEMENT_RECORDED}
        # one flush here, before loading, so rows still pending in the session are found
        self.candidates = {r.candidate_id: r for r in session.scalars(
            select(CandidateOutflow).where(CandidateOutflow.candidate_id.in_(ids)))} if ids else {}
        self.groups = set(session.execute(
            select(CandidateTargetGroup.candidate_id, CandidateTargetGroup.target_group)
            .where(CandidateTargetGroup.candidate_id.in_(ids))).tuples()) if ids else set()
        self.erased = set(session.scalars(
            select(ErasedCandidate.candidate_id).where(ErasedCandidate.candidate_id.in_(ids)))) if ids else set()
        self.placements = set(session.scalars(
            select(PlacementFact.placement_id).where(PlacementFact.placement_id.in_(placements)))
        ) if placements else set()

    def is_erased(self, candidate_id: str | None) -> bool:
        return candidate_id in self.erased

    def apply(self, event_type: str, data: dict) -> None:
        projection = PROJECTIONS.get(event_type)
        if projection is not None:
            projection(self, data)

    # -- helpers -------------------------------------------------------------------

    def candidate(self, candidate_id: str) -> CandidateOutflow | SimpleNamespace:
        """The candidate's row: a stored one, or a new one :meth:`write` will insert."""
        row = self.candidates.get(candidate_id)
        if row is None:
            row = self.candidates[candidate_id] = SimpleNamespace(
                candidate_id=candidate_id, cohort=None, region=None, first_placed_on=None, placements=0)
            self.new_candidates.append(row)
        return row

    def target_groups(self, candidate_id: str, groups) -> None:
        for group in sorted(set(groups)):
            if (candidate_id, group) not in self.groups:
                self.groups.add((candidate_id, group))
                self.new_groups.append({"candidate_id": candidate_id, "target_group": group})

    def write(self) -> None:
        """Insert the new rows in bulk; the session flushes the changed ones."""
        insert_rows(self.session, CandidateOutflow.__table__, [vars(row) for row in self.new_candidates])
        insert_rows(self.session, CandidateTargetGroup.__table__, self.new_groups)
        self.new_candidates, self.new_groups = [], []

    # -- projections ---------------------------------------------------------------

    def candidate_registered(self, data: dict) -> None:
        row = self.candidate(data["candidate_id"])
        row.region = data["region"]
        row.cohort = data.get("cohort") or row.cohort
        self.target_groups(row.candidate_id, data["target_groups"])

    def candidate_enrolled(self, data: dict) -> None:
        row = self.candidate(data["candidate_id"])
        row.region = data["region"]
        row.cohort = data["cohort"]
        self.target_groups(row.candidate_id, data["target_groups"])

    def placement_recorded(self, data: dict) -> None:
        if data["placement_id"] in self.placements:
            return
        self.placements.add(data["placement_id"])
        self.session.add(PlacementFact(
            placement_id=data["placement_id"], candidate_id=data["candidate_id"], region=data["region"],
            cohort=data.get("cohort"), start_date=data["start_date"],
        ))
        for group in set(data["target_groups"]):
            self.session.add(PlacementTargetGroup(placement_id=data["placement_id"], target_group=group))
        # the placement may overtake the candidate's own events: it carries enough to count them
        row = self.candidate(data["candidate_id"])
        row.region = row.region or data["region"]
        row.cohort = row.cohort or data.get("cohort")
        row.placements = (row.placements or 0) + 1
        if row.first_placed_on is None or data["start_date"] < row.first_placed_on:
            row.first_placed_on = data["start_date"]
        self.target_groups(row.candidate_id, data["target_groups"])

    def candidate_erased(self, data: dict) -> None:
        """AVG erasure: strip this person's stored events down to what the counts need."""
        candidate_id = data["candidate_id"]
        if candidate_id not in self.erased:
            self.erased.add(candidate_id)
            self.session.add(ErasedCandidate(candidate_id=candidate_id, erased_at=utcnow()))
        self.session.flush()  # rare; the events stored earlier in this batch must be found too
        for stored in self.session.scalars(select(StoredEvent).where(StoredEvent.candidate_id == candidate_id)):
            stored.data = anonymised(stored.data)


def apply(session: Session, event_type: str, data: dict) -> None:
    """One event through the read models: a batch of one."""
    projector = Projector(session, [SimpleNamespace(type=event_type, data=data)])
    projector.apply(event_type, data)
    projector.write()


PROJECTIONS = {
    REGISTERED: Projector.candidate_registered,
    ENROLLED: Projector.candidate_enrolled,
    PLACEMENT_RECORDED: Projector.placement_recorded,
    ERASED: Projector.candidate_erased,
}
