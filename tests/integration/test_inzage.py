"""Inzage (AVG art. 15) across the running system: two people with data in every service
(personal data, logbook, plan, shortlist with a note, a match with a note, a placement, its
aftercare plan with a jobcoach's note); the export of one, gathered over RPC, holds what each
service stores on that person and nothing of the other; anyone but the registering
organisation is refused; the command writes the JSON and a self-contained HTML page."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import pytest

from tests.integration.harness import ROOT, eventually, matching_has, register_jobcoaches
from tests.integration.test_spine import SKILL, plans_for
from werkbrug_shared import inzage
from werkbrug_shared.errors import Forbidden

ENSCHEDE = "dev-gemeente-enschede"
HENGELO = "dev-gemeente-hengelo"  # same region, another organisation


@dataclass
class Person:
    tag: str
    candidate_id: str = ""
    match_id: str = ""
    placement_id: str = ""
    task_id: str = ""
    secrets: dict = field(default_factory=dict)


def people_with_data_everywhere(system, n: int = 2) -> tuple[str, str, list[Person]]:
    """``n`` people registered by Enschede in a region of their own, each with a log entry, a plan,
    a shortlist entry with a note, a match introduced with a note, a placement and a jobcoach's
    note on its first aftercare task. Answers (region, vacancy id, people)."""
    tag = uuid.uuid4().hex[:6]
    region = f"inzage-{tag}"
    register_jobcoaches(system, region, 1)
    people = [Person(f"{tag}{i}") for i in range(n)]
    with system.rpc(ENSCHEDE, "p-inzage") as rpc, system.rpc("dev-soweco", "coach-1") as soweco:
        kvk = f"{uuid.uuid4().int % 10**8:08d}"
        employer = rpc.vacancies.register_employer({"name": "Inzage BV", "kvk_number": kvk, "region": region})
        vacancy = rpc.vacancies.open({"employer_id": employer["id"], "title": "medewerker groen", "region": region,
                                      "postcode": "7511 JD", "skills_required": [SKILL(1)], "hours_per_week": 24,
                                      "openings": n})
        for p in people:
            p.secrets = {"given_name": f"Ilse{p.tag}", "family_name": f"Verhoeven{p.tag}",
                         "email": f"ilse.{p.tag}@example.org", "log": f"Intake met Ilse {p.tag}: wil buiten werken",
                         "goal": f"Werk in het groen voor Ilse {p.tag}", "shortlist": f"Ilse {p.tag} past hier goed",
                         "match": f"Werkgever kent Ilse {p.tag} al", "task": f"Ilse {p.tag} heeft het naar haar zin"}
            candidate = rpc.candidates.register({
                "given_name": p.secrets["given_name"], "family_name": p.secrets["family_name"],
                "email": p.secrets["email"], "postcode": "7511 AB", "region": region, "target_groups": ["bijstand"],
                "skills": [SKILL(1)], "hours_per_week": 24})
            p.candidate_id = candidate["id"]
            rpc.candidates.add_log_entry(p.candidate_id, {"text": p.secrets["log"]})
            rpc.candidates.set_plan(p.candidate_id, {"goal": p.secrets["goal"], "steps": ["sollicitatie"]})
            rpc.vacancies.add_candidate(vacancy["id"], p.candidate_id, p.secrets["shortlist"])
        eventually(lambda: matching_has(rpc, vacancy["id"], [p.candidate_id for p in people]), what="indexing")
        for p in people:
            p.match_id = rpc.matching.propose(p.candidate_id, vacancy["id"])["id"]
            rpc.matching.introduce(p.match_id, p.secrets["match"])
            p.placement_id = rpc.matching.record_placement({
                "candidate_id": p.candidate_id, "vacancy_id": vacancy["id"], "match_id": p.match_id,
                "start_date": "2026-12-01", "hours_per_week": 24})["id"]
        for p in people:
            eventually(lambda p=p: plans_for(system, p.placement_id) == 1, what="the aftercare plan")
            p.task_id = soweco.aftercare.tasks(placement_id=p.placement_id)[0]["id"]
            soweco.aftercare.complete_task(p.task_id, "going_well", p.secrets["task"])
    return region, vacancy["id"], people


@pytest.fixture(scope="module")
def two_people(system):
    return people_with_data_everywhere(system, 2)


def test_the_export_holds_what_each_service_stores_on_the_person_and_nothing_of_the_other(system, two_people):
    _, vacancy_id, (ilse, other) = two_people
    with system.rpc(ENSCHEDE, "p-inzage") as rpc:
        document = inzage.gather(rpc, ilse.candidate_id)
    services = document["services"]
    assert {"candidates", "matching", "aftercare", "vacancies"} <= set(services)
    assert set(services) | set(document["not_answered"]) == set(inzage.SERVICES)

    mine = services["candidates"]
    assert mine["candidate"][0]["id"] == ilse.candidate_id
    assert mine["personal_data"][0]["family_name"] == ilse.secrets["family_name"]
    assert mine["personal_data"][0]["email"] == ilse.secrets["email"]
    assert [e["text"] for e in mine["log_entries"]] == [ilse.secrets["log"]]
    assert mine["plan"][0]["goal"] == ilse.secrets["goal"]
    assert {m["match_id"] for m in mine["matches"]} == {ilse.match_id}
    assert {p["placement_id"] for p in mine["placements"]} == {ilse.placement_id}
    assert [m["note"] for m in services["matching"]["matches"]] == [ilse.secrets["match"]]
    assert [p["id"] for p in services["matching"]["placements"]] == [ilse.placement_id]
    assert services["matching"]["matching_profile"][0]["candidate_id"] == ilse.candidate_id
    assert [(e["vacancy_id"], e["note"]) for e in services["vacancies"]["shortlist_entries"]] == [
        (vacancy_id, ilse.secrets["shortlist"])]
    assert [p["placement_id"] for p in services["aftercare"]["plans"]] == [ilse.placement_id]
    notes = {t["id"]: t["note"] for t in services["aftercare"]["tasks"]}
    assert notes[ilse.task_id] == ilse.secrets["task"] and len(notes) > 1  # the whole plan
    for service in ("candidates", "matching", "aftercare", "vacancies"):
        assert services[service]["audit_log"], f"{service}: the reads and changes are part of the export"
        assert {e["candidate_id"] for e in services[service]["audit_log"]} == {ilse.candidate_id}

    text = json.dumps(document, ensure_ascii=False)
    leaked = [v for v in [other.candidate_id, other.match_id, other.placement_id, other.task_id,
                          *other.secrets.values()] if v in text]
    assert leaked == [], f"the export of one person shows another's {leaked}"
    if "reporting" in services:  # another engineer's contract: stored events naming the person
        assert ilse.candidate_id in json.dumps(services["reporting"])


def test_only_the_registering_organisation_may_ask(system, two_people):
    _, _, (ilse, _) = two_people
    with system.rpc(HENGELO, "p-nieuwsgierig") as hengelo:
        with pytest.raises(Forbidden):
            inzage.gather(hengelo, ilse.candidate_id)
        for service in ("candidates", "matching", "aftercare", "vacancies"):
            with pytest.raises(Forbidden):
                getattr(hengelo, service).inzage(ilse.candidate_id)


def test_the_command_writes_the_document_and_a_self_contained_escaped_page(system, two_people, tmp_path):
    _, _, (ilse, other) = two_people
    out, page = tmp_path / "inzage.json", tmp_path / "inzage.html"
    done = subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", "inzage", ilse.candidate_id,
                           "--credential", ENSCHEDE, "--professional", "p-inzage", "--output", str(out),
                           "--html", str(page)], env=system.env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(out.read_text())
    assert document["candidate_id"] == ilse.candidate_id
    html_text = page.read_text()
    for value in (ilse.secrets["family_name"], ilse.secrets["task"], ilse.secrets["shortlist"], ilse.secrets["match"]):
        assert value in html_text
    assert other.secrets["family_name"] not in html_text and other.candidate_id not in html_text
    assert not [t for t in ("<script", "src=", "href=", "<link", "@import", "url(") if t in html_text]
    refused = subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", "inzage", ilse.candidate_id,
                              "--credential", HENGELO], env=system.env(), cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1 and "Forbidden" in refused.stderr
    assert ilse.secrets["family_name"] not in refused.stdout + refused.stderr


def test_the_page_escapes_what_it_shows():
    page = inzage.to_html({"candidate_id": "c<1>", "generated_at": "nu", "services": {
        "candidates": {"log_entries": [{"text": "<script>alert(1)</script> & <b>"}]}}, "not_answered": {}})
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in page
