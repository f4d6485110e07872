"""The index change log: how every matching replica serves the same index.

Each matching process ranks from an index in its memory. With several replicas
on competing consumers, each takes only part of the events and calls, so the
index cannot follow what *this* process did: it follows what was committed.

- Writers: whatever changes a table the index is built from (indexed candidates,
  indexed vacancies, learned modules) adds a row (kind, key) to ``index_changes``
  in the same transaction (:func:`record`).
- Readers: every replica applies the rows after the last position it applied
  (:class:`ChangeFollower`), reading the current rows for those keys again. So
  applying is idempotent, and the order between keys does not matter: only that
  each key is read after its change committed, and that two applications in one
  process do not overtake each other (one at a time, under a lock).

Gaps. On PostgreSQL a position comes from a sequence when the row is inserted,
and transactions commit in any order: 11 may become visible after 12. A follower
that moved past 11 would never apply it. The ways out: a lock serialising every
writer of the log up to its commit (commit order is then position order, but
every write of matching, over all replicas, would commit one at a time: the
placements and event batches that the pipeline's throughput rests on), reading
in commit order (transaction-id snapshots, PostgreSQL only), or noting the gap.
We note gaps: a position skipped is asked for again with every read, for
``GAP_PATIENCE``; when it shows up it is applied (late, but within one poll of
its commit); one that never shows was rolled back (or is a sequence's jump
after a crash) and is forgotten. A position is taken inside its transaction, so
it commits within the rest of that transaction: seconds, where the patience is
minutes. SQLite has one writer at a time: positions commit in order there, and
``AUTOINCREMENT`` hands none out twice.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, timedelta

from eventlet.semaphore import Semaphore
from prometheus_client import Gauge, Histogram
from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session

from matching.models import IndexChange, IndexedCandidate, IndexedVacancy, LearnedModule, MatchingConsent
from matching.profiles import CandidateProfile, VacancyProfile
from werkbrug_shared.db import insert_rows
from werkbrug_shared.events.envelope import utcnow

log = logging.getLogger(__name__)

# what changed, and so what a follower reads again
CANDIDATE = "candidate"  # the profile and pool state, or the erasure (the row is gone)
POOL = "pool"  # only whether the candidate may be ranked (a placement recorded or ended, consent to matching)
VACANCY = "vacancy"
MODULE = "module"  # a module a trajectory taught: key is its name

GAP_PATIENCE = 300.0  # seconds a skipped position is looked for
START_WINDOW = 1000  # positions below the last at start-up that may still be in flight
START_PATIENCE = 60.0
LARGEST_GAP = 10_000  # a jump wider than this (a sequence set by hand) is not waited for
CHUNK = 2000  # changes read and applied at a time
IDS_PER_QUERY = 1000

POSITION = Gauge("werkbrug_matching_index_position",
                 "The last change of the index change log this replica applied.", ["service"])
LAG = Histogram("werkbrug_matching_index_change_lag_seconds",
                "From a change being written (just before its commit) to this replica's index holding it.",
                ["service"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def candidate_profile_of(row: IndexedCandidate) -> CandidateProfile:
    """A stored row as a profile; rows indexed before full profiles were kept have the spine's fields."""
    data = row.profile or {
        "candidate_id": row.candidate_id, "region": row.region, "pc4": row.pc4,
        "target_groups": row.target_groups, "skills": row.skills, "hours_per_week": row.hours_per_week,
        "conditions": row.conditions, "cohort": row.cohort,
    }
    return CandidateProfile.from_event(data)


def vacancy_profile_of(row: IndexedVacancy) -> VacancyProfile:
    data = dict(row.profile or {
        "vacancy_id": row.vacancy_id, "employer_id": row.employer_id, "region": row.region, "pc4": row.pc4,
        "skills_required": row.skills_required, "hours_per_week": row.hours_per_week, "openings": row.openings,
    })
    data["status"], data["openings"] = row.status, row.openings
    # who may see it: the columns, kept also for rows indexed before profiles were
    data["visibility"] = row.visibility or data.get("visibility")
    if row.steward_organisations is not None:
        data["steward_organisations"] = row.steward_organisations
    return VacancyProfile.from_event(data)


def record(session: Session, kind: str, keys) -> None:
    """Note in the log, in the transaction that changed them, that these keys changed."""
    now = utcnow()
    rows = [{"kind": kind, "key": key, "changed_at": now} for key in dict.fromkeys(keys)]
    insert_rows(session, IndexChange.__table__, rows)


def prune(engine, older_than: timedelta) -> int:
    """Forget changes older than ``older_than``: a replica that starts builds from the tables."""
    with engine.begin() as conn:
        return conn.execute(delete(IndexChange).where(IndexChange.changed_at < utcnow() - older_than)).rowcount


def _last_position(session: Session) -> int:
    """The last position handed out: the log's, or once every row was pruned, its sequence's."""
    last = session.scalar(select(func.max(IndexChange.position)))
    if last is not None:
        return last
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(text("SELECT pg_sequence_last_value(CAST(pg_get_serial_sequence("
                                   "'index_changes', 'position') AS regclass))")) or 0
    return session.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'index_changes'")) or 0


