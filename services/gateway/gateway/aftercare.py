"""Aftercare over HTTP: coaching organisations and their jobcoaches, plans and tasks, a jobcoach's
task list and check-ins, a coordinator's reassignments and escalations."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from aftercare.domain import TASK_STATUSES
from aftercare.schemas import CompleteTask, Reassign, RegisterJobcoach, RegisterOrganisation, Sweep, UpdateJobcoach
from gateway.replies import json_body, reply
from gateway.routes import Limit, body_fields, flag, query_limit, route
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.pagination import MAX_PAGE

TAG = "aftercare"
JOBCOACH_ID = "/v1/jobcoaches/<string:jobcoach_id>"
COMPLETION_FIELDS = ("outcome", "note", "hours_spent", "end_date", "end_reason")


def _text(**kw):
    return fields.String(validate=validate.Length(min=1, max=64), **kw)


class CoachTaskQuery(Schema):
    status = fields.String(validate=validate.OneOf(TASK_STATUSES))
    due_before = fields.Date(metadata={"description": "only tasks due before this day (exclusive)"})
    placement_id = _text()
    after = _text(metadata={"description": "the id of the last task of the page before: the next page"})


class TaskQuery(CoachTaskQuery):
    jobcoach_id = _text()


class WorkloadQuery(Schema):
    organisation = _text(metadata={"description": "the caller's own organisation (another's is a 403)"})


class RegionQuery(Schema):
    region = fields.String(validate=validate.Length(min=1, max=200))


class EscalationQuery(Schema):
    organisation = fields.String(validate=validate.Length(min=1, max=200))
    open_only = fields.Boolean(load_default=True, metadata={"description": "only unresolved escalations "
                                                                         "(default true)"})


class AftercareRoutes:
    """Mixed into the gateway service."""

    aftercare = RpcProxy("aftercare")

    @route("POST", "/v1/aftercare/organisations", tag=TAG, rpc="aftercare.register_organisation", status=201,
           body=RegisterOrganisation, reply="CoachingOrganisation",
           summary="Register the calling partner's coaching organisation and its coordinator")
    def register_coaching_organisation(self, request):
        return reply(201, self.aftercare.register_organisation(json_body(request)))

    @route("POST", "/v1/jobcoaches", tag=TAG, rpc="aftercare.register_jobcoach", status=201, body=RegisterJobcoach,
           reply="Jobcoach", summary="Register a jobcoach of the calling partner's organisation")
    def register_jobcoach(self, request):
        return reply(201, self.aftercare.register_jobcoach(json_body(request)))

    @route("GET", "/v1/jobcoaches", tag=TAG, rpc="aftercare.jobcoaches", query=RegionQuery, reply="Jobcoaches",
           summary="Jobcoaches, of a region or all")
    def list_jobcoaches(self, request):
        return reply(200, self.aftercare.jobcoaches(request.args.get("region")))

    @route("PATCH", JOBCOACH_ID, tag=TAG, rpc="aftercare.update_jobcoach", body=UpdateJobcoach, reply="Jobcoach",
           summary="Change a jobcoach", description="Their own organisation only.")
    def update_jobcoach(self, request, jobcoach_id):
        return reply(200, self.aftercare.update_jobcoach(jobcoach_id, json_body(request)))

    @route("POST", JOBCOACH_ID + "/deactivation", tag=TAG, rpc="aftercare.deactivate_jobcoach",
           reply="JobcoachDeactivated", summary="A jobcoach leaves",
           description="Each of their active plans goes to the best colleague with room, or, with nobody, stays "
                       "unassigned and is escalated. Their own organisation only; no body.")
    def deactivate_jobcoach(self, request, jobcoach_id):
        return reply(200, self.aftercare.deactivate_jobcoach(jobcoach_id))

    @route("GET", JOBCOACH_ID + "/tasks", tag=TAG, rpc="aftercare.tasks", query=CoachTaskQuery, reply="Tasks",
           limit=Limit(MAX_PAGE), summary="A jobcoach's tasks, by due date",
           description="The jobcoach's own organisation only. A page at a time: `limit` tasks, the next page "
                       "`after` the last task of this one.")
    def jobcoach_tasks(self, request, jobcoach_id):
        args = request.args
        return reply(200, self.aftercare.tasks(jobcoach_id=jobcoach_id, status=args.get("status"),
                                                due_before=args.get("due_before"),
                                                placement_id=args.get("placement_id"),
                                                limit=query_limit(request, MAX_PAGE), after=args.get("after")))

    @route("GET", JOBCOACH_ID + "/workload", tag=TAG, rpc="aftercare.workload", reply="Workload",
           summary="A jobcoach's open and overdue tasks and planned hours against capacity")
    def jobcoach_workload(self, request, jobcoach_id):
        return reply(200, self.aftercare.workload(jobcoach_id))

    @route("GET", "/v1/aftercare/tasks", tag=TAG, rpc="aftercare.tasks", query=TaskQuery, reply="Tasks",
           limit=Limit(MAX_PAGE), summary="The calling organisation's jobcoaches' tasks, by due date",
           description="A page at a time: `limit` tasks, the next page `after` the last task of this one.")
    def aftercare_tasks(self, request):
        args = request.args
        return reply(200, self.aftercare.tasks(jobcoach_id=args.get("jobcoach_id"), status=args.get("status"),
                                                due_before=args.get("due_before"),
                                                placement_id=args.get("placement_id"),
                                                limit=query_limit(request, MAX_PAGE), after=args.get("after")))

    @route("GET", "/v1/aftercare/workload", tag=TAG, rpc="aftercare.workload", query=WorkloadQuery,
           reply="Workloads", summary="Every active jobcoach's workload of the calling organisation")
    def aftercare_workload(self, request):
        return reply(200, self.aftercare.workload(organisation=request.args.get("organisation")))

    @route("POST", "/v1/aftercare/tasks/<string:task_id>/completion", tag=TAG, rpc="aftercare.complete_task",
           body=CompleteTask(exclude=("task_id",)), reply="Task", summary="Record a check-in",
           description="`at_risk` plans a check-in within a week; `ended` (with its `end_reason`) ends the "
                       "placement; `going_well` on a 6-, 12- or 18-month checkpoint marks it sustained. Only the "
                       "organisation whose jobcoach holds the task.")
    def complete_aftercare_task(self, request, task_id):
        body = body_fields(request, COMPLETION_FIELDS, "task completion")
        return reply(200, self.aftercare.complete_task(task_id, *(body.get(k) for k in COMPLETION_FIELDS)))

    @route("GET", "/v1/placements/<string:placement_id>/aftercare", tag=TAG, rpc="aftercare.plan_for_placement",
           reply="AftercarePlan", summary="A placement's aftercare plan, its budget and tasks")
    def aftercare_plan(self, request, placement_id):
        return reply(200, self.aftercare.plan_for_placement(placement_id))

    @route("POST", "/v1/aftercare/plans/<string:plan_id>/reassignment", tag=TAG, rpc="aftercare.reassign",
           body=Reassign(exclude=("plan_id",)), reply="AftercarePlan",
           summary="Move a plan's open tasks to one of the caller's jobcoaches")
    def reassign_aftercare_plan(self, request, plan_id):
        body = body_fields(request, ("jobcoach_id",), "reassignment")
        return reply(200, self.aftercare.reassign(plan_id, body.get("jobcoach_id")))

    @route("GET", "/v1/aftercare/escalations", tag=TAG, rpc="aftercare.escalations", query=EscalationQuery,
           reply="Escalations", summary="Escalations to coordinators")
    def aftercare_escalations(self, request):
        raw = request.args.get("open_only")
        open_only = True if raw is None else flag(raw, "open_only")
        return reply(200, self.aftercare.escalations(request.args.get("organisation"), open_only))

    @route("POST", "/v1/aftercare/sweeps", tag=TAG, rpc="aftercare.sweep", body=Sweep, reply="Sweep",
           summary="Announce and escalate overdue tasks now, as of `today` (operators and tests)")
    def aftercare_sweep(self, request):
        body = body_fields(request, ("today",), "sweep")
        return reply(200, self.aftercare.sweep(body.get("today")))
