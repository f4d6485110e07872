"""Aftercare's operations over a unit of work: what the entrypoints in :mod:`aftercare.service`
call, one each, once they have parsed the request and know who calls.

Every function takes the unit of work (its session, and ``emit`` for the events that go with
a change, in the same transaction), the clock (``today()`` for due dates and loads, ``now()``
for timestamps) and, where it acts for a partner, the calling actor or a jobcoach already found
to be theirs. It returns the rows it changed or read; the replies' shape is the service's, the
rules themselves (the protocol, the budget, the jobcoach choice, what an outcome sets going)
are :mod:`aftercare.domain`'s. Mails are returned as :class:`Mail` for the entrypoint to send.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from prometheus_client import Counter
from sqlalchemy import and_, func, or_, select, update

from aftercare import domain, notices
from aftercare.models import AftercarePlan, AftercareTask, CoachingOrganisation, Escalation, Jobcoach
from werkbrug_shared import audit as chain
from werkbrug_shared.actor import Actor
from werkbrug_shared.clock import Clock
from werkbrug_shared.db import UnitOfWork
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, ValidationError
from werkbrug_shared.events.types import (
    AFTERCARE_PLAN_CREATED,
    AFTERCARE_TASK_ASSIGNED,
    AFTERCARE_TASK_CANCELLED,
    AFTERCARE_TASK_COMPLETED,
    AFTERCARE_TASK_OVERDUE,
    PLACEMENT_AT_RISK,
    PLACEMENT_SUSTAINED,
)

log = logging.getLogger(__name__)


SWEEP_BATCH = 500  # overdue tasks taken per sweep transaction
UNASSIGNED = "unassigned"  # the organisation label of overdue tasks nobody holds

# per process, like every counter: Prometheus adds each replica's (its own ``instance``)
UNASSIGNED_PLANS = Counter("werkbrug_aftercare_plans_unassigned_total",
                           "Plans created with no jobcoach who had room, escalated to the coordinators.", ["region"])


@dataclass(frozen=True)
class PlanRecord:
    """A plan as its readers see it: its tasks by due date, and its jobcoach's organisation."""

    plan: AftercarePlan
    tasks: list[AftercareTask]
    organisation: str | None


@dataclass(frozen=True)
class Completed:
    task: AftercareTask
    organisation: str | None  # of the jobcoach who holds it
    check_in: AftercareTask | None  # the extra check-in an at-risk outcome planned


@dataclass(frozen=True)
class Deactivated:
    jobcoach: Jobcoach
    plans_reassigned: int
    plans_unassigned: int


@dataclass(frozen=True)
class Swept:
    announced: list[AftercareTask]  # newly overdue, announced and escalated now
    overdue: dict[str, int]  # open tasks past due per organisation (UNASSIGNED: nobody's)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    kind: str  # the metric's label, never the address


# --- coaching organisations and jobcoaches -------------------------------------------------


def register_organisation(uow: UnitOfWork, actor: Actor, data: dict) -> CoachingOrganisation:
    """The calling partner's coaching organisation, registered or brought up to date."""
    row = uow.session.get(CoachingOrganisation, actor.organisation)
    if row is None:
        row = CoachingOrganisation(id=actor.organisation, **data)
        uow.session.add(row)
    else:
        row.name, row.coordinator_email = data["name"], data["coordinator_email"]
    return row


def register_jobcoach(uow: UnitOfWork, actor: Actor, clock: Clock, data: dict) -> Jobcoach:
    if uow.session.get(CoachingOrganisation, actor.organisation) is None:
        raise Conflict(f"register organisation {actor.organisation} first: its coordinator receives "
                       "the escalations")
    row = Jobcoach(id=str(uuid.uuid4()), organisation_id=actor.organisation, active=True,
                   registered_at=clock.now(), **data)
    uow.session.add(row)
    return row


def own_jobcoach(uow: UnitOfWork, actor: Actor, jobcoach_id: str) -> Jobcoach:
    """A jobcoach of the caller's organisation, locked: only its coordinator manages them."""
    # NO KEY UPDATE, as a new plan locks coaches: tasks written for this coach meanwhile need not wait
    coach = uow.session.get(Jobcoach, jobcoach_id, with_for_update={"key_share": True})
    if coach is None:
        raise NotFound(f"no jobcoach {jobcoach_id}")
    if coach.organisation_id != actor.organisation:
        raise Forbidden(f"jobcoach {coach.id} belongs to another organisation")
    return coach


def update_jobcoach(coach: Jobcoach, changes: dict) -> Jobcoach:
    for key, value in changes.items():
        setattr(coach, key, value)
    return coach


