"""Emitted events reach the outbox in one write, yet read as if each emit had written at once:
before any statement of the session, at commit, and never from a savepoint that rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from werkbrug_shared.db import UnitOfWork, make_engine, service_metadata

EMPLOYER_REGISTERED = "nl.werkbrug.employer.registered.v1"


@pytest.fixture
def parts(tmp_path):
    metadata = service_metadata()
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    metadata.create_all(engine)
    return engine, metadata.tables["outbox"], metadata.tables["processed_events"]


def emit(uow: UnitOfWork, name: str):
    return uow.emit(EMPLOYER_REGISTERED, name, {"employer_id": name, "region": "Twente", "sbi": None})


def subjects(session: Session, outbox) -> list[str]:
    return [e.split('"subject":"')[1].split('"')[0] for e in session.scalars(select(outbox.c.payload)
                                                                            .order_by(outbox.c.seq))]


def test_emitted_rows_are_there_for_the_next_statement_and_the_commit(parts):
    engine, outbox, processed = parts
    with Session(engine) as session:
        uow = UnitOfWork(session, "vacancies", outbox, processed)
        emit(uow, "a")
        emit(uow, "b")
        assert subjects(session, outbox) == ["a", "b"]
        emit(uow, "c")
        session.commit()
    with Session(engine) as session:
        assert subjects(session, outbox) == ["a", "b", "c"]


def test_a_savepoint_rolled_back_takes_its_events_along_written_or_not(parts):
    engine, outbox, processed = parts
    with Session(engine) as session:
        uow = UnitOfWork(session, "vacancies", outbox, processed)
        emit(uow, "kept")
        for write_inside in (False, True):
            mark = uow.mark()
            with pytest.raises(RuntimeError), session.begin_nested():
                emit(uow, "lost")
                if write_inside:
                    assert "lost" in subjects(session, outbox)
                raise RuntimeError("the handler failed")
            uow.forget_since(mark)
        emit(uow, "after")
        session.commit()
        assert [e.subject for e in uow.emitted] == ["kept", "after"]
    with Session(engine) as session:
        assert subjects(session, outbox) == ["kept", "after"]


def test_emit_writes_the_same_rows_as_an_insert_per_event_did(parts):
    engine, outbox, processed = parts
    with Session(engine) as session:
        uow = UnitOfWork(session, "vacancies", outbox, processed)
        events = [emit(uow, name) for name in ("x", "y")]
        session.commit()
    with create_engine(engine.url).connect() as conn:
        rows = conn.execute(select(outbox.c.event_id, outbox.c.event_type, outbox.c.source_service,
                                   outbox.c.payload, outbox.c.published_at).order_by(outbox.c.seq)).all()
    assert rows == [(e.id, EMPLOYER_REGISTERED, "vacancies", e.to_json(), None) for e in events]


def test_a_rolled_back_transaction_leaves_nothing_to_write(parts):
    engine, outbox, processed = parts
    with Session(engine) as session:
        uow = UnitOfWork(session, "vacancies", outbox, processed)
        emit(uow, "gone")
        assert subjects(session, outbox) == ["gone"]
        emit(uow, "pending")
        session.rollback()
        emit(uow, "next")
        session.commit()
    with Session(engine) as session:
        assert subjects(session, outbox) == ["next"]
