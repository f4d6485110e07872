"""Candidates: register a candidate once, read them back, follow their lifecycle."""

from __future__ import annotations

import uuid

from candidates import domain
from candidates.models import Candidate, PersonalData, metadata
from candidates.schemas import RegisterCandidate
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load, require_id

PROFILE_FIELDS = ("region", "pc4", "target_groups", "skills", "hours_per_week", "conditions", "cohort")


def profile(candidate: Candidate) -> dict:
    return {"candidate_id": candidate.id, **{f: getattr(candidate, f) for f in PROFILE_FIELDS}}


def as_dict(candidate: Candidate, personal: PersonalData | None) -> dict:
    out = {"id": candidate.id, "status": candidate.status, **profile(candidate)}
    out.pop("candidate_id")
    out["registered_at"] = candidate.registered_at.isoformat()
    if personal is not None:
        out.update(given_name=personal.given_name, family_name=personal.family_name, postcode=personal.postcode)
    return out


class CandidatesService:
    name = "candidates"

    db = Database(metadata)
    metrics = EntrypointMetrics()

    @rpc
    def register(self, candidate):
        data = load(RegisterCandidate(), candidate, "candidate")
        postcode, pc4 = domain.normalise_postcode(data["postcode"])
        now = utcnow()
        row = Candidate(
            id=str(uuid.uuid4()),
            region=data["region"],
            pc4=pc4,
            target_groups=sorted(set(data["target_groups"])),
            skills=sorted(set(data["skills"])),
            hours_per_week=data["hours_per_week"],
            conditions=sorted(set(data["conditions"])),
            cohort=data["cohort"],
            status="registered",
            registered_at=now,
            updated_at=now,
        )
        personal = PersonalData(
            candidate_id=row.id, given_name=data["given_name"], family_name=data["family_name"], postcode=postcode
        )
        self.db.session.add_all([row, personal])
        self.db.session.flush()
        self.db.emit("nl.werkbrug.candidate.registered.v1", row.id, profile(row))
        if row.cohort:
            self.db.emit("nl.werkbrug.candidate.enrolled.v1", row.id, {
                "candidate_id": row.id, "cohort": row.cohort, "region": row.region,
                "target_groups": row.target_groups,
            })
        return as_dict(row, personal)

    @rpc
    def get(self, candidate_id):
        require_id(candidate_id, "candidate_id")
        row = self.db.get(Candidate, candidate_id, "candidate")
        return as_dict(row, self.db.session.get(PersonalData, candidate_id))

    @event_handler("nl.werkbrug.placement.recorded.v1")
    def on_placement_recorded(self, event):
        self._move(event.data["candidate_id"], "placed", reason=f"placement {event.data['placement_id']}")

    def _move(self, candidate_id: str, wanted: str, reason: str):
        row = self.db.get(Candidate, candidate_id, "candidate", for_update=True)
        if row.status == wanted:
            return
        previous = row.status
        row.status = domain.next_status(previous, wanted)
        row.updated_at = utcnow()
        self.db.emit("nl.werkbrug.candidate.status_changed.v1", row.id, {
            "candidate_id": row.id, "from_status": previous, "to_status": wanted, "reason": reason,
        })
