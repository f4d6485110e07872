"""``@http``: nameko's HTTP entrypoint with werkbrug's credentials and errors.

The worker's unit of work commits before the response (``nameko_internals.CommitFirst``);
the partner's bearer credential becomes the same context data an RPC client
sends; werkbrug's errors are answered as JSON with their HTTP status.
"""

from __future__ import annotations

import json

from werkzeug.wrappers import Response

from werkbrug_shared.actor import CREDENTIAL, PROFESSIONAL
from werkbrug_shared.entrypoints.nameko_internals import CommitFirst, HttpRequestHandler, UnknownService, WebServer
from werkbrug_shared.errors import EXPECTED, Conflict, Forbidden, NotFound, Unauthorized, ValidationError

HTTP_STATUS = {ValidationError: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409}


class PartnerWebServer(WebServer):
    """Carries the partner's credential from HTTP into the call's context data.

    ``Authorization: Bearer <credential>`` and ``X-Werkbrug-Professional``
    become the same context data an RPC client sends, so every service behind
    the gateway checks the same credential.
    """

    def context_data_from_headers(self, request):
        data = {}
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            data[CREDENTIAL] = credential.strip()
        professional = request.headers.get("X-Werkbrug-Professional")
        if professional:
            data[PROFESSIONAL] = professional.strip()[:64]
        return data


class Http(CommitFirst, HttpRequestHandler):
    """nameko's ``@http`` that answers werkbrug's errors as JSON."""

    server = PartnerWebServer()

    def __init__(self, method, url, expected_exceptions=(), **kwargs):
        super().__init__(method, url, expected_exceptions=tuple(expected_exceptions) + EXPECTED, **kwargs)

    def response_from_exception(self, exc):
        for exc_type, status in HTTP_STATUS.items():
            if isinstance(exc, exc_type):
                body = {"error": exc_type.__name__, "message": str(exc)}
                if isinstance(exc, ValidationError):
                    body["errors"] = exc.errors
                return Response(json.dumps(body), status=status, mimetype="application/json")
        if isinstance(exc, UnknownService):  # not (yet) running, as while the system starts: worth a retry
            return Response(
                json.dumps({"error": "ServiceUnavailable", "message": f"not running: {exc}"}),
                status=503, headers={"Retry-After": "5"}, mimetype="application/json")
        return Response(
            json.dumps({"error": "InternalError", "message": "internal error"}),
            status=500,
            mimetype="application/json",
        )


http = Http.decorator
