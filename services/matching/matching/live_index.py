"""The in-memory matching index of one service process, kept with matching's database.

Built from matching's own tables when the service starts; afterwards it changes
only by the index change log (``matching.changes``): every commit that changes
those tables, whichever replica made it, is applied here by reading the rows
again. The index is never ahead of the rows (a rolled-back or retried event
leaves no trace in it), and every replica serves the same index:

- a worker that changed the tables says so (``self.index.changed(kind, keys)``,
  one log row per key in its transaction); once it committed, it wakes its own
  replica's follower, and the others (``replicas``). A worker that answers a
  caller waits for a catch-up that began after its commit before the reply goes
  out, so a caller reads what it wrote from the replica that wrote it; an event
  handler's batch does not wait. Only the follower applies: under load one read of
  the log serves every worker that committed meanwhile, and no worker holds a
  lock across the database;
- every replica also polls the log every ``MATCHING_INDEX_POLL_SECONDS`` (0.25 s),
  so a wake-up lost costs at most that.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from datetime import timedelta

import eventlet
from eventlet.event import Event
from eventlet.queue import Empty, Full, LightQueue
from nameko.extensions import DependencyProvider
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching import changes
from matching.changes import CANDIDATES, VACANCIES, ChangeFollower, candidate_profile_of, vacancy_profile_of
from matching.index import MatchingIndex, compile_queries
from matching.models import LearnedModule
from matching.modules import ModuleCatalogue
from matching.replicas import ChangeBroadcast, ReplicaAddress
from werkbrug_shared.db import databases_of
from werkbrug_shared.entrypoints import ReliableEventHandler

__all__ = ["LiveIndex", "candidate_profile_of", "vacancy_profile_of"]

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 3600
WRITER_WAIT_SECONDS = 2.0  # a worker waits this long for its change to be applied, then answers anyway


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def build(engine, follower: ChangeFollower) -> MatchingIndex:
    """An index of what the tables hold, and the follower placed where that is in the log."""
    started = time.monotonic()
    compile_queries()
    with Session(engine) as session:  # before the rows: what commits meanwhile is applied again after
        follower.start(session)
    with Session(engine) as session:  # the built-in modules and those trajectories taught it
        modules = ModuleCatalogue()
        for row in session.scalars(select(LearnedModule)):
            modules.register(row.module, row.skill)
    index = MatchingIndex(modules=modules)
    # The build makes millions of objects at once, and the garbage collector would walk
    # them again at every threshold (a third of the start-up). What it leaves (the index,
    # ESCO's knowledge) lives as long as the process: frozen, later collections, which
    # come every few requests, leave it out (a full one took a third of a second).
    gc.disable()
    try:
        with Session(engine) as session:
            candidates = session.execute(select(CANDIDATES).execution_options(yield_per=5000))
            profiles, placed = [], []
            for row in candidates:
                profiles.append(candidate_profile_of(row))
                if not row.in_pool:
                    placed.append(row.candidate_id)
            vacancies = [vacancy_profile_of(row) for row in session.execute(select(VACANCIES))]
            withdrawn = changes.withdrawn_consents(session)  # consent to matching (scoring.rankable)
        index.load(profiles, vacancies, not_in_pool=placed, withdrawn=withdrawn)
        counts = len(profiles), len(vacancies)
        del profiles, vacancies, placed, withdrawn
    finally:
        gc.enable()
    gc.collect()
    gc.freeze()
    caught_up = follower.catch_up(index)
    log.info("matching index built from the database: %s candidates, %s vacancies in %.1f s "
             "(at change %s, %s committed meanwhile)", *counts, time.monotonic() - started, follower.position,
             caught_up)
    return index


class WorkerIndex:
    """What a worker gets: the process's index to read, and :meth:`changed` to say what it changed."""

    __slots__ = ("_live", "_worker_ctx")

    def __init__(self, live: LiveIndex, worker_ctx):
        self._live, self._worker_ctx = live, worker_ctx

    def __getattr__(self, name):
        return getattr(self._live.index, name)

    def __contains__(self, candidate_id) -> bool:
        return candidate_id in self._live.index

    def changed(self, kind: str, keys) -> None:
        """These keys (``changes.CANDIDATE``, ``POOL``, ``VACANCY``, ``MODULE``) changed in this
        worker's transaction: logged with it, and in every replica's index once it committed."""
        keys = list(keys)
        if not keys:
            return
        uow = self._live.db.unit_of_work(self._worker_ctx)
        changes.record(uow.session, kind, keys)
        # A caller waiting for an answer reads its own write from this replica; an event
        # handler has nobody waiting, so it does not hold its batch (and the next) back
        # while the follower applies: intake and applying overlap in a bulk import.
        answers = not isinstance(self._worker_ctx.entrypoint, ReliableEventHandler)
        after = self._live.committed if answers else self._live.committed_in_background
        if after not in uow.after_commit:  # (a savepoint rolled back forgets it)
            uow.on_commit(after)


