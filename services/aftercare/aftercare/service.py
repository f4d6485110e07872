"""Aftercare (nazorg): a recorded placement gets a plan and a jobcoach, automatically;
overdue work escalates to the coordinator; outcomes flow back to the pool and the board."""

from __future__ import annotations

import logging
import uuid
from datetime import date

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from aftercare import domain, notices
from aftercare.dependencies import AftercareProtocol
from aftercare.models import AftercarePlan, AftercareTask, CoachingOrganisation, Escalation, Jobcoach, metadata
from aftercare.schemas import (
    CompleteTask,
    Reassign,
    RegisterJobcoach,
    RegisterOrganisation,
    Sweep,
    TaskQuery,
    UpdateJobcoach,
)
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.clock import Today
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.mail import Mailer
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.timers import configured_timer
from werkbrug_shared.validation import load, optional_text, require_id

log = logging.getLogger(__name__)

# per process, like every counter: Prometheus adds each replica's (its own ``instance``)
UNASSIGNED_PLANS = Counter("werkbrug_aftercare_plans_unassigned_total",
                           "Plans created with no jobcoach who had room, escalated to the coordinators.", ["region"])
TASKS_OVERDUE = Gauge("werkbrug_aftercare_tasks_overdue",
                      "Open aftercare tasks past their due date, per coaching organisation.", ["organisation"])
SWEEP_BATCH = 500  # overdue tasks taken per sweep transaction
UNASSIGNED = "unassigned"  # the organisation label of tasks nobody holds


def task_dict(t: AftercareTask, organisation: str | None = None) -> dict:
    return {
        "id": t.id, "plan_id": t.plan_id, "placement_id": t.placement_id, "jobcoach_id": t.jobcoach_id,
        "kind": t.kind, "due": t.due.isoformat(), "status": t.status, "outcome": t.outcome, "hours": t.hours,
        "hours_spent": t.hours_spent, "overdue": t.overdue_at is not None and t.status == "open",
        **({"organisation": organisation} if organisation is not None else {}),
    }


def jobcoach_dict(j: Jobcoach) -> dict:
    return {"id": j.id, "name": j.name, "organisation": j.organisation_id, "regions": j.regions,
            "capacity_hours": j.capacity_hours, "expertise": j.expertise, "active": j.active}


