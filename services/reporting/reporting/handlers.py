"""Reporting's operations over a unit of work: what the entrypoints in :mod:`reporting.service`
call, one each, once they have parsed the request.

Reporting decides nothing about the world: it stores what the other services tell it and
answers figures. So its handlers are few: :func:`store_events` puts a batch of events in the
event store and folds them into the read models (:mod:`reporting.projections`, with the pure
rules of :mod:`reporting.domain`), and the figures read those models (:mod:`reporting.queries`).
:class:`BoardCache` decides when the board is computed again. Every function takes the unit of
work, and the ones whose answer depends on the date take it from the services' clock
(``werkbrug_shared.clock``), so a test can fix it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date

from reporting import feed as feed_module
from reporting import projections, queries, webhooks
from werkbrug_shared.db import UnitOfWork
from werkbrug_shared.events.catalogue import schema_for


def store_events(uow: UnitOfWork, events: Sequence) -> None:
    """Every catalogued event lands here once; the read models follow in the same commit.

    An event is stored as it came over the wire; one built in this process (no wire form)
    is dumped by its catalogue schema first."""
    wire = [event.wire_data if event.wire_data is not None else schema_for(event.type).dump(event.data)
            for event in events]
    projections.store(uow.session, events, wire)


def outflow(uow: UnitOfWork, query: dict) -> dict:
    """``query`` as :class:`queries.FigureQuery` loads it."""
    return queries.outflow(uow.session, query)


def durability(uow: UnitOfWork, query: dict) -> dict:
    return queries.durability(uow.session, query)


def targets(uow: UnitOfWork, definitions: list[dict], today: date) -> list[dict]:
    return queries.targets(uow.session, definitions, today)


def board_version(uow: UnitOfWork) -> dict:
    return {"version": queries.version(uow.session)}


def board(uow: UnitOfWork, cache: BoardCache, definitions: list[dict], today: date) -> dict:
    """The board of the read models' current version, or the cache's last one while it throttles."""
    session = uow.session
    if cache.fresh(queries.version(session), today):
        return cache.board
    return cache.compute(lambda: queries.board(session, definitions, today), today)


class BoardCache:
    """The last board computed. A new one is computed when the read models changed (their
    version moved) or the day did, but not sooner than ``min_interval`` seconds, nor than
    ``share`` times as long as boards take: while events stream in, the version moves
    with every batch, and a page polling it must not keep the service computing boards
    (at most 1/(1 + share) of its time goes to them). How long boards take is smoothed over
    the last few, and the wait is at most ``max_wait``: one board slowed down (a busy machine,
    a collection) once made the next wait twice as long, and the board lagged the read
    models by up to a second. One board is computed at a time; meanwhile the last one
    answers (the one in work is as fresh as any a second call would make).

    Per process, and right with several replicas: each keeps its own last board, checked against
    the read models' version in the database on every call, so every replica serves the board of
    the current version, or, while it throttles, one computed at most ``max_wait`` (or one
    computation) ago, as one process does. Replicas throttle apart, so a page polling two may get
    an older board after a newer one, by at most that much; board.js shows it until its next poll
    brings the newer one back (tests/integration/test_replicas_agree.py: settled, every replica
    serves the same board)."""

    def __init__(self, min_interval: float = 0.05, share: float = 2.0, max_wait: float = 0.2,
                 smoothing: float = 0.3):
        self.min_interval, self.share, self.max_wait, self.smoothing = min_interval, share, max_wait, smoothing
        self.version = self.day = self.board = None
        self.computed_at = self.took = 0.0
        self.computing = False

    def fresh(self, version: int, day) -> bool:
        if self.board is None or self.day != day:
            return False
        if self.version == version or self.computing:
            return True
        wait = min(self.max_wait, max(self.min_interval, self.share * self.took))
        return time.monotonic() - self.computed_at < wait

    def compute(self, make, day) -> dict:
        started = time.monotonic()
        self.computing = True
        try:
            board = make()
        finally:
            self.computing = False
        self.version, self.day, self.board = board["version"], day, board
        self.computed_at = time.monotonic()
        took = self.computed_at - started
        self.took = took if not self.took else self.took + self.smoothing * (took - self.took)
        return board


# --- the partner change feed, webhooks and inzage (reporting.feed, reporting.webhooks) -----------

def feed(uow: UnitOfWork, organisation: str, after, types, limit) -> dict:
    """What ``organisation`` may see after position ``after`` (see :mod:`reporting.feed`)."""
    after, types, limit = feed_module.check_query(after, types, limit)
    return feed_module.read(uow.session, organisation, after, types, limit)


def feed_snapshot(uow: UnitOfWork) -> dict:
    return feed_module.snapshot(uow.session)


def subscribe_webhook(uow: UnitOfWork, caller, url, types, after, now, settings) -> dict:
    return webhooks.subscribe(uow.session, caller.organisation, caller.professional, url, types, after, now,
                              settings)


def list_webhooks(uow: UnitOfWork, caller) -> list[dict]:
    return webhooks.list_for(uow.session, caller.organisation)


def unsubscribe_webhook(uow: UnitOfWork, caller, subscription_id) -> dict:
    return webhooks.unsubscribe(uow.session, caller.organisation, subscription_id)


def webhook_dead_letters(uow: UnitOfWork, caller, subscription_id, limit) -> list[dict]:
    _, _, limit = feed_module.check_query(None, None, limit)
    return webhooks.dead_letters(uow.session, caller.organisation, subscription_id, limit)


def replay_webhook(uow: UnitOfWork, caller, subscription_id, after, now) -> dict:
    return webhooks.replay(uow.session, caller.organisation, subscription_id, after, now)


def deliver_webhooks(uow: UnitOfWork, post, settings, now) -> int:
    return webhooks.deliver_some(uow.session, post, settings, now)


def inzage(uow: UnitOfWork, caller, candidate_id, registered_by) -> dict:
    """Every stored event naming the person, for the organisation that registered them only.
    ``registered_by(candidate_id)`` answers who did when no stored event says so."""
    return feed_module.inzage(uow.session, caller.organisation, candidate_id, registered_by)
