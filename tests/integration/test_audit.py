"""The audit log across the running system (PostgreSQL): every read and change of personal
data in candidates, matching, aftercare and vacancies is an entry naming who, why, when and
which fields, never a value; the candidate's organisation may read it, no other; two replicas
appending at once make one chain; and an entry edited in the database is named by
``werkbrug audit check``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.harness import ROOT
from tests.integration.test_inzage import ENSCHEDE, HENGELO, people_with_data_everywhere
from werkbrug_shared.errors import Forbidden, NotFound

AUDITED = ("candidates", "matching", "aftercare", "vacancies")


@pytest.fixture(scope="module")
def person(system):
    _, vacancy_id, (person,) = people_with_data_everywhere(system, 1)
    with system.rpc(ENSCHEDE, "p-lezer") as rpc:
        rpc.candidates.get(person.candidate_id)
        rpc.candidates.log(person.candidate_id)
        rpc.candidates.update(person.candidate_id, {"phone": "06 12345678"})
        rpc.matching.get_match(person.match_id)
        rpc.vacancies.shortlist(vacancy_id)
    return person


def entries(rpc, service: str, candidate_id: str) -> list[dict]:
    found, cursor = [], None
    while True:
        page = getattr(rpc, service).audit_log(candidate_id, limit=2, cursor=cursor)
        found += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return found


def execute(system, service: str, query: str, *params) -> None:
    """A write straight into a service's database, as someone tampering with it would."""
    with system.connect_db(service) as conn:
        conn.execute(query, params)


def check(system, *services) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", "audit", "check", *services],
                          env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_every_read_and_change_is_accounted_for_by_name_never_by_value(system, person):
    with system.rpc(ENSCHEDE) as rpc:
        logs = {service: entries(rpc, service, person.candidate_id) for service in AUDITED}
    seen = {service: {(e["action"], e["operation"], e["record"], e["purpose"]) for e in found}
            for service, found in logs.items()}
    assert {("change", "register", "personal_data", "mediation"), ("change", "add_log_entry", "log_entry", "mediation"),
            ("change", "set_plan", "plan", "mediation"), ("read", "get", "personal_data", "mediation"),
            ("read", "get", "plan", "mediation"), ("read", "log", "log_entry", "mediation"),
            ("change", "update", "personal_data", "mediation")} <= seen["candidates"]
    assert {("change", "introduce", "match_note", "mediation"),
            ("read", "get_match", "match_note", "mediation")} <= seen["matching"]
    assert {("change", "add_candidate", "shortlist_entry", "mediation"),
            ("read", "shortlist", "shortlist_entry", "mediation")} <= seen["vacancies"]
    assert ("change", "complete_task", "task_note", "aftercare") in seen["aftercare"]
    reads = [e for e in logs["candidates"] if e["operation"] == "get" and e["record"] == "personal_data"]
    assert reads[-1]["organisation"] == "gemeente-enschede" and reads[-1]["professional"] == "p-lezer"
    assert {"given_name", "family_name", "email"} <= set(reads[-1]["fields"])
    (changed,) = [e for e in logs["candidates"] if e["operation"] == "update"]
    assert changed["fields"] == ["phone"]
    (noted,) = [e for e in logs["aftercare"] if e["operation"] == "complete_task"]
    assert (noted["organisation"], noted["professional"]) == ("soweco", "coach-1")
    for service, found in logs.items():
        assert [e["seq"] for e in found] == sorted(e["seq"] for e in found), f"{service}: oldest first"
        text = json.dumps(found, ensure_ascii=False)
        shown = [v for v in [*person.secrets.values(), "06 12345678"] if v in text]
        assert shown == [], f"{service}'s audit log holds personal values: {shown}"
        # ... nor does its table: the export of the log is the table
        rows = system.sql(service, "SELECT a::text FROM audit_log a WHERE candidate_id = %s", person.candidate_id)
        assert len(rows) == len(found) and not [v for v in person.secrets.values() if v in str(rows)]


def test_only_the_candidates_organisation_reads_its_audit_log(system, person):
    with system.rpc(HENGELO) as hengelo, system.rpc(ENSCHEDE) as enschede:
        for service in AUDITED:
            with pytest.raises(Forbidden):
                getattr(hengelo, service).audit_log(person.candidate_id)
            with pytest.raises(NotFound):
                getattr(enschede, service).audit_log("00000000-0000-4000-8000-000000000000")


def test_two_replicas_appending_at_once_make_one_chain(system, person):
    system.start_instance("candidates", "candidates-audit-2")
    try:
        with system.rpc(ENSCHEDE, "p-drukte") as rpc:
            calls = [rpc.candidates.get.call_async(person.candidate_id) for _ in range(60)]
            assert all(c.result()["family_name"] == person.secrets["family_name"] for c in calls)
    finally:
        system.stop("candidates-audit-2")
    done = check(system, "candidates")
    assert done.returncode == 0 and "candidates: intact" in done.stdout, done.stdout + done.stderr
    seqs = [s for (s,) in system.sql("candidates", "SELECT seq FROM audit_log ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))


def test_an_entry_edited_in_the_database_is_named_by_the_check(system, person):
    assert check(system).returncode == 0
    (seq,) = system.sql("candidates", "SELECT seq FROM audit_log WHERE candidate_id = %s "
                                              "AND operation = 'get' ORDER BY seq LIMIT 1", person.candidate_id)[0]
    execute(system, "candidates", "UPDATE audit_log SET organisation = 'gemeente-hengelo' WHERE seq = %s", seq)
    try:
        done = check(system, "candidates", "matching")
        assert done.returncode == 1
        assert f"candidates: BROKEN at entry {seq} edited" in done.stdout, done.stdout
        assert "matching: intact" in done.stdout
    finally:
        execute(system, "candidates", "UPDATE audit_log SET organisation = 'gemeente-enschede' WHERE seq = %s", seq)
    last = system.sql("aftercare", "SELECT max(seq) FROM audit_log")[0][0]
    row = system.sql("aftercare", "SELECT * FROM audit_log WHERE seq = %s", last)[0]
    execute(system, "aftercare", "DELETE FROM audit_log WHERE seq = %s", last)
    try:
        done = check(system, "aftercare")
        assert done.returncode == 1 and f"aftercare: BROKEN at entry {last} removed" in done.stdout, done.stdout
    finally:
        assert len(row) == 12
        execute(system, "aftercare", "INSERT INTO audit_log VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                *row)
    assert check(system).returncode == 0
