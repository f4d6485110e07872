"""Candidates' decisions over a unit of work: what the entrypoints in ``service`` call.

Each handler is a plain function of the unit of work (``uow``: its session,
``emit``, ``get``), who calls (an :class:`~werkbrug_shared.actor.Actor`: its
organisation and professional) and the clock (``now()`` for what is stamped,
``today()`` for an undated logbook entry). The rules themselves are in
:mod:`candidates.domain`; rows and replies are shaped by :mod:`candidates.records`.
Unit tests call these on a SQLite unit of work with a fixed clock, no broker.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Select, delete, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from candidates import domain, records
from candidates.models import (
    Candidate,
    CandidateSkill,
    CandidateTargetGroup,
    Cohort,
    Consent,
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
from werkbrug_shared import audit as chain
from werkbrug_shared import visibility
from werkbrug_shared.actor import Actor
from werkbrug_shared.clock import Clock, date_in_nl
from werkbrug_shared.db import UnitOfWork, insert_rows
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, ValidationError
from werkbrug_shared.events.types import (
    CANDIDATE_CONSENT_CHANGED,
    CANDIDATE_ENROLLED,
    CANDIDATE_ERASED,
    CANDIDATE_MODULE_COMPLETED,
    CANDIDATE_PROFILE_UPDATED,
    CANDIDATE_REGISTERED,
    CANDIDATE_STATUS_CHANGED,
    TRAJECTORY_DEFINED,
)
from werkbrug_shared.validation import require_id, text

log = logging.getLogger(__name__)

OUTBOX = metadata.tables["outbox"]


def bsn_conflict(candidate_id: str) -> Conflict:
    return Conflict(f"this person (BSN) is already registered as candidate {candidate_id}: register once")


# --- finding a candidate ------------------------------------------------------------------

def candidate(uow: UnitOfWork, candidate_id, for_update: bool = False) -> Candidate:
    require_id(candidate_id, "candidate_id")
    return uow.get(Candidate, candidate_id, "candidate", for_update=for_update)


def live(uow: UnitOfWork, candidate_id, for_update: bool = False) -> Candidate:
    """The candidate, unless erased: an erased one has nothing left to change."""
    row = candidate(uow, candidate_id, for_update)
    if row.status == domain.ERASED:
        raise Conflict(f"candidate {row.id} was erased")
    return row


def may_see_personal_data(caller: Actor, row: Candidate) -> bool:
    """The registering organisation (its custody: change, erase, account); consents aside."""
    return visibility.may_see_personal_data(visibility.Viewer(caller.organisation), row.registered_by)


def personal_scope(uow: UnitOfWork, caller: Actor, clock: Clock, row: Candidate) -> str | None:
    """How much personal data ``caller`` reads of ``row`` today (visibility.personal_data_scope):
    the registering organisation all, an organisation the candidate consented to what its
    consents open, read from the database at every call (a revocation holds at once)."""
    return personal_access(uow, caller, clock, row)[0]


def personal_access(uow: UnitOfWork, caller: Actor, clock: Clock, row: Candidate) -> tuple[str | None, str]:
    """:func:`personal_scope`, and the purpose the audit log names for the read: aftercare when
    only an aftercare consent lets the caller read, else mediation."""
    viewer = visibility.Viewer(caller.organisation)
    if visibility.is_registering_organisation(viewer, row.registered_by):
        return visibility.FULL, chain.MEDIATION
    if caller.organisation is None:
        return None, chain.MEDIATION
    held = uow.session.scalars(select(Consent).where(
        Consent.candidate_id == row.id, Consent.organisation == caller.organisation,
        Consent.revoked_at.is_(None))).all()
    if not held:
        return None, chain.MEDIATION
    introduced = set(uow.session.scalars(select(ProposedMatch.match_id).where(
        ProposedMatch.candidate_id == row.id, ProposedMatch.introduced_at.is_not(None))))
    today, consents = clock.today(), [rule_consent(c, introduced) for c in held]
    purposes = {c.purpose for c in consents if visibility.consent_holds(c, caller.organisation, today)}
    purpose = chain.AFTERCARE if purposes == {visibility.AFTERCARE} else chain.MEDIATION
    return visibility.personal_data_scope(viewer, row.registered_by, consents, today), purpose


def rule_consent(row: Consent, introduced=frozenset()) -> visibility.Consent:
    return visibility.Consent(organisation=row.organisation, purpose=row.purpose, scope=row.scope,
                              given_on=row.given_on, expires_on=row.expires_on,
                              revoked=row.revoked_at is not None or row.given_on is None,
                              introduced=row.match_id in introduced)


def custodian_row(uow: UnitOfWork, caller: Actor, candidate_id) -> Candidate:
    """The live candidate, for the organisation that registered them only."""
    row = live(uow, candidate_id, for_update=True)
    if not may_see_personal_data(caller, row):
        raise Forbidden("only the organisation that registered this candidate may do this")
    return row


def audit(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id: str, operation: str) -> None:
    # A Core insert, not an ORM add: a read stays a read for the RPC's
    # redelivery record, which would otherwise store the whole reply, personal
    # data included. A redelivered read is simply audited again.
    uow.session.execute(insert(PersonalDataRead).values(
        candidate_id=candidate_id, organisation=caller.organisation,
        professional=caller.professional, at=clock.now(), operation=operation))


# the kinds of record holding personal data here, as the audit log names them
PERSONAL, LOGBOOK, PLAN = "personal_data", "log_entry", "plan"
LOG_FIELDS = ("date", "text", "organisation", "professional")
PLAN_FIELDS = ("goal", "steps")


def account(uow: UnitOfWork, caller: Actor | None, at: datetime, action: str, operation: str, candidate_id: str,
            kind: str, fields, purpose: str = chain.MEDIATION) -> None:
    """An entry in the hash-chained audit log (werkbrug_shared.audit): names, never values."""
    chain.record(uow, caller, at, purpose=purpose, action=action, operation=operation, candidate_id=candidate_id,
                 kind=kind, fields=fields)


def personal_fields(columns: dict) -> list[str]:
    """Which personal fields a row or change holds (the BSN as one), never their values."""
    names = {("bsn" if c.startswith("bsn_") else c) for c, v in columns.items()
             if v is not None and c != "candidate_id"}
    return sorted(names)


# --- registration -------------------------------------------------------------------------

def register(uow: UnitOfWork, caller: Actor, new: records.NewCandidate) -> dict:
    """One prepared registration: its view, the earlier one's for a source_ref imported before."""
    if new.source_ref and (known := records.imported(uow.session, caller.organisation,
                                                      [new.source_ref]).get(new.source_ref)):
        return {**records.candidate_dict(candidate(uow, known)), "existing": True}
    if new.bsn_hash and (known := records.bsn_owners(uow.session, [new.bsn_hash]).get(new.bsn_hash)):
        raise bsn_conflict(known)
    write(uow, [new])
    account(uow, caller, new.candidate["registered_at"], chain.CHANGE, "register", new.id, PERSONAL,
            personal_fields(new.personal))
    return new.view()


