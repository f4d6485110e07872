"""The HTTP front door: partner operations over HTTP+JSON, mapped to RPCs.

Errors keep their meaning across the hop: a ValidationError from a service
is a 400 naming the fields, NotFound a 404, Conflict a 409.
"""

from __future__ import annotations

import json

from kombu import Connection
from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy

from werkbrug_shared import config as settings
from werkbrug_shared.entrypoints import http
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.metrics import EntrypointMetrics

JSON = {"Content-Type": "application/json"}


def json_body(request) -> dict:
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise ValidationError.from_fields("request", {"body": ["not valid JSON"]}) from None
    if not isinstance(body, dict):
        raise ValidationError.from_fields("request", {"body": ["expected a JSON object"]})
    return body


def reply(status: int, payload) -> tuple:
    return status, JSON, json.dumps(payload)


class GatewayService:
    name = "gateway"

    config = Config()
    metrics = EntrypointMetrics()
    candidates = RpcProxy("candidates")
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

    @http("GET", "/v1/outflow")
    def outflow(self, request):
        args = request.args
        return reply(200, self.reporting.outflow(cohort=args.get("cohort"), target_group=args.get("target_group")))
