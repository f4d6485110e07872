"""A partner's day over HTTP only: every step a gateway route, against every service running.

Enschede registers candidates, updates one, lists them a page at a time, writes in the logbook,
sets a plan, starts a cohort and enrols; registers an employer and opens a vacancy, adds a steward
and shortlists; reads the rankings, proposes and introduces, records the placement; the
placement's aftercare plan and tasks follow, a task is completed; the board's figures count it;
the candidate is erased. What the document promises (statuses) is checked on the way.
"""

from __future__ import annotations

import functools
import re
import uuid
from urllib.parse import urlsplit

from openapi_schema_validator import OAS30Validator, validate

from gateway.openapi import build
from gateway.service import GatewayService
from tests.integration.harness import eventually
from werkbrug_shared import refdata

ESCO_SKILLS = sorted(refdata.skills())
SKILL = ESCO_SKILLS[0]


@functools.cache
def document() -> dict:
    return build(GatewayService)


def described(method: str, path: str, status: int) -> dict:
    """The document's response for this request: its path template matched, its status."""
    for template, item in document()["paths"].items():
        pattern = "^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            responses = item[method.lower()]["responses"]
            assert str(status) in responses, f"{method} {template}: {status} is not in the document"
            return responses[str(status)]
    raise AssertionError(f"{method} {path} is not in the document")


def conforms(response) -> None:
    """The reply is what the document says it is: its status listed, its body valid against its schema."""
    request = response.request
    spec = described(request.method, urlsplit(request.url).path, response.status_code)
    if not response.content:
        return
    media = response.headers["Content-Type"].split(";")[0]
    assert media in spec["content"], (request.method, request.url, media)
    schema = spec["content"][media]["schema"]
    validate(response.json(), {**schema, "components": document()["components"]}, cls=OAS30Validator)


def ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.method} {response.request.path_url}: " \
                                           f"{response.status_code} {response.text[:500]}"
    conforms(response)
    return response.json() if response.content else None


