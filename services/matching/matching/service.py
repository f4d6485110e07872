"""Matching: an anonymous index fed by events; ranked candidates; placements."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from matching import domain
from matching.models import ErasedCandidate, IndexedCandidate, IndexedVacancy, Placement, metadata
from matching.schemas import RecordPlacement
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Conflict, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load, require_id

CANDIDATE_FIELDS = ("region", "pc4", "target_groups", "skills", "hours_per_week", "conditions", "cohort")
VACANCY_FIELDS = ("employer_id", "region", "pc4", "skills_required", "hours_per_week", "openings")


def placement_dict(p: Placement) -> dict:
    return {
        "id": p.id, "candidate_id": p.candidate_id, "vacancy_id": p.vacancy_id, "employer_id": p.employer_id,
        "start_date": p.start_date.isoformat(), "hours_per_week": p.hours_per_week, "status": p.status,
    }


class MatchingService:
    name = "matching"

    db = Database(metadata)
    metrics = EntrypointMetrics()

    @rpc
    def candidates_for_vacancy(self, vacancy_id, limit=10):
        require_id(vacancy_id, "vacancy_id")
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ValidationError.from_fields("query", {"limit": ["must be between 1 and 100"]})
        vacancy = self.db.get(IndexedVacancy, vacancy_id, "vacancy in the matching index:")
        pool = self.db.session.execute(
            select(IndexedCandidate.candidate_id, IndexedCandidate.skills).where(IndexedCandidate.in_pool)
        )
        return [m.__dict__ for m in domain.rank_candidates(pool, vacancy.skills_required, limit)]

    @rpc
    def record_placement(self, placement):
        data = load(RecordPlacement(), placement, "placement")
        session = self.db.session
        candidate = self.db.get(IndexedCandidate, data["candidate_id"], "candidate in the matching index:",
                                for_update=True)
        vacancy = self.db.get(IndexedVacancy, data["vacancy_id"], "vacancy in the matching index:")
        active = session.scalar(
            select(func.count()).select_from(Placement).where(
                Placement.candidate_id == candidate.candidate_id,
                Placement.vacancy_id == vacancy.vacancy_id,
                Placement.status == "active",
            )
        )
        if active:
            raise Conflict("this candidate already has an active placement on this vacancy")
        row = Placement(
            id=str(uuid.uuid4()), candidate_id=candidate.candidate_id, vacancy_id=vacancy.vacancy_id,
            employer_id=vacancy.employer_id, start_date=data["start_date"], hours_per_week=data["hours_per_week"],
            status="active", recorded_at=utcnow(),
        )
        session.add(row)
        candidate.in_pool = False
        session.flush()
        self.db.emit("nl.werkbrug.placement.recorded.v1", row.id, {
            "placement_id": row.id, "candidate_id": row.candidate_id, "vacancy_id": row.vacancy_id,
            "employer_id": row.employer_id, "start_date": row.start_date.isoformat(),
            "hours_per_week": row.hours_per_week, "region": candidate.region,
            "target_groups": candidate.target_groups, "cohort": candidate.cohort,
        })
        return placement_dict(row)

    @rpc
    def get_placement(self, placement_id):
        require_id(placement_id, "placement_id")
        row = self.db.get(Placement, placement_id, "placement")
        return placement_dict(row)

    @rpc
    def index_size(self):
        """How many candidates and vacancies the index holds (for readiness checks)."""
        session = self.db.session
        candidates = select(func.count()).select_from(IndexedCandidate)
        return {
            "candidates": session.scalar(candidates),
            "in_pool": session.scalar(candidates.where(IndexedCandidate.in_pool)),
            "vacancies": session.scalar(select(func.count()).select_from(IndexedVacancy)),
        }

    @event_handler("nl.werkbrug.candidate.registered.v1", batch=True)
    def on_candidate_registered(self, events):
        self._index_candidates(events)

    @event_handler("nl.werkbrug.candidate.profile_updated.v1", batch=True)
    def on_candidate_profile_updated(self, events):
        self._index_candidates(events)

    @event_handler("nl.werkbrug.vacancy.opened.v1")
    def on_vacancy_opened(self, event):
        self._index_vacancy(event.data)

    @event_handler("nl.werkbrug.vacancy.updated.v1")
    def on_vacancy_updated(self, event):
        self._index_vacancy(event.data)

    @event_handler("nl.werkbrug.candidate.erased.v1")
    def on_candidate_erased(self, event):
        """AVG erasure: the profile leaves the index; placements keep only ids, for the counts."""
        candidate_id = event.data["candidate_id"]
        row = self.db.session.get(IndexedCandidate, candidate_id)
        if row is not None:
            self.db.session.delete(row)
        if self.db.session.get(ErasedCandidate, candidate_id) is None:
            self.db.session.add(ErasedCandidate(candidate_id=candidate_id, erased_at=utcnow()))

    def _index_candidates(self, events):
        """Upsert a batch of profiles: two queries to find what exists, one flush to write."""
        session = self.db.session
        ids = {e.data["candidate_id"] for e in events}
        with session.no_autoflush:
            erased = set(session.scalars(
                select(ErasedCandidate.candidate_id).where(ErasedCandidate.candidate_id.in_(ids))))
            rows = {r.candidate_id: r for r in session.scalars(
                select(IndexedCandidate).where(IndexedCandidate.candidate_id.in_(ids)))}
        for event in events:
            data = event.data
            if data["candidate_id"] in erased:
                continue  # a late profile event must not bring an erased person back
            row = rows.get(data["candidate_id"])
            if row is None:
                row = rows[data["candidate_id"]] = IndexedCandidate(candidate_id=data["candidate_id"], in_pool=True)
                session.add(row)
            for field in CANDIDATE_FIELDS:
                setattr(row, field, data[field])

    def _index_vacancy(self, data):
        row = self.db.session.get(IndexedVacancy, data["vacancy_id"])
        if row is None:
            row = IndexedVacancy(vacancy_id=data["vacancy_id"])
            self.db.session.add(row)
        for field in VACANCY_FIELDS:
            setattr(row, field, data[field])