def deactivate_jobcoach(uow: UnitOfWork, clock: Clock, coach: Jobcoach) -> Deactivated:
    """The coach leaves: each of their active plans goes to the best other coach with room,
    or, with nobody, stays unassigned and is escalated."""
    if not coach.active:
        return Deactivated(coach, 0, 0)
    coach.active = False
    uow.session.flush()
    plans = uow.session.scalars(select(AftercarePlan).where(
        AftercarePlan.jobcoach_id == coach.id, AftercarePlan.status == domain.ACTIVE)
        .order_by(AftercarePlan.start_date))
    moved = unassigned = 0
    for plan in plans:
        open_tasks = _open_tasks(uow, plan.id)
        today = clock.today()
        demand = domain.weekly_load(((t.due, t.hours) for t in open_tasks), today)
        choice = domain.choose_jobcoach(_coach_options(uow, today, plan.region), plan.region,
                                        frozenset(plan.expertise_wanted), demand)
        _assign(uow, plan, open_tasks, choice, domain.REASSIGNED)
        moved, unassigned = moved + (choice is not None), unassigned + (choice is None)
        if choice is None:
            _escalate_unassigned(uow, clock, plan)
    return Deactivated(coach, moved, unassigned)


def jobcoaches(uow: UnitOfWork, region: str | None) -> list[Jobcoach]:
    stmt = select(Jobcoach).order_by(Jobcoach.name, Jobcoach.id)
    return [j for j in uow.session.scalars(stmt) if region is None or region in j.regions]


def reassign(uow: UnitOfWork, clock: Clock, plan_id: str, coach: Jobcoach) -> PlanRecord:
    """A coordinator moves a plan's open tasks to one of their organisation's coaches, if it has
    room for them; a plan nobody held is then no longer the coordinators' to act on."""
    if not coach.active:
        raise Conflict(f"jobcoach {coach.id} is not active")
    plan = uow.get(AftercarePlan, plan_id, "aftercare plan", for_update=True)
    if plan.status != domain.ACTIVE:
        raise Conflict(f"plan {plan.id} has ended")
    open_tasks = _open_tasks(uow, plan.id)
    if plan.jobcoach_id != coach.id:
        today = clock.today()
        option = next(o for o in _coach_options(uow, today, plan.region, [coach]) if o.jobcoach_id == coach.id)
        demand = domain.weekly_load(((t.due, t.hours) for t in open_tasks), today)
        if not option.has_room(demand):
            raise Conflict(f"jobcoach {coach.id} has no room: {option.load_hours:g} of "
                           f"{option.capacity_hours:g} hours a week planned, the plan needs {demand:g} more")
        _assign(uow, plan, open_tasks, coach.id, domain.REASSIGNED)
    _resolve_escalations(uow, clock, plan.id, kind=domain.UNASSIGNED_PLAN)
    return plan_record(uow, plan)


# --- plans and tasks ---------------------------------------------------------------------


def plan_record(uow: UnitOfWork, plan: AftercarePlan) -> PlanRecord:
    tasks = list(uow.session.scalars(select(AftercareTask).where(AftercareTask.plan_id == plan.id)
                                     .order_by(AftercareTask.due, AftercareTask.kind)))
    return PlanRecord(plan, tasks, _organisation_of(uow, plan.jobcoach_id))


def plan_for_placement(uow: UnitOfWork, actor: Actor, placement_id: str) -> PlanRecord:
    """The plan, for the organisation coaching it and those credited with the placement; for
    anyone else as if there were none."""
    plan = uow.session.scalar(select(AftercarePlan).where(AftercarePlan.placement_id == placement_id))
    record = plan_record(uow, plan) if plan is not None else None
    if record is None or not domain.may_see_plan(actor.organisation, record.organisation,
                                                 plan.credited_organisations or ()):
        raise NotFound(f"no aftercare plan for placement {placement_id}")
    return record


