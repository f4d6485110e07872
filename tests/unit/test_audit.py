"""The audit chain (werkbrug_shared.audit) on SQLite: appended at commit, never a value, and
verify names the first entry edited, removed or inserted."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.unit.conftest import sqlite_unit_of_work
from werkbrug_shared import audit
from werkbrug_shared.actor import Actor, Partner
from werkbrug_shared.db import service_metadata

metadata = service_metadata()
audit.audit_tables(metadata)
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ENSCHEDE = Actor(Partner("gemeente-enschede", "Gemeente Enschede", "municipality", "Twente"), "km-1")


def _record(uow, n=1, candidate_id="c-1", operation="get"):
    for _ in range(n):
        audit.record(uow, ENSCHEDE, AT, purpose=audit.MEDIATION, action=audit.READ, operation=operation,
                     candidate_id=candidate_id, kind="personal_data", fields=["given_name", "family_name"])


@pytest.fixture
def uow():
    with sqlite_unit_of_work(metadata, "test") as unit:
        yield unit


def _check(uow):
    return audit.verify(uow.session.connection())


def test_entries_chain_at_commit_with_names_not_values(uow):
    _record(uow, 2)
    assert uow.session.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0  # not before the commit
    uow.session.commit()
    _record(uow, 1, "c-2", "log")
    uow.session.commit()
    rows = uow.session.execute(text("SELECT seq, prev_hash, hash, fields FROM audit_log ORDER BY seq")).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == audit.GENESIS and rows[1].prev_hash == rows[0].hash
    assert rows[0].fields == '["family_name","given_name"]'
    checked = _check(uow)
    assert checked.intact and checked.entries == 3 and checked.head_seq == 3 and checked.head_hash == rows[2].hash
    page = audit.entries_for(uow.session, "c-1", limit=1, after=None)
    assert page["items"][0]["organisation"] == "gemeente-enschede" and page["items"][0]["professional"] == "km-1"
    assert page["items"][0]["purpose"] == "mediation" and page["next_cursor"] == "1"
    assert [e["seq"] for e in audit.entries_for(uow.session, "c-1", 10, 1)["items"]] == [2]


def test_rolled_back_work_leaves_no_entry(uow):
    _record(uow)
    uow.session.rollback()
    _record(uow, 1, "kept")
    savepoint = uow.session.begin_nested()
    _record(uow, 1, "gone")
    savepoint.rollback()
    uow.session.commit()
    assert uow.session.execute(text("SELECT candidate_id FROM audit_log")).scalars().all() == ["kept"]


@pytest.mark.parametrize("tamper, seq, problem", [
    ("UPDATE audit_log SET operation = 'list' WHERE seq = 3", 3, "edited"),
    ("UPDATE audit_log SET candidate_id = 'c-9' WHERE seq = 1", 1, "edited"),
    ("DELETE FROM audit_log WHERE seq = 2", 2, "removed"),
    ("DELETE FROM audit_log WHERE seq = 5", 5, "removed"),
    ("INSERT INTO audit_log SELECT seq + 10, at, organisation, professional, purpose, action, operation, "
     "candidate_id, record, fields, prev_hash, hash FROM audit_log WHERE seq = 5", 15, "inserted"),
])
def test_verify_names_the_first_entry_tampered_with(uow, tamper, seq, problem):
    _record(uow, 5)
    uow.session.commit()
    uow.session.execute(text(tamper))
    found = _check(uow).first_break
    assert (found.seq, found.problem) == (seq, problem), str(found)


def test_an_entry_edited_and_rehashed_is_named(uow):
    _record(uow, 4)
    uow.session.commit()
    row = dict(uow.session.execute(text("SELECT * FROM audit_log WHERE seq = 2")).mappings().one())
    row["organisation"], row["at"] = "someone-else", datetime.fromisoformat(row["at"])
    forged = audit.chained(row["prev_hash"], row)
    uow.session.execute(text("UPDATE audit_log SET organisation = 'someone-else', hash = :h WHERE seq = 2"),
                        {"h": forged})
    found = _check(uow).first_break
    assert (found.seq, found.problem) == (2, "edited")


def test_unknown_purpose_refused(uow):
    with pytest.raises(ValueError):
        audit.record(uow, None, AT, purpose="curiosity", action=audit.READ, operation="get", candidate_id="c",
                     kind="personal_data")


def test_the_check_command_on_a_migrated_sqlite_database(tmp_path, monkeypatch, capsys):
    """``werkbrug audit check`` as ``make run`` has it: SQLite files, migrated; an edit is named."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from werkbrug_shared import cli
    from werkbrug_shared.db import UnitOfWork
    from werkbrug_shared.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'aftercare.db'}"
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", url)
    upgrade("aftercare", url)
    engine = create_engine(url)
    with Session(engine) as session:
        unit = UnitOfWork(session, "aftercare", metadata.tables["outbox"], metadata.tables["processed_events"])
        _record(unit, 3)
        session.commit()
    assert cli.main(["audit", "check", "aftercare"]) == 0
    assert "aftercare: intact, 3 entries, head 3" in capsys.readouterr().out
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET purpose = 'inzage' WHERE seq = 2"))
    engine.dispose()
    assert cli.main(["audit", "check", "aftercare"]) == 1
    assert "aftercare: BROKEN at entry 2 edited" in capsys.readouterr().out
    assert cli.main(["audit", "check", "reporting"]) == 2
