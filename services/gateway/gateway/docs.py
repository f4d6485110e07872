"""The API's description: the OpenAPI document and a page that renders it.

``GET /v1/openapi.json`` is built once per process (``gateway.openapi.document``) and
served as the same bytes after. ``GET /v1/docs`` is a page of werkbrug's own that renders
it with Redoc, vendored under ``static/docs/vendor/`` (``make docs-vendor``, pinned in
``services/gateway/docs-ui/package-lock.json``), so it loads nothing from outside werkbrug.
"""

from __future__ import annotations

import functools
import json
import mimetypes
from pathlib import Path

from werkzeug.wrappers import Response

from gateway import openapi
from gateway.routes import route
from werkbrug_shared.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static" / "docs"
TAG = "system"

# Redoc styles itself inline and renders its search in a worker made from a blob; the bundle's one
# outside reference, Redocly's logo on cdn.redoc.ly, is refused here (img-src) and hides itself
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8"}


def _assets() -> dict[str, Path]:
    if not STATIC.is_dir():
        return {}
    return {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}


ASSETS = _assets()


def asset(request, name: str) -> Response:
    path = ASSETS.get(name)
    if path is None:
        raise NotFound(f"no such file: {name}")
    content_type = TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = Response(path.read_bytes(), headers={"Content-Type": content_type, **PAGE_HEADERS})
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@functools.cache
def document_bytes(service_cls) -> bytes:
    return json.dumps(openapi.document(service_cls), separators=(",", ":")).encode()


class DocsRoutes:
    """Mixed into the gateway service: describes the class it is mixed into."""

    @route("GET", "/v1/openapi.json", tag=TAG, public=True, reply={"type": "object"},
           summary="This document (OpenAPI 3)")
    def openapi_document(self, request):
        body = document_bytes(type(self))
        return Response(body, status=200, headers={"Content-Type": "application/json",
                                                   "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    @route("GET", "/v1/docs", tag=TAG, public=True, media="text/html", summary="This document, to read")
    def docs_page(self, request):
        return asset(request, "index.html")

    @route("GET", "/v1/docs/static/<path:file>", tag=TAG, public=True, media="*/*",
           summary="The documentation page's script and licence")
    def docs_asset(self, request, file):
        return asset(request, file)
