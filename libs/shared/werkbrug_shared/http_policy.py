"""The HTTP rules every gateway route is held to (NL GOV API Design Rules, OWASP API Top 10).

- Errors are ``application/problem+json`` (RFC 9457): ``type``, ``title``, ``status``,
  ``detail``; a validation error lists ``invalidParams`` (``name``, ``reason``, as NL GOV
  does). werkbrug's own members stay as extensions: ``error`` (the error's name),
  ``message`` (= detail) and ``errors`` (field: messages).
- Before a worker is spent: 429 over the caller's rate limit (``rate_limits.py``), 413 for a
  body over ``WERKBRUG_HTTP_MAX_BODY_BYTES`` (unread), 415 for a body whose Content-Type is
  not JSON (none given counts as JSON), 406 when an API route's ``Accept`` excludes JSON.
- Headers on every response: ``API-Version``, ``X-Content-Type-Options: nosniff``, and
  ``Cache-Control: no-store`` unless the route set its own (the rule: nothing is cached
  unless its route says it may, so no route can leak personal data into a cache by
  forgetting); CORS for the origins in ``WERKBRUG_CORS_ORIGINS`` only.

All of it is a few header reads and dict look-ups per request, set up once at start.
"""

from __future__ import annotations

import json

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

API_VERSION = "1.0.0"  # the HTTP API's version (NL GOV: the full version in every response)
PROBLEM = "application/problem+json"
JSON_TYPES = ("application/json", PROBLEM)
# what a browser may send and read cross-origin
ALLOWED_HEADERS = "Authorization, Content-Type, Accept, X-Werkbrug-Professional"
EXPOSED_HEADERS = "API-Version, Retry-After, Location"
PREFLIGHT_MAX_AGE = "600"
NOT_STORED = "no-store"


def problem_type(status: int) -> str:
    """The problem's ``type``: the status's definition (werkbrug's ``error`` names the kind)."""
    if status == 429:
        return "https://www.rfc-editor.org/rfc/rfc6585#section-4"
    return f"https://www.rfc-editor.org/rfc/rfc9110#status.{status}"


def invalid_params(errors, prefix: str = "") -> list[dict]:
    """marshmallow's nested ``{field: [messages] | {...}}`` as NL GOV's ``invalidParams``:
    one ``{"name", "reason"}`` per field, nested names dotted (``address.city``, ``modules.0.code``)."""
    found = []
    items = errors.items() if isinstance(errors, dict) else [("", errors)]
    for field, messages in sorted(items, key=lambda kv: str(kv[0])):
        name = f"{prefix}{field}"
        if isinstance(messages, dict):
            found.extend(invalid_params(messages, prefix=f"{name}."))
        else:
            reason = " ".join(str(m) for m in messages) if isinstance(messages, (list, tuple)) else str(messages)
            found.append({"name": name, "reason": reason})
    return found


def problem(status: int, detail: str, error: str | None = None, errors: dict | None = None,
            headers: dict | None = None) -> Response:
    """An RFC 9457 problem; ``errors`` (field: messages) for a validation error."""
    title = HTTP_STATUS_CODES.get(status, "Error")
    body = {"type": problem_type(status), "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["invalidParams"] = invalid_params(errors)
    body["error"] = error or title.replace(" ", "")
    body["message"] = detail
    if errors is not None:
        body["errors"] = errors
    return Response(json.dumps(body), status=status, headers=headers, content_type=PROBLEM)


def from_http_exception(exc) -> Response:
    """werkzeug's HTTPException (an unknown path, a method not allowed, ...) as a problem."""
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    detail = exc.description or HTTP_STATUS_CODES.get(status, "")
    return problem(status, detail, headers=headers)


def is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def sent_content_type(environ) -> str | None:
    """The Content-Type the client sent: eventlet fills in ``text/plain`` when there was none
    (a body without one is read as JSON), so for that value its raw headers tell."""
    given = environ.get("CONTENT_TYPE")
    if given != "text/plain" or "headers_raw" not in environ:
        return given
    return next((v for k, v in environ["headers_raw"] if k.lower() == "content-type"), None)


class HttpPolicy:
    """The rules, configured once per web server: ``refuse`` before the worker, ``finish`` after."""

    def __init__(self, cors_origins=frozenset(), max_body: int = 1_048_576, rate_limits=None):
        self.cors_origins = frozenset(cors_origins)
        self.max_body = max_body
        self.rate_limits = rate_limits
        self._accepts: dict[tuple, bool] = {}

    def refuse(self, request, credential: str | None, produces: tuple[str, ...] | None) -> Response | None:
        """A problem when the request is refused before any work, else None."""
        if self.rate_limits is not None:
            wait = self.rate_limits.refused(credential, request.environ.get("REMOTE_ADDR"))
            if wait is not None:
                return problem(429, f"over this organisation's rate limit; retry after {wait} s",
                               headers={"Retry-After": str(wait)})
        environ = request.environ  # read directly: werkzeug's properties parse more than is needed here
        length = environ.get("CONTENT_LENGTH")
        length = int(length) if length and length.isdigit() else 0
        if length or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            if length > self.max_body:
                return problem(413, f"a request body is at most {self.max_body} bytes")
            mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
            if mimetype and not is_json(mimetype) and sent_content_type(environ):
                return problem(415, "a request body is JSON (Content-Type: application/json)",
                               headers={"Accept-Post": "application/json"})
        accept = environ.get("HTTP_ACCEPT")
        if produces and accept and not self._acceptable(accept, produces, request):
            return problem(406, f"this route answers {', '.join(produces)}")
        return None

    def _acceptable(self, accept: str, produces: tuple[str, ...], request) -> bool:
        # parsing an Accept header is most of this policy's cost, and clients send the same few:
        # each verdict is remembered (a bounded table, emptied when full)
        key = (accept, produces)
        verdict = self._accepts.get(key)
        if verdict is None:
            verdict = request.accept_mimetypes.best_match(produces) is not None
            if len(self._accepts) >= 512:
                self._accepts.clear()
            self._accepts[key] = verdict
        return verdict

    def preflight(self, request, methods) -> Response:
        """``OPTIONS``: 204 naming the route's methods; a CORS grant only for an allowed origin."""
        if not methods:
            return problem(404, "no such route")
        allowed = ", ".join(sorted(set(methods) | {"OPTIONS"}))
        response = Response(status=204, headers={"Allow": allowed})
        origin = request.headers.get("Origin")
        if origin is not None and origin in self.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = allowed
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response

    def finish(self, request, response: Response) -> Response:
        """The headers every response carries."""
        headers = response.headers
        present = {name.lower() for name, _ in headers}  # one pass: werkzeug's look-ups scan the list each
        if "api-version" in present:
            headers["API-Version"] = API_VERSION
        else:
            headers.add("API-Version", API_VERSION)
        if "x-content-type-options" not in present:
            headers.add("X-Content-Type-Options", "nosniff")
        if "cache-control" not in present:
            headers.add("Cache-Control", NOT_STORED)
        origin = request.environ.get("HTTP_ORIGIN")
        if origin is not None:
            response.vary.add("Origin")  # what is answered depends on it: caches keep them apart
            if origin in self.cors_origins and "access-control-allow-origin" not in present:
                headers["Access-Control-Allow-Origin"] = origin
                headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
