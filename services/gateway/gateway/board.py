"""The regional board's page: one HTML page, its assets, and two JSON routes.

The page (``GET /board``) polls ``GET /v1/board/version`` about three times a
second and fetches ``GET /v1/board`` only when the version moved, so a
placement shows within a second without holding a worker per open page (a
server-sent event stream would pin one of the gateway's few nameko workers
for as long as the page is open). Both JSON routes are reporting's RPCs as they are:
aggregates only, small groups already shown as "< 5" by reporting.

Assets are files under ``static/board/``; the chart library is vendored
there (``vendor/``, see ``services/gateway/board-ui/``), so the page needs
nothing from outside werkbrug.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

from werkzeug.wrappers import Response

from gateway.routes import route
from werkbrug_shared.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static" / "board"

# Only what the page needs from the browser: its own scripts, styles and JSON.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def _assets() -> dict[str, Path]:
    """Every servable file by its path under ``static/board`` (nothing else is reachable)."""
    return {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}


ASSETS = _assets()


def file_response(request, name: str) -> Response:
    path = ASSETS.get(name)
    if path is None:
        raise NotFound(f"no such file: {name}")
    content_type = TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = Response(path.read_bytes(), headers={"Content-Type": content_type, **SECURITY_HEADERS})
    # revalidate every time (cheap: a 304 on the ETag), so a new release shows at once
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


def json_reply(payload) -> Response:
    return Response(json.dumps(payload), status=200, headers={
        "Content-Type": "application/json", "Cache-Control": "no-store", **SECURITY_HEADERS,
    })


class BoardRoutes:
    """Mixed into the gateway service, which provides ``self.reporting``."""

    @route("GET", "/board", tag="board", public=True, media="text/html", summary="The regional board's page")
    def board_page(self, request):
        return file_response(request, "index.html")

    @route("GET", "/board/static/<path:file>", tag="board", public=True, media="*/*",
           summary="The board page's scripts, styles and images")
    def board_asset(self, request, file):
        return file_response(request, file)

    @route("GET", "/v1/board", tag="reporting", rpc="reporting.board", public=True, reply="Board",
           summary="The regional board's figures, small groups suppressed")
    def board(self, request):
        return json_reply(self.reporting.board())

    @route("GET", "/v1/board/version", tag="reporting", rpc="reporting.board_version", public=True,
           reply="BoardVersion", summary="The read models' version: fetch the board when it moved")
    def board_version(self, request):
        return json_reply(self.reporting.board_version())
