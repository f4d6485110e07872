"""The HTTP rules against the running gateway (issue 18): problem details, statuses, headers,
CORS, rate limits and page-size caps; a refused request writes nothing.

The shared system has no CORS origins and the default rate limit; a small system of its
own (the gateway and candidates) has an allowed origin and a bucket of 3 refilled once
per 1,000 s, so what is refused does not depend on the hour or the machine's speed.
"""

from __future__ import annotations

import json
import random
import uuid

import pytest
import requests

from tests.integration.harness import System
from werkbrug_shared.http_policy import API_VERSION
from werkbrug_shared.pagination import MAX_PAGE

PROBLEM = "application/problem+json"
PORTAL = "https://portaal.example.nl"
SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"


def person(region: str, **extra) -> dict:
    return {"given_name": "Fatima", "family_name": "El Amrani", "region": region, "postcode": "7512 AB",
            "target_groups": ["statushouder"], "skills": [SKILL], "hours_per_week": 24, **extra}


def new_bsn() -> str:
    """A random number that passes the elfproef (unique enough: a BSN registers once system-wide)."""
    while True:
        head = f"{random.randint(10**7, 10**8 - 1):08d}"
        check = sum(w * int(d) for w, d in zip(range(9, 1, -1), head, strict=True)) % 11
        if check < 10:
            return head + str(check)


def candidates_in(system, region: str) -> int:
    return system.sql("candidates", "SELECT count(*) FROM candidates WHERE region = %s", region)[0][0]


def cors_headers(response) -> list[str]:
    return [h for h in response.headers if h.lower().startswith("access-control-")]


