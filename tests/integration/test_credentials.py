"""Credentials a region runs itself, across running services, without a restart.

A system of its own, its registry a file of this test's (``WERKBRUG_PARTNERS_FILE``), every
service a real ``nameko run`` process. Credentials are issued, revoked and rotated with the
``werkbrug partners`` command, as an operator would, while the services run: each service
re-reads the file when it changes, so within seconds a new credential works over RPC (in
candidates, vacancies and aftercare) and over HTTP through the gateway, and a revoked, an
expired or a rotated-out one is refused (Unauthorized, HTTP 401) by every one of them.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.integration.conftest import _require_infrastructure
from tests.integration.harness import ROOT, System, eventually
from werkbrug_shared.errors import Unauthorized

SERVICES = ("candidates", "vacancies", "aftercare", "gateway")
SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
WITHIN = 20  # seconds; the services look at the file about once a second


def werkbrug_partners(registry, *argv) -> str:
    """The operator's command; its standard output (a new credential, or the listing)."""
    done = subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", "partners", *argv, "--file", str(registry)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def credential_id(registry, secret: str) -> str:
    from werkbrug_shared.partner_registry import load, sha256_of

    return load(registry).by_sha256[sha256_of(secret)][1].id


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    """The running system, its registry file, and what its first partner made (ids to ask for)."""
    _require_infrastructure()
    registry = tmp_path_factory.mktemp("registry") / "partners.yml"
    first = werkbrug_partners(registry, "add", "gemeente-almelo", "--name", "Gemeente Almelo", "--kind",
                              "municipality", "--region", "Twente", "--roles", "all", "--days", "30")
    system = System(extra_env={"WERKBRUG_PARTNERS_FILE": str(registry)})
    try:
        system.create()
        for service in SERVICES:
            system.spawn(service)
        for service in SERVICES:
            system.wait_ready(service)
        tag = uuid.uuid4().hex[:8]
        with system.rpc(first) as almelo:
            made = {
                "candidate": almelo.candidates.register({
                    "given_name": "Cred", "family_name": "Proef", "region": f"cred-{tag}", "postcode": "7607 AB",
                    "target_groups": ["bijstand"], "skills": [SKILL], "hours_per_week": 24})["id"],
                "employer": almelo.vacancies.register_employer(
                    {"name": f"Werkgever {tag}", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}",
                     "region": "Twente"})["id"],
                "region": f"cred-{tag}",
            }
        yield system, registry, first, made
    finally:
        system.destroy()


def answers(system, made, proxy, credential: str) -> dict[str, str]:
    """What each service answers this credential: "ok", or the refusal."""
    calls = {
        "candidates": lambda: proxy.candidates.get(made["candidate"]),
        "vacancies": lambda: proxy.vacancies.get_employer(made["employer"]),
        "aftercare": lambda: proxy.aftercare.jobcoaches(made["region"]),
    }
    found = {}
    for service, call in calls.items():
        try:
            call()
            found[service] = "ok"
        except Unauthorized as exc:
            found[service] = f"Unauthorized: {exc}"
    response = system.http("GET", f"/v1/candidates/{made['candidate']}",
                           headers={"Authorization": f"Bearer {credential}"})
    found["gateway"] = "ok" if response.status_code == 200 else f"HTTP {response.status_code}"
    return found


def works_everywhere(system, made, proxy, credential):
    got = answers(system, made, proxy, credential)
    assert set(got.values()) == {"ok"}, got
    return got


def refused_everywhere(system, made, proxy, credential, why: str):
    got = answers(system, made, proxy, credential)
    assert got["gateway"] == "HTTP 401", got
    assert all(got[s].startswith("Unauthorized") and why in got[s] for s in SERVICES if s != "gateway"), got
    return got


def test_a_credential_added_while_the_services_run_works_and_revoked_is_refused_by_each(region):
    system, registry, _, made = region
    new = werkbrug_partners(registry, "add", "gemeente-almelo", "--roles", "klantmanager,jobhunter,coordinator",
                            "--days", "7")
    assert new not in registry.read_text()
    with system.rpc(new) as proxy:
        eventually(lambda: works_everywhere(system, made, proxy, new), timeout=WITHIN,
                   what="every service to take the new credential")
        werkbrug_partners(registry, "revoke", credential_id(registry, new))
        eventually(lambda: refused_everywhere(system, made, proxy, new, "revoked"), timeout=WITHIN,
                   what="every service to refuse the revoked credential")


def test_rotated_the_new_credential_works_and_the_old_is_refused_by_each(region):
    system, registry, _, made = region
    old = werkbrug_partners(registry, "add", "gemeente-almelo", "--roles", "klantmanager,jobhunter,coordinator",
                            "--days", "7")
    with system.rpc(old) as old_proxy:
        eventually(lambda: works_everywhere(system, made, old_proxy, old), timeout=WITHIN,
                   what="every service to take the credential")
        new = werkbrug_partners(registry, "rotate", credential_id(registry, old))
        with system.rpc(new) as new_proxy:
            eventually(lambda: works_everywhere(system, made, new_proxy, new), timeout=WITHIN,
                       what="every service to take the rotated credential")
        eventually(lambda: refused_everywhere(system, made, old_proxy, old, "revoked"), timeout=WITHIN,
                   what="every service to refuse the credential rotated out")
    listed = werkbrug_partners(registry, "list")
    assert old not in listed and new not in listed
    assert f"{credential_id(registry, old)}" in listed and f"{credential_id(registry, new)}" in listed


def test_a_credential_already_expired_is_refused_by_each(region):
    system, registry, first, made = region
    expired = werkbrug_partners(registry, "add", "gemeente-almelo", "--roles", "all", "--expires", "2020-01-31")
    with system.rpc(expired) as proxy:
        eventually(lambda: refused_everywhere(system, made, proxy, expired, "expired"), timeout=WITHIN,
                   what="every service to know the credential, and refuse it as expired")
    with system.rpc(first) as proxy:  # the others stay
        works_everywhere(system, made, proxy, first)
