"""Matching over HTTP: rankings both ways, occupations, proposals (matches) and placements."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.replies import json_body, reply
from gateway.routes import Limit, body_fields, query_filters, query_limit, route
from matching import scoring
from matching.schemas import EndPlacement, Introduce, Propose, RecordPlacement, Reject
from werkbrug_shared.consuming import RpcProxy

TAG = "matching"
CANDIDATE_FLAGS = ("banenafspraak",)
VACANCY_FLAGS = ("is_leerwerkbaan", "banenafspraak_suitable")
RANKING_LIMIT = Limit(10, 100)  # matching's own cap (schemas._Query)


def _filters(names, flags, about: str) -> type[Schema]:
    """The ranking's filters as query parameters: each a value to match, flags true or false."""
    return Schema.from_dict({
        name: fields.Boolean(metadata={"description": f"only {about} with this flag"}) if name in flags
        else fields.String(metadata={"description": f"only {about} of this {name.replace('_', ' ')}"})
        for name in names
    }, name=f"{about.title()}Filters")


CANDIDATE_FILTERS = _filters(scoring.CANDIDATE_FILTERS, CANDIDATE_FLAGS, "candidates")
VACANCY_FILTERS = _filters(scoring.VACANCY_FILTERS, VACANCY_FLAGS, "vacancies")


class IndexLookup(Schema):
    # ids the index does not hold (or that are not ids) are left out of the answer, not refused
    candidate_ids = fields.List(fields.Raw(), required=True, validate=validate.Length(max=1000),
                                metadata={"description": "candidate ids"})