def register_many(uow: UnitOfWork, caller: Actor, prepared: list[tuple[int, records.NewCandidate]]) -> dict[int, dict]:
    """Prepared rows of a batch (by their index in it) -> a result each; see service.register_many."""
    # one query each for the whole batch, not one per row
    imported = records.imported(uow.session, caller.organisation, [n.source_ref for _, n in prepared if n.source_ref])
    owners = records.bsn_owners(uow.session, [n.bsn_hash for _, n in prepared if n.bsn_hash])
    results, to_write = {}, []
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
    write(uow, to_write)
    for new in to_write:
        account(uow, caller, new.candidate["registered_at"], chain.CHANGE, "register_many", new.id, PERSONAL,
                personal_fields(new.personal))
    return results


def write(uow: UnitOfWork, batch: list[records.NewCandidate]) -> None:
    try:
        records.insert_all(uow.session, batch)
    except IntegrityError:
        # another call registered the same person or source_ref since we looked
        uow.session.rollback()
        hashes = [n.bsn_hash for n in batch if n.bsn_hash]
        if len(batch) == 1 and (known := records.bsn_owners(uow.session, hashes)):
            raise bsn_conflict(next(iter(known.values()))) from None
        raise Conflict("some of these candidates were registered at the same moment by another call; "
                       "send the same batch again (rows already written come back as existing)") from None
    uow.emit_many(CANDIDATE_REGISTERED, [(new.id, {**new.profile(), "registered_by": new.candidate["registered_by"]})
                                         for new in batch])
    uow.emit_many(CANDIDATE_ENROLLED, [
        (new.id, {"candidate_id": new.id, "cohort": new.cohort, "region": new.candidate["region"],
                  "target_groups": new.target_groups})
        for new in batch if new.cohort
    ])
    refused = [new for new in batch if not new.matching_consent]
    if refused:  # intake recorded no consent to matching: a row says so, and matching leaves them out
        insert_rows(uow.session, Consent.__table__, [
            {"id": str(uuid.uuid4()), "candidate_id": new.id, "purpose": visibility.MATCHING,
             "organisation": MATCHING_ORGANISATION, "scope": visibility.FULL, "match_id": None, "given_on": None,
             "given_at": None, "expires_on": None, "revoked_at": new.candidate["registered_at"],
             "recorded_by": new.candidate["registered_by"], "professional": None} for new in refused])
        uow.emit_many(CANDIDATE_CONSENT_CHANGED, [(new.id, consent_event(new.id, visibility.MATCHING, None, False))
                                                  for new in refused])