def tasks(uow: UnitOfWork, actor: Actor, query: dict) -> list[AftercareTask]:
    """The calling organisation's jobcoaches' tasks, by due date; ``due_before`` is exclusive.
    Another organisation's coach: Forbidden (their caseload is theirs to see)."""
    if query["jobcoach_id"] is not None:
        coach = uow.get(Jobcoach, query["jobcoach_id"], "jobcoach")
        if coach.organisation_id != actor.organisation:
            raise Forbidden(f"jobcoach {coach.id} belongs to another organisation")
    own_coaches = select(Jobcoach.id).where(Jobcoach.organisation_id == actor.organisation)
    stmt = select(AftercareTask).where(AftercareTask.jobcoach_id.in_(own_coaches)).order_by(
        AftercareTask.due, AftercareTask.id)
    for key in ("placement_id", "jobcoach_id", "status"):
        if query[key] is not None:
            stmt = stmt.where(getattr(AftercareTask, key) == query[key])
    if query["due_before"] is not None:
        stmt = stmt.where(AftercareTask.due < query["due_before"])
    if query["after"] is not None:  # keyset: the page after that task, whatever was added meanwhile
        last = uow.session.get(AftercareTask, query["after"])
        if last is None:
            raise ValidationError.from_fields("query", {"after": ["not a task of this list"]})
        stmt = stmt.where(or_(AftercareTask.due > last.due, and_(AftercareTask.due == last.due,
                                                                 AftercareTask.id > last.id)))
    return list(uow.session.scalars(stmt.limit(query["limit"])))


def workload(uow: UnitOfWork, actor: Actor, clock: Clock, jobcoach_id: str | None = None) -> list[dict]:
    """Per coach of the calling organisation: open and overdue tasks, hours a week planned
    against capacity, active plans. One coach by id (another organisation's: Forbidden), or
    all its active coaches."""
    session, today = uow.session, clock.today()
    if jobcoach_id is not None:
        coaches = [uow.get(Jobcoach, jobcoach_id, "jobcoach")]
        if coaches[0].organisation_id != actor.organisation:
            raise Forbidden(f"jobcoach {coaches[0].id} belongs to another organisation")
    else:
        coaches = list(session.scalars(select(Jobcoach).where(
            Jobcoach.active, Jobcoach.organisation_id == actor.organisation).order_by(Jobcoach.name, Jobcoach.id)))
    open_by_coach = _open_by_coach(uow, [c.id for c in coaches])
    out = []
    for coach in coaches:
        open_tasks = open_by_coach.get(coach.id, [])
        load_hours = domain.weekly_load(open_tasks, today)
        out.append({
            "jobcoach_id": coach.id, "organisation": coach.organisation_id, "active": coach.active,
            "capacity_hours": coach.capacity_hours, "planned_hours": load_hours,
            "remaining_hours": round(coach.capacity_hours - load_hours, 4),
            "open_tasks": len(open_tasks), "overdue_tasks": sum(domain.overdue(due, today) for due, _ in open_tasks),
            "active_plans": session.scalar(select(func.count()).select_from(AftercarePlan).where(
                AftercarePlan.jobcoach_id == coach.id, AftercarePlan.status == domain.ACTIVE)),
        })
    return out


def complete_task(uow: UnitOfWork, actor: Actor, clock: Clock, data: dict) -> Completed:
    """A check-in recorded, and what its outcome sets going (``domain.follow_up``): at risk, a
    check-in within a week; ended, the placement's end (matching ends it, from the event);
    going well at a checkpoint, the placement sustained. Only the organisation whose jobcoach
    holds the task records it (a task nobody holds is reassigned first)."""
    task = uow.get(AftercareTask, data["task_id"], "aftercare task", for_update=True)
    organisation = _organisation_of(uow, task.jobcoach_id)
    if organisation != actor.organisation:
        raise Forbidden(f"task {task.id} is not held by a jobcoach of {actor.organisation}")
    if task.status != domain.OPEN:
        raise Conflict(f"task {task.id} is already {task.status}")
    plan = uow.session.get(AftercarePlan, task.plan_id)
    task.status, task.outcome, task.completed_at = domain.DONE, data["outcome"], clock.now()
    task.note, task.hours_spent = data["note"], data["hours_spent"]
    if task.note is not None:
        chain.record(uow, actor, task.completed_at, purpose=chain.AFTERCARE, action=chain.CHANGE,
                     operation="complete_task", candidate_id=plan.candidate_id, kind=TASK_NOTE, fields=NOTE_FIELDS)
    then = domain.follow_up(task.outcome, task.sustained_months, clock.today(), data["end_date"],
                            data["end_reason"])
    # the note stays here: it is the jobcoach's free text and may name people
    uow.emit(AFTERCARE_TASK_COMPLETED, task.id, {
        "task_id": task.id, "placement_id": task.placement_id, "outcome": task.outcome,
        "organisation": organisation, "kind": task.kind,
        "end_date": then.end_date.isoformat() if then.end_date else None, "end_reason": then.end_reason,
    })
    check_in = None
    if then.check_in_due is not None:
        check_in = _at_risk(uow, plan, task, then.check_in_due, organisation)
    elif then.sustained_months:
        uow.emit(PLACEMENT_SUSTAINED, task.placement_id, {
            "placement_id": task.placement_id, "candidate_id": plan.candidate_id, "months": then.sustained_months})
    _resolve_escalations(uow, clock, plan.id, task_id=task.id)
    return Completed(task, organisation, check_in)


