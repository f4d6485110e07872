"""Aftercare (nazorg): a recorded placement gets a plan and a jobcoach, automatically;
overdue work escalates to the coordinator; outcomes flow back to the pool and the board.

The entrypoints: each parses the request, knows who calls, calls one operation of
:mod:`aftercare.handlers` and shapes the reply."""

from __future__ import annotations

from prometheus_client import Gauge

from aftercare import domain, handlers
from aftercare.dependencies import AftercareProtocol
from aftercare.handlers import PlanRecord
from aftercare.models import AftercareTask, Escalation, Jobcoach, metadata
from aftercare.schemas import (
    CompleteTask,
    Reassign,
    RegisterJobcoach,
    RegisterOrganisation,
    Sweep,
    TaskQuery,
    UpdateJobcoach,
)
from werkbrug_shared import audit
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.audit import Retention
from werkbrug_shared.clock import Today
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Forbidden, ValidationError
from werkbrug_shared.events.types import (
    AFTERCARE_PLAN_CREATED,
    AFTERCARE_TASK_ASSIGNED,
    AFTERCARE_TASK_OVERDUE,
    CANDIDATE_ERASED,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
)
from werkbrug_shared.mail import Mailer
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.pagination import MAX_PAGE
from werkbrug_shared.roles import COORDINATOR, JOBCOACH, KLANTMANAGER, OPERATOR
from werkbrug_shared.timers import configured_timer
from werkbrug_shared.validation import load, optional_text, require_id

TASKS_OVERDUE = Gauge("werkbrug_aftercare_tasks_overdue",
                      "Open aftercare tasks past their due date, per coaching organisation.", ["organisation"])


def task_dict(t: AftercareTask, organisation: str | None = None) -> dict:
    return {
        "id": t.id, "plan_id": t.plan_id, "placement_id": t.placement_id, "jobcoach_id": t.jobcoach_id,
        "kind": t.kind, "due": t.due.isoformat(), "status": t.status, "outcome": t.outcome, "hours": t.hours,
        "hours_spent": t.hours_spent, "overdue": t.overdue_at is not None and t.status == domain.OPEN,
        **({"organisation": organisation} if organisation is not None else {}),
    }


def jobcoach_dict(j: Jobcoach) -> dict:
    return {"id": j.id, "name": j.name, "organisation": j.organisation_id, "regions": j.regions,
            "capacity_hours": j.capacity_hours, "expertise": j.expertise, "active": j.active}


def plan_dict(record: PlanRecord) -> dict:
    plan, tasks = record.plan, record.tasks
    budget = tuple(plan.budget_hours)
    return {
        "id": plan.id, "placement_id": plan.placement_id, "jobcoach_id": plan.jobcoach_id,
        "organisation": record.organisation, "region": plan.region,
        "status": plan.status, "unassigned": plan.jobcoach_id is None, "start_date": plan.start_date.isoformat(),
        "hours_per_week": plan.hours_per_week, "expertise_wanted": plan.expertise_wanted,
        "budget": {
            "hours_per_year": list(budget),
            "planned_per_year": list(domain.planned_per_year(budget, plan.start_date, tasks)),
            "used_per_year": list(domain.used_per_year(budget, plan.start_date, tasks)),
        },
        "tasks": [task_dict(t) for t in tasks],
    }


def escalation_dict(e: Escalation) -> dict:
    return {"id": e.id, "kind": e.kind, "plan_id": e.plan_id, "task_id": e.task_id,
            "organisation": e.organisation_id, "region": e.region, "created_at": e.created_at.isoformat(),
            "resolved": e.resolved_at is not None}


