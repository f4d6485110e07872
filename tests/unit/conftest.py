from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import Session


@contextmanager
def sqlite_session(metadata):
    """A session on a fresh in-memory SQLite database holding ``metadata``'s tables."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def sqlite_unit_of_work(metadata, service: str):
    """A service's unit of work (werkbrug_shared.db) on a fresh in-memory SQLite database: what
    handler tests run on, without a broker."""
    from werkbrug_shared.db import UnitOfWork

    with sqlite_session(metadata) as session:
        yield UnitOfWork(session, service, metadata.tables["outbox"], metadata.tables["processed_events"])