def _at_risk(uow: UnitOfWork, plan: AftercarePlan, task: AftercareTask, due: date,
             organisation: str | None) -> AftercareTask:
    """The placement is at risk (so ``task`` said): its coach gets an extra check-in."""
    check_in = AftercareTask(
        id=str(uuid.uuid4()), plan_id=plan.id, placement_id=plan.placement_id, jobcoach_id=plan.jobcoach_id,
        kind=domain.CHECK_IN, due=due, status=domain.OPEN, hours=domain.CHECK_IN_HOURS)
    uow.session.add(check_in)
    # assigned "as a check-in": its mail says why there is one
    _emit_assigned(uow, plan, [check_in], organisation, domain.CHECK_IN)
    uow.emit(PLACEMENT_AT_RISK, task.placement_id,
             {"placement_id": task.placement_id, "candidate_id": plan.candidate_id, "task_id": task.id})
    return check_in


# --- escalation ------------------------------------------------------------------------------


def sweep_overdue(uow: UnitOfWork, clock: Clock, today: date | None = None) -> Swept:
    """Overdue tasks as of ``today`` (default: the clock's) are announced and escalated, once
    each, up to SWEEP_BATCH of them; and how many are overdue per organisation."""
    today = today or clock.today()
    session = uow.session
    # SKIP LOCKED: two instances sweeping at once take different tasks, each announced once
    stmt = (select(AftercareTask).where(AftercareTask.status == domain.OPEN, AftercareTask.due < today,
                                        AftercareTask.overdue_at.is_(None))
            .order_by(AftercareTask.due, AftercareTask.id).limit(SWEEP_BATCH).with_for_update(skip_locked=True))
    found = list(session.scalars(stmt))
    now = clock.now()
    for task in found:
        task.overdue_at = now
        plan = session.get(AftercarePlan, task.plan_id)
        organisation = _organisation_of(uow, task.jobcoach_id)
        session.add(Escalation(id=str(uuid.uuid4()), kind=domain.OVERDUE_TASK, plan_id=task.plan_id,
                               task_id=task.id, organisation_id=organisation, region=plan.region, created_at=now))
        uow.emit(AFTERCARE_TASK_OVERDUE, task.id, {
            "task_id": task.id, "placement_id": task.placement_id, "jobcoach_id": task.jobcoach_id,
            "due": task.due.isoformat(), "organisation": organisation})
    rows = session.execute(
        select(Jobcoach.organisation_id, func.count())
        .select_from(AftercareTask).outerjoin(Jobcoach, Jobcoach.id == AftercareTask.jobcoach_id)
        .where(AftercareTask.status == domain.OPEN, AftercareTask.due < today)
        .group_by(Jobcoach.organisation_id))
    return Swept(found, {organisation or UNASSIGNED: n for organisation, n in rows})


def escalations(uow: UnitOfWork, actor: Actor, open_only: bool) -> list[Escalation]:
    """What the calling organisation's coordinators must act on: the escalations of plans it may
    see (``domain.may_see_plan``: it coaches them or placed the person), and the plans nobody
    holds in a region where it has active jobcoaches (who could take them over)."""
    organisation = actor.organisation
    stmt = (select(Escalation, AftercarePlan.credited_organisations, Jobcoach.organisation_id)
            .join(AftercarePlan, AftercarePlan.id == Escalation.plan_id)
            .outerjoin(Jobcoach, Jobcoach.id == AftercarePlan.jobcoach_id)
            .order_by(Escalation.created_at, Escalation.id))
    if open_only:
        stmt = stmt.where(Escalation.resolved_at.is_(None))
    regions = {region for (held,) in uow.session.execute(select(Jobcoach.regions).where(
        Jobcoach.active, Jobcoach.organisation_id == organisation)) for region in held}
    return [escalation for escalation, credited, coaching in uow.session.execute(stmt)
            if escalation.organisation_id == organisation
            or domain.may_see_plan(organisation, coaching, credited or ())
            or (coaching is None and escalation.region in regions)]


# --- placements --------------------------------------------------------------------------------


