"""The gateway's board routes against a fake reporting service, and the vendored chart library."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from nameko.cli.run import import_service
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.board import ASSETS, STATIC, BoardRoutes
from gateway.service import GatewayService
from werkbrug_shared.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]
BOARD_UI = ROOT / "services" / "gateway" / "board-ui"

BOARD = {
    "version": 7, "as_of": "2026-11-23T09:15:00+00:00",
    "totals": {"enrolled": 18, "placed": 14, "outflow_rate": 0.7778, "median_days_to_placement": 61,
               "ended_early": "< 5", "sustained_6m_rate": None, "sustained_12m_rate": None},
    "by_target_group": [], "by_cohort": [], "trend": [], "targets": [], "aftercare": [], "fairness": [],
}


class FakeReporting:
    def __init__(self):
        self.calls = []

    def board(self):
        self.calls.append("board")
        return BOARD

    def board_version(self):
        self.calls.append("board_version")
        return {"version": BOARD["version"]}


class Gateway(BoardRoutes):
    def __init__(self):
        self.reporting = FakeReporting()


def request(path: str = "/", **headers) -> Request:
    return Request(EnvironBuilder(path=path, headers=headers).get_environ())


def test_the_json_routes_are_reportings_rpcs_as_they_are():
    gateway = Gateway()
    board = gateway.board(request("/v1/board"))
    version = gateway.board_version(request("/v1/board/version"))
    assert json.loads(board.get_data()) == BOARD
    assert json.loads(version.get_data()) == {"version": 7}
    assert gateway.reporting.calls == ["board", "board_version"]
    for response in (board, version):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_page_and_its_assets_with_their_types_and_a_strict_content_policy():
    gateway = Gateway()
    page = gateway.board_page(request("/board"))
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert '<html lang="nl">' in page.get_data(as_text=True)
    assert gateway.board_asset(request(), "board.js").headers["Content-Type"].startswith("text/javascript")
    assert gateway.board_asset(request(), "board.css").headers["Content-Type"].startswith("text/css")
    chart = gateway.board_asset(request(), "vendor/chart.umd.min.js")
    assert chart.status_code == 200 and chart.get_data().startswith(b"/*!\n * Chart.js v4")


def test_an_unchanged_asset_is_answered_304_on_its_etag():
    gateway = Gateway()
    first = gateway.board_asset(request(), "board.js")
    again = gateway.board_asset(request(**{"If-None-Match": first.headers["ETag"]}), "board.js")
    assert again.status_code == 304  # werkzeug sends no body with it


@pytest.mark.parametrize("name", ["../board.py", "../../service.py", "/etc/passwd", "nothing.js", ""])
def test_only_the_board_folder_is_served(name):
    with pytest.raises(NotFound):
        Gateway().board_asset(request(), name)


def test_the_gateway_service_serves_the_board_and_nameko_run_finds_only_it():
    for method in ("board_page", "board_asset", "board", "board_version"):
        assert getattr(GatewayService, method).nameko_entrypoints
    assert import_service("gateway.service") == [GatewayService]


def test_the_page_loads_nothing_from_outside_werkbrug():
    for name in ("index.html", "board.js", "board.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text), f"{name} loads from elsewhere"
        assert not re.search(r"fetch\(\s*[\"'](?:https?:)?//", text), f"{name} fetches from elsewhere"
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:src|href)="board/static/([^"]+)"', html):
        assert ref in ASSETS, f"index.html refers to {ref}, which is not served"


def test_the_vendored_chart_library_is_the_locked_version_with_its_licence():
    lock = json.loads((BOARD_UI / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/chart.js"]["version"]
    assert json.loads((BOARD_UI / "package.json").read_text())["dependencies"]["chart.js"] == version, "pinned"
    vendored = (STATIC / "vendor" / "chart.umd.min.js").read_bytes()
    assert vendored.startswith(f"/*!\n * Chart.js v{version}\n".encode())
    assert "MIT" in (STATIC / "vendor" / "chart.js.LICENSE.md").read_text()
    installed = BOARD_UI / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
    if installed.exists():  # after `make board-vendor`: the committed copy is exactly npm's file
        assert installed.read_bytes() == vendored
