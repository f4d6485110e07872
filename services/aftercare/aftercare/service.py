"""Aftercare (nazorg): a recorded placement gets a plan and a jobcoach, automatically."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from aftercare import domain
from aftercare.models import AftercarePlan, AftercareTask, Jobcoach, metadata
from aftercare.schemas import CompleteTask, RegisterJobcoach, TaskQuery
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Conflict, NotFound
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load


def task_dict(t: AftercareTask) -> dict:
    return {
        "id": t.id, "plan_id": t.plan_id, "placement_id": t.placement_id, "jobcoach_id": t.jobcoach_id,
        "kind": t.kind, "due": t.due.isoformat(), "status": t.status, "outcome": t.outcome,
    }


class AftercareService:
    name = "aftercare"

    db = Database(metadata)
    metrics = EntrypointMetrics()

    @rpc
    def register_jobcoach(self, jobcoach):
        data = load(RegisterJobcoach(), jobcoach, "jobcoach")
        row = Jobcoach(id=str(uuid.uuid4()), active=True, registered_at=utcnow(), **data)
        self.db.session.add(row)
        return {"id": row.id, "name": row.name, "region": row.region, "capacity": row.capacity}

    @rpc
    def tasks(self, placement_id=None, jobcoach_id=None, status=None):
        query = load(TaskQuery(), {"placement_id": placement_id, "jobcoach_id": jobcoach_id, "status": status},
                     "task query")
        stmt = select(AftercareTask).order_by(AftercareTask.due, AftercareTask.id)
        for field in ("placement_id", "jobcoach_id", "status"):
            if query[field] is not None:
                stmt = stmt.where(getattr(AftercareTask, field) == query[field])
        return [task_dict(t) for t in self.db.session.scalars(stmt)]

    @rpc
    def plan_for_placement(self, placement_id):
        plan = self.db.session.scalar(select(AftercarePlan).where(AftercarePlan.placement_id == placement_id))
        if plan is None:
            raise NotFound(f"no aftercare plan for placement {placement_id}")
        return {"id": plan.id, "placement_id": plan.placement_id, "jobcoach_id": plan.jobcoach_id,
                "start_date": plan.start_date.isoformat()}

    @rpc
    def complete_task(self, task_id, outcome, note=None):
        data = load(CompleteTask(), {"task_id": task_id, "outcome": outcome, "note": note}, "task completion")
        task = self.db.get(AftercareTask, data["task_id"], "aftercare task", for_update=True)
        if task.status != "open":
            raise Conflict(f"task {task.id} is already {task.status}")
        task.status, task.outcome, task.note, task.completed_at = "done", data["outcome"], data["note"], utcnow()
        # the note stays here: it is the jobcoach's free text and may name people
        self.db.emit("nl.werkbrug.aftercare_task.completed.v1", task.id,
                     {"task_id": task.id, "placement_id": task.placement_id, "outcome": task.outcome})
        if task.outcome == "at_risk":
            plan = self.db.session.get(AftercarePlan, task.plan_id)
            self.db.emit("nl.werkbrug.placement.at_risk.v1", task.placement_id,
                         {"placement_id": task.placement_id, "candidate_id": plan.candidate_id, "task_id": task.id})
        return task_dict(task)

    @event_handler("nl.werkbrug.placement.recorded.v1")
    def on_placement_recorded(self, event):
        placement = event.data
        session = self.db.session
        if session.scalar(select(AftercarePlan.id).where(AftercarePlan.placement_id == placement["placement_id"])):
            return  # a redelivery under another event id: the plan exists already
        jobcoach_id = domain.choose_jobcoach(self._coach_loads(placement["region"]))
        plan = AftercarePlan(
            id=str(uuid.uuid4()), placement_id=placement["placement_id"], candidate_id=placement["candidate_id"],
            jobcoach_id=jobcoach_id, region=placement["region"], start_date=placement["start_date"],
            hours_per_week=placement["hours_per_week"], created_at=utcnow(),
        )
        session.add(plan)
        tasks = [
            AftercareTask(id=str(uuid.uuid4()), plan_id=plan.id, placement_id=plan.placement_id,
                          jobcoach_id=jobcoach_id, kind=kind, due=due, status="open")
            for kind, due in domain.schedule(plan.start_date)
        ]
        session.add_all(tasks)
        session.flush()
        self.db.emit("nl.werkbrug.aftercare_plan.created.v1", plan.id, {
            "plan_id": plan.id, "placement_id": plan.placement_id, "candidate_id": plan.candidate_id,
            "jobcoach_id": jobcoach_id, "region": plan.region, "task_count": len(tasks),
        })
        for task in tasks:
            self.db.emit("nl.werkbrug.aftercare_task.assigned.v1", task.id, {
                "task_id": task.id, "plan_id": plan.id, "placement_id": plan.placement_id,
                "jobcoach_id": jobcoach_id, "kind": task.kind, "due": task.due.isoformat(),
            })

    @event_handler("nl.werkbrug.candidate.erased.v1")
    def on_candidate_erased(self, event):
        """AVG erasure: the jobcoaches' free-text notes go; dated tasks and outcomes stay for the counts."""
        plan_ids = select(AftercarePlan.id).where(AftercarePlan.candidate_id == event.data["candidate_id"])
        self.db.session.execute(
            update(AftercareTask).where(AftercareTask.plan_id.in_(plan_ids)).values(note=None)
        )

    def _coach_loads(self, region: str) -> list[domain.CoachLoad]:
        session = self.db.session
        # Concurrent placements in one region take turns here; otherwise both
        # read the same loads and pile onto the same coach.
        session.execute(
            select(Jobcoach.id).where(Jobcoach.region == region, Jobcoach.active).with_for_update()
        ).all()
        open_tasks = (
            select(AftercareTask.jobcoach_id, func.count().label("n"))
            .where(AftercareTask.status == "open").group_by(AftercareTask.jobcoach_id).subquery()
        )
        active_plans = (
            select(AftercarePlan.jobcoach_id, func.count(func.distinct(AftercarePlan.id)).label("n"))
            .join(AftercareTask, AftercareTask.plan_id == AftercarePlan.id)
            .where(AftercareTask.status == "open").group_by(AftercarePlan.jobcoach_id).subquery()
        )
        rows = session.execute(
            select(Jobcoach.id, Jobcoach.capacity, func.coalesce(active_plans.c.n, 0), func.coalesce(open_tasks.c.n, 0))
            .outerjoin(active_plans, active_plans.c.jobcoach_id == Jobcoach.id)
            .outerjoin(open_tasks, open_tasks.c.jobcoach_id == Jobcoach.id)
            .where(Jobcoach.region == region, Jobcoach.active)
        )
        return [domain.CoachLoad(*row) for row in rows]