def start_plans(uow: UnitOfWork, clock: Clock, protocol: Sequence[domain.Step],
                placements: Iterable[dict]) -> list[AftercarePlan]:
    """Every recorded placement (``placement.recorded``'s data) gets its plan, its tasks and a
    jobcoach. The coaches and their loads are looked up once for all of them; the plans then
    choose in turn, each seeing the load of those before it (``domain.choose_jobcoaches``), as
    one at a time would. A placement that has its plan already (a redelivery under another
    event id) is left alone."""
    session = uow.session
    placements = list({p["placement_id"]: p for p in placements}.values())
    planned = set(session.scalars(select(AftercarePlan.placement_id).where(
        AftercarePlan.placement_id.in_([p["placement_id"] for p in placements]))))
    placements = [p for p in placements if p["placement_id"] not in planned]
    if not placements:
        return []
    today = clock.today()
    made = [(p, domain.make_plan(p["start_date"], p["hours_per_week"], protocol),
             domain.wanted_expertise(p["conditions"], p["target_groups"], p["dutch_level"])) for p in placements]
    options, due_soon = _coach_loads(uow, today, {p["region"] for p in placements}, lock=True)
    chosen = domain.choose_jobcoaches(options, due_soon, [(p["region"], wanted, plan) for p, plan, wanted in made],
                                      today)
    organisation_of = dict(session.execute(select(Jobcoach.id, Jobcoach.organisation_id).where(
        Jobcoach.id.in_({c for c in chosen if c is not None}))).all())
    plans = [_start_plan(uow, clock, placement, plan_made, wanted, jobcoach_id, organisation_of.get(jobcoach_id))
             for (placement, plan_made, wanted), jobcoach_id in zip(made, chosen, strict=True)]
    session.flush()  # here, inside the batch's savepoint: a refused row fails this batch, not the commit
    return plans


def _start_plan(uow: UnitOfWork, clock: Clock, placement: dict, plan_made: domain.Plan, wanted: frozenset[str],
                jobcoach_id: str | None, organisation: str | None) -> AftercarePlan:
    plan = AftercarePlan(
        id=str(uuid.uuid4()), placement_id=placement["placement_id"], candidate_id=placement["candidate_id"],
        jobcoach_id=jobcoach_id, region=placement["region"], start_date=placement["start_date"],
        hours_per_week=placement["hours_per_week"], created_at=clock.now(), status=domain.ACTIVE,
        budget_hours=list(plan_made.budget), expertise_wanted=sorted(wanted),
        target_groups=list(placement["target_groups"]),
        credited_organisations=list(placement.get("credited_organisations") or ()),
    )
    tasks = [
        AftercareTask(id=str(uuid.uuid4()), plan_id=plan.id, placement_id=plan.placement_id,
                      jobcoach_id=jobcoach_id, kind=t.kind, due=t.due, status=domain.OPEN, hours=t.hours,
                      sustained_months=t.sustained_months)
        for t in plan_made.tasks
    ]
    uow.session.add(plan)
    uow.session.add_all(tasks)
    uow.emit(AFTERCARE_PLAN_CREATED, plan.id, {
        "plan_id": plan.id, "placement_id": plan.placement_id, "candidate_id": plan.candidate_id,
        "jobcoach_id": jobcoach_id, "region": plan.region, "task_count": len(tasks),
        "organisation": organisation, "budget_hours": round(sum(plan_made.budget), 2),
        "planned_hours": round(sum(plan_made.planned), 2),
    })
    _emit_assigned(uow, plan, tasks, organisation, domain.WITH_PLAN)
    if jobcoach_id is None:
        _escalate_unassigned(uow, clock, plan)
    return plan


def end_plan(uow: UnitOfWork, clock: Clock, placement_id: str, end_date: date) -> AftercarePlan | None:
    """However the placement ended (a jobcoach's outcome, the employer through matching): its
    plan ends and the open tasks are cancelled. None when it had no plan or it ended already."""
    plan = uow.session.scalar(select(AftercarePlan).where(
        AftercarePlan.placement_id == placement_id).with_for_update())
    if plan is None or plan.status == domain.ENDED:
        return None
    plan.status, plan.ended_on = domain.ENDED, end_date
    for task in _open_tasks(uow, plan.id):
        task.status = domain.CANCELLED
        uow.emit(AFTERCARE_TASK_CANCELLED, task.id, {
            "task_id": task.id, "placement_id": task.placement_id,
            "organisation": _organisation_of(uow, task.jobcoach_id)})
    _resolve_escalations(uow, clock, plan.id)
    return plan


