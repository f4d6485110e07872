"""The API documentation page: werkbrug's own page, its script vendored with its licence, nothing
from outside werkbrug, and the files the image needs named as package data."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.docs import ASSETS, STATIC, DocsRoutes
from werkbrug_shared.errors import NotFound

GATEWAY = Path(__file__).resolve().parents[2] / "services" / "gateway"


def request(**headers) -> Request:
    return Request(EnvironBuilder(path="/v1/docs", headers=headers).get_environ())


def test_the_page_loads_only_werkbrugs_own_files():
    page = DocsRoutes().docs_page(request())
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert 'spec-url="/v1/openapi.json"' in html
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "https:" not in policy


def test_the_vendored_script_is_served_with_its_licence():
    script = DocsRoutes().docs_asset(request(), "vendor/redoc.standalone.js")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "vendor/redoc.standalone.js.LICENSE.txt" in ASSETS
    licence = (STATIC / "vendor" / "redoc.standalone.js.LICENSE.txt").read_text()
    assert "MIT" in licence and "Redocly" in licence
    again = DocsRoutes().docs_asset(request(**{"If-None-Match": script.headers["ETag"]}), "vendor/redoc.standalone.js")
    assert again.status_code == 304


@pytest.mark.parametrize("name", ["../openapi.py", "nothing.js", "/etc/passwd"])
def test_nothing_else_is_reachable(name):
    with pytest.raises(NotFound):
        DocsRoutes().docs_asset(request(), name)


def test_the_version_is_pinned_and_the_files_are_package_data():
    package = (GATEWAY / "docs-ui" / "package.json").read_text()
    assert re.search(r'"redoc": "\d+\.\d+\.\d+"', package), "an exact version, as the lock file has it"
    assert (GATEWAY / "docs-ui" / "package-lock.json").is_file()
    data = tomllib.loads((GATEWAY / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gateway"]
    assert {"static/docs/*", "static/docs/vendor/*"} <= set(data)
