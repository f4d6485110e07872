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
