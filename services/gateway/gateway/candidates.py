"""Candidates over HTTP: registration, the werkprofiel, logbook and plan, trajectories,
cohorts and enrolments, erasure. Personal data goes in bodies, never in a path or query:
a candidate is named by its id, lists filter by region, target group, status, skill, cohort."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from candidates.schemas import (
    MODULE_CODE,
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
from gateway.replies import json_body, reply
from gateway.routes import Limit, body_fields, query_cursor, query_filters, query_limit, route
from werkbrug_shared.consuming import RpcProxy

TAG = "candidates"
CANDIDATE_ID = "/v1/candidates/<string:candidate_id>"
LIST_FILTERS = ("region", "target_group", "status", "skill", "cohort")


class Enrolment(Schema):
    candidate_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class CompletedModule(Schema):
    module_code = fields.String(required=True, validate=validate.Regexp(MODULE_CODE))


class CandidateRoutes:
    """Mixed into the gateway service."""

    candidates = RpcProxy("candidates")

    @route("POST", "/v1/candidates", tag=TAG, rpc="candidates.register", status=201, body=CheckedCandidate,
           reply="Candidate", summary="Register a candidate",
           description="Personal data (names, BSN, birth date, address, contact) is shown only to the "
                       "registering organisation. A BSN already registered by any partner is a 409.")
    def register_candidate(self, request):
        return reply(201, self.candidates.register(json_body(request)))

    @route("POST", "/v1/candidate-batches", tag=TAG, rpc="candidates.register_many", body=RegisterBatch,
           reply="RowResults", summary="Register up to 1,000 candidates in one transaction",
           description="Each row as in `POST /v1/candidates`; one result per row: `{index, id}` written, "
                       "`{index, id, existing: true}` imported before (same `source_ref`), `{index, errors}` "
                       "refused, `{index, conflict}` a BSN already known.")
    def register_candidates(self, request):
        body = body_fields(request, ("candidates",), "batch")
        return reply(200, self.candidates.register_many(body.get("candidates")))

    @route("GET", "/v1/candidates", tag=TAG, rpc="candidates.list", query=ListFilters, limit=Limit(50),
           cursor=True, reply="CandidatePage", summary="List candidates' profiles, a page at a time",
           description="Profiles only, never personal data; oldest first. Pass `next_cursor` back as `cursor`.")
    def list_candidates(self, request):
        filters = query_filters(request, LIST_FILTERS)
        return reply(200, self.candidates.list(filters, query_limit(request, 50), query_cursor(request)))

    @route("GET", CANDIDATE_ID, tag=TAG, rpc="candidates.get", reply="Candidate", summary="A candidate",
           description="Personal data and the plan only for the registering organisation.")
    def get_candidate(self, request, candidate_id):
        return reply(200, self.candidates.get(candidate_id))

    @route("PATCH", CANDIDATE_ID, tag=TAG, rpc="candidates.update", body=candidate_schema(update=True),
           reply="Candidate", summary="Change a candidate's profile or personal data",
           description="The registering organisation only; not the BSN, `source_ref` or cohort.")
    def update_candidate(self, request, candidate_id):
        return reply(200, self.candidates.update(candidate_id, json_body(request)))

    @route("DELETE", CANDIDATE_ID, tag=TAG, rpc="candidates.erase", reply="Erased",
           summary="Erase a candidate's personal data (AVG)",
           description="By the registering organisation: personal data, BSN, logbook and plan go, in every "
                       "service; an anonymous row stays for the counts.")
    def erase_candidate(self, request, candidate_id):
        return reply(200, self.candidates.erase(candidate_id))

    @route("PUT", CANDIDATE_ID + "/status", tag=TAG, rpc="candidates.change_status", body=ChangeStatus,
           reply="Candidate", summary="Set a candidate's status by hand (intake, in_trajectory, available)",
           description="The reason goes to the logbook, not to the event.")
    def change_candidate_status(self, request, candidate_id):
        body = body_fields(request, ("status", "reason"), "status change")
        return reply(200, self.candidates.change_status(candidate_id, body.get("status"), body.get("reason")))

    @route("POST", CANDIDATE_ID + "/logbook", tag=TAG, rpc="candidates.add_log_entry", status=201,
           body=LogEntryInput, reply="LogEntryWritten", summary="Write in a candidate's intake logbook",
           description="Any partner working with the candidate; the text is not echoed back.")
    def add_log_entry(self, request, candidate_id):
        return reply(201, self.candidates.add_log_entry(candidate_id, json_body(request)))

    @route("GET", CANDIDATE_ID + "/logbook", tag=TAG, rpc="candidates.log", reply="LogEntries",
           summary="A candidate's logbook",
           description="The registering organisation reads every entry, another partner its own.")
    def candidate_log(self, request, candidate_id):
        return reply(200, self.candidates.log(candidate_id))

    @route("PUT", CANDIDATE_ID + "/plan", tag=TAG, rpc="candidates.set_plan", body=PlanInput, reply="PlanSet",
           summary="Set a candidate's trajectory plan (goal and steps)",
           description="Kept by the registering organisation; read it back in `GET /v1/candidates/{candidate_id}`.")
    def set_candidate_plan(self, request, candidate_id):
        return reply(200, self.candidates.set_plan(candidate_id, json_body(request)))

    @route("POST", "/v1/trajectories", tag=TAG, rpc="candidates.define_trajectory", status=201,
           body=DefineTrajectory, reply="Trajectory", summary="Define a trajectory and its modules")
    def define_trajectory(self, request):
        return reply(201, self.candidates.define_trajectory(json_body(request)))

    @route("POST", "/v1/cohorts", tag=TAG, rpc="candidates.start_cohort", status=201, body=StartCohort,
           reply="Cohort", summary="Start a cohort of a trajectory")
    def start_cohort(self, request):
        return reply(201, self.candidates.start_cohort(json_body(request)))

    @route("GET", "/v1/cohorts/<string:cohort_id>", tag=TAG, rpc="candidates.get_cohort", reply="Cohort",
           summary="A cohort, how many are enrolled and how many completed each module")
    def get_cohort(self, request, cohort_id):
        return reply(200, self.candidates.get_cohort(cohort_id))

    @route("POST", "/v1/cohorts/<string:cohort_id>/enrolments", tag=TAG, rpc="candidates.enrol", status=201,
           body=Enrolment, reply="EnrolmentMade", summary="Enrol a candidate in a cohort",
           description="The candidate becomes in_trajectory unless already further along.")
    def enrol(self, request, cohort_id):
        body = body_fields(request, ("candidate_id",), "enrolment")
        return reply(201, self.candidates.enrol(body.get("candidate_id"), cohort_id))

    @route("POST", "/v1/cohorts/<string:cohort_id>/enrolments/<string:candidate_id>/completed-modules", tag=TAG,
           rpc="candidates.complete_module", status=201, body=CompletedModule, reply="ModuleCompleted",
           summary="Record a module completed by an enrolled candidate",
           description="A certificate module (VCA) adds its skill to the profile with evidence `certificate`.")
    def complete_module(self, request, cohort_id, candidate_id):
        body = body_fields(request, ("module_code",), "completed module")
        return reply(201, self.candidates.complete_module(candidate_id, cohort_id, body.get("module_code")))
