"""The read models in the database: load what a batch touches, apply the pure
rules of :mod:`reporting.domain` in memory, write back what changed.

A :class:`Projector` serves one batch, live (the ``store`` handler, in the
same transaction as the event store write) or in a rebuild (the same class,
fed from the store). It first takes the lock on the state row, so batches and
a rebuild apply one after another; then it loads every row the batch touches
in one query per table, and writes the changed rows back in bulk: the stored
ones deleted, all of them inserted again (COPY on PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import String, any_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from reporting import domain, feed
from reporting.models import (
    ErasedCandidate,
    Fairness,
    Person,
    Placement,
    ReadModelState,
    StoredEvent,
    Task,
    Vacancy,
)
from werkbrug_shared.db import insert_rows
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.events.types import CANDIDATE_ERASED, MATCHING_FAIRNESS_COUNTED

STATE_ID = 1
# bump when the projection rules change: the service rebuilds its read models on start
READ_MODEL_VERSION = 1

# What an erased person's events keep: ids, dates and the bounded groupings the
# counts use. The matching profile (area, skills, wishes, conditions) goes.
KEPT_AFTER_ERASURE = frozenset({
    "candidate_id", "placement_id", "vacancy_id", "employer_id", "plan_id", "task_id", "match_id",
    "jobcoach_id", "region", "target_groups", "cohort", "trajectory", "module", "start_date", "end_date",
    "months", "outcome", "from_status", "to_status", "hours_per_week", "task_count", "kind", "due",
    "organisation",
})

TABLES = {  # ReadModels attribute -> (table, key column)
    "people": (Person.__table__, "candidate_id"),
    "placements": (Placement.__table__, "placement_id"),
    "tasks": (Task.__table__, "task_id"),
    "vacancies": (Vacancy.__table__, "vacancy_id"),
}


def anonymised(data: dict) -> dict:
    return {k: v for k, v in data.items() if k in KEPT_AFTER_ERASURE}


def projects(event_type: str) -> bool:
    return event_type in domain.PROJECTIONS


def _key_in(session: Session, column, keys):
    keys = list(keys)
    if session.get_bind().dialect.name == "postgresql":
        # one short statement with an array parameter, however many keys
        return column == any_(bindparam(None, keys, type_=postgresql.ARRAY(String())))
    return column.in_(keys)


def lock_state(session: Session) -> dict:
    """The state row, locked until this transaction ends (made if missing)."""
    row = session.execute(
        select(ReadModelState.__table__).where(ReadModelState.id == STATE_ID).with_for_update()
    ).mappings().first()
    if row is None:
        row = {"id": STATE_ID, "version": 0, "as_of": None, "updated_at": None, "read_model_version": 0,
               "fairness_top_total": 0, "fairness_eligible_total": 0}
        session.execute(ReadModelState.__table__.insert().values(**row))
    return dict(row)


def read_state(session: Session) -> dict | None:
    row = session.execute(
        select(ReadModelState.__table__).where(ReadModelState.id == STATE_ID)).mappings().first()
    return dict(row) if row is not None else None


def write_state(session: Session, **values) -> None:
    session.execute(update(ReadModelState.__table__).where(ReadModelState.id == STATE_ID).values(**values))


class Projector:
    """Applies events, given as ``(type, data, time, event_id)``, to the read models.

    Live, one serves a batch: :meth:`load`, :meth:`apply_all`, :meth:`write`.
    A rebuild keeps one for the whole replay: it loads only rows it does not
    hold yet (none at all before its first flush: the tables started empty),
    and writes and forgets them whenever it holds more than a bound.
    """

    def __init__(self, session: Session, state: dict | None = None, empty: bool = False):
        self.session = session
        # the lock first: rows loaded after it are what the last batch (or a rebuild) committed
        self.state = state if state is not None else lock_state(session)
        self.stored_may_exist = not empty
        self.changed = False
        meta = {k: self.state[k] for k in ("as_of", "fairness_top_total", "fairness_eligible_total")}
        if meta["as_of"] is not None:
            meta["as_of"] = domain.aware(meta["as_of"])
        self.models = domain.ReadModels(meta=meta)
        self.forget()

    def forget(self) -> None:
        """Drop the rows held (after :meth:`write`): later batches load them again if they need them."""
        for name in TABLES:
            getattr(self.models, name).clear()
        self.models.fairness.clear()
        self.before: dict[str, dict] = {name: {} for name in (*TABLES, "fairness")}
        self.meta_before = dict(self.models.meta)
        self.fairness_loaded = False

    def held(self) -> int:
        return sum(len(getattr(self.models, name)) for name in TABLES)

    def load(self, events) -> None:
        """Hold every row these events may change (one query per table for those not held yet)."""
        keys = domain.keys_touched((t, d) for t, d, _, _ in events if projects(t))
        for name, (table, key) in TABLES.items():
            held = getattr(self.models, name)
            missing = [k for k in keys[name] if k not in held]
            if not missing or not self.stored_may_exist:
                continue
            before = self.before[name]
            for row in self.session.execute(select(table).where(_key_in(self.session, table.c[key], missing))):
                held[row[0]] = dict(row._mapping)
                before[row[0]] = dict(row._mapping)
        if not self.fairness_loaded and any(t == MATCHING_FAIRNESS_COUNTED for t, _, _, _ in events):
            self.fairness_loaded = True
            if self.stored_may_exist:
                for row in self.session.execute(select(Fairness.__table__)).mappings():
                    self.models.fairness[row["target_group"]] = dict(row)
                    self.before["fairness"][row["target_group"]] = dict(row)

    def apply_all(self, events) -> None:
        for event_type, data, moment, event_id in events:
            domain.apply(self.models, event_type, data, moment, event_id)

    def write(self, bump: bool = True) -> bool:
        """Write back the rows that changed since they were loaded (stored ones deleted, all
        inserted in bulk); with ``bump``, a new version on the state row. True if anything changed."""
        changed = False
        for name in (*TABLES, "fairness"):
            table, key = TABLES[name] if name in TABLES else (Fairness.__table__, "target_group")
            before = self.before[name]
            rows = [row for k, row in getattr(self.models, name).items() if before.get(k) != row]
            if not rows:
                continue
            changed = True
            stored = [row[key] for row in rows if row[key] in before]
            if stored:
                self.session.execute(delete(table).where(_key_in(self.session, table.c[key], stored)))
            insert_rows(self.session, table, rows)
            self.stored_may_exist = True
        meta = self.models.meta
        if meta != self.meta_before:
            changed = True
        values = {"as_of": meta["as_of"], "fairness_top_total": meta["fairness_top_total"],
                  "fairness_eligible_total": meta["fairness_eligible_total"]}
        if changed and bump:
            self.state["version"] += 1
            write_state(self.session, version=self.state["version"], updated_at=utcnow(), **values)
        elif changed:
            write_state(self.session, **values)
        self.state.update(values)
        self.changed = self.changed or changed
        return changed


def apply(session: Session, event_type: str, data: dict, moment, event_id: str) -> None:
    """One event through the read models: a batch of one."""
    events = [(event_type, data, moment, event_id)]
    projector = Projector(session)
    projector.load(events)
    projector.apply_all(events)
    projector.write()


def erased_among(session: Session, candidate_ids) -> set[str]:
    ids = set(candidate_ids) - {None}
    if not ids:
        return set()
    return set(session.scalars(select(ErasedCandidate.candidate_id).where(
        _key_in(session, ErasedCandidate.candidate_id, ids))))


def erase(session: Session, candidate_id: str, known_erased: set[str]) -> None:
    """AVG erasure: a tombstone, and this person's stored events stripped down to what the counts need.

    The read models hold ids and groupings only; their counts stay.
    """
    if candidate_id not in known_erased:
        known_erased.add(candidate_id)
        session.add(ErasedCandidate(candidate_id=candidate_id, erased_at=utcnow()))
    session.flush()  # rare; the events stored earlier in this batch must be found too
    for stored in session.scalars(select(StoredEvent).where(StoredEvent.candidate_id == candidate_id)):
        stored.data = anonymised(stored.data)


def store(session: Session, events, wire: list[dict]) -> None:
    """The live handler's work for a batch: every event into the store, the read models after.

    ``wire`` holds each event's data as it arrived (JSON values). The read
    models get exactly what is stored, so a replay of the store gives the same.
    """
    items, stored, now = [], [], utcnow()
    erased = erased_among(session, [data.get("candidate_id") for data in wire])
    for event, data in zip(events, wire, strict=True):
        candidate_id = data.get("candidate_id")
        if candidate_id in erased:
            data = anonymised(data)
        stored.append({
            "event_id": event.id, "type": event.type, "source": event.source, "subject": event.subject,
            "time": event.time, "data": data, "received_at": now, "candidate_id": candidate_id,
        })
        items.append((event.type, data, event.time, event.id))
    projecting = [item for item in items if projects(item[0])]
    # The lock on the read models first, for every batch, even one they do not follow: then the
    # feed's. A transaction may store several batches (a batch retried event by event), and one
    # that took the feed's lock before the read models' deadlocked with a replica doing the reverse.
    state = lock_state(session)
    projector = None
    if projecting:  # the read models' rows load after the lock
        projector = Projector(session, state)
        projector.load(projecting)
    # the feed's positions, under its own lock (taken after the read models'): gap-free, in commit order
    feed.number(session, stored)
    # stored before an erasure in this batch runs: it must find (and strip) the events before it
    insert_rows(session, StoredEvent.__table__, stored)
    for event_type, data, _, _ in items:
        if event_type == CANDIDATE_ERASED:
            erase(session, data["candidate_id"], erased)
    if projector is not None:
        projector.apply_all(projecting)
        projector.write()
