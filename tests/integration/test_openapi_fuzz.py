"""schemathesis against the running gateway: every operation in /v1/openapi.json, thousands of
generated requests (valid and invalid), 0 server errors and 0 answers the document does not
describe (status, content type, body schema).

A werkbrug of its own (tests/integration/harness.py's System: private vhost and databases),
because the fuzzer registers candidates, opens vacancies and erases what it finds, and the
shared test system's figures must stay the other tests'. Its rate limit is off: the fuzzer is
one organisation sending as fast as it can, and 429s would only hide what lies behind them.
The fuzzer calls as a partner with every role (dev-gemeente-enschede), so it reaches each
operation's work, not only its refusals. The seed is fixed, so a failure found here is found
again by running this test; the counts are printed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.integration.harness import System

CREDENTIAL = "dev-gemeente-enschede"
MIN_REQUESTS = 5000
# generated requests per operation in the fuzzing phase; the coverage phase adds its own (about
# 3,700 for the 75 operations of December 2026): together over MIN_REQUESTS, which the test checks
MAX_EXAMPLES = 22
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")


@pytest.fixture(scope="module")
def fuzzed_system():
    system = System(extra_env={"WERKBRUG_RATE_LIMIT": "off"})
    try:
        system.create()
        system.start_all()
        yield system
    finally:
        system.destroy()


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is not installed (requirements-dev.txt)"
    return [found]


def test_the_gateway_survives_thousands_of_generated_requests(fuzzed_system, tmp_path):
    base = f"http://127.0.0.1:{fuzzed_system.http_port}"
    document = requests.get(f"{base}/v1/openapi.json", timeout=30).json()
    operations = sum(1 for item in document["paths"].values() for method in item
                     if method in ("get", "put", "post", "patch", "delete"))
    report = tmp_path / "report.json"
    ran = subprocess.run(
        [*schemathesis_command(), "run", f"{base}/v1/openapi.json",
         "--checks", ",".join(CHECKS), "--max-examples", str(MAX_EXAMPLES), "--seed", "20261206",
         "--phases", "examples,coverage,fuzzing", "--workers", "2", "--no-shrink", "--request-timeout", "30",
         "--header", f"Authorization: Bearer {CREDENTIAL}", "--header", "X-Werkbrug-Professional: fuzzer",
         "--suppress-health-check", "all", "--report", "json", "--report-json-path", str(report),
         "--warnings", "off"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800,
    )
    out = ran.stdout + ran.stderr
    summary = json.loads(report.read_text()) if report.exists() else {}
    requests_sent, server_errors, failures = counts(summary)
    print(f"\nschemathesis: {operations} operations, {requests_sent} requests, {server_errors} server errors, "
          f"{failures} failed checks (exit {ran.returncode})")
    assert ran.returncode == 0, out[-8000:]
    assert requests_sent >= MIN_REQUESTS, out[-3000:]
    assert server_errors == 0 and failures == 0, out[-8000:]


def counts(summary: dict) -> tuple[int, int, int]:
    """Requests sent (one a generated test case), 5xx answers and failed checks, from
    schemathesis' JSON report (its ``test_cases`` and ``failures``, schemathesis 4)."""
    sent = summary.get("test_cases", {}).get("generated", 0)
    failures = summary.get("failures", [])
    server_errors = sum(f.get("count", 0) for f in failures if f.get("code") == "ST101")
    return sent, server_errors, sum(f.get("count", 0) for f in failures) + len(summary.get("errors", []))
