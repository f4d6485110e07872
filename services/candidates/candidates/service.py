"""Candidates: register a person once, keep their werkprofiel, follow their lifecycle,
run trajectories in cohorts, and erase on request (AVG)."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import delete, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from candidates import domain, records
from candidates.bsn import vault
from candidates.models import (
    Candidate,
    CandidateSkill,
    CandidateTargetGroup,
    Cohort,
    Enrolment,
    LogEntry,
    Module,
    ModuleCompletion,
    PersonalData,
    PersonalDataRead,
    Placement,
    Plan,
    ProposedMatch,
    Trajectory,
    metadata,
)
from candidates.schemas import (
    ChangeStatus,
    CheckedCandidate,
    DefineTrajectory,
    ListFilters,
    LogEntryInput,
    PlanInput,
    RegisterBatch,
    StartCohort,
    candidate_schema,
)
from werkbrug_shared import pagination, visibility
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.clock import Today
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.events.types import (
    CANDIDATE_ENROLLED,
    CANDIDATE_ERASED,
    CANDIDATE_MODULE_COMPLETED,
    CANDIDATE_PROFILE_UPDATED,
    CANDIDATE_REGISTERED,
    CANDIDATE_STATUS_CHANGED,
    MATCH_INTRODUCED,
    MATCH_PROPOSED,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
    PLACEMENT_SUSTAINED,
    TRAJECTORY_DEFINED,
)
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load, require_id, text

log = logging.getLogger(__name__)


OUTBOX = metadata.tables["outbox"]


def bsn_conflict(candidate_id: str) -> Conflict:
    return Conflict(f"this person (BSN) is already registered as candidate {candidate_id}: register once")


class CandidatesService:
    name = "candidates"

    db = Database(metadata)
    caller = CurrentActor()
    metrics = EntrypointMetrics()
    clock = Today()

    # --- registration -----------------------------------------------------------------

    @rpc
    def register(self, candidate):
        """One candidate; a BSN needs a partner credential. Answers the profile view."""
        data = load(candidate_schema(), candidate, "candidate")
        if (data["bsn"] or data["source_ref"]) and self.caller.partner is None:
            raise Unauthorized("a BSN or source_ref needs a partner credential (werkbrug.credential)")
        new = records.prepare(data, self.caller.organisation, utcnow(), vault() if data["bsn"] else None)
        if new.source_ref and (known := self._imported([new.source_ref]).get(new.source_ref)):
            return {**records.candidate_dict(self._candidate(known)), "existing": True}
        if new.bsn_hash and (known := self._bsn_owners([new.bsn_hash]).get(new.bsn_hash)):
            raise bsn_conflict(known)
        self._write([new])
        return new.view()

    @rpc
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
        # one query each for the whole batch, not one per row
        imported = self._imported([n.source_ref for _, n in prepared if n.source_ref])
        owners = self._bsn_owners([n.bsn_hash for _, n in prepared if n.bsn_hash])
        to_write = []
        for index, new in prepared:
            if new.source_ref and new.source_ref in imported:
                results[index] = {"index": index, "id": imported[new.source_ref], "existing": True}
            elif new.bsn_hash and new.bsn_hash in owners:
                results[index] = {"index": index, "conflict": owners[new.bsn_hash]}
            else:
                # later rows of this batch with the same key meet this one
                if new.source_ref:
                    imported[new.source_ref] = new.id
                if new.bsn_hash:
                    owners[new.bsn_hash] = new.id
                to_write.append(new)
                results[index] = {"index": index, "id": new.id}
        self._write(to_write)
        return [results[i] for i in range(len(rows))]

    def _imported(self, source_refs) -> dict[str, str]:
        return records.imported(self.db.session, self.caller.organisation, source_refs)

    def _bsn_owners(self, hashes) -> dict[str, str]:
        return records.bsn_owners(self.db.session, hashes)

    def _write(self, batch: list[records.NewCandidate]) -> None:
        try:
            records.insert_all(self.db.session, batch)
        except IntegrityError:
            # another call registered the same person or source_ref since we looked
            self.db.session.rollback()
            hashes = [n.bsn_hash for n in batch if n.bsn_hash]
            if len(batch) == 1 and (known := self._bsn_owners(hashes)):
                raise bsn_conflict(next(iter(known.values()))) from None
            raise Conflict("some of these candidates were registered at the same moment by another call; "
                           "send the same batch again (rows already written come back as existing)") from None
        self.db.emit_many(CANDIDATE_REGISTERED, [(new.id, new.profile()) for new in batch])
        self.db.emit_many(CANDIDATE_ENROLLED, [
            (new.id, {"candidate_id": new.id, "cohort": new.cohort, "region": new.candidate["region"],
                      "target_groups": new.target_groups})
            for new in batch if new.cohort
        ])

    # --- reading and changing ---------------------------------------------------------

    @rpc
    def get(self, candidate_id):
        """The profile; personal data (and the plan) only for the registering organisation."""
        row = self._candidate(candidate_id)
        out = records.candidate_dict(row)
        if row.status == domain.ERASED or not self._may_see_personal_data(row):
            return out
        personal = self.db.session.get(PersonalData, row.id)
        if personal is not None:
            out.update(records.personal_dict(personal, self.db.session.get(Plan, row.id)))
            self._audit(row.id, "get")
        return out

    @rpc
    def update(self, candidate_id, changes):
        """Change profile and personal fields (not the BSN); the registering organisation only."""
        row = self._live(candidate_id, for_update=True)
        self._require_custodian(row)
        data = load(candidate_schema(update=True), changes, "changes")
        columns = records.profile_columns(data)
        if "postcode" in data:
            _, columns["pc4"] = domain.normalise_postcode(data["postcode"])
        merged = {**{f: getattr(row, f) for f in records.PROFILE_COLUMNS}, **columns,
                  "target_groups": data.get("target_groups", row.target_groups)}
        if problems := domain.profile_problems(merged):
            raise ValidationError.from_fields("changes", problems)
        before = records.profile_of(row)
        for field, value in columns.items():
            setattr(row, field, value)
        if "target_groups" in data:
            records.replace_target_groups(row, data["target_groups"])
        if "skills" in data:
            records.replace_claims(row, domain.skill_claims(data["skills"]))
        personal = records.personal_columns(data)
        if personal:
            row_personal = self.db.get(PersonalData, row.id, "personal data of candidate")
            for field, value in personal.items():
                setattr(row_personal, field, value)
        row.updated_at = utcnow()
        self.db.session.flush()
        if (after := records.profile_of(row)) != before:
            self.db.emit(CANDIDATE_PROFILE_UPDATED, row.id, after)
        return records.candidate_dict(row)

    @rpc
    def list(self, filters=None, limit=50, cursor=None):
        """Profiles (never personal data), oldest first, a page at a time:
        {"items", "next_cursor"}; pass next_cursor back for the next page."""
        wanted = load(ListFilters(), filters if filters is not None else {}, "filters")
        stmt = select(Candidate)
        if "region" in wanted:
            stmt = stmt.where(Candidate.region == wanted["region"])
        stmt = stmt.where(Candidate.status == wanted["status"]) if "status" in wanted else stmt.where(
            Candidate.status != domain.ERASED)
        if "target_group" in wanted:
            stmt = stmt.where(exists().where(CandidateTargetGroup.candidate_id == Candidate.id,
                                             CandidateTargetGroup.target_group == wanted["target_group"]))
        if "skill" in wanted:
            stmt = stmt.where(exists().where(CandidateSkill.candidate_id == Candidate.id,
                                             CandidateSkill.skill == wanted["skill"]))
        if "cohort" in wanted:
            enrolled = exists().where(Enrolment.candidate_id == Candidate.id, Enrolment.cohort_id == Cohort.id,
                                      Cohort.name == wanted["cohort"])
            stmt = stmt.where(or_(Candidate.cohort == wanted["cohort"], enrolled))
        return pagination.page(self.db.session, stmt, Candidate.registered_at, Candidate.id, limit, cursor,
                               records.candidate_dict)

    @rpc
    def change_status(self, candidate_id, status, reason=None):
        """intake / in_trajectory / available by hand; the reason goes to the logbook, not the event."""
        self.caller.require()
        wanted = load(ChangeStatus(), {"status": status, "reason": reason}, "status change")
        row = self._live(candidate_id, for_update=True)
        self._move(row, wanted["status"], f"set by {self.caller.organisation}")
        if wanted["reason"]:
            self._log(row.id, f"status {wanted['status']}: {wanted['reason']}", None)
        return records.candidate_dict(row)

    # --- intake logbook and plan ------------------------------------------------------

    @rpc
    def add_log_entry(self, candidate_id, entry):
        """Any partner working with the candidate writes; the text is not echoed back."""
        self.caller.require()
        data = load(LogEntryInput(), entry, "log entry")
        row = self._live(candidate_id)
        written = self._log(row.id, data["text"], data["date"])
        return {"id": written.id, "candidate_id": row.id, "organisation": written.organisation,
                "professional": written.professional, "date": written.date.isoformat(),
                "recorded_at": written.recorded_at.isoformat()}

    @rpc
    def log(self, candidate_id):
        """The registering organisation reads every entry, another partner its own."""
        self.caller.require()
        row = self._live(candidate_id)
        stmt = select(LogEntry).where(LogEntry.candidate_id == row.id)
        if not self._may_see_personal_data(row):
            stmt = stmt.where(LogEntry.organisation == self.caller.organisation)
        entries = self.db.session.scalars(stmt.order_by(LogEntry.date, LogEntry.recorded_at, LogEntry.id)).all()
        if entries:
            self._audit(row.id, "log")
        return [{"id": e.id, "organisation": e.organisation, "professional": e.professional,
                 "date": e.date.isoformat(), "text": e.text, "recorded_at": e.recorded_at.isoformat()}
                for e in entries]

    @rpc
    def set_plan(self, candidate_id, plan):
        """The trajectory plan (goal and steps), kept by the registering organisation; read it with get."""
        self.caller.require()
        data = load(PlanInput(), plan, "plan")
        row = self._live(candidate_id, for_update=True)
        self._require_custodian(row)
        now = utcnow()
        stored = self.db.session.get(Plan, row.id)
        if stored is None:
            stored = Plan(candidate_id=row.id)
            self.db.session.add(stored)
        stored.goal, stored.steps, stored.updated_at = data["goal"], data["steps"], now
        stored.organisation, stored.professional = self.caller.organisation, self.caller.professional
        return {"candidate_id": row.id, "steps": len(data["steps"]), "updated_at": now.isoformat()}

    # --- trajectories and cohorts -----------------------------------------------------

    @rpc
    def define_trajectory(self, trajectory):
        self.caller.require()
        data = load(DefineTrajectory(), trajectory, "trajectory")
        if self.db.session.scalar(select(Trajectory.id).where(Trajectory.name == data["name"])):
            raise Conflict(f"a trajectory named {data['name']!r} already exists")
        row = Trajectory(id=str(uuid.uuid4()), name=data["name"], weeks=data["weeks"],
                         organisation=self.caller.organisation, created_at=utcnow())
        row.modules = [Module(code=m["code"], name=m["name"], certificate_skill=m["certificate_skill"], position=i)
                       for i, m in enumerate(data["modules"])]
        self._add_named(row, f"a trajectory named {data['name']!r} already exists")
        self.db.emit(TRAJECTORY_DEFINED, row.id, {
            "trajectory_id": row.id, "trajectory": row.name,
            "modules": [{"code": m.code, "name": m.name, "skill": m.certificate_skill} for m in row.modules]})
        return trajectory_dict(row)

    @rpc
    def start_cohort(self, cohort):
        self.caller.require()
        data = load(StartCohort(), cohort, "cohort")
        trajectory = self.db.get(Trajectory, data["trajectory_id"], "trajectory")
        if self.db.session.scalar(select(Cohort.id).where(Cohort.name == data["name"])):
            raise Conflict(f"a cohort named {data['name']!r} already exists")
        row = Cohort(id=str(uuid.uuid4()), trajectory_id=trajectory.id, name=data["name"],
                     start_date=data["start_date"], region=data["region"], organisation=self.caller.organisation,
                     created_at=utcnow())
        row.trajectory = trajectory
        self._add_named(row, f"a cohort named {data['name']!r} already exists")
        return cohort_dict(row)

    @rpc
    def get_cohort(self, cohort_id):
        """The cohort, how many are enrolled, and how many completed each module."""
        require_id(cohort_id, "cohort_id")
        row = self.db.get(Cohort, cohort_id, "cohort")
        enrolled = self.db.session.scalar(
            select(func.count()).select_from(Enrolment).where(Enrolment.cohort_id == row.id))
        completed = dict(self.db.session.execute(
            select(ModuleCompletion.module_code, func.count()).where(ModuleCompletion.cohort_id == row.id)
            .group_by(ModuleCompletion.module_code)).all())
        return {**cohort_dict(row), "enrolled": enrolled,
                "completed": {m.code: completed.get(m.code, 0) for m in row.trajectory.modules}}

    @rpc
    def enrol(self, candidate_id, cohort_id):
        """Into a cohort: candidate.enrolled, and in_trajectory unless already further along."""
        self.caller.require()
        row = self._live(candidate_id, for_update=True)
        require_id(cohort_id, "cohort_id")
        cohort = self.db.get(Cohort, cohort_id, "cohort")
        if self.db.session.get(Enrolment, (cohort.id, row.id)) is None:
            self.db.session.add(Enrolment(cohort_id=cohort.id, candidate_id=row.id,
                                          organisation=self.caller.organisation, enrolled_at=utcnow()))
            before = records.profile_of(row)
            row.cohort, row.updated_at = cohort.name, utcnow()
            self.db.emit(CANDIDATE_ENROLLED, row.id, {
                "candidate_id": row.id, "cohort": cohort.name, "trajectory": cohort.trajectory.name,
                "region": row.region, "target_groups": row.target_groups,
            })
            if (wanted := domain.status_on_enrolment(row.status)) is not None:
                self._move(row, wanted, f"enrolled in {cohort.name}")
            if (after := records.profile_of(row)) != before:
                self.db.emit(CANDIDATE_PROFILE_UPDATED, row.id, after)  # matching puts the cohort on placements
        return {"candidate_id": row.id, "cohort_id": cohort.id, "cohort": cohort.name,
                "trajectory": cohort.trajectory.name, "status": row.status}

    @rpc
    def complete_module(self, candidate_id, cohort_id, module_code):
        """A module done; a certificate module (VCA) adds its skill with evidence "certificate"."""
        self.caller.require()
        row = self._live(candidate_id, for_update=True)
        require_id(cohort_id, "cohort_id")
        cohort = self.db.get(Cohort, cohort_id, "cohort")
        if self.db.session.get(Enrolment, (cohort.id, row.id)) is None:
            raise NotFound(f"candidate {row.id} is not enrolled in cohort {cohort.id}")
        if not isinstance(module_code, str):
            raise ValidationError.from_fields("module", {"module_code": ["expected a module code"]})
        text(module_code, "module_code", "module")
        module = next((m for m in cohort.trajectory.modules if m.code == module_code), None)
        if module is None:
            raise ValidationError.from_fields(
                "module", {"module_code": [f"not a module of trajectory {cohort.trajectory.name!r}"]})
        done = {"candidate_id": row.id, "cohort_id": cohort.id, "module_code": module.code,
                "skill": module.certificate_skill}
        if self.db.session.get(ModuleCompletion, (cohort.id, row.id, module.code)) is not None:
            return done
        self.db.session.add(ModuleCompletion(cohort_id=cohort.id, candidate_id=row.id, module_code=module.code,
                                             organisation=self.caller.organisation, completed_at=utcnow()))
        self.db.emit(CANDIDATE_MODULE_COMPLETED, row.id, {
            "candidate_id": row.id, "cohort": cohort.name, "module": module.code,
            "trajectory": cohort.trajectory.name, "skill": module.certificate_skill,
        })
        if module.certificate_skill:
            before = records.profile_of(row)
            records.replace_claims(row, domain.with_certificate(row.skill_claims, module.certificate_skill))
            row.updated_at = utcnow()
            self.db.session.flush()
            if (after := records.profile_of(row)) != before:
                self.db.emit(CANDIDATE_PROFILE_UPDATED, row.id, after)
        return done

    # --- erasure ------------------------------------------------------------------------

    @rpc
    def erase(self, candidate_id):
        """AVG: personal data, BSN, logbook and plan go; an anonymous row stays for the counts."""
        self.caller.require()
        row = self._candidate(candidate_id, for_update=True)
        if row.status == domain.ERASED:
            return {"id": row.id, "status": row.status}
        if not self._may_see_personal_data(row):
            raise Forbidden("only the registering organisation may erase a candidate")
        session = self.db.session
        for model in (PersonalData, LogEntry, Plan):
            session.execute(delete(model).where(model.candidate_id == row.id))
        for field, value in records.ERASED_PROFILE.items():
            setattr(row, field, value)
        row.skill_rows = []
        now = utcnow()
        row.status, row.erased_at, row.updated_at = domain.ERASED, now, now
        # RPC replies recorded for redelivery: none of today's hold personal data,
        # but the spine's register answered with the name (a scan; erasures are rare)
        self.db.forget_replies_mentioning(row.id)
        # events already relayed carried the profile; the outbox need not keep them
        session.execute(delete(OUTBOX).where(OUTBOX.c.published_at.is_not(None),
                                             OUTBOX.c.payload.contains(f'"subject":"{row.id}"')))
        self.db.emit(CANDIDATE_ERASED, row.id, {"candidate_id": row.id})
        return {"id": row.id, "status": row.status}

    # --- lifecycle from other services' events ------------------------------------------

    @event_handler(PLACEMENT_RECORDED)
    def on_placement_recorded(self, event):
        data = event.data
        row = self._subject(data["candidate_id"])
        if row is None:
            return
        placement = self._placement(data["placement_id"], row.id)
        self._follow(row, domain.status_on_placement_recorded(placement.ended), f"placement {placement.placement_id}")

    @event_handler(PLACEMENT_ENDED)
    def on_placement_ended(self, event):
        data = event.data
        row = self._subject(data["candidate_id"])
        if row is None:
            return
        placement = self._placement(data["placement_id"], row.id)
        placement.ended = True
        self.db.session.flush()
        running = self.db.session.scalar(select(func.count()).select_from(Placement).where(
            Placement.candidate_id == row.id, Placement.ended.is_(False)))
        self._follow(row, domain.status_on_placement_ended(running), f"placement {placement.placement_id} ended")

    @event_handler(PLACEMENT_SUSTAINED)
    def on_placement_sustained(self, event):
        data = event.data
        row = self._subject(data["candidate_id"])
        if row is None:
            return
        placement = self.db.session.get(Placement, data["placement_id"])
        ended = placement is not None and placement.ended
        self._follow(row, domain.status_on_placement_sustained(ended),
                     f"placement {data['placement_id']} sustained {data['months']} months")

    @event_handler(MATCH_PROPOSED)
    def on_match_proposed(self, event):
        data = event.data
        if self._subject(data["candidate_id"]) is None:
            return
        if self.db.session.get(ProposedMatch, data["match_id"]) is None:
            self.db.session.add(ProposedMatch(match_id=data["match_id"], candidate_id=data["candidate_id"]))

    @event_handler(MATCH_INTRODUCED)
    def on_match_introduced(self, event):
        match = self.db.session.get(ProposedMatch, event.data["match_id"])
        if match is None:
            # match.proposed travels on another queue and may still be on its way: retried
            raise NotFound(f"no proposed match {event.data['match_id']} known yet")
        row = self._subject(match.candidate_id)
        if row is not None:
            self._follow(row, "introduced", f"match {match.match_id} introduced")

    # --- helpers ------------------------------------------------------------------------

    def _candidate(self, candidate_id, for_update: bool = False) -> Candidate:
        require_id(candidate_id, "candidate_id")
        return self.db.get(Candidate, candidate_id, "candidate", for_update=for_update)

    def _live(self, candidate_id, for_update: bool = False) -> Candidate:
        row = self._candidate(candidate_id, for_update)
        if row.status == domain.ERASED:
            raise Conflict(f"candidate {row.id} was erased")
        return row

    def _subject(self, candidate_id: str) -> Candidate | None:
        """The candidate an event is about; None when erased (nothing left to follow)."""
        row = self.db.get(Candidate, candidate_id, "candidate", for_update=True)
        return None if row.status == domain.ERASED else row

    def _placement(self, placement_id: str, candidate_id: str) -> Placement:
        placement = self.db.session.get(Placement, placement_id)
        if placement is None:
            placement = Placement(placement_id=placement_id, candidate_id=candidate_id, ended=False)
            self.db.session.add(placement)
        return placement

    def _add_named(self, row, taken: str) -> None:
        """Add a row whose name is unique; a name taken meanwhile by another call is a Conflict too."""
        self.db.session.add(row)
        try:
            self.db.session.flush()
        except IntegrityError:
            raise Conflict(taken) from None

    def _may_see_personal_data(self, row: Candidate) -> bool:
        return visibility.may_see_personal_data(visibility.Viewer(self.caller.organisation), row.registered_by)

    def _require_custodian(self, row: Candidate) -> None:
        if not self._may_see_personal_data(row):
            raise Forbidden("only the organisation that registered this candidate may do this")

    def _audit(self, candidate_id: str, operation: str) -> None:
        # A Core insert, not an ORM add: a read stays a read for the RPC's
        # redelivery record, which would otherwise store the whole reply, personal
        # data included. A redelivered read is simply audited again.
        self.db.session.execute(insert(PersonalDataRead).values(
            candidate_id=candidate_id, organisation=self.caller.organisation,
            professional=self.caller.professional, at=utcnow(), operation=operation))

    def _log(self, candidate_id: str, text: str, date) -> LogEntry:
        now = utcnow()
        entry = LogEntry(id=str(uuid.uuid4()), candidate_id=candidate_id, organisation=self.caller.organisation,
                         professional=self.caller.professional, date=date or self.clock.today(), text=text,
                         recorded_at=now)  # undated: today where the work is, not in UTC
        self.db.session.add(entry)
        return entry

    def _move(self, row: Candidate, wanted: str, reason: str) -> None:
        """A transition asked for by a caller: refused (Conflict) when the lifecycle forbids it."""
        try:
            domain.next_status(row.status, wanted)
        except domain.IllegalTransition as exc:
            raise Conflict(str(exc)) from None
        previous = row.status
        row.status, row.updated_at = wanted, utcnow()
        self.db.emit(CANDIDATE_STATUS_CHANGED, row.id, {
            "candidate_id": row.id, "from_status": previous, "to_status": wanted, "reason": reason,
        })

    def _follow(self, row: Candidate, wanted: str | None, reason: str) -> None:
        """A transition another service's event implies. An event is a fact that
        already happened: one the lifecycle cannot follow (late, or overtaken) is
        logged and left, since retrying it would never succeed."""
        if wanted is None or row.status == wanted:
            return
        if not domain.may_move(row.status, wanted):
            log.warning("candidate %s stays %s: %s does not lead to %s", row.id, row.status, reason, wanted)
            return
        self._move(row, wanted, reason)


def trajectory_dict(row: Trajectory) -> dict:
    return {"id": row.id, "name": row.name, "weeks": row.weeks, "organisation": row.organisation,
            "modules": [{"code": m.code, "name": m.name, "certificate_skill": m.certificate_skill}
                        for m in row.modules]}


def cohort_dict(row: Cohort) -> dict:
    return {"id": row.id, "name": row.name, "trajectory_id": row.trajectory_id, "trajectory": row.trajectory.name,
            "start_date": row.start_date.isoformat(), "region": row.region, "organisation": row.organisation}