def erase_notes(uow: UnitOfWork, candidate_id: str, now: datetime | None = None) -> None:
    """AVG erasure: the jobcoaches' free-text notes go; dated tasks and outcomes stay for the counts."""
    plan_ids = select(AftercarePlan.id).where(AftercarePlan.candidate_id == candidate_id)
    noted = False
    for task in uow.session.scalars(select(AftercareTask).where(AftercareTask.plan_id.in_(plan_ids))):
        noted = noted or task.note is not None
        task.note = None
    if noted and now is not None:
        chain.record(uow, None, now, purpose=chain.ERASURE, action=chain.REMOVE, operation="candidate.erased",
                     candidate_id=candidate_id, kind=TASK_NOTE, fields=NOTE_FIELDS)


# --- accountability: inzage and retention ---------------------------------------------------

TASK_NOTE = "task_note"  # a jobcoach's free text on a check-in: personal data (the audit log's kind)
NOTE_FIELDS = ("note",)
PLAN_COLUMNS = ("id", "placement_id", "jobcoach_id", "region", "start_date", "hours_per_week", "created_at",
                "status", "budget_hours", "expertise_wanted", "target_groups", "ended_on")
TASK_COLUMNS = ("id", "plan_id", "placement_id", "jobcoach_id", "kind", "due", "status", "outcome", "note",
                "completed_at", "hours", "hours_spent", "sustained_months", "overdue_at")


def inzage(uow: UnitOfWork, actor: Actor, clock: Clock, candidate_id: str) -> dict:
    """AVG inzage: the person's aftercare plans and tasks with the jobcoaches' notes (the
    caller's custody was checked with candidates, see service.inzage)."""
    session = uow.session
    plans = session.scalars(select(AftercarePlan).where(AftercarePlan.candidate_id == candidate_id)
                            .order_by(AftercarePlan.created_at, AftercarePlan.id)).all()
    tasks = session.scalars(select(AftercareTask).where(AftercareTask.plan_id.in_([p.id for p in plans]))
                            .order_by(AftercareTask.due, AftercareTask.id)).all() if plans else []
    escalations = session.scalars(select(Escalation).where(Escalation.plan_id.in_([p.id for p in plans]))
                                  .order_by(Escalation.created_at)).all() if plans else []
    if any(t.note is not None for t in tasks):
        chain.record(uow, actor, clock.now(), purpose=chain.INZAGE, action=chain.READ, operation="inzage",
                     candidate_id=candidate_id, kind=TASK_NOTE, fields=NOTE_FIELDS)
    return chain.inzage_reply("aftercare", {
        "plans": [chain.row_dict(p, PLAN_COLUMNS) for p in plans],
        "tasks": [chain.row_dict(t, TASK_COLUMNS) for t in tasks],
        "escalations": [chain.row_dict(e, ("id", "kind", "plan_id", "task_id", "organisation_id", "region",
                                           "created_at", "resolved_at")) for e in escalations],
        "audit_log": chain.entries_for(session, candidate_id, limit=10_000, after=None)["items"],
    })


def remove_expired(uow: UnitOfWork, clock: Clock, days: int, batch: int = chain.RETENTION_BATCH) -> int:
    """Retention: a jobcoach's note goes ``days`` after its check-in was recorded; the task and
    its outcome stay for the counts. SKIP LOCKED: replicas take other rows, none twice."""
    cutoff = chain.retention_cutoff(clock, days)
    expired = uow.session.execute(
        select(AftercareTask.id, AftercarePlan.candidate_id)
        .join(AftercarePlan, AftercarePlan.id == AftercareTask.plan_id)
        .where(AftercareTask.note.is_not(None), AftercareTask.completed_at < cutoff)
        .order_by(AftercareTask.completed_at, AftercareTask.id).limit(batch)
        .with_for_update(skip_locked=True, of=AftercareTask)).all()
    if not expired:
        return 0
    uow.session.execute(update(AftercareTask).where(AftercareTask.id.in_([e.id for e in expired])).values(note=None))
    now = clock.now()
    for e in expired:
        chain.record(uow, None, now, purpose=chain.RETENTION, action=chain.REMOVE, operation="retention",
                     candidate_id=e.candidate_id, kind=TASK_NOTE, fields=NOTE_FIELDS)
    return len(expired)


# --- mails, from aftercare's own events ---------------------------------------------------------