class LiveIndex(DependencyProvider):
    """One :class:`MatchingIndex` per container, shared by every worker, following the log.

    nameko starts every extension at once, so a call or an event can arrive
    while the index is still being built: its worker waits for it.
    """

    broadcast = ChangeBroadcast()
    address = ReplicaAddress()

    def __init__(self):
        self.index: MatchingIndex | None = None
        self.db = None
        self.follower: ChangeFollower | None = None
        self._built = None
        self._wake = None
        self._running = False
        # catch-ups of the follower begun and finished; a worker waiting for its change
        # waits for the first one begun after its commit: (that catch-up's number, event)
        self._begun = self._done = 0
        self._waiting: list[tuple[int, Event]] = []

    def setup(self):
        self._built = Event()
        self._wake = LightQueue(maxsize=1)
        self.poll_seconds = _setting("MATCHING_INDEX_POLL_SECONDS", 0.25)
        self.retention = timedelta(hours=_setting("MATCHING_INDEX_CHANGES_RETENTION_HOURS", 24))

    def start(self):
        (self.db,) = databases_of(self.container)
        self.follower = ChangeFollower(self.db.engine, self.container.service_name)
        self.index = build(self.db.engine, self.follower)
        self._built.send(True)
        self._running = True
        self.container.spawn_managed_thread(self._follow, identifier="index-follower")
        self.broadcast.listen(self.wake)

    def stop(self):
        self._running = False
        self.wake()
        self._begun += 1
        self._caught_up(False)  # nobody waits for a follower that stopped

    def kill(self):
        self._running = False

    def wake(self) -> None:
        if self._wake is not None and self._wake.qsize() == 0:
            with contextlib.suppress(Full):  # already woken
                self._wake.put_nowait(True)

    def committed_in_background(self) -> None:
        """After an event handler's commit that changed the index's tables: every replica,
        this one included, is woken to apply it; nobody waits."""
        self.broadcast.announce()
        self.wake()

    def committed(self) -> None:
        """After a worker's commit that changed the index's tables: the others are told, and this
        worker waits until its own replica's follower has applied it (see the module's notes).
        Nothing may fail here (the commit is done): a follower that cannot read the log now
        releases the worker, and applies the change at its next poll that can."""
        self.broadcast.announce()  # first: it goes out while this replica reads
        applied = Event()
        self._waiting.append((self._begun + 1, applied))
        self.wake()
        if applied.wait(WRITER_WAIT_SECONDS) is None:
            log.warning("a committed index change was not applied within %.0f s; answering before it is",
                        WRITER_WAIT_SECONDS)

    def _caught_up(self, ok: bool) -> None:
        """A catch-up finished (or failed): release the workers it was for."""
        self._done = self._begun
        still = []
        for wanted, applied in self._waiting:
            if wanted <= self._done:
                applied.send(ok)
            else:
                still.append((wanted, applied))
        self._waiting = still

    def _follow(self):
        housekeeping, backoff = time.monotonic() + 60, 1.0
        while self._running:
            try:
                self._wake.get(timeout=self.poll_seconds)
            except Empty:
                pass
            if not self._running:
                return
            self._begun += 1
            try:
                if time.monotonic() - self.follower.caught_up_at > self.retention.total_seconds() / 2:
                    self._rebuild()
                else:
                    self.follower.catch_up(self.index)
                self._caught_up(True)
                backoff = 1.0
            except Exception:
                self._caught_up(False)
                log.warning("could not follow the index change log; trying again in %.0f s", backoff, exc_info=True)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            if time.monotonic() >= housekeeping:
                housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
                try:
                    pruned = changes.prune(self.db.engine, self.retention)
                    log.info("index change log: %s changes older than %s forgotten", pruned, self.retention)
                except Exception:
                    log.warning("could not prune the index change log; trying again later", exc_info=True)

    def _rebuild(self) -> None:
        """Changes are pruned after ``retention``: a replica that could not read the log for half
        of that may have missed some for good, and builds its index anew once it can."""
        log.warning("the index change log was out of reach for %.0f s; building the index anew",
                    time.monotonic() - self.follower.caught_up_at)
        follower = ChangeFollower(self.db.engine, self.container.service_name)
        self.index, self.follower = build(self.db.engine, follower), follower

    def get_dependency(self, worker_ctx):
        if self.index is None:
            self._built.wait()
        return WorkerIndex(self, worker_ctx)


