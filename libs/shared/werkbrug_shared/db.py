"""The database dependency: one SQLAlchemy session per worker, as a unit of work.

A service method gets a :class:`UnitOfWork` with ``.session`` and ``.emit()``.
Emitted events are rows in the service's own ``outbox`` table, written in the
same transaction as the state they describe; the :class:`OutboxRelay` publishes
them after commit. The commit itself happens in werkbrug's entrypoints *before*
the RPC reply is sent or the event is acked (nameko runs ``handle_result``
before dependencies' ``worker_result``), so a caller never hears "done" about
work that was rolled back. ``worker_result`` commits for any other entrypoint
(timers) and always rolls back on error.
"""

from __future__ import annotations

import gc
import logging
from typing import NamedTuple
from weakref import WeakKeyDictionary

import psycopg
from nameko.extensions import DependencyProvider
from psycopg import sql as pg_sql
from psycopg.types.json import Json
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from werkbrug_shared import config
from werkbrug_shared.errors import NotFound
from werkbrug_shared.events import Event, new_event
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.outbox import OutboxRelay

log = logging.getLogger(__name__)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata() -> MetaData:
    """A MetaData with werkbrug's naming convention and messaging tables."""
    metadata = MetaData(naming_convention=NAMING)
    messaging_tables(metadata)
    return metadata


def _outbox_schema() -> list:
    return [
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), autoincrement=True, nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("event_type", String(120), nullable=False),
        Column("source_service", String(40), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        PrimaryKeyConstraint("seq", name="pk_outbox"),
        UniqueConstraint("event_id", name="uq_outbox_event_id"),
        # partial on PostgreSQL: the relay only ever looks for unpublished rows
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    ]