# --- reading and changing -----------------------------------------------------------------

def view(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id) -> dict:
    """The profile; personal data (and the plan) only for the registering organisation, audited."""
    row = candidate(uow, candidate_id)
    out = records.candidate_dict(row)
    if row.status == domain.ERASED:
        return out
    scope, purpose = personal_access(uow, caller, clock, row)
    if scope is None:
        return out
    personal = uow.session.get(PersonalData, row.id)
    if personal is not None:
        plan = uow.session.get(Plan, row.id) if scope == visibility.FULL else None
        shown = records.personal_dict(personal, plan)
        if scope == visibility.CONTACT:  # an introduction: who they are and how to reach them, no more
            shown = {f: shown[f] for f in visibility.CONTACT_FIELDS}
        out.update(shown)
        audit(uow, caller, clock, row.id, "get")
        now = clock.now()
        account(uow, caller, now, chain.READ, "get", row.id, PERSONAL,
                [f for f, v in shown.items() if v is not None and v is not False and f != "plan"], purpose)
        if plan is not None:
            account(uow, caller, now, chain.READ, "get", row.id, PLAN, PLAN_FIELDS, purpose)
    return out


def listed(wanted: dict) -> Select:
    """The query of candidates matching validated list filters; erased ones only when asked for."""
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
    return stmt


def update(uow: UnitOfWork, clock: Clock, row: Candidate, data: dict, caller: Actor | None = None) -> Candidate:
    """Apply a validated change (see :func:`custodian_row`); the profile event only if it changed.
    A change of personal fields is accounted for in the audit log, as the ``caller``'s."""
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
        row_personal = uow.get(PersonalData, row.id, "personal data of candidate")
        for field, value in personal.items():
            setattr(row_personal, field, value)
        account(uow, caller, clock.now(), chain.CHANGE, "update", row.id, PERSONAL,
                personal_fields(dict.fromkeys(personal, True)))
    row.updated_at = clock.now()
    uow.session.flush()
    if (after := records.profile_of(row)) != before:
        uow.emit(CANDIDATE_PROFILE_UPDATED, row.id, after)
    return row


def change_status(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id, status: str,
                  reason: str | None) -> Candidate:
    """A status set by hand, by the registering organisation; the reason goes to the logbook, not
    the event (it may name the person)."""
    row = custodian_row(uow, caller, candidate_id)
    move(uow, clock, row, status, f"set by {caller.organisation}")
    if reason:
        write_log(uow, caller, clock, row.id, f"status {status}: {reason}", None, "change_status")
    return row


# --- intake logbook and plan --------------------------------------------------------------

def write_log(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id: str, entry: str,
              day: date | None, operation: str = "add_log_entry") -> LogEntry:
    written = LogEntry(id=str(uuid.uuid4()), candidate_id=candidate_id, organisation=caller.organisation,
                       professional=caller.professional, date=day or clock.today(), text=entry,
                       recorded_at=clock.now())  # undated: today where the work is, not in UTC
    uow.session.add(written)
    account(uow, caller, written.recorded_at, chain.CHANGE, operation, candidate_id, LOGBOOK, ("date", "text"))
    return written


def add_log_entry(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id, entry: str,
                  day: date | None) -> LogEntry:
    row = live(uow, candidate_id)
    return write_log(uow, caller, clock, row.id, entry, day)


def log_entries(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id) -> list[LogEntry]:
    """The registering organisation (and one the candidate consented to in full) reads every
    entry, another partner its own."""
    row = live(uow, candidate_id)
    stmt = select(LogEntry).where(LogEntry.candidate_id == row.id)
    if personal_scope(uow, caller, clock, row) != visibility.FULL:
        stmt = stmt.where(LogEntry.organisation == caller.organisation)
    entries = uow.session.scalars(stmt.order_by(LogEntry.date, LogEntry.recorded_at, LogEntry.id)).all()
    if entries:
        audit(uow, caller, clock, row.id, "log")
        account(uow, caller, clock.now(), chain.READ, "log", row.id, LOGBOOK, LOG_FIELDS)
    return list(entries)