class MatchingRoutes:
    """Mixed into the gateway service."""

    matching = RpcProxy("matching")

    @route("GET", "/v1/vacancies/<string:vacancy_id>/candidates", tag=TAG, rpc="matching.candidates_for_vacancy",
           query=CANDIDATE_FILTERS, limit=RANKING_LIMIT, reply="Ranking",
           summary="The best candidates for a vacancy, explained",
           description="Each with a score breakdown, skill gaps and the modules that close them; near-misses "
                       "say why not.")
    def candidates_for_vacancy(self, request, vacancy_id):
        filters = query_filters(request, scoring.CANDIDATE_FILTERS, CANDIDATE_FLAGS)
        return reply(200, self.matching.candidates_for_vacancy(vacancy_id, query_limit(request), filters))

    @route("GET", "/v1/candidates/<string:candidate_id>/vacancies", tag=TAG, rpc="matching.vacancies_for_candidate",
           query=VACANCY_FILTERS, limit=RANKING_LIMIT, reply="Ranking",
           summary="The best open vacancies for a candidate, explained",
           description="Only vacancies the caller may see.")
    def vacancies_for_candidate(self, request, candidate_id):
        filters = query_filters(request, scoring.VACANCY_FILTERS, VACANCY_FLAGS)
        return reply(200, self.matching.vacancies_for_candidate(candidate_id, query_limit(request), filters))

    @route("GET", "/v1/candidates/<string:candidate_id>/occupations", tag=TAG, rpc="matching.suggest_occupations",
           limit=Limit(10, 50), reply="Occupations",
           summary="ESCO occupations a candidate's skills carry over to")
    def suggest_occupations(self, request, candidate_id):
        return reply(200, self.matching.suggest_occupations(candidate_id, query_limit(request)))

    @route("GET", "/v1/candidates/<string:candidate_id>/placements", tag=TAG, rpc="matching.placements_of",
           reply="Placements", summary="A candidate's placements, newest first",
           description="On vacancies the caller may see.")
    def candidate_placements(self, request, candidate_id):
        return reply(200, self.matching.placements_of(candidate_id))

    @route("POST", "/v1/matches", tag=TAG, rpc="matching.propose", status=201, body=Propose, reply="Match",
           summary="Propose a candidate for a vacancy")
    def propose(self, request):
        body = body_fields(request, ("candidate_id", "vacancy_id"), "proposal")
        return reply(201, self.matching.propose(body.get("candidate_id"), body.get("vacancy_id")))

    @route("GET", "/v1/matches/<string:match_id>", tag=TAG, rpc="matching.get_match", reply="Match",
           summary="A match", description="The note only for the organisation that wrote it.")
    def get_match(self, request, match_id):
        return reply(200, self.matching.get_match(match_id))

    @route("POST", "/v1/matches/<string:match_id>/introduction", tag=TAG, rpc="matching.introduce",
           body=Introduce(exclude=("match_id",)), reply="Match",
           summary="The candidate was introduced to the employer", description="The note stays in matching.")
    def introduce(self, request, match_id):
        body = body_fields(request, ("note",), "introduction")
        return reply(200, self.matching.introduce(match_id, body.get("note")))

    @route("POST", "/v1/matches/<string:match_id>/rejection", tag=TAG, rpc="matching.reject",
           body=Reject(exclude=("match_id",)), reply="Match", summary="End a match, with a reason code")
    def reject(self, request, match_id):
        body = body_fields(request, ("reason", "note"), "rejection")
        return reply(200, self.matching.reject(match_id, body.get("reason"), body.get("note")))

    @route("POST", "/v1/placements", tag=TAG, rpc="matching.record_placement", status=201, body=RecordPlacement,
           reply="Placement", summary="Record a placement: a candidate starts work",
           description="A `request_id` of the caller's own makes a retry safe: sent again by the same "
                       "organisation it answers the same placement; with other content it is a 409.")
    def record_placement(self, request):
        return reply(201, self.matching.record_placement(json_body(request)))

    @route("GET", "/v1/placements/<string:placement_id>", tag=TAG, rpc="matching.get_placement", reply="Placement",
           summary="A placement")
    def get_placement(self, request, placement_id):
        return reply(200, self.matching.get_placement(placement_id))

    @route("POST", "/v1/placements/<string:placement_id>/ending", tag=TAG, rpc="matching.end_placement",
           body=EndPlacement(exclude=("placement_id",)), reply="Placement",
           summary="A placement ended", description="The candidate is back in the pool, the opening reopens.")
    def end_placement(self, request, placement_id):
        body = body_fields(request, ("end_date", "reason"), "placement end")
        return reply(200, self.matching.end_placement(placement_id, body.get("end_date"), body.get("reason")))

    # the first path, a verb; kept for the partners that use it
    @route("POST", "/v1/placements/<string:placement_id>/end", tag=TAG, rpc="matching.end_placement",
           body=EndPlacement(exclude=("placement_id",)), reply="Placement", summary="A placement ended",
           description="Deprecated: `POST /v1/placements/{placement_id}/ending` does the same.",
           extra={"deprecated": True})
    def end_placement_deprecated(self, request, placement_id):
        return self.end_placement(request, placement_id)

    @route("GET", "/v1/matching/fairness", tag=TAG, rpc="matching.fairness", public=True, reply="Fairness",
           summary="Per target group: share of the top 10 served against share of the eligible pool")
    def fairness(self, request):
        return reply(200, self.matching.fairness())

    @route("POST", "/v1/matching/index-lookups", tag=TAG, rpc="matching.indexed", body=IndexLookup,
           reply="IndexLookup", summary="Which of these candidates matching's index holds, and whether in the pool",
           description="A look-up with its ids in the body (up to 1,000), so none lands in a URI or a log.")
    def index_lookup(self, request):
        body = body_fields(request, ("candidate_ids",), "query")
        return reply(200, self.matching.indexed(body.get("candidate_ids")))

    @route("GET", "/v1/matching/index", tag=TAG, rpc="matching.index_size", reply="IndexSize",
           summary="How many candidates and vacancies matching's index holds")
    def index_size(self, request):
        return reply(200, self.matching.index_size())