class AftercareService:
    name = "aftercare"

    db = Database(metadata)
    metrics = EntrypointMetrics()
    caller = CurrentActor()
    clock = Today()
    mail = Mailer()
    protocol = AftercareProtocol()
    retention = Retention()
    candidates = RpcProxy("candidates")  # whose candidate it is: asked with the caller's credential

    # --- coaching organisations and jobcoaches ---------------------------------------

    @rpc(roles=(COORDINATOR,))
    def register_organisation(self, organisation):
        """The calling partner's coaching organisation and the coordinator who gets escalations."""
        actor = self.caller.require()
        row = handlers.register_organisation(self.db, actor, load(RegisterOrganisation(), organisation, "organisation"))
        return {"id": row.id, "name": row.name}

    @rpc(roles=(COORDINATOR,))
    def register_jobcoach(self, jobcoach):
        """A jobcoach of the calling partner's organisation (registered first)."""
        actor = self.caller.require()
        row = handlers.register_jobcoach(self.db, actor, self.clock, load(RegisterJobcoach(), jobcoach, "jobcoach"))
        return {**jobcoach_dict(row), "email": row.email}  # to its own organisation only

    @rpc(roles=(COORDINATOR,))
    def update_jobcoach(self, jobcoach_id, changes):
        coach = self._own_jobcoach(jobcoach_id)
        row = handlers.update_jobcoach(coach, load(UpdateJobcoach(), changes, "jobcoach changes"))
        return {**jobcoach_dict(row), "email": row.email}

    @rpc(roles=(COORDINATOR,))
    def deactivate_jobcoach(self, jobcoach_id):
        """The coach leaves: each of their active plans goes to the best other coach with room,
        or, with nobody, stays unassigned and is escalated."""
        gone = handlers.deactivate_jobcoach(self.db, self.clock, self._own_jobcoach(jobcoach_id))
        return {**jobcoach_dict(gone.jobcoach), "plans_reassigned": gone.plans_reassigned,
                "plans_unassigned": gone.plans_unassigned}

    @rpc(roles=(COORDINATOR, JOBCOACH))
    def jobcoaches(self, region=None):
        optional_text(region, "region", "query")
        return [jobcoach_dict(j) for j in handlers.jobcoaches(self.db, region)]

    @rpc(roles=(COORDINATOR,))
    def reassign(self, plan_id, jobcoach_id):
        """A coordinator moves a plan's open tasks to one of their organisation's coaches."""
        data = load(Reassign(), {"plan_id": plan_id, "jobcoach_id": jobcoach_id}, "reassignment")
        coach = self._own_jobcoach(data["jobcoach_id"])
        return plan_dict(handlers.reassign(self.db, self.clock, data["plan_id"], coach))

    # --- plans and tasks ----------------------------------------------------------------

    @rpc(roles=(JOBCOACH, COORDINATOR))
    def plan_for_placement(self, placement_id):
        return plan_dict(handlers.plan_for_placement(self.db, self.caller, require_id(placement_id, "placement_id")))

    @rpc(roles=(JOBCOACH, COORDINATOR))
    def tasks(self, jobcoach_id=None, status=None, due_before=None, placement_id=None, limit=MAX_PAGE, after=None):
        """The calling organisation's jobcoaches' tasks, by due date; ``due_before`` is exclusive.
        A page at a time: at most ``limit`` (200), the next page ``after`` the last task of this one.
        Another organisation's coach: Forbidden (their caseload is theirs to see)."""
        actor = self.caller.require()
        query = load(TaskQuery(), {"placement_id": placement_id, "jobcoach_id": jobcoach_id, "status": status,
                                   "due_before": due_before, "limit": limit, "after": after}, "task query")
        return [task_dict(t) for t in handlers.tasks(self.db, actor, query)]

    @rpc(roles=(JOBCOACH, COORDINATOR))
    def workload(self, jobcoach_id=None, organisation=None):
        """Per coach of the calling organisation: open and overdue tasks, hours a week planned
        against capacity, active plans. One coach by id, or all its active coaches (a
        coordinator's view); another organisation's are Forbidden (their caseload is theirs)."""
        actor = self.caller.require()
        optional_text(organisation, "organisation", "query")
        if organisation is not None and organisation != actor.organisation:
            raise Forbidden(f"the workload of {organisation} is for {organisation} to see")
        if jobcoach_id is None:
            return handlers.workload(self.db, actor, self.clock)
        return handlers.workload(self.db, actor, self.clock, require_id(jobcoach_id, "jobcoach_id"))[0]

    @rpc(roles=(JOBCOACH, COORDINATOR))
    def complete_task(self, task_id, outcome, note=None, hours_spent=None, end_date=None, end_reason=None):
        """Record a check-in. ``at_risk`` plans a check-in within a week; ``ended`` ends the
        placement (through matching, which owns placements); ``going_well`` on a 6-, 12- or
        18-month checkpoint tells everyone the placement is sustained. Only the organisation
        whose jobcoach holds the task records it (a task nobody holds is reassigned first)."""
        actor = self.caller.require()
        data = load(CompleteTask(), {"task_id": task_id, "outcome": outcome, "note": note, "hours_spent": hours_spent,
                                     "end_date": end_date, "end_reason": end_reason}, "task completion")
        done = handlers.complete_task(self.db, actor, self.clock, data)
        return task_dict(done.task, done.organisation)

    # --- escalation ------------------------------------------------------------------

    @configured_timer("AFTERCARE_SWEEP_SECONDS", 300)
    def sweep_overdue(self):
        """Every few minutes: overdue tasks are announced and escalated, once each. Every replica
        runs this timer: on PostgreSQL each takes the tasks others have not locked (SKIP LOCKED)
        and marks them (``overdue_at``) in the same commit, so none is announced twice; SQLite
        serves one process only."""
        self._sweep(self.clock.today())

    @rpc(roles=(OPERATOR,))
    def sweep(self, today=None):
        """The sweep on demand, as of ``today`` (default: the clock's): for operators and tests."""
        data = load(Sweep(), {"today": today}, "sweep")
        return self._sweep(data["today"] or self.clock.today())

    def _sweep(self, today) -> dict:
        swept = handlers.sweep_overdue(self.db, self.clock, today)
        counts = swept.overdue
        # the gauge follows the database: every instance sets the same values (as of its last
        # sweep), so dashboards and alerts take the max over instances, never the sum
        for organisation in {s.labels.get("organisation") for m in TASKS_OVERDUE.collect() for s in m.samples}:
            if organisation not in counts:
                TASKS_OVERDUE.labels(organisation).set(0)
        for organisation, n in counts.items():
            TASKS_OVERDUE.labels(organisation).set(n)
        return {"announced": len(swept.announced), "overdue": sum(counts.values()), "by_organisation": counts}

    @rpc(roles=(COORDINATOR,))
    def escalations(self, organisation=None, open_only=True):
        """What the calling organisation must act on (``handlers.escalations``); ``organisation``,
        if given, is its own (another's is Forbidden, as for workload)."""
        actor = self.caller.require()
        optional_text(organisation, "organisation", "query")
        if not isinstance(open_only, bool):
            raise ValidationError.from_fields("query", {"open_only": ["expected true or false"]})
        if organisation is not None and organisation != actor.organisation:
            raise Forbidden(f"the escalations of {organisation} are for {organisation} to see")
        return [escalation_dict(e) for e in handlers.escalations(self.db, actor, open_only)]

    # --- accountability ----------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def audit_log(self, candidate_id, limit=100, cursor=None):
        """Who read or changed personal data about this candidate here (jobcoaches' notes), when,
        why, which fields, never the values: {"items", "next_cursor"}. For the organisation that
        registered the candidate (candidates says), else Forbidden."""
        return audit.page_asking_custody(self.db.session, self.candidates.custodian, candidate_id, limit, cursor)

    @rpc(roles=(KLANTMANAGER,))
    def inzage(self, candidate_id):
        """AVG inzage: the person's aftercare plans and tasks, notes included, for the registering organisation."""
        self.candidates.custodian(require_id(candidate_id, "candidate_id"))
        return handlers.inzage(self.db, self.caller, self.clock, candidate_id)

    @configured_timer("RETENTION_SWEEP_SECONDS", 3600)
    def remove_expired(self):
        """Retention: jobcoaches' notes past RETENTION_DAYS go, on every replica (SKIP LOCKED)."""
        handlers.remove_expired(self.db, self.clock, self.retention)

    # --- events in ---------------------------------------------------------------------

    @event_handler(PLACEMENT_RECORDED, batch=True)
    def on_placement_recorded(self, events):
        """Every placement gets its plan, its tasks and a jobcoach; a batch looks up the coaches
        and their loads once (see handlers.start_plans)."""
        handlers.start_plans(self.db, self.clock, self.protocol, [e.data for e in events])

    @event_handler(PLACEMENT_ENDED)
    def on_placement_ended(self, event):
        """However it ended (a jobcoach's outcome, the employer through matching): the plan
        ends and its open tasks are cancelled."""
        handlers.end_plan(self.db, self.clock, event.data["placement_id"], event.data["end_date"])

    @event_handler(CANDIDATE_ERASED)
    def on_candidate_erased(self, event):
        """AVG erasure: the jobcoaches' free-text notes go; dated tasks and outcomes stay for the counts."""
        handlers.erase_notes(self.db, event.data["candidate_id"], self.clock.now())

    # --- notifications: from our own events, so a failing mail server retries ---------

    @event_handler(AFTERCARE_PLAN_CREATED, batch=True)
    def notify_plan_created(self, events):
        """The coach hears of a new plan with all its tasks in one mail; nobody's plan goes
        to the coordinators of the region."""
        self._send(handlers.plan_created_mails(self.db, [e.data["plan_id"] for e in events]))

    @event_handler(AFTERCARE_TASK_ASSIGNED, batch=True)
    def notify_task_assigned(self, events):
        # a new plan's tasks travel in one mail (above): only a task handed over later has its own
        self._send(handlers.task_assigned_mails(self.db, [e.data for e in events]))

    @event_handler(AFTERCARE_TASK_OVERDUE, batch=True)
    def notify_task_overdue(self, events):
        """Each coordinator hears of the overdue tasks of a batch in one mail."""
        self._send(handlers.task_overdue_mails(self.db, [e.data for e in events]))

    # --- helpers -----------------------------------------------------------------------

    def _own_jobcoach(self, jobcoach_id) -> Jobcoach:
        """A jobcoach of the caller's organisation: only its coordinator manages them."""
        return handlers.own_jobcoach(self.db, self.caller.require(), require_id(jobcoach_id, "jobcoach_id"))

    def _send(self, mails: list[handlers.Mail]) -> None:
        for m in mails:
            self.mail.send(m.to, m.subject, m.body, kind=m.kind)
