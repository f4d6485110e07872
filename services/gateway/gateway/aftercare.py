"""Aftercare over HTTP: a jobcoach's task list and check-ins, a coordinator's reassignments."""

from __future__ import annotations

from gateway.replies import json_body, reply
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.entrypoints import http
from werkbrug_shared.errors import ValidationError

COMPLETION_FIELDS = ("outcome", "note", "hours_spent", "end_date", "end_reason")


class AftercareRoutes:
    """Mixed into the gateway service."""

    aftercare = RpcProxy("aftercare")

    @http("GET", "/v1/jobcoaches/<string:jobcoach_id>/tasks")
    def jobcoach_tasks(self, request, jobcoach_id):
        args = request.args
        return reply(200, self.aftercare.tasks(jobcoach_id=jobcoach_id, status=args.get("status"),
                                                due_before=args.get("due_before"),
                                                placement_id=args.get("placement_id")))

    @http("GET", "/v1/jobcoaches/<string:jobcoach_id>/workload")
    def jobcoach_workload(self, request, jobcoach_id):
        return reply(200, self.aftercare.workload(jobcoach_id))

    @http("POST", "/v1/aftercare/tasks/<string:task_id>/completion")
    def complete_aftercare_task(self, request, task_id):
        body = json_body(request)
        unknown = sorted(set(body) - set(COMPLETION_FIELDS))
        if unknown:
            raise ValidationError.from_fields("task completion", {k: ["unknown field"] for k in unknown})
        return reply(200, self.aftercare.complete_task(task_id, *(body.get(k) for k in COMPLETION_FIELDS)))

    @http("GET", "/v1/placements/<string:placement_id>/aftercare")
    def aftercare_plan(self, request, placement_id):
        return reply(200, self.aftercare.plan_for_placement(placement_id))

    @http("POST", "/v1/aftercare/plans/<string:plan_id>/reassignment")
    def reassign_aftercare_plan(self, request, plan_id):
        return reply(200, self.aftercare.reassign(plan_id, json_body(request).get("jobcoach_id")))