def set_plan(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id, data: dict) -> Plan:
    row = custodian_row(uow, caller, candidate_id)
    stored = uow.session.get(Plan, row.id)
    if stored is None:
        stored = Plan(candidate_id=row.id)
        uow.session.add(stored)
    stored.goal, stored.steps, stored.updated_at = data["goal"], data["steps"], clock.now()
    stored.organisation, stored.professional = caller.organisation, caller.professional
    account(uow, caller, stored.updated_at, chain.CHANGE, "set_plan", row.id, PLAN, PLAN_FIELDS)
    return stored


# --- trajectories and cohorts -------------------------------------------------------------

def _add_named(uow: UnitOfWork, row, taken: str) -> None:
    """Add a row whose name is unique; a name taken meanwhile by another call is a Conflict too."""
    uow.session.add(row)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict(taken) from None


def define_trajectory(uow: UnitOfWork, caller: Actor, clock: Clock, data: dict) -> Trajectory:
    taken = f"a trajectory named {data['name']!r} already exists"
    if uow.session.scalar(select(Trajectory.id).where(Trajectory.name == data["name"])):
        raise Conflict(taken)
    row = Trajectory(id=str(uuid.uuid4()), name=data["name"], weeks=data["weeks"],
                     organisation=caller.organisation, created_at=clock.now())
    row.modules = [Module(code=m["code"], name=m["name"], certificate_skill=m["certificate_skill"], position=i)
                   for i, m in enumerate(data["modules"])]
    _add_named(uow, row, taken)
    uow.emit(TRAJECTORY_DEFINED, row.id, {
        "trajectory_id": row.id, "trajectory": row.name,
        "modules": [{"code": m.code, "name": m.name, "skill": m.certificate_skill} for m in row.modules]})
    return row


def start_cohort(uow: UnitOfWork, caller: Actor, clock: Clock, data: dict) -> Cohort:
    trajectory = uow.get(Trajectory, data["trajectory_id"], "trajectory")
    taken = f"a cohort named {data['name']!r} already exists"
    if uow.session.scalar(select(Cohort.id).where(Cohort.name == data["name"])):
        raise Conflict(taken)
    row = Cohort(id=str(uuid.uuid4()), trajectory_id=trajectory.id, name=data["name"],
                 start_date=data["start_date"], region=data["region"], organisation=caller.organisation,
                 created_at=clock.now())
    row.trajectory = trajectory
    _add_named(uow, row, taken)
    return row


def _cohort(uow: UnitOfWork, cohort_id) -> Cohort:
    require_id(cohort_id, "cohort_id")
    return uow.get(Cohort, cohort_id, "cohort")


def cohort_counts(uow: UnitOfWork, cohort_id) -> tuple[Cohort, int, dict[str, int]]:
    """The cohort, how many are enrolled, and how many completed each of its modules."""
    row = _cohort(uow, cohort_id)
    enrolled = uow.session.scalar(select(func.count()).select_from(Enrolment).where(Enrolment.cohort_id == row.id))
    completed = dict(uow.session.execute(
        select(ModuleCompletion.module_code, func.count()).where(ModuleCompletion.cohort_id == row.id)
        .group_by(ModuleCompletion.module_code)).all())
    return row, enrolled, {m.code: completed.get(m.code, 0) for m in row.trajectory.modules}


def enrol(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id, cohort_id) -> tuple[Candidate, Cohort]:
    """Into a cohort: candidate.enrolled, and in_trajectory unless already further along.
    Enrolling again changes nothing."""
    row = live(uow, candidate_id, for_update=True)
    cohort = _cohort(uow, cohort_id)
    if uow.session.get(Enrolment, (cohort.id, row.id)) is not None:
        return row, cohort
    now = clock.now()
    uow.session.add(Enrolment(cohort_id=cohort.id, candidate_id=row.id,
                              organisation=caller.organisation, enrolled_at=now))
    before = records.profile_of(row)
    row.cohort, row.updated_at = cohort.name, now
    uow.emit(CANDIDATE_ENROLLED, row.id, {
        "candidate_id": row.id, "cohort": cohort.name, "trajectory": cohort.trajectory.name,
        "region": row.region, "target_groups": row.target_groups,
    })
    if (wanted := domain.status_on_enrolment(row.status)) is not None:
        move(uow, clock, row, wanted, f"enrolled in {cohort.name}")
    if (after := records.profile_of(row)) != before:
        uow.emit(CANDIDATE_PROFILE_UPDATED, row.id, after)  # matching puts the cohort on placements
    return row, cohort