def plan_created_mails(uow: UnitOfWork, plan_ids: list[str]) -> list[Mail]:
    """The coach hears of a new plan with all its tasks in one mail; a plan nobody holds goes
    to the coordinators of the organisations working in its region."""
    session = uow.session
    plans = _by_id(uow, AftercarePlan, plan_ids)
    tasks_of: dict[str, list[AftercareTask]] = {}
    for task in session.scalars(select(AftercareTask).where(AftercareTask.plan_id.in_(plans))
                                .order_by(AftercareTask.due, AftercareTask.kind)):
        tasks_of.setdefault(task.plan_id, []).append(task)
    coaches = _by_id(uow, Jobcoach, [p.jobcoach_id for p in plans.values() if p.jobcoach_id is not None])
    mails = []
    for plan_id in plan_ids:
        plan = plans.get(plan_id)
        if plan is None:
            continue
        plan_tasks = tasks_of.get(plan.id, [])
        if plan.jobcoach_id is None:
            mails += [Mail(organisation.coordinator_email, *notices.unassigned_plan(plan, plan_tasks, organisation),
                           kind="unassigned_plan") for organisation in _organisations_in(uow, plan.region)]
            continue
        coach = coaches[plan.jobcoach_id]
        if coach.email:
            mails.append(Mail(coach.email, *notices.new_plan(plan, plan_tasks, coach), kind="plan_assigned"))
    return mails


def task_assigned_mails(uow: UnitOfWork, assignments: list[dict]) -> list[Mail]:
    """A task handed to a coach later than its plan (``aftercare_task.assigned``'s data) gets a
    mail of its own, if it is still open; a new plan's tasks travel in the plan's mail."""
    handed = [a for a in assignments if a["assignment"] != domain.WITH_PLAN and a["jobcoach_id"] is not None]
    if not handed:
        return []
    tasks_by_id = _by_id(uow, AftercareTask, [a["task_id"] for a in handed])
    coaches = _by_id(uow, Jobcoach, [a["jobcoach_id"] for a in handed])
    mails = []
    for a in handed:
        task, coach = tasks_by_id.get(a["task_id"]), coaches.get(a["jobcoach_id"])
        if task is not None and coach is not None and coach.email and task.status == domain.OPEN:
            mails.append(Mail(coach.email, *notices.task_assigned(task, coach, a["assignment"]),
                              kind=f"task_{a['assignment']}"))
    return mails


def task_overdue_mails(uow: UnitOfWork, overdue: list[dict]) -> list[Mail]:
    """Each coordinator hears of the overdue tasks (``aftercare_task.overdue``'s data) still
    open in one mail: a sweep after a quiet spell (a weekend, an outage, the first run) may
    announce hundreds at once. A task nobody holds goes to the region's coordinators."""
    session = uow.session
    per_coordinator: dict[str, tuple[CoachingOrganisation, list]] = {}
    for data in overdue:
        task = session.get(AftercareTask, data["task_id"])
        if task is None or task.status != domain.OPEN:
            continue
        organisation = session.get(CoachingOrganisation, data["organisation"]) if data["organisation"] else None
        coordinators = [organisation] if organisation else _organisations_in(
            uow, session.get(AftercarePlan, task.plan_id).region)
        coach = session.get(Jobcoach, task.jobcoach_id) if task.jobcoach_id else None
        for org in coordinators:
            per_coordinator.setdefault(org.id, (org, []))[1].append((task, coach))
    mails = []
    for org, tasks_overdue in per_coordinator.values():
        if len(tasks_overdue) == 1:
            mails.append(Mail(org.coordinator_email, *notices.task_overdue(*tasks_overdue[0], org),
                              kind="task_overdue"))
        else:
            mails.append(Mail(org.coordinator_email, *notices.tasks_overdue(tasks_overdue, org),
                              kind="tasks_overdue"))
    return mails


# --- shared by the above ----------------------------------------------------------------------


def _organisation_of(uow: UnitOfWork, jobcoach_id: str | None) -> str | None:
    if jobcoach_id is None:
        return None
    return uow.session.scalar(select(Jobcoach.organisation_id).where(Jobcoach.id == jobcoach_id))


def _organisations_in(uow: UnitOfWork, region: str) -> list[CoachingOrganisation]:
    """Organisations with an active coach in the region: whom to tell about a plan nobody holds."""
    coaches = uow.session.scalars(select(Jobcoach).where(Jobcoach.active))
    ids = sorted({c.organisation_id for c in coaches if region in c.regions and c.organisation_id})
    return [uow.session.get(CoachingOrganisation, i) for i in ids]


def _open_tasks(uow: UnitOfWork, plan_id: str) -> list[AftercareTask]:
    return list(uow.session.scalars(select(AftercareTask).where(
        AftercareTask.plan_id == plan_id, AftercareTask.status == domain.OPEN).order_by(AftercareTask.due)))


