"""The audit log: every read and change of personal data, append-only and hash-chained.

One piece for every service that holds personal data (candidates, matching, vacancies,
aftercare). A service adds the two tables to its metadata (:func:`audit_tables`) and
creates them in a migration (:func:`create_audit_tables`); a handler calls :func:`record`
in the unit of work that reads or changes the data. An entry says who (organisation,
professional), why (``purpose``), when, and what (operation, candidate id, the kind of record
and the names of its fields), never a value.

**The chain.** Each entry carries ``hash = SHA-256(prev_hash + canonical content)`` where
``prev_hash`` is the previous entry's hash (:data:`GENESIS` for the first) and the content
is the entry's own columns as canonical JSON (:func:`canonical`), its ``seq`` included.
``audit_chain_head`` holds the last seq and hash. Entries recorded in a unit of work are
written when it commits, all at once, under a lock on the head row (``SELECT ... FOR UPDATE``
on PostgreSQL; on SQLite a write to the head row takes the database's write lock first): two
replicas appending at once queue there, so the chain never forks, and the head lock is the
last lock a transaction takes (no deadlock with the rows a handler locked). ``seq`` is the
primary key besides: should two writers ever compute the same position, the second fails
instead of forking. Entries of a rolled-back transaction or savepoint are never written.

:func:`verify` walks a chain and names the first entry that was edited, removed or inserted
(``werkbrug audit check``). It is tamper-evident, not tamper-proof: whoever can rewrite the
whole table and the head can forge a consistent chain; keep the head hash ``check`` prints
somewhere else to anchor it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from nameko.extensions import DependencyProvider
from sqlalchemy import (
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
    event,
    select,
    update,
)
from sqlalchemy.orm import Session

GENESIS = "0" * 64
HEAD_ID = 1
LOG = "audit_log"
HEAD = "audit_chain_head"

# why personal data was read or changed (the operation decides, never the caller)
MEDIATION = "mediation"  # registering, profiling, logbook, plan, matching, shortlists
AFTERCARE = "aftercare"  # jobcoaches' check-ins after a placement
ERASURE = "erasure"  # the person's right to be forgotten (AVG art. 17)
INZAGE = "inzage"  # the person's right of access (AVG art. 15)
RETENTION = "retention"  # removed after the retention period, by the service itself
PURPOSES = frozenset({MEDIATION, AFTERCARE, ERASURE, INZAGE, RETENTION})

READ, CHANGE, REMOVE = "read", "change", "remove"

_PENDING = "werkbrug.audit.pending"


def _log_schema() -> list:
    return [
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), autoincrement=False, nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("organisation", String(64), nullable=True),  # None: the service itself (retention)
        Column("professional", String(64), nullable=True),
        Column("purpose", String(20), nullable=False),
        Column("action", String(10), nullable=False),  # read | change | remove
        Column("operation", String(60), nullable=False),
        Column("candidate_id", String(64), nullable=True),
        Column("record", String(40), nullable=False),  # the kind of record, e.g. log_entry
        Column("fields", Text, nullable=False),  # JSON list of field names, sorted; never values
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        PrimaryKeyConstraint("seq", name="pk_audit_log"),
        Index("ix_audit_log_candidate_id", "candidate_id"),
    ]


def _head_schema() -> list:
    return [
        Column("id", Integer, autoincrement=False, nullable=False),
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
        Column("hash", String(64), nullable=False),
        PrimaryKeyConstraint("id", name="pk_audit_chain_head"),
    ]


def audit_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The audit log and its chain head, in a service's metadata (call once, beside its models)."""
    return Table(LOG, metadata, *_log_schema()), Table(HEAD, metadata, *_head_schema())


def create_audit_tables(op) -> None:
    """For a service's Alembic migration: both tables, and the head of an empty chain."""
    schema = _log_schema()
    op.create_table(LOG, *[c for c in schema if not isinstance(c, Index)])
    for index in (c for c in schema if isinstance(c, Index)):
        op.create_index(index.name, LOG, [getattr(c, "name", c) for c in index.expressions])
    head = op.create_table(HEAD, *_head_schema())
    op.bulk_insert(head, [{"id": HEAD_ID, "seq": 0, "hash": GENESIS}])


def drop_audit_tables(op) -> None:
    op.drop_table(HEAD)
    op.drop_index("ix_audit_log_candidate_id", table_name=LOG)
    op.drop_table(LOG)


# --- the chain rule -------------------------------------------------------------------------