def _processed_schema() -> list:
    return [
        Column("consumer", String(200), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
        # for RPC requests: the reply, sent again if the broker redelivers the request
        Column("result", Text, nullable=True),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    ]


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    return (
        Table("outbox", metadata, *_outbox_schema()),
        Table("processed_events", metadata, *_processed_schema()),
    )


def create_messaging_tables(op) -> None:
    """For each service's first Alembic migration: the outbox and dedup tables."""
    outbox = _outbox_schema()
    op.create_table("outbox", *[item for item in outbox if not isinstance(item, Index)])
    for index in (item for item in outbox if isinstance(item, Index)):
        op.create_index(index.name, "outbox", [c for c in index.expressions],
                        postgresql_where=index.dialect_options["postgresql"]["where"])
    op.create_table("processed_events", *_processed_schema())


def drop_messaging_tables(op) -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # pysqlite's own implicit BEGIN breaks SAVEPOINT; SQLAlchemy emits BEGIN itself (see make_engine)
    dbapi_connection.isolation_level = None


def _plan_every_execution(dbapi_connection, _record):
    dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()


def _sqlite_begin(conn):
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str, pool_size: int = 10):
    """An engine that never puts bound parameters (personal data) in errors.

    SQLite gets a single pooled connection: its busy-wait sleeps in C and would
    freeze every green thread, so writers queue for the connection instead.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            hide_parameters=True,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # psycopg prepares a statement run five times, and PostgreSQL may then keep a
    # generic plan made while a table was still empty: a sequential scan that
    # grows with the table (the dedup lookup turned quadratic in a bulk import).
    # A plan per execution, from the table as it is now, keeps the index scans.
    engine = create_engine(url, hide_parameters=True, pool_size=pool_size, max_overflow=5, pool_pre_ping=True)
    event.listen(engine, "connect", _plan_every_execution)
    # Batched handlers insert hundreds of rows at once: one multi-row INSERT
    # instead of psycopg's executemany (a round of pipeline traffic per row)
    # halved reporting's CPU per event.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


# gen0 collects every this many net allocations (Python's default: 700)
GC_YOUNG_THRESHOLD = 10_000
_heap_settled = False


def settle_heap() -> None:
    """Once a service has started: what it loaded (modules, reference data, mappers) moves
    out of the collector's sight (gc.freeze), and young collections run less often.
    Every full collection used to walk the whole start-up heap: in a bulk import,
    reporting's and candidates' collections took up to 0.6 s each (seconds in all), and on
    the board one such pause was the tail of its freshness. Nothing is leaked by this: frozen
    objects are freed by reference counting like any other, only cycles among them stay."""
    global _heap_settled
    if _heap_settled:  # once a process (tests start many containers in one)
        return
    _heap_settled = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class DatabaseFailure(Exception):
    """A bulk write failed; says which table and the SQLSTATE, never a value."""


def insert_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert many rows of ``table`` (all with the same keys) in one go.

    COPY on PostgreSQL, executemany elsewhere. A running service is bound by
    Python time, not the database: psycopg's executemany pipelines row by row
    (every wait a switch of the eventlet hub), and multi-row VALUES make
    psycopg parse a query with thousands of placeholders. COPY streams the
    rows in C. Core, never the ORM's bulk insert, which splits rows whose None
    values differ into separate statements.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    names = list(rows[0])
    as_json = {n for n in names if isinstance(table.c[n].type, JSON)}
    copy_sql = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        pg_sql.Identifier(table.name), pg_sql.SQL(", ").join(map(pg_sql.Identifier, names)))
    try:
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row([Json(row[n]) if n in as_json else row[n] for n in names])
    except psycopg.Error as exc:
        # PostgreSQL's message may quote a row (a name); only its code goes on
        failure = DatabaseFailure(f"COPY into {table.name} failed with SQLSTATE {exc.sqlstate}")
        if isinstance(exc, psycopg.IntegrityError):
            raise IntegrityError(f"COPY {table.name}", None, failure) from None
        raise failure from None


_PROCESSED_AMONG_PG = text(
    "SELECT event_id FROM processed_events WHERE consumer = :consumer AND event_id = ANY(CAST(:ids AS varchar[]))")
_MARK_PROCESSED_PG = text(
    "INSERT INTO processed_events (consumer, event_id, processed_at) "
    "SELECT :consumer, e, :at FROM unnest(CAST(:ids AS varchar[])) AS e")


class Mark(NamedTuple):
    """How far a unit of work had got when a savepoint began (see :meth:`UnitOfWork.mark`)."""

    emitted: int
    after_commit: int
    outbox_rows: int
    outbox_written: int


NOTHING_YET = Mark(0, 0, 0, 0)


class Recorded(NamedTuple):
    """Whether a consumer processed a key, and the reply it recorded (RPC requests)."""

    found: bool
    reply: str | None


class UnitOfWork:
    """What a worker gets: a session, and ``emit`` to add an event to it.

    Given a sessionmaker, the session is opened on first use: a call that never
    touches the database (matching's rankings read its in-memory index) costs
    no session at all."""

    def __init__(self, session: Session | sessionmaker, service_name: str, outbox: Table, processed: Table):
        self._session: Session | None = None
        self._make_session = None if isinstance(session, Session) else session
        self.service_name = service_name
        self._outbox = outbox
        self._processed = processed
        self.emitted: list[Event] = []
        # outbox rows emitted in this transaction, and how many of them are written:
        # the rest go in one COPY before the next statement or the commit
        self._outbox_rows: list[dict] = []
        self._outbox_written = 0
        # what follows the database in memory (matching's index): applied only
        # once the transaction committed, so memory is never ahead of the rows
        self.after_commit: list = []
        self.flushed = False
        if self._make_session is None:
            self._open(session)

    def _open(self, session: Session) -> None:
        self._session = session
        event.listen(session, "after_flush", self._after_flush)
        # Outbox rows are written lazily: a handler emitting nine events (a plan and
        # its tasks) cost nine COPYs, each a few round trips; now it costs one. Any
        # statement of the session, and the commit, writes them first, so within
        # the transaction the outbox reads as if each emit had written at once.
        event.listen(session, "do_orm_execute", self._before_statement)
        event.listen(session, "before_commit", self._before_commit)
        event.listen(session, "after_soft_rollback", self._after_rollback)

    def _before_statement(self, _state) -> None:
        self.write_outbox()

    def _before_commit(self, _session) -> None:
        self.write_outbox()

    def _after_rollback(self, _session, previous) -> None:
        if previous.nested or previous.parent is not None:
            return  # a savepoint: see forget_since
        # the whole transaction is gone, the rows it wrote with it: as when each emit wrote at once
        del self._outbox_rows[:]
        self._outbox_written = 0

    def write_outbox(self) -> None:
        """Write the outbox rows emitted since the last write (one COPY)."""
        if self._outbox_written < len(self._outbox_rows):
            rows = self._outbox_rows[self._outbox_written:]
            self._outbox_written = len(self._outbox_rows)  # first: insert_rows may run a statement itself
            try:
                insert_rows(self._session, self._outbox, rows)
            except BaseException:
                self._outbox_written -= len(rows)
                raise

    @property
    def session(self) -> Session:
        if self._session is None:
            self._open(self._make_session())
        return self._session

    @property
    def _on_postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    @property
    def touched(self) -> bool:
        """Whether the database was used at all (if not, nothing can have been written)."""
        return self._session is not None

    def _after_flush(self, *_):
        self.flushed = True

    @property
    def wrote(self) -> bool:
        """Whether this unit of work changes anything (read-only calls skip bookkeeping)."""
        s = self._session
        return bool(self.emitted or (s is not None and (self.flushed or s.new or s.dirty or s.deleted)))

    def get(self, model, key, what: str, for_update: bool = False):
        """The row with primary key ``key``, or NotFound naming ``what``."""
        row = self.session.get(model, key, with_for_update=for_update) if isinstance(key, str) else None
        if row is None:
            raise NotFound(f"no {what} {key}")
        return row

    def on_commit(self, callback) -> None:
        """Call ``callback()`` after this unit of work commits; forgotten on rollback."""
        self.after_commit.append(callback)

    def mark(self) -> Mark:
        """Where a savepoint starts (take it just before), to :meth:`forget_since` should it roll back."""
        return Mark(len(self.emitted), len(self.after_commit), len(self._outbox_rows), self._outbox_written)

    def forget_since(self, mark: Mark) -> None:
        """After a savepoint rolled back: forget what was emitted in it. Rows written in it
        went with it, also those emitted before it began: they are to be written again."""
        del self.emitted[mark.emitted:]
        del self.after_commit[mark.after_commit:]
        del self._outbox_rows[mark.outbox_rows:]
        self._outbox_written = min(self._outbox_written, mark.outbox_written)

    def emit(self, type_name: str, subject: str, data: dict) -> Event:
        """Add an event to this transaction's outbox; refused if its schema says no."""
        return self.emit_many(type_name, [(subject, data)])[0]

    def emit_many(self, type_name: str, items) -> list[Event]:
        """Many events of one type in a single INSERT: ``items`` are (subject, data)."""
        events = [new_event(type_name, subject, data, source_service=self.service_name) for subject, data in items]
        if events:
            self.session  # noqa: B018 (opened now, so its commit writes the rows)
            self._outbox_rows.extend(
                {"event_id": e.id, "event_type": e.type, "source_service": self.service_name,
                 "payload": e.to_json(), "created_at": e.time}
                for e in events
            )
            self.emitted.extend(events)
        return events

    def already_processed(self, consumer: str, event_id: str) -> bool:
        row = self.session.execute(
            select(self._processed.c.event_id).where(
                self._processed.c.consumer == consumer, self._processed.c.event_id == event_id
            )
        ).first()
        return row is not None

    def processed_among(self, consumer: str, event_ids) -> set[str]:
        """Which of ``event_ids`` this consumer already processed (one query per batch)."""
        ids = list(event_ids)
        if not ids:
            return set()
        if self._on_postgres:
            # one short statement with an array parameter: psycopg caches its parsing,
            # where IN with 200 parameters is parsed anew for every batch
            rows = self.session.execute(_PROCESSED_AMONG_PG, {"consumer": consumer, "ids": ids})
        else:
            rows = self.session.execute(
                select(self._processed.c.event_id).where(
                    self._processed.c.consumer == consumer, self._processed.c.event_id.in_(ids)
                )
            )
        return {row.event_id for row in rows}

    def mark_processed_many(self, consumer: str, event_ids) -> None:
        now = utcnow()
        if self._on_postgres:
            self.session.execute(_MARK_PROCESSED_PG, {"consumer": consumer, "ids": list(event_ids), "at": now})
            return
        self.session.execute(
            self._processed.insert(),
            [{"consumer": consumer, "event_id": event_id, "processed_at": now} for event_id in event_ids],
        )

    def forget_replies_mentioning(self, text: str) -> None:
        """Erasure: drop recorded RPC replies that mention ``text`` (a candidate id).

        The record itself stays, so a redelivered request is still not run twice.
        """
        self.session.execute(
            update(self._processed)
            .where(self._processed.c.consumer.like("rpc:%"), self._processed.c.result.contains(text))
            .values(result=None)
        )

    def mark_processed(self, consumer: str, event_id: str, result: str | None = None) -> None:
        self.session.execute(
            self._processed.insert().values(
                consumer=consumer, event_id=event_id, processed_at=utcnow(), result=result
            )
        )


class Database(DependencyProvider):
    """SQLAlchemy 2 session per worker, committed on success, rolled back on error.

    Brings the service's outbox relay along as a sub-extension, so declaring
    the database is all a service does to get reliable publishing.
    """

    relay = OutboxRelay()

    def __init__(self, metadata: MetaData):
        self.metadata = metadata
        self.outbox = metadata.tables["outbox"]
        self.processed = metadata.tables["processed_events"]
        self.engine = None
        self.sessionmaker = None
        self._units: WeakKeyDictionary = WeakKeyDictionary()
        self._listeners = []

    def setup(self):
        url = config.database_url(self.container.service_name, self.container.config)
        self.engine = make_engine(url, pool_size=self.container.max_workers + 2)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.relay.attach(self.engine, self.outbox, self.processed)
        self.on_commit(lambda _events: self.relay.wake())

    def start(self):
        # the service is set up (everything it loads at start is loaded): see settle_heap
        settle_heap()

    def stop(self):
        if self.engine is not None:
            self.engine.dispose()

    def kill(self):
        self.stop()

    def on_commit(self, callback) -> None:
        """Call ``callback(events)`` after a commit that emitted events."""
        self._listeners.append(callback)

    def get_dependency(self, worker_ctx):
        uow = UnitOfWork(self.sessionmaker, self.container.service_name, self.outbox, self.processed)
        self._units[worker_ctx] = uow
        return uow

    def unit_of_work(self, worker_ctx) -> UnitOfWork | None:
        return self._units.get(worker_ctx)

    def recorded_result(self, consumer: str, key: str) -> Recorded:
        """Whether ``consumer`` already processed ``key``, and the reply it gave."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(self.processed.c.result).where(
                    self.processed.c.consumer == consumer, self.processed.c.event_id == key
                )
            ).first()
        return Recorded(row is not None, row.result if row is not None else None)

    def commit(self, worker_ctx) -> None:
        uow = self._units.get(worker_ctx)
        if uow is None:
            return
        if uow.touched:
            uow.session.commit()
        if uow.emitted:
            emitted, uow.emitted = uow.emitted, []
            for callback in self._listeners:
                callback(emitted)
        callbacks, uow.after_commit = uow.after_commit, []
        for callback in callbacks:
            callback()

    def rollback(self, worker_ctx) -> None:
        uow = self._units.get(worker_ctx)
        if uow is not None:
            if uow.touched:
                uow.session.rollback()
            uow.forget_since(NOTHING_YET)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self.commit(worker_ctx)
        else:
            self.rollback(worker_ctx)

    def worker_teardown(self, worker_ctx):
        uow = self._units.pop(worker_ctx, None)
        if uow is not None and uow.touched:
            uow.session.close()


def databases_of(container) -> list[Database]:
    return [d for d in container.dependencies if isinstance(d, Database)]


def finish_unit_of_work(worker_ctx, exc_info):
    """Commit (or roll back) every Database of the worker's container.

    Called by werkbrug's entrypoints before they reply or ack. Returns the
    exc_info the caller should see: a failed commit becomes the error.
    """
    import sys

    databases = databases_of(worker_ctx.container)
    if exc_info is not None:
        _roll_back(databases, worker_ctx)
        return exc_info
    try:
        for db in databases:
            db.commit(worker_ctx)
    except Exception:
        log.exception("commit failed for %s", worker_ctx)
        failed = sys.exc_info()
        _roll_back(databases, worker_ctx)
        return failed
    return None


def _roll_back(databases, worker_ctx) -> None:
    """Roll back, come what may: on a connection the database just dropped the
    rollback fails too, and that must not escape into nameko (it would stop
    the service); the transaction is gone with the connection anyway."""
    for db in databases:
        try:
            db.rollback(worker_ctx)
        except Exception:
            log.warning("rollback failed for %s; the connection is discarded", worker_ctx, exc_info=True)