class AftercareService:
    name = "aftercare"

    db = Database(metadata)
    metrics = EntrypointMetrics()
    caller = CurrentActor()
    clock = Today()
    mail = Mailer()
    protocol = AftercareProtocol()

    # --- coaching organisations and jobcoaches ---------------------------------------

    @rpc
    def register_organisation(self, organisation):
        """The calling partner's coaching organisation and the coordinator who gets escalations."""
        actor = self.caller.require()
        data = load(RegisterOrganisation(), organisation, "organisation")
        row = self.db.session.get(CoachingOrganisation, actor.organisation)
        if row is None:
            row = CoachingOrganisation(id=actor.organisation, **data)
            self.db.session.add(row)
        else:
            row.name, row.coordinator_email = data["name"], data["coordinator_email"]
        return {"id": row.id, "name": row.name}

    @rpc
    def register_jobcoach(self, jobcoach):
        """A jobcoach of the calling partner's organisation (registered first)."""
        actor = self.caller.require()
        data = load(RegisterJobcoach(), jobcoach, "jobcoach")
        if self.db.session.get(CoachingOrganisation, actor.organisation) is None:
            raise Conflict(f"register organisation {actor.organisation} first: its coordinator receives "
                           "the escalations")
        row = Jobcoach(id=str(uuid.uuid4()), organisation_id=actor.organisation, active=True,
                       registered_at=utcnow(), **data)
        self.db.session.add(row)
        return {**jobcoach_dict(row), "email": row.email}  # to its own organisation only

    @rpc
    def update_jobcoach(self, jobcoach_id, changes):
        row = self._own_jobcoach(jobcoach_id)
        data = load(UpdateJobcoach(), changes, "jobcoach changes")
        for key, value in data.items():
            setattr(row, key, value)
        return {**jobcoach_dict(row), "email": row.email}

    @rpc
    def deactivate_jobcoach(self, jobcoach_id):
        """The coach leaves: each of their active plans goes to the best other coach with room,
        or, with nobody, stays unassigned and is escalated."""
        row = self._own_jobcoach(jobcoach_id)
        if not row.active:
            return {**jobcoach_dict(row), "plans_reassigned": 0, "plans_unassigned": 0}
        row.active = False
        self.db.session.flush()
        plans = self.db.session.scalars(select(AftercarePlan).where(
            AftercarePlan.jobcoach_id == row.id, AftercarePlan.status == "active").order_by(AftercarePlan.start_date))
        moved = unassigned = 0
        for plan in plans:
            open_tasks = self._open_tasks(plan.id)
            demand = domain.weekly_load(((t.due, t.hours) for t in open_tasks), self.clock.today())
            choice = domain.choose_jobcoach(self._coach_options(plan.region), plan.region,
                                            frozenset(plan.expertise_wanted), demand)
            self._assign(plan, open_tasks, choice, "reassigned")
            moved, unassigned = moved + (choice is not None), unassigned + (choice is None)
            if choice is None:
                self._escalate_unassigned(plan)
        return {**jobcoach_dict(row), "plans_reassigned": moved, "plans_unassigned": unassigned}

    @rpc
    def jobcoaches(self, region=None):
        optional_text(region, "region", "query")
        stmt = select(Jobcoach).order_by(Jobcoach.name, Jobcoach.id)
        return [jobcoach_dict(j) for j in self.db.session.scalars(stmt) if region is None or region in j.regions]

    @rpc
    def reassign(self, plan_id, jobcoach_id):
        """A coordinator moves a plan's open tasks to one of their organisation's coaches."""
        data = load(Reassign(), {"plan_id": plan_id, "jobcoach_id": jobcoach_id}, "reassignment")
        coach = self._own_jobcoach(data["jobcoach_id"])
        if not coach.active:
            raise Conflict(f"jobcoach {coach.id} is not active")
        plan = self.db.get(AftercarePlan, data["plan_id"], "aftercare plan", for_update=True)
        if plan.status != "active":
            raise Conflict(f"plan {plan.id} has ended")
        open_tasks = self._open_tasks(plan.id)
        if plan.jobcoach_id != coach.id:
            today = self.clock.today()
            option = next(o for o in self._coach_options(plan.region, [coach]) if o.jobcoach_id == coach.id)
            demand = domain.weekly_load(((t.due, t.hours) for t in open_tasks), today)
            if option.remaining < demand - 1e-9:
                raise Conflict(f"jobcoach {coach.id} has no room: {option.load_hours:g} of "
                               f"{option.capacity_hours:g} hours a week planned, the plan needs {demand:g} more")
            self._assign(plan, open_tasks, coach.id, "reassigned")
        self._resolve_escalations(plan.id, kind="unassigned_plan")
        return self._plan_dict(plan)

    # --- plans and tasks ----------------------------------------------------------------

    @rpc
    def plan_for_placement(self, placement_id):
        require_id(placement_id, "placement_id")
        plan = self.db.session.scalar(select(AftercarePlan).where(AftercarePlan.placement_id == placement_id))
        if plan is None:
            raise NotFound(f"no aftercare plan for placement {placement_id}")
        return self._plan_dict(plan)

    @rpc
    def tasks(self, jobcoach_id=None, status=None, due_before=None, placement_id=None):
        """The calling organisation's jobcoaches' tasks, by due date; ``due_before`` is exclusive.
        Another organisation's coach: Forbidden (their caseload is theirs to see)."""
        actor = self.caller.require()
        query = load(TaskQuery(), {"placement_id": placement_id, "jobcoach_id": jobcoach_id, "status": status,
                                   "due_before": due_before}, "task query")
        if query["jobcoach_id"] is not None:
            coach = self.db.get(Jobcoach, query["jobcoach_id"], "jobcoach")
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
        return [task_dict(t) for t in self.db.session.scalars(stmt)]

    @rpc
    def workload(self, jobcoach_id=None, organisation=None):
        """Per coach of the calling organisation: open and overdue tasks, hours a week planned
        against capacity, active plans. One coach by id, or all its active coaches (a
        coordinator's view); another organisation's are Forbidden (their caseload is theirs)."""
        actor = self.caller.require()
        session, today = self.db.session, self.clock.today()
        optional_text(organisation, "organisation", "query")
        if organisation is not None and organisation != actor.organisation:
            raise Forbidden(f"the workload of {organisation} is for {organisation} to see")
        if jobcoach_id is not None:
            coaches = [self.db.get(Jobcoach, require_id(jobcoach_id, "jobcoach_id"), "jobcoach")]
            if coaches[0].organisation_id != actor.organisation:
                raise Forbidden(f"jobcoach {coaches[0].id} belongs to another organisation")
        else:
            coaches = list(session.scalars(select(Jobcoach).where(
                Jobcoach.active, Jobcoach.organisation_id == actor.organisation).order_by(Jobcoach.name, Jobcoach.id)))
        open_by_coach = self._open_by_coach([c.id for c in coaches])
        out = []
        for coach in coaches:
            tasks = open_by_coach.get(coach.id, [])
            load_hours = domain.weekly_load(tasks, today)
            out.append({
                "jobcoach_id": coach.id, "organisation": coach.organisation_id, "active": coach.active,
                "capacity_hours": coach.capacity_hours, "planned_hours": load_hours,
                "remaining_hours": round(coach.capacity_hours - load_hours, 4),
                "open_tasks": len(tasks), "overdue_tasks": sum(domain.overdue(due, today) for due, _ in tasks),
                "active_plans": session.scalar(select(func.count()).select_from(AftercarePlan).where(
                    AftercarePlan.jobcoach_id == coach.id, AftercarePlan.status == "active")),
            })
        return out[0] if jobcoach_id is not None else out

    @rpc
    def complete_task(self, task_id, outcome, note=None, hours_spent=None, end_date=None, end_reason=None):
        """Record a check-in. ``at_risk`` plans a check-in within a week; ``ended`` ends the
        placement (through matching, which owns placements); ``going_well`` on a 6-, 12- or
        18-month checkpoint tells everyone the placement is sustained. Only the organisation
        whose jobcoach holds the task records it (a task nobody holds is reassigned first)."""
        actor = self.caller.require()
        data = load(CompleteTask(), {"task_id": task_id, "outcome": outcome, "note": note, "hours_spent": hours_spent,
                                     "end_date": end_date, "end_reason": end_reason}, "task completion")
        task = self.db.get(AftercareTask, data["task_id"], "aftercare task", for_update=True)
        organisation = self._organisation_of(task.jobcoach_id)
        if organisation != actor.organisation:
            raise Forbidden(f"task {task.id} is not held by a jobcoach of {actor.organisation}")
        if task.status != "open":
            raise Conflict(f"task {task.id} is already {task.status}")
        plan = self.db.session.get(AftercarePlan, task.plan_id)
        today = self.clock.today()
        task.status, task.outcome, task.completed_at = "done", data["outcome"], utcnow()
        task.note, task.hours_spent = data["note"], data["hours_spent"]
        ended = task.outcome == "ended"
        # the note stays here: it is the jobcoach's free text and may name people
        self.db.emit("nl.werkbrug.aftercare_task.completed.v1", task.id, {
            "task_id": task.id, "placement_id": task.placement_id, "outcome": task.outcome,
            "organisation": organisation, "kind": task.kind,
            "end_date": (data["end_date"] or today).isoformat() if ended else None,
            "end_reason": data["end_reason"] if ended else None,
        })
        if task.outcome == "at_risk":
            check_in = AftercareTask(
                id=str(uuid.uuid4()), plan_id=plan.id, placement_id=plan.placement_id, jobcoach_id=plan.jobcoach_id,
                kind="check_in", due=domain.check_in_due(today), status="open", hours=domain.CHECK_IN_HOURS)
            self.db.session.add(check_in)
            self._emit_assigned(plan, [check_in], organisation, "check_in")
            self.db.emit("nl.werkbrug.placement.at_risk.v1", task.placement_id,
                         {"placement_id": task.placement_id, "candidate_id": plan.candidate_id, "task_id": task.id})
        elif task.outcome == "going_well" and task.sustained_months:
            self.db.emit("nl.werkbrug.placement.sustained.v1", task.placement_id, {
                "placement_id": task.placement_id, "candidate_id": plan.candidate_id,
                "months": task.sustained_months})
        self._resolve_escalations(plan.id, task_id=task.id)
        return task_dict(task, organisation)

    # --- escalation ------------------------------------------------------------------

    @configured_timer("AFTERCARE_SWEEP_SECONDS", 300)
    def sweep_overdue(self):
        """Every few minutes: overdue tasks are announced and escalated, once each. Every replica
        runs this timer: on PostgreSQL each takes the tasks others have not locked (SKIP LOCKED)
        and marks them (``overdue_at``) in the same commit, so none is announced twice; SQLite
        serves one process only."""
        self._sweep(self.clock.today())

    @rpc
    def sweep(self, today=None):
        """The sweep on demand, as of ``today`` (default: the clock's): for operators and tests."""
        data = load(Sweep(), {"today": today}, "sweep")
        return self._sweep(data["today"] or self.clock.today())

    def _sweep(self, today: date) -> dict:
        session = self.db.session
        # SKIP LOCKED: two instances sweeping at once take different tasks, each announced once
        stmt = (select(AftercareTask).where(AftercareTask.status == "open", AftercareTask.due < today,
                                            AftercareTask.overdue_at.is_(None))
                .order_by(AftercareTask.due, AftercareTask.id).limit(SWEEP_BATCH).with_for_update(skip_locked=True))
        found = list(session.scalars(stmt))
        now = utcnow()
        for task in found:
            task.overdue_at = now
            plan = session.get(AftercarePlan, task.plan_id)
            organisation = self._organisation_of(task.jobcoach_id)
            session.add(Escalation(id=str(uuid.uuid4()), kind="overdue_task", plan_id=task.plan_id, task_id=task.id,
                                   organisation_id=organisation, region=plan.region, created_at=now))
            self.db.emit("nl.werkbrug.aftercare_task.overdue.v1", task.id, {
                "task_id": task.id, "placement_id": task.placement_id, "jobcoach_id": task.jobcoach_id,
                "due": task.due.isoformat(), "organisation": organisation})
        counts = self._overdue_counts(today)
        # the gauge follows the database: every instance sets the same values (as of its last
        # sweep), so dashboards and alerts take the max over instances, never the sum
        for organisation in {s.labels.get("organisation") for m in TASKS_OVERDUE.collect() for s in m.samples}:
            if organisation not in counts:
                TASKS_OVERDUE.labels(organisation).set(0)
        for organisation, n in counts.items():
            TASKS_OVERDUE.labels(organisation).set(n)
        return {"announced": len(found), "overdue": sum(counts.values()), "by_organisation": counts}

    @rpc
    def escalations(self, organisation=None, open_only=True):
        optional_text(organisation, "organisation", "query")
        if not isinstance(open_only, bool):
            raise ValidationError.from_fields("query", {"open_only": ["expected true or false"]})
        stmt = select(Escalation).order_by(Escalation.created_at, Escalation.id)
        if organisation is not None:
            stmt = stmt.where(Escalation.organisation_id == organisation)
        if open_only:
            stmt = stmt.where(Escalation.resolved_at.is_(None))
        return [{"id": e.id, "kind": e.kind, "plan_id": e.plan_id, "task_id": e.task_id,
                 "organisation": e.organisation_id, "region": e.region, "created_at": e.created_at.isoformat(),
                 "resolved": e.resolved_at is not None} for e in self.db.session.scalars(stmt)]

    # --- events in ---------------------------------------------------------------------

    @event_handler("nl.werkbrug.placement.recorded.v1", batch=True)
    def on_placement_recorded(self, events):
        """Every placement gets its plan, its tasks and a jobcoach. A batch looks up the
        coaches and their loads once; its plans then choose in turn, each seeing the load
        of those before it (``domain.choose_jobcoaches``), as one at a time would."""
        session = self.db.session
        placements = list({e.data["placement_id"]: e.data for e in events}.values())
        planned = set(session.scalars(select(AftercarePlan.placement_id).where(
            AftercarePlan.placement_id.in_([p["placement_id"] for p in placements]))))
        # a redelivery under another event id: its plan exists already
        placements = [p for p in placements if p["placement_id"] not in planned]
        if not placements:
            return
        today = self.clock.today()
        made = [(p, domain.make_plan(p["start_date"], p["hours_per_week"], self.protocol),
                 domain.wanted_expertise(p["conditions"], p["target_groups"], p["dutch_level"])) for p in placements]
        options, due_soon = self._coach_loads({p["region"] for p in placements}, lock=True)
        chosen = domain.choose_jobcoaches(options, due_soon, [(p["region"], wanted, plan) for p, plan, wanted in made],
                                          today)
        organisation_of = dict(session.execute(select(Jobcoach.id, Jobcoach.organisation_id).where(
            Jobcoach.id.in_({c for c in chosen if c is not None}))).all())
        for (placement, plan_made, wanted), jobcoach_id in zip(made, chosen, strict=True):
            self._start_plan(placement, plan_made, wanted, jobcoach_id, organisation_of.get(jobcoach_id))
        session.flush()  # here, inside the batch's savepoint: a refused row fails this batch, not the commit

    def _start_plan(self, placement: dict, plan_made: domain.Plan, wanted: frozenset[str],
                    jobcoach_id: str | None, organisation: str | None) -> None:
        plan = AftercarePlan(
            id=str(uuid.uuid4()), placement_id=placement["placement_id"], candidate_id=placement["candidate_id"],
            jobcoach_id=jobcoach_id, region=placement["region"], start_date=placement["start_date"],
            hours_per_week=placement["hours_per_week"], created_at=utcnow(), status="active",
            budget_hours=list(plan_made.budget), expertise_wanted=sorted(wanted),
            target_groups=list(placement["target_groups"]),
        )
        tasks = [
            AftercareTask(id=str(uuid.uuid4()), plan_id=plan.id, placement_id=plan.placement_id,
                          jobcoach_id=jobcoach_id, kind=t.kind, due=t.due, status="open", hours=t.hours,
                          sustained_months=t.sustained_months)
            for t in plan_made.tasks
        ]
        self.db.session.add(plan)
        self.db.session.add_all(tasks)
        self.db.emit("nl.werkbrug.aftercare_plan.created.v1", plan.id, {
            "plan_id": plan.id, "placement_id": plan.placement_id, "candidate_id": plan.candidate_id,
            "jobcoach_id": jobcoach_id, "region": plan.region, "task_count": len(tasks),
            "organisation": organisation, "budget_hours": round(sum(plan_made.budget), 2),
            "planned_hours": round(sum(plan_made.planned), 2),
        })
        self._emit_assigned(plan, tasks, organisation, "plan")
        if jobcoach_id is None:
            self._escalate_unassigned(plan)

    @event_handler("nl.werkbrug.placement.ended.v1")
    def on_placement_ended(self, event):
        """However it ended (a jobcoach's outcome, the employer through matching): the plan
        ends and its open tasks are cancelled."""
        plan = self.db.session.scalar(select(AftercarePlan).where(
            AftercarePlan.placement_id == event.data["placement_id"]).with_for_update())
        if plan is None or plan.status == "ended":
            return
        plan.status, plan.ended_on = "ended", event.data["end_date"]
        for task in self._open_tasks(plan.id):
            task.status = "cancelled"
            self.db.emit("nl.werkbrug.aftercare_task.cancelled.v1", task.id, {
                "task_id": task.id, "placement_id": task.placement_id,
                "organisation": self._organisation_of(task.jobcoach_id)})
        self._resolve_escalations(plan.id)

    @event_handler("nl.werkbrug.candidate.erased.v1")
    def on_candidate_erased(self, event):
        """AVG erasure: the jobcoaches' free-text notes go; dated tasks and outcomes stay for the counts."""
        plan_ids = select(AftercarePlan.id).where(AftercarePlan.candidate_id == event.data["candidate_id"])
        for task in self.db.session.scalars(select(AftercareTask).where(AftercareTask.plan_id.in_(plan_ids))):
            task.note = None

    # --- notifications: from our own events, so a failing mail server retries ---------

    @event_handler("nl.werkbrug.aftercare_plan.created.v1", batch=True)
    def notify_plan_created(self, events):
        """The coach hears of a new plan with all its tasks in one mail; nobody's plan goes
        to the coordinators of the region."""
        session = self.db.session
        plans = self._by_id(AftercarePlan, [e.data["plan_id"] for e in events])
        tasks_of: dict[str, list[AftercareTask]] = {}
        for task in session.scalars(select(AftercareTask).where(AftercareTask.plan_id.in_(plans))
                                    .order_by(AftercareTask.due, AftercareTask.kind)):
            tasks_of.setdefault(task.plan_id, []).append(task)
        coaches = self._by_id(Jobcoach, [p.jobcoach_id for p in plans.values() if p.jobcoach_id is not None])
        for event in events:
            plan = plans.get(event.data["plan_id"])
            if plan is None:
                continue
            tasks = tasks_of.get(plan.id, [])
            if plan.jobcoach_id is None:
                for organisation in self._organisations_in(plan.region):
                    self.mail.send(organisation.coordinator_email,
                                   *notices.unassigned_plan(plan, tasks, organisation), kind="unassigned_plan")
                continue
            coach = coaches[plan.jobcoach_id]
            if coach.email:
                self.mail.send(coach.email, *notices.new_plan(plan, tasks, coach), kind="plan_assigned")

    @event_handler("nl.werkbrug.aftercare_task.assigned.v1", batch=True)
    def notify_task_assigned(self, events):
        # a new plan's tasks travel in one mail (above): only a task handed over later has its own
        handed = [e.data for e in events if e.data["assignment"] != "plan" and e.data["jobcoach_id"] is not None]
        if not handed:
            return
        tasks = self._by_id(AftercareTask, [d["task_id"] for d in handed])
        coaches = self._by_id(Jobcoach, [d["jobcoach_id"] for d in handed])
        for data in handed:
            task, coach = tasks.get(data["task_id"]), coaches.get(data["jobcoach_id"])
            if task is not None and coach is not None and coach.email and task.status == "open":
                self.mail.send(coach.email, *notices.task_assigned(task, coach, data["assignment"]),
                               kind=f"task_{data['assignment']}")

    @event_handler("nl.werkbrug.aftercare_task.overdue.v1", batch=True)
    def notify_task_overdue(self, events):
        """Each coordinator hears of the overdue tasks of a batch in one mail: a sweep after a
        quiet spell (a weekend, an outage, the first run) may announce hundreds at once."""
        per_coordinator: dict[str, tuple[CoachingOrganisation, list]] = {}
        for event in events:
            task = self.db.session.get(AftercareTask, event.data["task_id"])
            if task is None or task.status != "open":
                continue
            organisation = (self.db.session.get(CoachingOrganisation, event.data["organisation"])
                            if event.data["organisation"] else None)
            coordinators = [organisation] if organisation else self._organisations_in(
                self.db.session.get(AftercarePlan, task.plan_id).region)
            coach = self.db.session.get(Jobcoach, task.jobcoach_id) if task.jobcoach_id else None
            for org in coordinators:
                per_coordinator.setdefault(org.id, (org, []))[1].append((task, coach))
        for org, overdue in per_coordinator.values():
            if len(overdue) == 1:
                self.mail.send(org.coordinator_email, *notices.task_overdue(*overdue[0], org), kind="task_overdue")
            else:
                self.mail.send(org.coordinator_email, *notices.tasks_overdue(overdue, org), kind="tasks_overdue")

    # --- helpers -----------------------------------------------------------------------

    def _own_jobcoach(self, jobcoach_id) -> Jobcoach:
        """A jobcoach of the caller's organisation: only its coordinator manages them."""
        actor = self.caller.require()
        # NO KEY UPDATE, as a new plan locks coaches: tasks written for this coach meanwhile need not wait
        coach = self.db.session.get(Jobcoach, require_id(jobcoach_id, "jobcoach_id"),
                                    with_for_update={"key_share": True})
        if coach is None:
            raise NotFound(f"no jobcoach {jobcoach_id}")
        if coach.organisation_id != actor.organisation:
            raise Forbidden(f"jobcoach {coach.id} belongs to another organisation")
        return coach

    def _organisation_of(self, jobcoach_id: str | None) -> str | None:
        if jobcoach_id is None:
            return None
        return self.db.session.scalar(select(Jobcoach.organisation_id).where(Jobcoach.id == jobcoach_id))

    def _organisations_in(self, region: str) -> list[CoachingOrganisation]:
        """Organisations with an active coach in the region: whom to tell about a plan nobody holds."""
        coaches = self.db.session.scalars(select(Jobcoach).where(Jobcoach.active))
        ids = sorted({c.organisation_id for c in coaches if region in c.regions and c.organisation_id})
        return [self.db.session.get(CoachingOrganisation, i) for i in ids]

    def _open_tasks(self, plan_id: str) -> list[AftercareTask]:
        return list(self.db.session.scalars(select(AftercareTask).where(
            AftercareTask.plan_id == plan_id, AftercareTask.status == "open").order_by(AftercareTask.due)))

    def _tasks_of(self, plan_id: str) -> list[AftercareTask]:
        return list(self.db.session.scalars(select(AftercareTask).where(AftercareTask.plan_id == plan_id)
                                            .order_by(AftercareTask.due, AftercareTask.kind)))

    def _open_by_coach(self, coach_ids: list[str]) -> dict[str, list[tuple[date, float]]]:
        rows = self.db.session.execute(select(AftercareTask.jobcoach_id, AftercareTask.due, AftercareTask.hours).where(
            AftercareTask.status == "open", AftercareTask.jobcoach_id.in_(coach_ids)))
        out: dict[str, list[tuple[date, float]]] = {}
        for coach_id, due, hours in rows:
            out.setdefault(coach_id, []).append((due, hours))
        return out

    def _by_id(self, model, ids) -> dict:
        """Rows of ``model`` by id, in one query."""
        wanted = set(ids)
        if not wanted:
            return {}
        return {row.id: row for row in self.db.session.scalars(select(model).where(model.id.in_(wanted)))}

    def _coach_options(self, region: str, coaches: list[Jobcoach] | None = None,
                       lock: bool = False) -> list[domain.CoachOption]:
        return self._coach_loads({region}, coaches, lock)[0]

    def _coach_loads(self, regions: set[str], coaches: list[Jobcoach] | None = None,
                     lock: bool = False) -> tuple[list[domain.CoachOption], dict[str, float]]:
        """The active coaches of ``regions`` as options, with the open hours due before the
        load horizon of each (what their load counts)."""
        session = self.db.session
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
                AftercareTask.status == "open", AftercareTask.jobcoach_id.in_([c.id for c in coaches]),
                AftercareTask.due < domain.load_horizon(self.clock.today())).group_by(AftercareTask.jobcoach_id))}
        options = [domain.CoachOption(c.id, frozenset(c.regions), frozenset(c.expertise), c.capacity_hours,
                                      domain.per_week(due_soon.get(c.id, 0.0))) for c in coaches]
        return options, due_soon

    def _assign(self, plan: AftercarePlan, open_tasks: list[AftercareTask], jobcoach_id: str | None,
                assignment: str) -> None:
        plan.jobcoach_id = jobcoach_id
        organisation = self._organisation_of(jobcoach_id)
        for task in open_tasks:
            task.jobcoach_id = jobcoach_id
        self._emit_assigned(plan, open_tasks, organisation, assignment)

    def _emit_assigned(self, plan: AftercarePlan, tasks: list[AftercareTask], organisation: str | None,
                       assignment: str) -> None:
        self.db.emit_many("nl.werkbrug.aftercare_task.assigned.v1", [(task.id, {
            "task_id": task.id, "plan_id": plan.id, "placement_id": plan.placement_id,
            "jobcoach_id": task.jobcoach_id, "kind": task.kind, "due": task.due.isoformat(),
            "organisation": organisation, "hours": task.hours, "assignment": assignment,
        }) for task in tasks])

    def _escalate_unassigned(self, plan: AftercarePlan) -> None:
        self.db.session.add(Escalation(id=str(uuid.uuid4()), kind="unassigned_plan", plan_id=plan.id,
                                       organisation_id=None, region=plan.region, created_at=utcnow()))
        UNASSIGNED_PLANS.labels(plan.region).inc()
        log.warning("aftercare plan %s for placement %s has no jobcoach: nobody in %s has room",
                    plan.id, plan.placement_id, plan.region)

    def _resolve_escalations(self, plan_id: str, kind: str | None = None, task_id: str | None = None) -> None:
        stmt = select(Escalation).where(Escalation.plan_id == plan_id, Escalation.resolved_at.is_(None))
        if kind is not None:
            stmt = stmt.where(Escalation.kind == kind)
        if task_id is not None:
            stmt = stmt.where(Escalation.task_id == task_id)
        for escalation in self.db.session.scalars(stmt):
            escalation.resolved_at = utcnow()

    def _overdue_counts(self, today: date) -> dict[str, int]:
        rows = self.db.session.execute(
            select(Jobcoach.organisation_id, func.count())
            .select_from(AftercareTask).outerjoin(Jobcoach, Jobcoach.id == AftercareTask.jobcoach_id)
            .where(AftercareTask.status == "open", AftercareTask.due < today)
            .group_by(Jobcoach.organisation_id))
        return {organisation or UNASSIGNED: n for organisation, n in rows}

    def _plan_dict(self, plan: AftercarePlan) -> dict:
        tasks = self._tasks_of(plan.id)
        budget = tuple(plan.budget_hours)
        live = [t for t in tasks if t.status != "cancelled"]
        return {
            "id": plan.id, "placement_id": plan.placement_id, "jobcoach_id": plan.jobcoach_id,
            "organisation": self._organisation_of(plan.jobcoach_id), "region": plan.region,
            "status": plan.status, "unassigned": plan.jobcoach_id is None, "start_date": plan.start_date.isoformat(),
            "hours_per_week": plan.hours_per_week, "expertise_wanted": plan.expertise_wanted,
            "budget": {
                "hours_per_year": list(budget),
                "planned_per_year": list(domain.hours_per_year(budget, plan.start_date,
                                                               [(t.due, t.hours) for t in live])),
                "used_per_year": list(domain.hours_per_year(budget, plan.start_date, [
                    (t.completed_at.date(), t.hours_spent if t.hours_spent is not None else t.hours)
                    for t in tasks if t.status == "done"])),
            },
            "tasks": [task_dict(t) for t in tasks],
        }