def instant(at: datetime) -> str:
    """A moment as the chain hashes it: UTC, microseconds (SQLite reads it back naive: UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fields_text(fields) -> str:
    return json.dumps(sorted(set(fields)), separators=(",", ":"))


def canonical(row) -> str:
    """An entry's content as hashed: its columns but the hashes, as sorted, compact JSON."""
    return json.dumps({
        "seq": int(row["seq"]), "at": instant(row["at"]), "organisation": row["organisation"],
        "professional": row["professional"], "purpose": row["purpose"], "action": row["action"],
        "operation": row["operation"], "candidate_id": row["candidate_id"], "record": row["record"],
        "fields": row["fields"],
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chained(prev_hash: str, row) -> str:
    return hashlib.sha256((prev_hash + canonical(row)).encode()).hexdigest()


# --- appending ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    at: datetime
    organisation: str | None
    professional: str | None
    purpose: str
    action: str
    operation: str
    candidate_id: str | None
    record: str
    fields: tuple[str, ...]


def record(uow, caller, at: datetime, *, purpose: str, action: str, operation: str, candidate_id: str | None,
           kind: str, fields=()) -> None:
    """Account for a read or change of personal data in ``uow``: written when it commits.

    ``caller`` is the :class:`~werkbrug_shared.actor.Actor` (None: the service itself);
    ``kind`` the kind of record (``personal_data``, ``log_entry``, ``task_note``...);
    ``fields`` the names of the fields read or changed, never their values."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown audit purpose {purpose!r}")
    if action not in (READ, CHANGE, REMOVE):
        raise ValueError(f"unknown audit action {action!r}")
    entry = Entry(at, getattr(caller, "organisation", None), getattr(caller, "professional", None), purpose, action,
                  operation,
                  candidate_id, kind, tuple(fields))
    session: Session = uow.session
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "before_commit", _write_pending)
        event.listen(session, "after_soft_rollback", _forget_rolled_back)
    # tagged with the transaction it belongs to, so a savepoint rolled back takes its entries along
    # begun now if not yet, so that its rollback is seen
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    pending.append((transaction, entry))


def _within(transaction, ended) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _forget_rolled_back(session: Session, previous) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        if previous.parent is None and not previous.nested:
            del pending[:]  # the whole transaction
        else:
            pending[:] = [(t, e) for t, e in pending if not _within(t, previous)]


def _write_pending(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    entries = [e for _, e in pending]
    del pending[:]
    append(session, entries)


_LOG, _HEAD = audit_tables(MetaData())


def append(session: Session, entries: list[Entry]) -> int:
    """Write entries at the chain's head, under its lock; the last seq written."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        head = conn.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()).first()
    else:
        # SQLite: a write takes the database's write lock before the head is read
        conn.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=_HEAD.c.seq))
        head = conn.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)).first()
    if head is None:  # tables made by create_all (unit tests): the chain starts here
        conn.execute(_HEAD.insert().values(id=HEAD_ID, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = int(head.seq), head.hash
    rows = []
    for e in entries:
        seq += 1
        row = {"seq": seq, "at": e.at.astimezone(UTC) if e.at.tzinfo else e.at.replace(tzinfo=UTC),
               "organisation": e.organisation, "professional": e.professional, "purpose": e.purpose,
               "action": e.action, "operation": e.operation, "candidate_id": e.candidate_id, "record": e.record,
               "fields": fields_text(e.fields), "prev_hash": prev}
        row["hash"] = prev = chained(prev, row)
        rows.append(row)
    conn.execute(_LOG.insert(), rows)
    conn.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=seq, hash=prev))
    return seq


# --- reading --------------------------------------------------------------------------------

def entry_dict(row) -> dict:
    return {"seq": int(row.seq), "at": instant(row.at), "organisation": row.organisation,
            "professional": row.professional, "purpose": row.purpose, "action": row.action,
            "operation": row.operation, "candidate_id": row.candidate_id, "record": row.record,
            "fields": json.loads(row.fields)}


def entries_for(session: Session, candidate_id: str, limit: int, after: int | None) -> dict:
    """A candidate's entries, oldest first: ``{"items", "next_cursor"}`` (a seq)."""
    stmt = select(_LOG).where(_LOG.c.candidate_id == candidate_id)
    if after is not None:
        stmt = stmt.where(_LOG.c.seq > after)
    rows = session.execute(stmt.order_by(_LOG.c.seq).limit(limit + 1)).all()
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": [entry_dict(r) for r in rows], "next_cursor": str(rows[-1].seq) if more else None}


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str  # edited | removed | inserted
    detail: str

    def __str__(self) -> str:
        return f"entry {self.seq} {self.problem}: {self.detail}"