def _open_by_coach(uow: UnitOfWork, coach_ids: list[str]) -> dict[str, list[tuple[date, float]]]:
    rows = uow.session.execute(select(AftercareTask.jobcoach_id, AftercareTask.due, AftercareTask.hours).where(
        AftercareTask.status == domain.OPEN, AftercareTask.jobcoach_id.in_(coach_ids)))
    out: dict[str, list[tuple[date, float]]] = {}
    for coach_id, due, hours in rows:
        out.setdefault(coach_id, []).append((due, hours))
    return out


def _by_id(uow: UnitOfWork, model, ids) -> dict:
    """Rows of ``model`` by id, in one query."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {row.id: row for row in uow.session.scalars(select(model).where(model.id.in_(wanted)))}


def _coach_options(uow: UnitOfWork, today: date, region: str,
                   coaches: list[Jobcoach] | None = None) -> list[domain.CoachOption]:
    return _coach_loads(uow, today, {region}, coaches)[0]


def _coach_loads(uow: UnitOfWork, today: date, regions: set[str], coaches: list[Jobcoach] | None = None,
                 lock: bool = False) -> tuple[list[domain.CoachOption], dict[str, float]]:
    """The active coaches of ``regions`` as options, with the open hours due before the
    load horizon of each (what their load counts)."""
    session = uow.session
    if coaches is None:
        stmt = select(Jobcoach).where(Jobcoach.active).order_by(Jobcoach.id)
        if lock:
            # plans for one region take turns here; otherwise two read the same
            # loads and pile onto the same coach. NO KEY UPDATE: a task written meanwhile
            # for one of these coaches (its foreign key takes KEY SHARE) need not wait
            stmt = stmt.with_for_update(key_share=True)
        coaches = [c for c in session.scalars(stmt) if not regions.isdisjoint(c.regions)]
    # summed by the database: loading every open task of every coach made each
    # plan cost more the more plans there were
    due_soon = {coach_id: hours or 0.0 for coach_id, hours in session.execute(
        select(AftercareTask.jobcoach_id, func.sum(AftercareTask.hours)).where(
            AftercareTask.status == domain.OPEN, AftercareTask.jobcoach_id.in_([c.id for c in coaches]),
            AftercareTask.due < domain.load_horizon(today)).group_by(AftercareTask.jobcoach_id))}
    options = [domain.CoachOption(c.id, frozenset(c.regions), frozenset(c.expertise), c.capacity_hours,
                                  domain.per_week(due_soon.get(c.id, 0.0))) for c in coaches]
    return options, due_soon


def _assign(uow: UnitOfWork, plan: AftercarePlan, open_tasks: list[AftercareTask], jobcoach_id: str | None,
            assignment: str) -> None:
    plan.jobcoach_id = jobcoach_id
    organisation = _organisation_of(uow, jobcoach_id)
    for task in open_tasks:
        task.jobcoach_id = jobcoach_id
    _emit_assigned(uow, plan, open_tasks, organisation, assignment)


def _emit_assigned(uow: UnitOfWork, plan: AftercarePlan, assigned: list[AftercareTask], organisation: str | None,
                   assignment: str) -> None:
    uow.emit_many(AFTERCARE_TASK_ASSIGNED, [(task.id, {
        "task_id": task.id, "plan_id": plan.id, "placement_id": plan.placement_id,
        "jobcoach_id": task.jobcoach_id, "kind": task.kind, "due": task.due.isoformat(),
        "organisation": organisation, "hours": task.hours, "assignment": assignment,
    }) for task in assigned])


def _escalate_unassigned(uow: UnitOfWork, clock: Clock, plan: AftercarePlan) -> None:
    uow.session.add(Escalation(id=str(uuid.uuid4()), kind=domain.UNASSIGNED_PLAN, plan_id=plan.id,
                               organisation_id=None, region=plan.region, created_at=clock.now()))
    UNASSIGNED_PLANS.labels(plan.region).inc()
    log.warning("aftercare plan %s for placement %s has no jobcoach: nobody in %s has room",
                plan.id, plan.placement_id, plan.region)


def _resolve_escalations(uow: UnitOfWork, clock: Clock, plan_id: str, kind: str | None = None,
                         task_id: str | None = None) -> None:
    stmt = select(Escalation).where(Escalation.plan_id == plan_id, Escalation.resolved_at.is_(None))
    if kind is not None:
        stmt = stmt.where(Escalation.kind == kind)
    if task_id is not None:
        stmt = stmt.where(Escalation.task_id == task_id)
    for escalation in uow.session.scalars(stmt):
        escalation.resolved_at = clock.now()