def test_a_partners_day_over_http(system):
    http = system.http
    tag = uuid.uuid4().hex[:10]
    region = f"http-{tag}"

    # --- candidates: register three, change one, list them a page at a time --------------------
    def person(i: int) -> dict:
        return {"given_name": f"Sara{i}", "family_name": f"Bakker{tag}", "region": region, "postcode": "7512 AB",
                "target_groups": ["bijstand"], "skills": [SKILL], "hours_per_week": 32,
                "email": f"sara{i}.{tag}@example.nl"}

    ids = [ok(http("POST", "/v1/candidates", json=person(i)), 201)["id"] for i in range(3)]
    candidate_id = ids[0]
    changed = ok(http("PATCH", f"/v1/candidates/{candidate_id}", json={"hours_per_week": 24}))
    assert changed["id"] == candidate_id
    assert ok(http("GET", f"/v1/candidates/{candidate_id}"))["family_name"] == f"Bakker{tag}"

    first = ok(http("GET", f"/v1/candidates?region={region}&limit=2"))
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = ok(http("GET", "/v1/candidates", params={"region": region, "limit": 2, "cursor": first["next_cursor"]}))
    assert [c["id"] for c in first["items"] + second["items"]] == ids and second["next_cursor"] is None
    assert "family_name" not in first["items"][0], "lists never hold personal data"
    assert http("GET", "/v1/candidates?limit=201").status_code == 400, "the page size is capped"

    batch = ok(http("POST", "/v1/candidate-batches", json={"candidates": [person(9), {"region": region}]}))
    assert "id" in batch[0] and batch[1]["errors"]

    # --- logbook, plan, status, trajectory, cohort, enrolment, module ---------------------------
    written = ok(http("POST", f"/v1/candidates/{candidate_id}/logbook", json={"text": "intake gedaan"}), 201)
    assert "text" not in written
    assert [e["text"] for e in ok(http("GET", f"/v1/candidates/{candidate_id}/logbook"))] == ["intake gedaan"]
    assert ok(http("PUT", f"/v1/candidates/{candidate_id}/plan", json={"goal": "werk", "steps": ["vca"]}))[
        "steps"] == 1
    assert ok(http("PUT", f"/v1/candidates/{candidate_id}/status", json={"status": "intake"}))["status"] == "intake"
    trajectory = ok(http("POST", "/v1/trajectories", json={
        "name": f"werkfit {tag}", "weeks": 8, "modules": [{"code": "taal", "name": "Taal op de werkvloer"}]}), 201)
    cohort = ok(http("POST", "/v1/cohorts", json={"trajectory_id": trajectory["id"], "name": f"cohort-{tag}",
                                                 "start_date": "2026-09-01", "region": region}), 201)
    enrolled = ok(http("POST", f"/v1/cohorts/{cohort['id']}/enrolments", json={"candidate_id": candidate_id}), 201)
    assert enrolled["status"] == "in_trajectory"
    ok(http("POST", f"/v1/cohorts/{cohort['id']}/enrolments/{candidate_id}/completed-modules",
            json={"module_code": "taal"}), 201)
    assert ok(http("GET", f"/v1/cohorts/{cohort['id']}"))["enrolled"] == 1
    refused = http("POST", f"/v1/cohorts/{cohort['id']}/enrolments", json={"candidate_id": candidate_id, "x": 1})
    assert refused.status_code == 400 and refused.headers["Content-Type"].startswith("application/problem+json")
    conforms(refused)

    # --- employer, vacancy, steward, shortlist --------------------------------------------------
    kvk = f"{uuid.uuid4().int % 10**8:08d}"
    employer = ok(http("POST", "/v1/employers", json={"name": f"Facilitair {tag}", "kvk_number": kvk,
                                                      "region": "Twente"}), 201)
    assert ok(http("GET", f"/v1/employers/{employer['id']}"))["id"] == employer["id"]
    vacancy = ok(http("POST", "/v1/vacancies", json={
        "employer_id": employer["id"], "title": f"medewerker {tag}", "region": "Twente", "postcode": "7511 JD",
        "skills_required": [SKILL], "hours_per_week": 24, "openings": 2}), 201)
    vacancy_id = vacancy["id"]
    assert ok(http("PATCH", f"/v1/vacancies/{vacancy_id}", json={"openings": 3}))["openings"] == 3
    listed = ok(http("GET", f"/v1/vacancies?employer_id={employer['id']}"))
    assert [v["id"] for v in listed["items"]] == [vacancy_id]
    published = ok(http("GET", f"/v1/published-vacancies?employer_id={employer['id']}", anonymous=True))
    assert [v["id"] for v in published["items"]] == [vacancy_id]
    stewards = ok(http("POST", f"/v1/vacancies/{vacancy_id}/stewards",
                       json={"organisation": "uwv-twente", "professional": "werkcoach-1"}), 201)
    assert {s["organisation"] for s in stewards} >= {"uwv-twente"}
    assert ok(http("GET", f"/v1/vacancies/{vacancy_id}/stewards")) == stewards
    ok(http("POST", f"/v1/vacancies/{vacancy_id}/shortlist", json={"candidate_id": candidate_id, "note": "goed"}),
       201)
    assert [e["note"] for e in ok(http("GET", f"/v1/vacancies/{vacancy_id}/shortlist"))] == ["goed"]

    # --- aftercare's coach for this region (Enschede coaches its own placements here) ----------
    ok(http("POST", "/v1/aftercare/organisations",
            json={"name": "Jobcoaching Enschede", "coordinator_email": "nazorg@enschede.example"}), 201)
    coach = ok(http("POST", "/v1/jobcoaches", json={"name": "Mark", "email": f"mark.{tag}@enschede.example",
                                                    "regions": [region], "capacity_hours": 36}), 201)
    assert coach["id"] in {c["id"] for c in ok(http("GET", f"/v1/jobcoaches?region={region}"))}
    ok(http("PATCH", f"/v1/jobcoaches/{coach['id']}", json={"capacity_hours": 32}))

    # --- matching: rankings, proposal, introduction, placement ---------------------------------
    looked_up = http("POST", "/v1/matching/index-lookups", json={"candidate_ids": [candidate_id]})

    def ranked():
        response = http("GET", f"/v1/vacancies/{vacancy_id}/candidates?limit=50&region={region}")
        found = response.json() if response.status_code == 200 else {"results": [], "near_misses": []}
        return candidate_id in {r["id"] for r in found["results"] + found["near_misses"]}

    eventually(ranked, what="the candidate in the vacancy's ranking")
    assert ok(looked_up) is not None and ok(http("GET", "/v1/matching/index"))
    assert vacancy_id in {r["id"] for r in ok(http("GET", f"/v1/candidates/{candidate_id}/vacancies?limit=100"))[
        "results"] + ok(http("GET", f"/v1/candidates/{candidate_id}/vacancies?limit=100"))["near_misses"]}
    ok(http("GET", f"/v1/candidates/{candidate_id}/occupations?limit=5"))
    match = ok(http("POST", "/v1/matches", json={"candidate_id": candidate_id, "vacancy_id": vacancy_id}), 201)
    assert ok(http("POST", f"/v1/matches/{match['id']}/introduction", json={"note": "gesprek"}))[
        "status"] == "introduced"
    assert ok(http("GET", f"/v1/matches/{match['id']}"))["note"] == "gesprek"
    placement = ok(http("POST", "/v1/placements", json={
        "candidate_id": candidate_id, "vacancy_id": vacancy_id, "match_id": match["id"], "start_date": "2026-12-01",
        "hours_per_week": 24, "request_id": str(uuid.uuid4())}), 201)
    assert ok(http("GET", f"/v1/placements/{placement['id']}"))["status"] == placement["status"]
    assert [p["id"] for p in ok(http("GET", f"/v1/candidates/{candidate_id}/placements"))] == [placement["id"]]

    # --- aftercare: the plan and its tasks, a check-in -----------------------------------------
    def plan():
        response = http("GET", f"/v1/placements/{placement['id']}/aftercare")
        return response.json() if response.status_code == 200 else None

    made = eventually(plan, what="the placement's aftercare plan")
    assert made["jobcoach_id"] == coach["id"] and made["tasks"]
    tasks = ok(http("GET", f"/v1/jobcoaches/{coach['id']}/tasks?placement_id={placement['id']}"))
    assert [t["id"] for t in tasks] == [t["id"] for t in made["tasks"]]
    assert ok(http("GET", f"/v1/aftercare/tasks?placement_id={placement['id']}")) == tasks
    done = ok(http("POST", f"/v1/aftercare/tasks/{tasks[0]['id']}/completion",
                   json={"outcome": "going_well", "hours_spent": 1}))
    assert done["status"] != "open"
    ok(http("GET", f"/v1/jobcoaches/{coach['id']}/workload"))
    ok(http("GET", "/v1/aftercare/workload"))
    ok(http("GET", "/v1/aftercare/escalations?open_only=false"))

    # --- reporting: the placement is counted, small groups suppressed --------------------------
    eventually(lambda: ok(http("GET", f"/v1/outflow?cohort=cohort-{tag}", anonymous=True))["placed"] == "< 5",
               what="the placement in the outflow figures")
    ok(http("GET", f"/v1/durability?cohort=cohort-{tag}", anonymous=True))
    ok(http("GET", "/v1/board/version", anonymous=True))

    # --- the day's end: a vacancy closed, a candidate erased, a coach gone -----------------------
    other = ok(http("POST", "/v1/vacancies", json={
        "employer_id": employer["id"], "title": f"tweede {tag}", "region": "Twente", "postcode": "7511 JD",
        "skills_required": [SKILL], "hours_per_week": 24, "openings": 1}), 201)
    closed = ok(http("POST", f"/v1/vacancies/{other['id']}/closure", json={"reason": "withdrawn_by_employer"}))
    assert closed["status"] == "closed"
    erased = ok(http("DELETE", f"/v1/candidates/{ids[2]}"))
    assert erased == {"id": ids[2], "status": "erased"}
    assert "family_name" not in ok(http("GET", f"/v1/candidates/{ids[2]}"))
    gone = ok(http("POST", f"/v1/jobcoaches/{coach['id']}/deactivation"))
    assert gone["active"] is False


def test_the_document_and_its_page_are_served(system):
    document = system.http("GET", "/v1/openapi.json", anonymous=True)
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert "/v1/candidates/{candidate_id}" in paths and "delete" in paths["/v1/candidates/{candidate_id}"]
    page = system.http("GET", "/v1/docs", anonymous=True, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/v1/openapi.json" in page.text and "https://" not in page.text.split("<body", 1)[1]
