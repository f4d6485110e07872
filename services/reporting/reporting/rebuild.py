"""Rebuild the read models from the event store: ``werkbrug reporting rebuild``.

The events are replayed in stored order (event time, then id) in batches
through the very :class:`~reporting.projections.Projector` the live handler
uses. The projection rules do not depend on the order events come in (see
:mod:`reporting.domain`), so the result is what the live service built.

It all happens in one transaction, holding the state row's lock: the live
handler waits for it and then applies its newer events on top, while readers
(the board) keep seeing the old figures until the new ones commit.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from nameko.extensions import DependencyProvider
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from reporting import domain, projections
from reporting.models import READ_MODELS, StoredEvent
from werkbrug_shared.events.envelope import utcnow

log = logging.getLogger(__name__)
BATCH_SIZE = 5000
# rows a rebuild holds in memory before it writes them out (about 1 kB each)
HELD_ROWS = 300_000


class Progress:
    """A progress bar on a stream (stderr): done/total, rate, and the time left."""

    def __init__(self, total: int, stream=sys.stderr, every: float = 0.5, width: int = 30):
        self.total, self.stream, self.every, self.width = total, stream, every, width
        self.started = self.shown = time.monotonic()

    def __call__(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.shown < self.every:
            return
        self.shown = now
        share = done / self.total if self.total else 1.0
        rate = done / max(now - self.started, 1e-6)
        left = (self.total - done) / rate if rate else 0.0
        filled = int(self.width * share)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{self.total:,} events "
                          f"{share:6.1%}  {rate:,.0f} events/s  {left:4.0f} s left ")
        if final:
            self.stream.write("\n")
        self.stream.flush()


# data as text, parsed here: psycopg's own JSON loader took half again as long
REPLAY_PG = ("SELECT type, data::text, time, event_id FROM event_store WHERE type = ANY(%s) "
             "ORDER BY time, event_id")


def _stored(session: Session, types: list[str], batch_size: int):
    """The stored events of ``types`` in replay order, as lists of (type, data, time, id)."""
    if session.get_bind().dialect.name == "postgresql":
        # a server-side cursor straight on the driver: a third of the replay was the ORM's result rows
        raw = session.connection().connection.driver_connection
        with raw.cursor(name="reporting_replay") as cursor:
            cursor.itersize = batch_size
            cursor.execute(REPLAY_PG, [types])
            loads = json.loads
            while batch := cursor.fetchmany(batch_size):
                yield [(event_type, loads(data), moment, event_id) for event_type, data, moment, event_id in batch]
        return
    stmt = (select(StoredEvent.type, StoredEvent.data, StoredEvent.time, StoredEvent.event_id)
            .where(StoredEvent.type.in_(types))
            .order_by(StoredEvent.time, StoredEvent.event_id)
            .execution_options(yield_per=batch_size))
    for batch in session.execute(stmt).partitions():
        yield [tuple(row) for row in batch]


def rebuild(session: Session, batch_size: int = BATCH_SIZE, progress=None, held_rows: int = HELD_ROWS) -> dict:
    """Empty the read models and replay the store into them; the caller commits."""
    state = projections.lock_state(session)
    for model in READ_MODELS:
        session.execute(delete(model.__table__))
    state.update(as_of=None, fairness_top_total=0, fairness_eligible_total=0)
    projected = sorted(domain.PROJECTIONS)
    total = session.scalar(select(func.count()).select_from(StoredEvent).where(StoredEvent.type.in_(projected)))
    bar = progress(total) if progress is not None else None
    done = 0
    # one projector for the replay: rows stay in memory between batches (an entity's events
    # are spread over months of the store) until it holds more than ``held_rows``
    projector = projections.Projector(session, state=state, empty=True)
    for events in _stored(session, projected, batch_size):
        projector.load(events)
        projector.apply_all(events)
        if projector.held() > held_rows:
            projector.write(bump=False)
            projector.forget()
        done += len(events)
        if bar is not None:
            bar(done)
    projector.write(bump=False)
    if bar is not None:
        bar(done, final=True)
    state["version"] += 1
    projections.write_state(
        session, version=state["version"], as_of=state["as_of"], updated_at=utcnow(),
        read_model_version=projections.READ_MODEL_VERSION, fairness_top_total=state["fairness_top_total"],
        fairness_eligible_total=state["fairness_eligible_total"])
    return {"events": done, "version": state["version"]}


def ensure_current(engine) -> dict | None:
    """Rebuild when the read models were built by other projection rules (or never): after an
    upgrade, before the service consumes. Replicas starting together rebuild once."""
    with Session(engine) as session:
        state = projections.read_state(session)
        if state is not None and state["read_model_version"] == projections.READ_MODEL_VERSION:
            return None
        state = projections.lock_state(session)  # and again under the lock: another may have done it
        if state["read_model_version"] == projections.READ_MODEL_VERSION:
            session.rollback()
            return None
        log.warning("reporting: read models are at rules version %s, the code at %s; rebuilding from the store",
                    state["read_model_version"], projections.READ_MODEL_VERSION)
        started = time.monotonic()
        result = rebuild(session)
        session.commit()
        log.warning("reporting: read models rebuilt from %s events in %.1f s", result["events"],
                    time.monotonic() - started)
        return result


class KeepReadModelsCurrent(DependencyProvider):
    """Runs :func:`ensure_current` when the service starts."""

    def start(self):
        from werkbrug_shared.db import Database

        db = next(d for d in self.container.dependencies if isinstance(d, Database))
        ensure_current(db.engine)

    def get_dependency(self, worker_ctx):
        return None


def main(batch_size: int = BATCH_SIZE, url: str | None = None, stream=sys.stderr) -> int:
    """The CLI: rebuild reporting's read models in its database (``REPORTING_DATABASE_URL``)."""
    from werkbrug_shared import config
    from werkbrug_shared.db import make_engine

    engine = make_engine(url or config.database_url("reporting"), pool_size=1)
    started = time.monotonic()
    try:
        with Session(engine) as session:
            result = rebuild(session, batch_size, progress=lambda total: Progress(total, stream))
            session.commit()
    finally:
        engine.dispose()
    seconds = time.monotonic() - started
    print(f"reporting: read models rebuilt from {result['events']:,} events in {seconds:.1f} s "
          f"({result['events'] / max(seconds, 1e-6):,.0f} events/s), now at version {result['version']}")
    return 0
