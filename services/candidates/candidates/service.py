"""Candidates: register a person once, keep their werkprofiel, follow their lifecycle,
run trajectories in cohorts, and erase on request (AVG)."""

from __future__ import annotations

from candidates import handlers, records
from candidates.bsn import vault
from candidates.models import (
    Candidate,
    Cohort,
    Trajectory,
    metadata,
)
from candidates.schemas import (
    ChangeStatus,
    CheckedCandidate,
    ConsentInput,
    DefineTrajectory,
    ListFilters,
    LogEntryInput,
    PlanInput,
    RegisterBatch,
    RevokeConsent,
    StartCohort,
    candidate_schema,
)
from werkbrug_shared import pagination
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.audit import Retention
from werkbrug_shared.clock import Today
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Unauthorized, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.events.types import (
    MATCH_INTRODUCED,
    MATCH_PROPOSED,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
    PLACEMENT_SUSTAINED,
)
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.roles import BOARD, JOBCOACH, JOBHUNTER, KLANTMANAGER
from werkbrug_shared.timers import configured_timer
from werkbrug_shared.validation import load


class CandidatesService:
    name = "candidates"

    db = Database(metadata)
    caller = CurrentActor()
    metrics = EntrypointMetrics()
    clock = Today()
    retention = Retention()

    # --- registration -----------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def register(self, candidate):
        """One candidate; a BSN needs a partner credential. Answers the profile view."""
        data = load(candidate_schema(), candidate, "candidate")
        if (data["bsn"] or data["source_ref"]) and self.caller.partner is None:
            raise Unauthorized("a BSN or source_ref needs a partner credential (werkbrug.credential)")
        new = records.prepare(data, self.caller.organisation, utcnow(), vault() if data["bsn"] else None)
        return handlers.register(self.db, self.caller, new)

    @rpc(roles=(KLANTMANAGER,))
    def register_many(self, candidates):
        """A batch in one transaction, a result per row:
        {"index", "id"} written, {"index", "id", "existing": true} imported before (same
        source_ref), {"index", "errors"} refused, {"index", "conflict": id} BSN known."""
        self.caller.require()
        rows = load(RegisterBatch(), {"candidates": candidates}, "batch")["candidates"]
        schema, now, results, prepared = CheckedCandidate(), utcnow(), {}, []
        for index, raw in enumerate(rows):
            try:
                data = load(schema, raw, f"candidate {index}")
            except ValidationError as exc:
                results[index] = {"index": index, "errors": exc.errors}
                continue
            prepared.append((index, records.prepare(data, self.caller.organisation, now, vault())))
        results.update(handlers.register_many(self.db, self.caller, prepared))
        return [results[i] for i in range(len(rows))]

    # --- reading and changing ---------------------------------------------------------

    @rpc(roles=(KLANTMANAGER, JOBHUNTER, JOBCOACH))
    def get(self, candidate_id):
        """The profile; personal data (and the plan) only for the registering organisation."""
        return handlers.view(self.db, self.caller, self.clock, candidate_id)

    @rpc(roles=(KLANTMANAGER,))
    def update(self, candidate_id, changes):
        """Change profile and personal fields (not the BSN); the registering organisation only."""
        row = handlers.custodian_row(self.db, self.caller, candidate_id)
        data = load(candidate_schema(update=True), changes, "changes")
        return records.candidate_dict(handlers.update(self.db, self.clock, row, data, self.caller))

    @rpc(roles=(KLANTMANAGER, JOBHUNTER))
    def list(self, filters=None, limit=50, cursor=None):
        """Profiles (never personal data), oldest first, a page at a time:
        {"items", "next_cursor"}; pass next_cursor back for the next page."""
        wanted = load(ListFilters(), filters if filters is not None else {}, "filters")
        return pagination.page(self.db.session, handlers.listed(wanted), Candidate.registered_at, Candidate.id,
                               limit, cursor, records.candidate_dict)

    @rpc(roles=(KLANTMANAGER,))
    def change_status(self, candidate_id, status, reason=None):
        """intake / in_trajectory / available by hand; the reason goes to the logbook, not the event."""
        self.caller.require()
        wanted = load(ChangeStatus(), {"status": status, "reason": reason}, "status change")
        row = handlers.change_status(self.db, self.caller, self.clock, candidate_id, wanted["status"],
                                     wanted["reason"])
        return records.candidate_dict(row)

    # --- intake logbook and plan ------------------------------------------------------

    @rpc(roles=(KLANTMANAGER, JOBHUNTER, JOBCOACH))
    def add_log_entry(self, candidate_id, entry):
        """Any partner working with the candidate writes; the text is not echoed back."""
        self.caller.require()
        data = load(LogEntryInput(), entry, "log entry")
        written = handlers.add_log_entry(self.db, self.caller, self.clock, candidate_id, data["text"], data["date"])
        return {"id": written.id, "candidate_id": written.candidate_id, "organisation": written.organisation,
                "professional": written.professional, "date": written.date.isoformat(),
                "recorded_at": written.recorded_at.isoformat()}

    @rpc(roles=(KLANTMANAGER, JOBHUNTER, JOBCOACH))
    def log(self, candidate_id):
        """The registering organisation reads every entry, another partner its own."""
        self.caller.require()
        return [{"id": e.id, "organisation": e.organisation, "professional": e.professional,
                 "date": e.date.isoformat(), "text": e.text, "recorded_at": e.recorded_at.isoformat()}
                for e in handlers.log_entries(self.db, self.caller, self.clock, candidate_id)]

    @rpc(roles=(KLANTMANAGER,))
    def set_plan(self, candidate_id, plan):
        """The trajectory plan (goal and steps), kept by the registering organisation; read it with get."""
        self.caller.require()
        data = load(PlanInput(), plan, "plan")
        stored = handlers.set_plan(self.db, self.caller, self.clock, candidate_id, data)
        return {"candidate_id": stored.candidate_id, "steps": len(stored.steps),
                "updated_at": stored.updated_at.isoformat()}

    # --- trajectories and cohorts -----------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def define_trajectory(self, trajectory):
        self.caller.require()
        data = load(DefineTrajectory(), trajectory, "trajectory")
        return trajectory_dict(handlers.define_trajectory(self.db, self.caller, self.clock, data))

    @rpc(roles=(KLANTMANAGER,))
    def start_cohort(self, cohort):
        self.caller.require()
        data = load(StartCohort(), cohort, "cohort")
        return cohort_dict(handlers.start_cohort(self.db, self.caller, self.clock, data))

    @rpc(roles=(KLANTMANAGER, BOARD))
    def get_cohort(self, cohort_id):
        """The cohort, how many are enrolled, and how many completed each module."""
        row, enrolled, completed = handlers.cohort_counts(self.db, cohort_id)
        return {**cohort_dict(row), "enrolled": enrolled, "completed": completed}

    @rpc(roles=(KLANTMANAGER,))
    def enrol(self, candidate_id, cohort_id):
        """Into a cohort: candidate.enrolled, and in_trajectory unless already further along."""
        self.caller.require()
        row, cohort = handlers.enrol(self.db, self.caller, self.clock, candidate_id, cohort_id)
        return {"candidate_id": row.id, "cohort_id": cohort.id, "cohort": cohort.name,
                "trajectory": cohort.trajectory.name, "status": row.status}

    @rpc(roles=(KLANTMANAGER,))
    def complete_module(self, candidate_id, cohort_id, module_code):
        """A module done; a certificate module (VCA) adds its skill with evidence "certificate"."""
        self.caller.require()
        done = handlers.complete_module(self.db, self.caller, self.clock, candidate_id, cohort_id, module_code)
        return {"candidate_id": done.candidate_id, "cohort_id": done.cohort_id, "module_code": done.module_code,
                "skill": done.skill}

    # --- erasure ------------------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def erase(self, candidate_id):
        """AVG: personal data, BSN, logbook and plan go; an anonymous row stays for the counts."""
        self.caller.require()
        row = handlers.erase(self.db, self.caller, self.clock, candidate_id)
        return {"id": row.id, "status": row.status}

    # --- consent ------------------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def give_consent(self, candidate_id, consent):
        """The candidate consented, as their registering organisation's klantmanager records it:
        {"purpose": mediation | aftercare | introduction (with "match_id") | matching, "organisation"
        (not for matching), "scope": full | contact, "expires_on" (the last day)}. Given again, it
        replaces the earlier terms. Answers the consent, with whether it holds today."""
        data = load(ConsentInput(), consent, "consent")
        row = handlers.give_consent(self.db, self.caller.require(), self.clock, candidate_id, data)
        return handlers.consent_dict(row, self.clock.today())

    @rpc(roles=(KLANTMANAGER,))
    def revoke_consent(self, candidate_id, purpose, organisation=None):
        """The candidate withdrew a consent: no read shows what it opened from this answer on, and
        matching drops them from every ranking (purpose matching) within a second."""
        data = load(RevokeConsent(), {"purpose": purpose, "organisation": organisation}, "revocation")
        row = handlers.revoke_consent(self.db, self.caller.require(), self.clock, candidate_id, data["purpose"],
                                      data["organisation"])
        return handlers.consent_dict(row, self.clock.today())

    @rpc(roles=(KLANTMANAGER,))
    def consents(self, candidate_id):
        """{"candidate_id", "matching_consent", "consents": [...]}: the registering organisation only."""
        return handlers.consents(self.db, self.caller.require(), self.clock, candidate_id)

    # --- accountability ----------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def custodian(self, candidate_id):
        """Whether the caller registered this candidate: {"candidate_id", "registered_by"}, else
        Forbidden (NotFound for an unknown id). The other services ask this, with the caller's
        credential, before they answer an audit_log or inzage."""
        row = handlers.custodian(self.db, self.caller.require(), candidate_id)
        return {"candidate_id": row.id, "registered_by": row.registered_by}

    @rpc(roles=(KLANTMANAGER,))
    def audit_log(self, candidate_id, limit=100, cursor=None):
        """Who read or changed this candidate's personal data here, when, why and which fields
        (never the values), oldest first: {"items", "next_cursor"}; the registering organisation only."""
        return handlers.audit_entries(self.db, self.caller.require(), candidate_id, limit, cursor)

    @rpc(roles=(KLANTMANAGER,))
    def inzage(self, candidate_id):
        """AVG inzage: everything candidates stores on the person, {"service", "records": {kind: [rows]}};
        the registering organisation only."""
        return handlers.inzage(self.db, self.caller.require(), self.clock, candidate_id)

    @configured_timer("RETENTION_SWEEP_SECONDS", 3600)
    def remove_expired(self):
        """Retention: logbook entries past RETENTION_DAYS go, on every replica (SKIP LOCKED)."""
        handlers.remove_expired(self.db, self.clock, self.retention)

    # --- lifecycle from other services' events ------------------------------------------

    @event_handler(PLACEMENT_RECORDED)
    def on_placement_recorded(self, event):
        handlers.placement_recorded(self.db, self.clock, event.data["candidate_id"], event.data["placement_id"])

    @event_handler(PLACEMENT_ENDED)
    def on_placement_ended(self, event):
        handlers.placement_ended(self.db, self.clock, event.data["candidate_id"], event.data["placement_id"])

    @event_handler(PLACEMENT_SUSTAINED)
    def on_placement_sustained(self, event):
        data = event.data
        handlers.placement_sustained(self.db, self.clock, data["candidate_id"], data["placement_id"], data["months"])

    @event_handler(MATCH_PROPOSED)
    def on_match_proposed(self, event):
        handlers.match_proposed(self.db, event.data["candidate_id"], event.data["match_id"])

    @event_handler(MATCH_INTRODUCED)
    def on_match_introduced(self, event):
        handlers.match_introduced(self.db, self.clock, event.data["match_id"])


def trajectory_dict(row: Trajectory) -> dict:
    return {"id": row.id, "name": row.name, "weeks": row.weeks, "organisation": row.organisation,
            "modules": [{"code": m.code, "name": m.name, "certificate_skill": m.certificate_skill}
                        for m in row.modules]}


def cohort_dict(row: Cohort) -> dict:
    return {"id": row.id, "name": row.name, "trajectory_id": row.trajectory_id, "trajectory": row.trajectory.name,
            "start_date": row.start_date.isoformat(), "region": row.region, "organisation": row.organisation}
