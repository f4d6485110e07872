"""Vacancies over HTTP: employers, the shared pool of vacancies, their stewards and shortlist,
closing them, and what job sites may publish."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.replies import json_body, reply
from gateway.routes import Limit, body_fields, query_cursor, query_filters, query_limit, route
from vacancies.handlers import MAX_ROWS
from vacancies.schemas import (
    AddCandidate,
    AddSteward,
    CloseVacancy,
    ListFilters,
    OpenVacancy,
    RegisterEmployer,
    UpdateVacancy,
)
from werkbrug_shared.consuming import RpcProxy

TAG = "vacancies"
VACANCY_ID = "/v1/vacancies/<string:vacancy_id>"
LIST_FILTERS = ("region", "status", "skill", "visibility", "is_leerwerkbaan", "banenafspraak_suitable", "employer_id")
FLAGS = ("is_leerwerkbaan", "banenafspraak_suitable")
PUBLISHED_FILTERS = tuple(f for f in LIST_FILTERS if f not in ("status", "visibility"))


class VacancyBatch(Schema):
    vacancies = fields.List(fields.Raw(), required=True, validate=validate.Length(max=MAX_ROWS),
                            metadata={"description": "each a vacancy as in `POST /v1/vacancies`, its employer by "
                                                     "`employer_id` or by `employer_kvk` with `employer_name`, "
                                                     "`employer_region`, `employer_sbi`, `employer_postcode`"})


class VacancyRoutes:
    """Mixed into the gateway service."""

    vacancies = RpcProxy("vacancies")

    @route("POST", "/v1/employers", tag=TAG, rpc="vacancies.register_employer", status=201, body=RegisterEmployer,
           reply="Employer", summary="Register an employer")
    def register_employer(self, request):
        return reply(201, self.vacancies.register_employer(json_body(request)))

    @route("GET", "/v1/employers/<string:employer_id>", tag=TAG, rpc="vacancies.get_employer", reply="Employer",
           summary="An employer")
    def get_employer(self, request, employer_id):
        return reply(200, self.vacancies.get_employer(employer_id))

    @route("POST", "/v1/vacancies", tag=TAG, rpc="vacancies.open", status=201, body=OpenVacancy, reply="Vacancy",
           summary="Open a vacancy", description="The caller becomes its first steward.")
    def open_vacancy(self, request):
        return reply(201, self.vacancies.open(json_body(request)))

    @route("POST", "/v1/vacancy-batches", tag=TAG, rpc="vacancies.open_many", body=VacancyBatch,
           reply="RowResults", summary="Open up to 1,000 vacancies in one transaction",
           description="One result per row: `{index, id}`, `{index, errors}` or `{index, id, existing: true}`.")
    def open_vacancies(self, request):
        body = body_fields(request, ("vacancies",), "batch")
        return reply(200, self.vacancies.open_many(body.get("vacancies")))

    @route("GET", "/v1/vacancies", tag=TAG, rpc="vacancies.list", query=ListFilters, limit=Limit(50), cursor=True,
           reply="VacancyPage", summary="The vacancies the caller may see, newest first, a page at a time")
    def list_vacancies(self, request):
        filters = query_filters(request, LIST_FILTERS, FLAGS)
        return reply(200, self.vacancies.list(filters, query_limit(request, 50), query_cursor(request)))

    @route("GET", "/v1/published-vacancies", tag=TAG, rpc="vacancies.list_published",
           query=ListFilters(exclude=("status", "visibility")), limit=Limit(50), cursor=True, public=True,
           reply="VacancyPage", summary="What job sites may show: public, open and valid vacancies",
           description="Needs no credential; no steward or note.")
    def list_published_vacancies(self, request):
        filters = query_filters(request, PUBLISHED_FILTERS, FLAGS)
        return reply(200, self.vacancies.list_published(filters, query_limit(request, 50), query_cursor(request)))

    @route("GET", VACANCY_ID, tag=TAG, rpc="vacancies.get", reply="Vacancy", summary="A vacancy")
    def get_vacancy(self, request, vacancy_id):
        return reply(200, self.vacancies.get(vacancy_id))

    @route("PATCH", VACANCY_ID, tag=TAG, rpc="vacancies.update", body=UpdateVacancy, reply="Vacancy",
           summary="Change a vacancy", description="Its stewards only; not its employer or source.")
    def update_vacancy(self, request, vacancy_id):
        return reply(200, self.vacancies.update(vacancy_id, json_body(request)))

    @route("POST", VACANCY_ID + "/closure", tag=TAG, rpc="vacancies.close", body=CloseVacancy, reply="Vacancy",
           summary="Close a vacancy for good", description="Its stewards only; the note stays in vacancies.")
    def close_vacancy(self, request, vacancy_id):
        body = body_fields(request, ("reason", "note"), "close")
        return reply(200, self.vacancies.close(vacancy_id, body.get("reason"), body.get("note")))

    @route("GET", VACANCY_ID + "/stewards", tag=TAG, rpc="vacancies.stewards", reply="Stewards",
           summary="Who looks after a vacancy")
    def vacancy_stewards(self, request, vacancy_id):
        return reply(200, self.vacancies.stewards(vacancy_id))

    @route("POST", VACANCY_ID + "/stewards", tag=TAG, rpc="vacancies.add_steward", status=201, body=AddSteward,
           reply="Stewards", summary="Add a steward, of any partner organisation",
           description="By a steward; answers every steward.")
    def add_steward(self, request, vacancy_id):
        return reply(201, self.vacancies.add_steward(vacancy_id, json_body(request)))

    @route("GET", VACANCY_ID + "/shortlist", tag=TAG, rpc="vacancies.shortlist", reply="Shortlist",
           summary="The stewards' shortlist", description="Each organisation reads its own notes only.")
    def vacancy_shortlist(self, request, vacancy_id):
        return reply(200, self.vacancies.shortlist(vacancy_id))

    @route("POST", VACANCY_ID + "/shortlist", tag=TAG, rpc="vacancies.add_candidate", status=201,
           body=AddCandidate, reply="ShortlistEntry", summary="Put a candidate on the shortlist",
           description="By a steward; adding again replaces the note. The note is not echoed back.")
    def add_to_shortlist(self, request, vacancy_id):
        body = body_fields(request, ("candidate_id", "note"), "shortlist entry")
        return reply(201, self.vacancies.add_candidate(vacancy_id, body.get("candidate_id"), body.get("note")))
