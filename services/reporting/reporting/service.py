"""Reporting: every event into the store, read models from events only."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from reporting import projections
from reporting.business_metrics import BusinessMetrics
from reporting.domain import outflow_rate
from reporting.models import CandidateOutflow, CandidateTargetGroup, StoredEvent, metadata
from werkbrug_shared.db import Database, insert_rows
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.events import CATALOGUE, TARGET_GROUPS
from werkbrug_shared.events.catalogue import schema_for
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load


class OutflowQuery(Schema):
    cohort = fields.String(load_default=None, allow_none=True)
    target_group = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TARGET_GROUPS))


class ReportingService:
    name = "reporting"

    db = Database(metadata)
    metrics = EntrypointMetrics()
    business_metrics = BusinessMetrics()

    @event_handler(*CATALOGUE, batch=True)
    def store(self, events):
        """Every catalogued event lands here once; projections follow in the same commit."""
        session = self.db.session
        projector = projections.Projector(session, events)
        stored, now = [], utcnow()
        for event in events:
            # as it arrived (validated already); re-serialising cost a third of the handler
            data = event.wire_data if event.wire_data is not None else schema_for(event.type).dump(event.data)
            candidate_id = data.get("candidate_id")
            if projector.is_erased(candidate_id):
                data = projections.anonymised(data)
            stored.append({
                "event_id": event.id, "type": event.type, "source": event.source, "subject": event.subject,
                "time": event.time, "data": data, "received_at": now, "candidate_id": candidate_id,
            })
        # stored first: an erasure in this batch must find (and strip) the events before it
        insert_rows(session, StoredEvent.__table__, stored)
        for event in events:
            projector.apply(event.type, event.data)
        projector.write()

    @rpc
    def outflow(self, cohort=None, target_group=None):
        """People in scope (in the cohort, when one is named), how many placed, and the rate."""
        query = load(OutflowQuery(), {"cohort": cohort, "target_group": target_group}, "outflow query")
        people = select(CandidateOutflow.candidate_id, CandidateOutflow.first_placed_on)
        if query["cohort"] is not None:
            people = people.where(CandidateOutflow.cohort == query["cohort"])
        if query["target_group"] is not None:
            people = people.join(
                CandidateTargetGroup, CandidateTargetGroup.candidate_id == CandidateOutflow.candidate_id
            ).where(CandidateTargetGroup.target_group == query["target_group"])
        people = people.subquery()
        enrolled, placed = self.db.session.execute(
            select(func.count(), func.count(people.c.first_placed_on)).select_from(people)
        ).one()
        return {"cohort": query["cohort"], "target_group": query["target_group"],
                "enrolled": enrolled, "placed": placed, "outflow_rate": outflow_rate(enrolled, placed)}
