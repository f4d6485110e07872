"""The HTTP front door: partner operations over HTTP+JSON, mapped to RPCs.

Each service's routes are a mixin of their own module (candidates, vacancies, matching,
aftercare, figures for reporting, the board page); each route is declared once with
``gateway.routes.route``, which also describes it in the OpenAPI document served at
``GET /v1/openapi.json`` (``gateway.docs``, with its page at ``GET /v1/docs``).

Errors keep their meaning across the hop: a ValidationError from a service
is a 400 naming the fields, NotFound a 404, Conflict a 409.
"""

from __future__ import annotations

from kombu import Connection
from nameko.dependency_providers import Config

from gateway import accountability, aftercare, board, candidates, consent, docs, feed, figures, matching, vacancies
from gateway.replies import reply
from gateway.routes import query_filters, query_limit, route
from werkbrug_shared import config as settings
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.metrics import EntrypointMetrics

__all__ = ["GatewayService", "query_filters", "query_limit"]


class GatewayService(candidates.CandidateRoutes, vacancies.VacancyRoutes, matching.MatchingRoutes,
                     aftercare.AftercareRoutes, figures.FigureRoutes, board.BoardRoutes, docs.DocsRoutes,
                     feed.FeedRoutes, accountability.AccountabilityRoutes, consent.ConsentRoutes):
    """Partner operations over HTTP, a mixin of routes per service; the regional board's page and
    the API's own description besides."""

    name = "gateway"

    config = Config()
    metrics = EntrypointMetrics()
    reporting = RpcProxy("reporting")

    @route("GET", "/health", tag="system", public=True, reply="Health",
           summary="Alive, and whether the broker answers", extra={"responses": {"503": {
               "description": "the broker does not answer",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}})
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