@dataclass(frozen=True)
class Checked:
    entries: int
    head_seq: int
    head_hash: str
    first_break: Break | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify(connection) -> Checked:
    """Walk the chain from its start; the first entry edited, removed or inserted, if any."""
    head = connection.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)).first()
    head_seq, head_hash = (int(head.seq), head.hash) if head is not None else (0, GENESIS)
    expected_seq, prev, count = 1, GENESIS, 0
    result = connection.execution_options(yield_per=1000).execute(select(_LOG).order_by(_LOG.c.seq))

    def found(b: Break) -> Checked:
        result.close()
        return Checked(count, head_seq, head_hash, b)

    for row in result:
        count += 1
        seq = int(row.seq)
        content = row._mapping
        if seq > head_seq:
            return found(Break(seq, "inserted", f"the chain's head is at {head_seq}: entry {seq} was not appended"))
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq} to {seq - 1}"
            return found(Break(expected_seq, "removed", f"entries {missing} are missing (the chain goes on at {seq})"))
        if chained(row.prev_hash, content) != row.hash:
            return found(Break(seq, "edited", "its content does not match its hash"))
        if row.prev_hash != prev:
            if seq == 1:
                return found(Break(1, "inserted", "the first entry does not start the chain"))
            return found(Break(seq - 1, "edited", f"entry {seq} links to another hash than entry {seq - 1} has: "
                                                  f"entry {seq - 1} was edited and its hash recomputed "
                                                  f"(or entry {seq} was put in its place)"))
        prev, expected_seq = row.hash, seq + 1
    if expected_seq - 1 < head_seq:
        return Checked(count, head_seq, head_hash,
                       Break(expected_seq, "removed", f"the chain's head is at {head_seq}, the log ends at "
                                                      f"{expected_seq - 1}"))
    if prev != head_hash:
        return Checked(count, head_seq, head_hash,
                       Break(head_seq, "edited", "the last entry's hash is not the head's"))
    return Checked(count, head_seq, head_hash, None)


def page_args(candidate_id, limit=100, cursor=None) -> tuple[str, int, int | None]:
    """``audit_log(candidate_id, limit, cursor)``'s arguments checked, as (candidate_id, limit, after):
    before anyone is asked who may read the log, as every operation parses before it authorises."""
    from werkbrug_shared.pagination import check_limit
    from werkbrug_shared.validation import require_id

    require_id(candidate_id, "candidate_id")
    limit = check_limit(limit)
    after = None
    if cursor is not None:
        if not isinstance(cursor, str) or not cursor.isdigit() or len(cursor) > 19:
            from werkbrug_shared.errors import ValidationError

            raise ValidationError.from_fields("query", {"cursor": ["not a cursor this service gave out"]})
        after = int(cursor)
    return candidate_id, limit, after


def page_asking_custody(session: Session, custodian, candidate_id, limit=100, cursor=None) -> dict:
    """``audit_log`` of a service that does not know who registered the person: arguments checked,
    then ``custodian(candidate_id)`` (candidates', called with the caller's credential: Forbidden
    to any organisation but the registering one), then the page."""
    page = page_args(candidate_id, limit, cursor)
    custodian(candidate_id)
    return entries_for(session, *page)


def page_for(session: Session, candidate_id, limit=100, cursor=None) -> dict:
    """``audit_log(candidate_id, limit, cursor)`` of any service: arguments checked, then a page."""
    return entries_for(session, *page_args(candidate_id, limit, cursor))


# --- inzage and retention, the parts every service shares ------------------------------------

def json_value(value):
    """A stored value as JSON: dates and moments as ISO text."""
    if isinstance(value, datetime):
        return instant(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return None  # ciphertext (the BSN): never exported
    return value


def row_dict(row, columns) -> dict:
    """Named columns of an ORM row, as JSON values."""
    return {c: json_value(getattr(row, c)) for c in columns}


def inzage_reply(service: str, records: dict[str, list]) -> dict:
    """What an ``inzage`` RPC answers: what ``service`` stores on the person, by kind of record."""
    return {"service": service, "records": {kind: rows for kind, rows in records.items()}}


DEFAULT_RETENTION_DAYS = 730  # two years after a record's last activity
RETENTION_BATCH = 2000  # records one retention run removes (per replica, SKIP LOCKED)


def retention_days(config: dict | None = None) -> int:
    """``RETENTION_DAYS`` (container config) or ``WERKBRUG_RETENTION_DAYS``, default 730."""
    import os

    raw = (config or {}).get("RETENTION_DAYS")
    if raw in (None, ""):
        raw = os.environ.get("WERKBRUG_RETENTION_DAYS")
    if raw in (None, ""):
        return DEFAULT_RETENTION_DAYS
    days = int(raw)
    if days < 1:
        raise ValueError(f"RETENTION_DAYS must be a whole number of days from 1, not {raw!r}")
    return days


def retention_cutoff(clock, days: int) -> datetime:
    """Records last active before this moment are past retention: the start of the day, in the
    Netherlands, ``days`` before the clock's today (so a fixed WERKBRUG_TODAY counts too)."""
    from datetime import time, timedelta

    from werkbrug_shared.clock import NL

    return datetime.combine(clock.today() - timedelta(days=days), time.min, tzinfo=NL).astimezone(UTC)


class Retention(DependencyProvider):
    """A service's retention period in days, as a nameko dependency (``self.retention``)."""

    def setup(self):
        self.days = retention_days(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.days
