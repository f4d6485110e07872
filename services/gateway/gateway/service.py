"""The HTTP front door: partner operations over HTTP+JSON, mapped to RPCs.

Errors keep their meaning across the hop: a ValidationError from a service
is a 400 naming the fields, NotFound a 404, Conflict a 409.
"""

from __future__ import annotations

from kombu import Connection
from nameko.dependency_providers import Config

from gateway import aftercare, board, figures
from gateway.replies import json_body, reply
from werkbrug_shared import config as settings
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.entrypoints import http
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.metrics import EntrypointMetrics


def query_limit(request, default: int = 10) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit():
        raise ValidationError.from_fields("query", {"limit": ["expected a whole number"]})
    return int(raw)


def query_filters(request, names, flags=()) -> dict:
    """Ranking filters from the query string; ``flags`` are true/false."""
    filters = {}
    for name in names:
        raw = request.args.get(name)
        if raw is None:
            continue
        if name in flags:
            if raw not in ("true", "false"):
                raise ValidationError.from_fields("query", {name: ["expected true or false"]})
            filters[name] = raw == "true"
        else:
            filters[name] = raw
    return filters


class GatewayService(board.BoardRoutes, figures.FigureRoutes, aftercare.AftercareRoutes):
    """Partner operations over HTTP; the regional board's page, reporting's figures and aftercare's
    routes are mixed in."""

    name = "gateway"

    config = Config()
    metrics = EntrypointMetrics()
    candidates = RpcProxy("candidates")
    matching = RpcProxy("matching")
    reporting = RpcProxy("reporting")

    @http("GET", "/health")
    def health(self, request):
        """Alive, and whether the broker answers (the gateway is useless without it)."""
        try:
            with Connection(settings.amqp_uri(self.config), connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
            broker = "ok"
        except Exception:
            broker = "unreachable"
        status = 200 if broker == "ok" else 503
        return reply(status, {"status": "ok" if status == 200 else "degraded", "broker": broker})

    @http("POST", "/v1/candidates")
    def register_candidate(self, request):
        return reply(201, self.candidates.register(json_body(request)))

    @http("GET", "/v1/candidates/<string:candidate_id>")
    def get_candidate(self, request, candidate_id):
        return reply(200, self.candidates.get(candidate_id))

    # --- matching ----------------------------------------------------------------------------

    @http("GET", "/v1/vacancies/<string:vacancy_id>/candidates")
    def candidates_for_vacancy(self, request, vacancy_id):
        filters = query_filters(request, ("region", "target_group", "cohort", "banenafspraak"), ("banenafspraak",))
        return reply(200, self.matching.candidates_for_vacancy(vacancy_id, query_limit(request), filters))

    @http("GET", "/v1/candidates/<string:candidate_id>/vacancies")
    def vacancies_for_candidate(self, request, candidate_id):
        filters = query_filters(request, ("region", "is_leerwerkbaan", "visibility", "banenafspraak_suitable"),
                                ("is_leerwerkbaan", "banenafspraak_suitable"))
        return reply(200, self.matching.vacancies_for_candidate(candidate_id, query_limit(request), filters))

    @http("GET", "/v1/candidates/<string:candidate_id>/occupations")
    def suggest_occupations(self, request, candidate_id):
        return reply(200, self.matching.suggest_occupations(candidate_id, query_limit(request)))

    @http("POST", "/v1/matches")
    def propose(self, request):
        body = json_body(request)
        return reply(201, self.matching.propose(body.get("candidate_id"), body.get("vacancy_id")))

    @http("POST", "/v1/matches/<string:match_id>/introduction")
    def introduce(self, request, match_id):
        return reply(200, self.matching.introduce(match_id, json_body(request).get("note")))

    @http("POST", "/v1/matches/<string:match_id>/rejection")
    def reject(self, request, match_id):
        body = json_body(request)
        return reply(200, self.matching.reject(match_id, body.get("reason"), body.get("note")))

    @http("POST", "/v1/placements")
    def record_placement(self, request):
        return reply(201, self.matching.record_placement(json_body(request)))

    @http("POST", "/v1/placements/<string:placement_id>/end")
    def end_placement(self, request, placement_id):
        body = json_body(request)
        return reply(200, self.matching.end_placement(placement_id, body.get("end_date"), body.get("reason")))

    @http("GET", "/v1/matching/fairness")
    def fairness(self, request):
        return reply(200, self.matching.fairness())