@dataclass(frozen=True)
class ModuleDone:
    candidate_id: str
    cohort_id: str
    module_code: str
    skill: str | None


def complete_module(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id, cohort_id,
                    module_code) -> ModuleDone:
    """A module done; a certificate module (VCA) adds its skill with evidence "certificate".
    Completing it again changes nothing."""
    row = live(uow, candidate_id, for_update=True)
    cohort = _cohort(uow, cohort_id)
    if uow.session.get(Enrolment, (cohort.id, row.id)) is None:
        raise NotFound(f"candidate {row.id} is not enrolled in cohort {cohort.id}")
    if not isinstance(module_code, str):
        raise ValidationError.from_fields("module", {"module_code": ["expected a module code"]})
    text(module_code, "module_code", "module")
    module = next((m for m in cohort.trajectory.modules if m.code == module_code), None)
    if module is None:
        raise ValidationError.from_fields(
            "module", {"module_code": [f"not a module of trajectory {cohort.trajectory.name!r}"]})
    done = ModuleDone(row.id, cohort.id, module.code, module.certificate_skill)
    if uow.session.get(ModuleCompletion, (cohort.id, row.id, module.code)) is not None:
        return done
    now = clock.now()
    uow.session.add(ModuleCompletion(cohort_id=cohort.id, candidate_id=row.id, module_code=module.code,
                                     organisation=caller.organisation, completed_at=now))
    uow.emit(CANDIDATE_MODULE_COMPLETED, row.id, {
        "candidate_id": row.id, "cohort": cohort.name, "module": module.code,
        "trajectory": cohort.trajectory.name, "skill": module.certificate_skill,
    })
    if module.certificate_skill:
        before = records.profile_of(row)
        records.replace_claims(row, domain.with_certificate(row.skill_claims, module.certificate_skill))
        row.updated_at = now
        uow.session.flush()
        if (after := records.profile_of(row)) != before:
            uow.emit(CANDIDATE_PROFILE_UPDATED, row.id, after)
    return done


# --- erasure ------------------------------------------------------------------------------

def erase(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id) -> Candidate:
    """AVG: personal data, BSN, logbook and plan go; an anonymous row stays for the counts."""
    row = candidate(uow, candidate_id, for_update=True)
    if row.status == domain.ERASED:
        return row
    if not may_see_personal_data(caller, row):
        raise Forbidden("only the registering organisation may erase a candidate")
    session = uow.session
    now = clock.now()
    for model, kind in ((PersonalData, PERSONAL), (LogEntry, LOGBOOK), (Plan, PLAN)):
        if session.execute(delete(model).where(model.candidate_id == row.id)).rowcount:
            account(uow, caller, now, chain.REMOVE, "erase", row.id, kind, (), chain.ERASURE)
    session.execute(delete(Consent).where(Consent.candidate_id == row.id))  # nothing left to share
    for field, value in records.ERASED_PROFILE.items():
        setattr(row, field, value)
    row.skill_rows = []
    row.status, row.erased_at, row.updated_at = domain.ERASED, now, now
    # RPC replies recorded for redelivery: none of today's hold personal data,
    # but the spine's register answered with the name (a scan; erasures are rare)
    uow.forget_replies_mentioning(row.id)
    # events already relayed carried the profile; the outbox need not keep them
    session.execute(delete(OUTBOX).where(OUTBOX.c.published_at.is_not(None),
                                         OUTBOX.c.payload.contains(f'"subject":"{row.id}"')))
    uow.emit(CANDIDATE_ERASED, row.id, {"candidate_id": row.id})
    return row


# --- lifecycle from other services' events ------------------------------------------------

def _subject(uow: UnitOfWork, candidate_id: str) -> Candidate | None:
    """The candidate an event is about; None when erased (nothing left to follow)."""
    row = uow.get(Candidate, candidate_id, "candidate", for_update=True)
    return None if row.status == domain.ERASED else row


def _placement(uow: UnitOfWork, placement_id: str, candidate_id: str) -> Placement:
    placement = uow.session.get(Placement, placement_id)
    if placement is None:
        placement = Placement(placement_id=placement_id, candidate_id=candidate_id, ended=False)
        uow.session.add(placement)
    return placement


def placement_recorded(uow: UnitOfWork, clock: Clock, candidate_id: str, placement_id: str) -> None:
    row = _subject(uow, candidate_id)
    if row is None:
        return
    placement = _placement(uow, placement_id, row.id)
    follow(uow, clock, row, domain.status_on_placement_recorded(placement.ended), f"placement {placement_id}")