def assert_problem(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"] and body["detail"] == body["message"]
    if error:
        assert body["error"] == error
    return body


def test_errors_are_problem_details_naming_the_invalid_fields(system):
    region = f"policy-{uuid.uuid4().hex[:6]}"
    refused = system.http("POST", "/v1/candidates", json={**person(region), "family_name": None, "status": "placed"})
    body = assert_problem(refused, 400, "ValidationError")
    named = {p["name"] for p in body["invalidParams"]}
    assert {"family_name", "status"} <= named and {"family_name", "status"} <= set(body["errors"])
    assert all(p["reason"] for p in body["invalidParams"])
    assert_problem(system.http("GET", "/v1/candidates/nope", anonymous=True), 401, "Unauthorized")
    assert_problem(system.http("POST", "/v1/candidates", json=person(region),
                               headers={"Authorization": "Bearer dev-gemeente-enschede-board"}), 403, "Forbidden")
    assert_problem(system.http("GET", "/v1/candidates/nope"), 404, "NotFound")
    assert_problem(system.http("GET", "/v1/no/such/route"), 404)
    bsn = new_bsn()
    assert system.http("POST", "/v1/candidates", json=person(region, bsn=bsn)).status_code == 201
    assert_problem(system.http("POST", "/v1/candidates", json=person(region, bsn=bsn)), 409, "Conflict")
    assert candidates_in(system, region) == 1


def test_bodies_too_large_or_not_json_and_accepts_without_json_are_refused_writing_nothing(system):
    region = f"policy-{uuid.uuid4().hex[:6]}"
    too_large = json.dumps({**person(region), "padding": "x" * (1 << 20)})
    assert_problem(system.http("POST", "/v1/candidates", data=too_large,
                               headers={"Content-Type": "application/json"}), 413)
    assert_problem(system.http("POST", "/v1/candidates", data=json.dumps(person(region)),
                               headers={"Content-Type": "text/plain"}), 415)
    assert_problem(system.http("POST", "/v1/candidates", data={"given_name": "Fatima"}), 415)
    assert_problem(system.http("POST", "/v1/candidates", json=person(region), headers={"Accept": "text/xml"}), 406)
    assert_problem(system.http("POST", "/v1/candidates", data="[" * 100_000,
                               headers={"Content-Type": "application/json"}), 400)
    assert_problem(system.http("POST", "/v1/candidates", json=[person(region)]), 400)
    assert candidates_in(system, region) == 0
    # what passes: JSON, a body without a type (read as JSON), an Accept naming problem details
    assert system.http("POST", "/v1/candidates", data=json.dumps(person(region))).status_code == 201
    assert system.http("POST", "/v1/candidates", json=person(region),
                       headers={"Accept": "application/problem+json, application/json"}).status_code == 201
    assert candidates_in(system, region) == 2


def test_every_response_carries_the_version_nosniff_and_no_store(system):
    for response in (system.http("GET", "/v1/targets"), system.http("GET", "/v1/candidates/nope"),
                     system.http("GET", "/v1/no/such/route"), system.http("GET", "/health"),
                     system.http("POST", "/v1/candidates", data="x", headers={"Content-Type": "text/plain"})):
        assert response.headers["API-Version"] == API_VERSION
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_an_origin_not_allowed_gets_no_cors_grant(system):
    other = system.http("GET", "/v1/targets", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200 and cors_headers(other) == []
    preflight = system.http("OPTIONS", "/v1/candidates", anonymous=True, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and cors_headers(preflight) == []


def test_every_list_refuses_a_page_over_the_cap_naming_limit(system):
    """Every GET in the OpenAPI document that takes ``limit``: one over MAX_PAGE is a 400 naming it."""
    document = system.http("GET", "/v1/openapi.json")
    assert document.status_code == 200, document.text
    lists = [(path, op) for path, ops in document.json()["paths"].items() for method, op in ops.items()
             if method == "get" and any(p.get("name") == "limit" for p in op.get("parameters", []))]
    assert len(lists) >= 3
    for path, _ in lists:
        url = path.replace("{", "").replace("}", "")  # each path parameter's name as its value: never found
        refused = system.http("GET", url, params={"limit": MAX_PAGE + 1})
        body = assert_problem(refused, 400, "ValidationError")
        assert "limit" in body["errors"], (path, body)


@pytest.fixture(scope="module")
def limited():
    """The gateway and candidates, allowing PORTAL, with a bucket of 3 per organisation."""
    system = System(extra_env={"WERKBRUG_RATE_LIMIT": "0.001,3", "WERKBRUG_CORS_ORIGINS": PORTAL})
    try:
        system.create()
        system.start("candidates")
        system.start("gateway")
        yield system
    finally:
        system.destroy()


def test_an_allowed_origin_gets_cors_and_its_preflights(limited):
    preflight = limited.http("OPTIONS", "/v1/candidates/some-id", anonymous=True, headers={
        "Origin": PORTAL, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == PORTAL
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    allowed = limited.http("GET", "/v1/candidates/nope", anonymous=True, headers={"Origin": PORTAL})
    assert allowed.headers["Access-Control-Allow-Origin"] == PORTAL and "Origin" in allowed.headers["Vary"]
    other = limited.http("GET", "/v1/candidates/nope", anonymous=True, headers={"Origin": "https://evil.example"})
    assert cors_headers(other) == []


def test_over_its_rate_limit_an_organisation_gets_429_and_retry_after_writing_nothing(limited):
    region = f"policy-{uuid.uuid4().hex[:6]}"
    for _ in range(3):
        assert limited.http("GET", "/v1/candidates/nope").status_code == 404
    refused = limited.http("POST", "/v1/candidates", json=person(region))
    body = assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 1000 and body["error"] == "TooManyRequests"
    assert candidates_in(limited, region) == 0
    assert limited.metric("gateway", "werkbrug_http_rate_limited_total", organisation="gemeente-enschede") == 1
    # another organisation has its own bucket
    soweco = limited.http("GET", "/v1/candidates/nope", headers={"Authorization": "Bearer dev-soweco"})
    assert soweco.status_code in (403, 404)


def test_the_metrics_name_no_address(limited):
    text = requests.get(limited.metrics_url("gateway"), timeout=5).text
    refusals = [line for line in text.splitlines() if line.startswith("werkbrug_http_rate_limited_total{")]
    assert refusals and not any("127.0.0.1" in line for line in refusals)
