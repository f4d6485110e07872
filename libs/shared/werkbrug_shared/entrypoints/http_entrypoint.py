"""``@http``: nameko's HTTP entrypoint with werkbrug's credentials, errors and HTTP rules.

The worker's unit of work commits before the response (``nameko_internals.CommitFirst``);
the partner's bearer credential becomes the same context data an RPC client
sends; errors are answered as ``application/problem+json`` with their HTTP status;
every route is held to ``http_policy.HttpPolicy`` (rate limits, body and type checks,
headers, CORS) by the web server, before and after its worker.
"""

from __future__ import annotations

from werkbrug_shared import config as settings
from werkbrug_shared.actor import CREDENTIAL, PROFESSIONAL
from werkbrug_shared.entrypoints.nameko_internals import (
    BadRequest,
    CommitFirst,
    HTTPException,
    HttpRequestHandler,
    Request,
    UnknownService,
    WebServer,
    WsgiApp,
)
from werkbrug_shared.errors import EXPECTED, Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from werkbrug_shared.http_policy import JSON_TYPES, HttpPolicy, from_http_exception, problem
from werkbrug_shared.rate_limits import RateLimits

HTTP_STATUS = {ValidationError: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409}
API_PREFIX = "/v1/"  # its routes answer JSON: an Accept without it is 406


def bearer(request) -> str | None:
    scheme, _, credential = request.environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


class PolicyWsgiApp(WsgiApp):
    """nameko's ``WsgiApp`` with werkbrug's HTTP rules around every route: problems for an
    unknown path or method, preflights answered here, refusals before a worker is spent,
    and the headers every response carries."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)  # as nameko's: the body is read by the route only
        policy = self.server.policy
        adapter = self.url_map.bind_to_environ(environ)
        try:
            if request.method == "OPTIONS":
                response = policy.preflight(request, adapter.allowed_methods())
            else:
                provider, values = adapter.match()
                request.path_values = values
                response = (policy.refuse(request, bearer(request), getattr(provider, "produces", None))
                            or provider.handle_request(request))
        except HTTPException as exc:
            response = from_http_exception(exc)
        return policy.finish(request, response)(environ, start_response)


class PartnerWebServer(WebServer):
    """Carries the partner's credential from HTTP into the call's context data, and holds
    every route to the HTTP rules (``http_policy``), configured once at start.

    ``Authorization: Bearer <credential>`` and ``X-Werkbrug-Professional``
    become the same context data an RPC client sends, so every service behind
    the gateway checks the same credential.
    """

    policy = HttpPolicy()

    def setup(self):
        super().setup()
        config = self.container.config
        limits = RateLimits(self.container.service_name, settings.rate_limit(config),
                            settings.rate_limit_organisations(config), settings.gateway_replicas(config))
        self.policy = HttpPolicy(settings.cors_origins(config), settings.http_max_body_bytes(config), limits)

    def get_wsgi_app(self):
        return PolicyWsgiApp(self)

    def context_data_from_headers(self, request):
        data = {}
        credential = bearer(request)
        if credential:
            data[CREDENTIAL] = credential
        professional = request.headers.get("X-Werkbrug-Professional")
        if professional:
            data[PROFESSIONAL] = professional.strip()[:64]
        return data


class Http(CommitFirst, HttpRequestHandler):
    """nameko's ``@http`` that answers werkbrug's errors as problem details.

    ``produces``: the media types the route answers, for the ``Accept`` check (406);
    by default JSON for routes under ``/v1/``, unchecked elsewhere (the board's page)."""

    server = PartnerWebServer()

    def __init__(self, method, url, expected_exceptions=(), produces=None, **kwargs):
        super().__init__(method, url, expected_exceptions=tuple(expected_exceptions) + EXPECTED, **kwargs)
        if produces is None and url.startswith(API_PREFIX):
            produces = JSON_TYPES
        self.produces = tuple(produces) if produces else None

    def response_from_exception(self, exc):
        for exc_type, status in HTTP_STATUS.items():
            if isinstance(exc, exc_type):
                errors = exc.errors if isinstance(exc, ValidationError) else None
                return problem(status, str(exc), exc_type.__name__, errors=errors)
        if isinstance(exc, UnknownService):  # not (yet) running, as while the system starts: worth a retry
            return problem(503, f"not running: {exc}", "ServiceUnavailable", headers={"Retry-After": "5"})
        if isinstance(exc, HTTPException):  # werkzeug's, e.g. a body over the request's own limit
            return from_http_exception(exc)
        if isinstance(exc, BadRequest):  # nameko's: arguments that do not fit the route
            return problem(400, "bad request", "BadRequest")
        return problem(500, "internal error", "InternalError")


http = Http.decorator