def placement_ended(uow: UnitOfWork, clock: Clock, candidate_id: str, placement_id: str) -> None:
    row = _subject(uow, candidate_id)
    if row is None:
        return
    placement = _placement(uow, placement_id, row.id)
    placement.ended = True
    uow.session.flush()
    running = uow.session.scalar(select(func.count()).select_from(Placement).where(
        Placement.candidate_id == row.id, Placement.ended.is_(False)))
    follow(uow, clock, row, domain.status_on_placement_ended(running), f"placement {placement_id} ended")


def placement_sustained(uow: UnitOfWork, clock: Clock, candidate_id: str, placement_id: str, months) -> None:
    row = _subject(uow, candidate_id)
    if row is None:
        return
    placement = uow.session.get(Placement, placement_id)
    ended = placement is not None and placement.ended
    follow(uow, clock, row, domain.status_on_placement_sustained(ended),
           f"placement {placement_id} sustained {months} months")


def match_proposed(uow: UnitOfWork, candidate_id: str, match_id: str) -> None:
    if _subject(uow, candidate_id) is None:
        return
    if uow.session.get(ProposedMatch, match_id) is None:
        uow.session.add(ProposedMatch(match_id=match_id, candidate_id=candidate_id))


def match_introduced(uow: UnitOfWork, clock: Clock, match_id: str) -> None:
    match = uow.session.get(ProposedMatch, match_id)
    if match is None:
        # match.proposed travels on another queue and may still be on its way: retried
        raise NotFound(f"no proposed match {match_id} known yet")
    if match.introduced_at is None:  # an introduction's consent holds from now (personal_scope)
        match.introduced_at = clock.now()
    row = _subject(uow, match.candidate_id)
    if row is not None:
        follow(uow, clock, row, domain.INTRODUCED, f"match {match.match_id} introduced")


# --- status moves -------------------------------------------------------------------------

def move(uow: UnitOfWork, clock: Clock, row: Candidate, wanted: str, reason: str) -> None:
    """A transition asked for by a caller: refused (Conflict) when the lifecycle forbids it."""
    try:
        domain.next_status(row.status, wanted)
    except domain.IllegalTransition as exc:
        raise Conflict(str(exc)) from None
    previous = row.status
    row.status, row.updated_at = wanted, clock.now()
    uow.emit(CANDIDATE_STATUS_CHANGED, row.id, {
        "candidate_id": row.id, "from_status": previous, "to_status": wanted, "reason": reason,
    })


def follow(uow: UnitOfWork, clock: Clock, row: Candidate, wanted: str | None, reason: str) -> None:
    """A transition another service's event implies. An event is a fact that
    already happened: one the lifecycle cannot follow (late, or overtaken) is
    logged and left, since retrying it would never succeed."""
    if wanted is None or row.status == wanted:
        return
    if not domain.may_move(row.status, wanted):
        log.warning("candidate %s stays %s: %s does not lead to %s", row.id, row.status, reason, wanted)
        return
    move(uow, clock, row, wanted, reason)


# --- accountability: custody, the audit log, inzage, retention -----------------------------

def custodian(uow: UnitOfWork, caller: Actor, candidate_id) -> Candidate:
    """The candidate, for the organisation that registered them only (erased too: their audit
    log and what is left stay theirs to account for); Forbidden to any other."""
    row = candidate(uow, candidate_id)
    if not may_see_personal_data(caller, row):
        raise Forbidden("only the organisation that registered this candidate may do this")
    return row


def audit_entries(uow: UnitOfWork, caller: Actor, candidate_id, limit=100, cursor=None) -> dict:
    """The audit log's entries about a candidate, for the registering organisation."""
    page = chain.page_args(candidate_id, limit, cursor)
    custodian(uow, caller, candidate_id)
    return chain.entries_for(uow.session, *page)


