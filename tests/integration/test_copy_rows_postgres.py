"""db's PostgreSQL-only bulk paths held to the plain statements they replace, in a private
database: db.insert_rows' COPY writes what INSERT writes (JSON, NULLs, time zones, text
COPY's format escapes) and a duplicate key is SQLAlchemy's IntegrityError naming no
value; the dedup markers' array parameter answers what SQLite's ``IN (...)`` answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, BigInteger, Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tests.integration.harness import private_database
from werkbrug_shared.db import UnitOfWork, insert_rows, make_engine, service_metadata

metadata = MetaData()


def twin(name):
    return Table(name, metadata, Column("id", Integer, primary_key=True), Column("label", String(200)),
                 Column("payload", JSON), Column("at", DateTime(timezone=True)), Column("day", Date),
                 Column("big", BigInteger), Column("flag", Boolean))


COPIED, INSERTED = twin("copied"), twin("inserted")

AWKWARD = ["plain", "tab\there", "new\nline", "back\\slash", "\\N", "quote ' \" ,", "ünïcødé ✓", "", " lead",
           "\r", "\\.", "emoji 🧑‍🔧"]


def rows():
    base = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    out = []
    for i, label in enumerate(AWKWARD):
        out.append({
            "id": i, "label": label,
            "payload": {"skills": [label, i], "nested": {"n": None, "f": 0.1 + i, "t": True}, "text": "a\u2028b"},
            "at": base + timedelta(minutes=i) if i % 2 else base.astimezone(timezone(timedelta(hours=2))),
            "day": date(2026, 1, 1) + timedelta(days=i), "big": 2**62 + i, "flag": bool(i % 2)})
    out.append({"id": 99, "label": None, "payload": None, "at": None, "day": None, "big": None, "flag": None})
    return out


@pytest.fixture
def engine():
    with private_database("copy") as engine:
        metadata.create_all(engine)
        yield engine


def read(session, table):
    return [tuple(r) for r in session.execute(select(table).order_by(table.c.id))]


def test_copied_rows_read_back_as_inserted_rows(engine):
    with Session(engine) as session:
        insert_rows(session, COPIED, rows())
        session.execute(INSERTED.insert(), rows())
        session.commit()
        copied, inserted = read(session, COPIED), read(session, INSERTED)
    assert len(copied) == len(rows())
    assert copied == inserted


def test_a_duplicate_key_is_an_integrity_error_naming_no_value(engine):
    secret = {"id": 1, "label": "Sara Bakker", "payload": None, "at": None, "day": None, "big": None, "flag": None}
    with Session(engine) as session:
        insert_rows(session, COPIED, [secret])
        session.commit()
        with pytest.raises(IntegrityError) as copied:
            insert_rows(session, COPIED, [secret])
        session.rollback()
    assert "Sara" not in str(copied.value)
    assert "23505" in str(copied.value)  # unique_violation, the code the INSERT fails with too


def test_dedup_markers_by_array_parameter_answer_as_in_does(engine, tmp_path):
    markers = service_metadata()
    sqlite = make_engine(f"sqlite:///{tmp_path}/markers.db")
    markers.create_all(engine)
    markers.create_all(sqlite)
    marked = [f"e{i}" for i in range(0, 300, 3)] + ["ünï", "quote'd", "x" * 64]
    asked = [f"e{i}" for i in range(300)] + ["ünï", "quote'd", "x" * 64, "e1'; --"]
    answers = []
    for bind in (engine, sqlite):
        uow = UnitOfWork(sessionmaker(bind), "probe", markers.tables["outbox"], markers.tables["processed_events"])
        uow.mark_processed_many("probe.handler", marked)
        uow.mark_processed_many("probe.other", ["e1"])
        uow.session.commit()
        answers.append(uow.processed_among("probe.handler", asked))
        uow.session.close()
    sqlite.dispose()
    assert answers[0] == answers[1] == set(marked)