def _chunks(items: list, size: int = IDS_PER_QUERY):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class ChangeFollower:
    """Where one replica is in the log, and how it applies what follows."""

    def __init__(self, engine, service: str = "matching"):
        self.engine = engine
        self.position = 0  # the highest position seen
        self.missing: dict[int, float] = {}  # positions skipped -> until when they are looked for
        self.caught_up_at = time.monotonic()  # the last catch-up that read the log
        self._applying = Semaphore()
        self._position_gauge, self._lag = POSITION.labels(service), LAG.labels(service)

    def start(self, session: Session) -> None:
        """Before the index is read from the tables: from where to follow. A change committed
        while the tables are read comes after this and is applied again, which is harmless.
        Positions just below the last that are not there yet may be in transactions still
        committing: they are looked for a while, like any gap."""
        last = _last_position(session)
        present = set(session.scalars(select(IndexChange.position).where(IndexChange.position > last - START_WINDOW)))
        until = time.monotonic() + START_PATIENCE
        self.position = last
        self.missing = {p: until for p in range(max(last - START_WINDOW, 0) + 1, last + 1) if p not in present}
        self._position_gauge.set(last)

    def catch_up(self, index) -> int:
        """Apply every change committed since the last catch-up; returns how many were applied."""
        applied = 0
        while True:
            # a chunk at a time, so a worker's catch-up after its commit never waits for a long one
            with self._applying, Session(self.engine) as session:
                rows = self._read(session)
                fresh = self._take(rows)
                if fresh:
                    apply(session, index, [(r.kind, r.key) for r in fresh])
                self.caught_up_at = time.monotonic()
            if fresh:
                now = utcnow()
                for r in fresh:  # SQLite gives the time back without its zone (UTC)
                    changed_at = r.changed_at if r.changed_at.tzinfo else r.changed_at.replace(tzinfo=UTC)
                    self._lag.observe(max((now - changed_at).total_seconds(), 0.0))
                self._position_gauge.set(self.position)
                applied += len(fresh)
            if len(rows) < CHUNK:
                return applied

    def _read(self, session: Session):
        c = IndexChange
        wanted = c.position > self.position
        if self.missing:
            wanted = or_(wanted, c.position.in_(list(self.missing)))
        return session.execute(select(c.position, c.kind, c.key, c.changed_at).where(wanted)
                               .order_by(c.position).limit(CHUNK)).all()

    def _take(self, rows) -> list:
        """Move past ``rows`` (in position order), noting the positions skipped; returns those
        not applied before."""
        now = time.monotonic()
        fresh = []
        for row in rows:
            if self.missing.pop(row.position, None) is not None:
                fresh.append(row)
            elif row.position > self.position:
                if row.position - self.position <= LARGEST_GAP:
                    until = now + GAP_PATIENCE
                    self.missing.update((p, until) for p in range(self.position + 1, row.position))
                else:
                    log.warning("the index change log jumped from %s to %s; not waiting for what is between",
                                self.position, row.position)
                self.position = row.position
                fresh.append(row)
        for position in [p for p, until in self.missing.items() if until < now]:
            del self.missing[position]  # rolled back
        return fresh


# Rows as plain tuples (Core), not ORM objects: the profile functions read the same attribute
# names, and loading 50,000 ORM entities was a tenth of matching's CPU in a bulk import.
CANDIDATES, VACANCIES = IndexedCandidate.__table__, IndexedVacancy.__table__


def apply(session: Session, index, changes: list[tuple[str, str]]) -> None:
    """Make the index hold what the tables now hold for these keys."""
    def keys(kind):
        return {key for k, key in changes if k == kind}

    full, vacancies, modules = keys(CANDIDATE), keys(VACANCY), keys(MODULE)
    # a pool change of a candidate this index does not hold yet needs the whole profile
    pool = {key for key in keys(POOL) - full if key in index}
    full |= keys(POOL) - full - pool
    for ids in _chunks(sorted(full)):
        found = set()
        withdrawn = withdrawn_consents(session, ids)
        for row in session.execute(select(CANDIDATES).where(CANDIDATES.c.candidate_id.in_(ids))):
            _follow_consent(index, row.candidate_id, withdrawn)  # first: never ranked before it is known
            index.upsert_candidate(candidate_profile_of(row), in_pool=row.in_pool)
            found.add(row.candidate_id)
        for candidate_id in set(ids) - found:  # erased
            index.remove_candidate(candidate_id)
    for ids in _chunks(sorted(pool)):
        found = set()
        withdrawn = withdrawn_consents(session, ids)
        for candidate_id, in_pool in session.execute(select(IndexedCandidate.candidate_id, IndexedCandidate.in_pool)
                                                     .where(IndexedCandidate.candidate_id.in_(ids))):
            _follow_consent(index, candidate_id, withdrawn)
            index.set_in_pool(candidate_id, in_pool)
            found.add(candidate_id)
        for candidate_id in set(ids) - found:
            index.remove_candidate(candidate_id)
    for ids in _chunks(sorted(vacancies)):
        found = set()
        for row in session.execute(select(VACANCIES).where(VACANCIES.c.vacancy_id.in_(ids))):
            index.upsert_vacancy(vacancy_profile_of(row))
            found.add(row.vacancy_id)
        for vacancy_id in set(ids) - found:
            index.remove_vacancy(vacancy_id)
    for names in _chunks(sorted(modules)):
        for module, skill in session.execute(select(LearnedModule.module, LearnedModule.skill)
                                             .where(LearnedModule.module.in_(names))):
            index.learn_module(module, skill)


def withdrawn_consents(session: Session, ids=None) -> set[str]:
    """Who withdrew their consent to matching (of ``ids``, or all)."""
    stmt = select(MatchingConsent.candidate_id).where(MatchingConsent.given.is_(False))
    if ids is not None:
        stmt = stmt.where(MatchingConsent.candidate_id.in_(ids))
    return set(session.scalars(stmt))


def _follow_consent(index, candidate_id: str, withdrawn: set[str]) -> None:
    """The index's consent to matching for an indexed candidate as the table holds it (scoring.rankable)."""
    if (candidate_id in withdrawn) != index.withdrew(candidate_id):
        index.set_consent(candidate_id, candidate_id not in withdrawn)