def inzage(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id) -> dict:
    """AVG art. 15: everything candidates stores on the person, for the registering organisation;
    the export is itself accounted for (purpose inzage)."""
    row = custodian(uow, caller, candidate_id)
    session = uow.session
    records_out: dict[str, list] = {"candidate": [records.candidate_dict(row)]}
    personal = session.get(PersonalData, row.id)
    plan = session.get(Plan, row.id)
    if personal is not None:
        shown = records.personal_dict(personal, None)
        del shown["plan"]
        records_out["personal_data"] = [shown]
    if plan is not None:
        records_out["plan"] = [records.plan_dict(plan)]
    entries = session.scalars(select(LogEntry).where(LogEntry.candidate_id == row.id)
                              .order_by(LogEntry.date, LogEntry.recorded_at, LogEntry.id)).all()
    records_out["log_entries"] = [chain.row_dict(e, ("id", "organisation", "professional", "date", "text",
                                                     "recorded_at")) for e in entries]
    records_out["enrolments"] = [
        {"cohort_id": e.cohort_id, "organisation": e.organisation, "enrolled_at": chain.json_value(e.enrolled_at)}
        for e in session.scalars(select(Enrolment).where(Enrolment.candidate_id == row.id))]
    records_out["module_completions"] = [
        chain.row_dict(m, ("cohort_id", "module_code", "organisation", "completed_at"))
        for m in session.scalars(select(ModuleCompletion).where(ModuleCompletion.candidate_id == row.id))]
    records_out["placements"] = [
        {"placement_id": p.placement_id, "ended": p.ended}
        for p in session.scalars(select(Placement).where(Placement.candidate_id == row.id))]
    records_out["matches"] = [
        {"match_id": m.match_id} for m in session.scalars(select(ProposedMatch).where(
            ProposedMatch.candidate_id == row.id))]
    records_out["consents"] = [consent_dict(c, clock.today()) for c in session.scalars(
        select(Consent).where(Consent.candidate_id == row.id).order_by(Consent.purpose, Consent.organisation))]
    records_out["audit_log"] = chain.entries_for(session, row.id, limit=10_000, after=None)["items"]
    now = clock.now()
    for kind, fields in ((PERSONAL, personal_fields(records_out.get("personal_data", [{}])[0])),
                         (PLAN, PLAN_FIELDS), (LOGBOOK, LOG_FIELDS)):
        if (kind == PERSONAL and personal is not None) or (kind == PLAN and plan is not None) or (
                kind == LOGBOOK and entries):
            account(uow, caller, now, chain.READ, "inzage", row.id, kind, fields, chain.INZAGE)
    return chain.inzage_reply("candidates", records_out)


def remove_expired(uow: UnitOfWork, clock: Clock, days: int, batch: int = chain.RETENTION_BATCH) -> int:
    """Retention: logbook entries last written more than ``days`` ago go (a batch at a time).
    Every replica runs this: SKIP LOCKED gives each other rows, none removed twice."""
    cutoff = chain.retention_cutoff(clock, days)
    expired = uow.session.execute(
        select(LogEntry.id, LogEntry.candidate_id).where(LogEntry.recorded_at < cutoff)
        .order_by(LogEntry.recorded_at, LogEntry.id).limit(batch).with_for_update(skip_locked=True)).all()
    if not expired:
        return 0
    uow.session.execute(delete(LogEntry).where(LogEntry.id.in_([e.id for e in expired])))
    now = clock.now()
    for e in expired:
        account(uow, None, now, chain.REMOVE, "retention", e.candidate_id, LOGBOOK, (), chain.RETENTION)
    return len(expired)


# --- consent: who else may know who the candidate is, and whether matching may rank them ------

MATCHING_ORGANISATION = "*"  # matching's consent names no organisation: every partner of the region
CONSENT = "consent"  # the audit log's kind: a consent given or revoked (ids and dates, no personal data)


def consent_event(candidate_id: str, purpose: str, organisation: str | None, given: bool) -> dict:
    return {"candidate_id": candidate_id, "purpose": purpose, "organisation": organisation, "given": given}


def consent_dict(row: Consent, today: date, introduced=frozenset()) -> dict:
    """A consent as the registering organisation reads it, with whether it holds today."""
    matching = row.purpose == visibility.MATCHING
    rule = rule_consent(row, introduced)
    holds = (row.revoked_at is None and row.given_on is not None) if matching else visibility.consent_holds(
        rule, row.organisation, today)
    return {"id": row.id, "candidate_id": row.candidate_id, "purpose": row.purpose,
            "organisation": None if matching else row.organisation, "scope": None if matching else row.scope,
            "match_id": row.match_id, "given_on": _iso(row.given_on), "given_at": _iso(row.given_at),
            "expires_on": _iso(row.expires_on), "revoked_at": _iso(row.revoked_at),
            "recorded_by": row.recorded_by, "professional": row.professional, "holds": holds}


def aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)  # SQLite gives UTC without its zone


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def _consent_row(uow: UnitOfWork, candidate_id: str, purpose: str, organisation: str | None) -> Consent | None:
    return uow.session.scalar(select(Consent).where(
        Consent.candidate_id == candidate_id, Consent.purpose == purpose,
        Consent.organisation == (organisation or MATCHING_ORGANISATION)).with_for_update())


