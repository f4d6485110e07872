"""One declaration per route: nameko's ``@http`` and what the OpenAPI document says of it.

``@route(...)`` registers the entrypoint and leaves its description on the function
(``fn.openapi``), where ``gateway.openapi`` reads every route back from the service
class: a route cannot be served without being described, nor described without being
served. The helpers below parse a path, query or body, and nothing else: the service
behind each route validates what it is given, as it does over RPC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.replies import json_body
from werkbrug_shared.entrypoints import http
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.pagination import MAX_CURSOR, MAX_PAGE


@dataclass(frozen=True)
class Limit:
    """A page size in the query string: ``default`` when left out, at most ``maximum`` (the service's own cap)."""

    default: int
    maximum: int = MAX_PAGE


@dataclass(frozen=True)
class Doc:
    method: str
    url: str  # werkzeug's form, /v1/candidates/<string:candidate_id>
    tag: str
    summary: str
    rpc: str | None = None  # "candidates.update": the operation behind it
    status: int = 200  # on success; 204 answers no body
    body: object = None  # a marshmallow schema (class or instance), or a JSON schema dict
    query: object = None  # a marshmallow schema whose fields are query parameters
    limit: Limit | None = None
    cursor: bool = False
    reply: object = None  # a JSON schema dict, or the name of a component in gateway.openapi.REPLIES
    public: bool = False  # answered without a credential
    media: str = "application/json"
    description: str = ""
    extra: dict = field(default_factory=dict)  # more of the OpenAPI operation object, merged last

    @property
    def path(self) -> str:
        """The OpenAPI path: /v1/candidates/{candidate_id}."""
        return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", self.url)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", self.url)


def route(method: str, url: str, **doc):
    """``@http(method, url)``, described once for the OpenAPI document."""

    def decorate(fn):
        fn.openapi = described = Doc(method, url, **doc)
        if described.media == "application/json":
            return http(method, url)(fn)
        # a page or a file: the entrypoint's Accept check (406) knows what it answers; */* is unchecked
        return http(method, url, produces=() if described.media == "*/*" else (described.media,))(fn)

    return decorate


# --- parsing: the gateway's only work besides calling the RPC -------------------------------------


def _refused(field_name: str, message: str, what: str = "query") -> ValidationError:
    return ValidationError.from_fields(what, {field_name: [message]})


def query_limit(request, default: int = 10) -> int:
    """``?limit=``: a whole number; the service checks its range (its cap is documented per route)."""
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise _refused("limit", "expected a whole number")
    return int(raw)


def query_cursor(request) -> str | None:
    """``?cursor=``: the opaque ``next_cursor`` of the page before, passed back as it came."""
    raw = request.args.get("cursor")
    if raw is not None and not 0 < len(raw) <= MAX_CURSOR:
        raise _refused("cursor", "not a cursor this service gave out")
    return raw


def flag(raw: str, name: str) -> bool:
    if raw not in ("true", "false"):
        raise _refused(name, "expected true or false")
    return raw == "true"


def query_filters(request, names, flags=()) -> dict:
    """The named query parameters that were given; ``flags`` are true/false."""
    filters = {}
    for name in names:
        raw = request.args.get(name)
        if raw is None:
            continue
        filters[name] = flag(raw, name) if name in flags else raw
    return filters


def body_fields(request, allowed: tuple[str, ...], what: str) -> dict:
    """A JSON object whose members become an RPC's arguments: one the RPC does not take is refused
    (left out silently, a caller would believe it was stored)."""
    body = json_body(request)
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        raise ValidationError.from_fields(what, {k: ["unknown field"] for k in unknown})
    return body
