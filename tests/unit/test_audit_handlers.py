"""What the handlers account for in the audit log (SQLite, fixed clock): candidates' reads and
changes of personal data, logbook and plan, by field name; reads by another organisation that
see no personal data are not entries; custody, the log's page and inzage for the registering
organisation only; vacancies' shortlists."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from candidates import handlers
from candidates.models import metadata
from tests.unit.conftest import sqlite_unit_of_work
from tests.unit.test_candidates_handlers import ENSCHEDE, HENGELO, NOW, TODAY, register
from werkbrug_shared import audit
from werkbrug_shared.clock import Clock
from werkbrug_shared.errors import Forbidden

CLOCK = Clock(TODAY, now=lambda: NOW)


@pytest.fixture
def uow():
    with sqlite_unit_of_work(metadata, "candidates") as uow:
        yield uow


def logged(uow) -> list[tuple]:
    uow.session.commit()
    return [tuple(r) for r in uow.session.execute(text(
        "SELECT organisation, professional, purpose, action, operation, record, fields FROM audit_log ORDER BY seq"))]


def test_reads_and_changes_of_personal_data_are_entries_naming_fields_not_values(uow):
    cid = register(uow, email="anna@example.org")
    handlers.view(uow, ENSCHEDE, CLOCK, cid)
    handlers.view(uow, HENGELO, CLOCK, cid)  # sees the profile only: nothing personal read
    handlers.add_log_entry(uow, ENSCHEDE, CLOCK, cid, "Anna wil in de zorg", None)
    handlers.log_entries(uow, ENSCHEDE, CLOCK, cid)
    handlers.set_plan(uow, ENSCHEDE, CLOCK, cid, {"goal": "zorg", "steps": []})
    row = handlers.custodian_row(uow, ENSCHEDE, cid)
    handlers.update(uow, CLOCK, row, {"phone": "0612345678"}, ENSCHEDE)
    entries = logged(uow)
    assert entries[0][2:6] == ("mediation", "change", "register", "personal_data")
    assert set(json.loads(entries[0][6])) >= {"given_name", "family_name", "postcode", "email"}
    assert [e[4:6] for e in entries[1:]] == [("get", "personal_data"), ("add_log_entry", "log_entry"),
                                              ("log", "log_entry"), ("set_plan", "plan"), ("update", "personal_data")]
    assert {e[0] for e in entries} == {"gemeente-enschede"} and entries[1][1] == "p.jansen"
    assert json.loads(entries[-1][6]) == ["phone"]
    assert not [e for e in entries if "Anna" in str(e) or "0612345678" in str(e)]
    handlers.erase(uow, ENSCHEDE, CLOCK, cid)
    erased = logged(uow)[len(entries):]
    assert {(e[2], e[3], e[5]) for e in erased} == {("erasure", "remove", k) for k in ("personal_data", "log_entry",
                                                                                       "plan")}
    assert audit.verify(uow.session.connection()).intact


def test_the_audit_log_and_inzage_are_for_the_registering_organisation_only(uow):
    cid, other = register(uow), register(uow, given_name="Bram")
    handlers.add_log_entry(uow, ENSCHEDE, CLOCK, cid, "eerste gesprek", None)
    handlers.add_log_entry(uow, ENSCHEDE, CLOCK, other, "gesprek met Bram", None)
    uow.session.commit()
    for call in (lambda: handlers.custodian(uow, HENGELO, cid), lambda: handlers.audit_entries(uow, HENGELO, cid),
                 lambda: handlers.inzage(uow, HENGELO, CLOCK, cid)):
        with pytest.raises(Forbidden):
            call()
    page = handlers.audit_entries(uow, ENSCHEDE, cid, limit=1)
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    rest = handlers.audit_entries(uow, ENSCHEDE, cid, limit=200, cursor=page["next_cursor"])
    assert rest["next_cursor"] is None and {e["candidate_id"] for e in page["items"] + rest["items"]} == {cid}
    export = handlers.inzage(uow, ENSCHEDE, CLOCK, cid)
    assert export["service"] == "candidates"
    assert [e["text"] for e in export["records"]["log_entries"]] == ["eerste gesprek"]
    assert export["records"]["personal_data"][0]["given_name"] == "Anna"
    assert "Bram" not in json.dumps(export) and other not in json.dumps(export)
    assert ("inzage", "inzage") in {(e[2], e[4]) for e in logged(uow)}


def test_vacancies_shortlists_are_accounted_for():
    from datetime import UTC, datetime

    from vacancies import handlers as vacancy_handlers
    from vacancies.models import Vacancy
    from vacancies.models import metadata as vacancy_metadata
    from werkbrug_shared.visibility import Viewer

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with sqlite_unit_of_work(vacancy_metadata, "vacancies") as uow:
        vacancy = Vacancy(id="v-1", status="open")
        entry = vacancy_handlers.add_candidate(uow, ENSCHEDE, vacancy, {"candidate_id": "c-1", "note": "sterk"}, now)
        assert entry.changed_at == now
        vacancy_handlers.shortlist(uow, vacancy, Viewer.of(HENGELO), now, HENGELO)
        uow.session.commit()
        rows = uow.session.execute(text("SELECT organisation, action, operation, fields FROM audit_log")).all()
        assert [(r[0], r[1], r[2]) for r in rows] == [("gemeente-enschede", "change", "add_candidate"),
                                                      ("gemeente-hengelo", "read", "shortlist")]
        assert "note" in json.loads(rows[0][3]) and "note" not in json.loads(rows[1][3])  # not Hengelo's note
        assert vacancy_handlers.inzage(uow, ENSCHEDE, "c-1", now)["records"]["shortlist_entries"][0]["note"] == "sterk"