def give_consent(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id, data: dict) -> Consent:
    """The candidate consented (their registering organisation's klantmanager records it): a
    validated ConsentInput. Given again, it replaces the earlier terms (and lifts a revocation)."""
    row = custodian_row(uow, caller, candidate_id)
    purpose = data["purpose"]
    today, now = clock.today(), clock.now()
    if data.get("expires_on") is not None and data["expires_on"] < today:
        raise ValidationError.from_fields("consent", {"expires_on": ["lies in the past"]})
    if purpose == visibility.INTRODUCTION and uow.session.scalar(select(ProposedMatch.match_id).where(
            ProposedMatch.match_id == data["match_id"], ProposedMatch.candidate_id == row.id)) is None:
        raise NotFound(f"no match {data['match_id']} of candidate {row.id} known (yet)")
    organisation = None if purpose == visibility.MATCHING else data["organisation"]
    scope = data.get("scope") or (visibility.CONTACT if purpose == visibility.INTRODUCTION else visibility.FULL)
    consent = _consent_row(uow, row.id, purpose, organisation)
    if consent is None:
        consent = Consent(id=str(uuid.uuid4()), candidate_id=row.id, purpose=purpose,
                          organisation=organisation or MATCHING_ORGANISATION)
        uow.session.add(consent)
    consent.scope, consent.match_id, consent.expires_on = scope, data.get("match_id"), data.get("expires_on")
    consent.given_on, consent.given_at, consent.revoked_at = today, now, None
    consent.recorded_by, consent.professional = caller.organisation, caller.professional
    uow.session.flush()
    account(uow, caller, now, chain.CHANGE, "give_consent", row.id, CONSENT, (purpose,))
    uow.emit(CANDIDATE_CONSENT_CHANGED, row.id, consent_event(row.id, purpose, organisation, True))
    return consent


def revoke_consent(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id, purpose: str,
                   organisation: str | None) -> Consent:
    """The candidate withdrew a consent: from this commit on no read shows what it opened (every
    read asks the database), and matching drops them from every ranking (candidate.consent_changed).
    Matching's consent, given at intake without a row, is revoked too; revoking again changes nothing."""
    row = custodian_row(uow, caller, candidate_id)
    if purpose != visibility.MATCHING and organisation is None:
        raise ValidationError.from_fields("revocation", {"organisation": ["the organisation whose consent ends"]})
    organisation = None if purpose == visibility.MATCHING else organisation
    now = clock.now()
    consent = _consent_row(uow, row.id, purpose, organisation)
    if consent is None:
        if purpose != visibility.MATCHING:
            raise NotFound(f"no {purpose} consent to {organisation} for candidate {row.id}")
        consent = Consent(id=str(uuid.uuid4()), candidate_id=row.id, purpose=purpose,
                          organisation=MATCHING_ORGANISATION, scope=visibility.FULL,
                          given_on=date_in_nl(aware(row.registered_at)), given_at=row.registered_at,
                          recorded_by=row.registered_by)
        uow.session.add(consent)
    elif consent.revoked_at is not None:
        return consent
    consent.revoked_at = now
    uow.session.flush()
    account(uow, caller, now, chain.CHANGE, "revoke_consent", row.id, CONSENT, (purpose,))
    uow.emit(CANDIDATE_CONSENT_CHANGED, row.id, consent_event(row.id, purpose, organisation, False))
    return consent


def consents(uow: UnitOfWork, caller: Actor, clock: Clock, candidate_id) -> dict:
    """The candidate's consents, for the registering organisation: matching's (given unless a row
    says otherwise) and each organisation's, with whether it holds today."""
    row = custodian(uow, caller, candidate_id)
    rows = uow.session.scalars(select(Consent).where(Consent.candidate_id == row.id)
                               .order_by(Consent.purpose, Consent.organisation)).all()
    introduced = set(uow.session.scalars(select(ProposedMatch.match_id).where(
        ProposedMatch.candidate_id == row.id, ProposedMatch.introduced_at.is_not(None))))
    today = clock.today()
    matching = next((c for c in rows if c.purpose == visibility.MATCHING), None)
    ranked = row.status != domain.ERASED and (matching is None or consent_dict(matching, today)["holds"])
    return {"candidate_id": row.id, "matching_consent": ranked,
            "consents": [consent_dict(c, today, introduced) for c in rows if c.purpose != visibility.MATCHING]}
