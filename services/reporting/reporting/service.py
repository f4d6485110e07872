"""Reporting: every event into the store, read models from events only."""

from __future__ import annotations

import time
from datetime import datetime

from nameko.extensions import DependencyProvider

from reporting import domain, projections, queries
from reporting.business_metrics import BusinessMetrics
from reporting.models import metadata
from reporting.rebuild import KeepReadModelsCurrent
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.events import CATALOGUE
from werkbrug_shared.events.catalogue import schema_for
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load


class Targets(DependencyProvider):
    """``REPORTING_TARGETS`` from the config, checked when the service starts (a bad entry stops it
    with the entry and field named). Every replica reads the same config."""

    def setup(self):
        self.targets = queries.load_targets(self.container.config.get("REPORTING_TARGETS"))

    def get_dependency(self, worker_ctx):
        return self.targets


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


def today():
    return datetime.now(domain.AMSTERDAM).date()


class ReportingService:
    name = "reporting"

    db = Database(metadata)
    metrics = EntrypointMetrics()
    business_metrics = BusinessMetrics()
    upkeep = KeepReadModelsCurrent()
    targets_config = Targets()
    cache = BoardCache()

    @event_handler(*CATALOGUE, batch=True)
    def store(self, events):
        """Every catalogued event lands here once; the read models follow in the same commit."""
        wire = [event.wire_data if event.wire_data is not None else schema_for(event.type).dump(event.data)
                for event in events]
        projections.store(self.db.session, events, wire)

    # --- figures --------------------------------------------------------------------------

    @rpc(public=True)
    def outflow(self, cohort=None, trajectory=None, target_group=None, region=None, period=None, suppress=True,
                group_by=None):
        """People in scope (enrolled), placed, the outflow rate, median days to placement and placements
        ended early, for the selection; ``rows`` per ``group_by`` (cohort, trajectory, region,
        target_group) and/or ``period`` (month, quarter, year). Counts of 1-4 read "< 5" and rates
        from them None unless ``suppress=False``."""
        query = load(queries.FigureQuery(), {
            "cohort": cohort, "trajectory": trajectory, "target_group": target_group, "region": region,
            "period": period, "suppress": suppress, "group_by": group_by}, "outflow query")
        return queries.outflow(self.db.session, query)

    @rpc(public=True)
    def durability(self, cohort=None, trajectory=None, target_group=None, region=None, period=None, suppress=True,
                   group_by=None):
        """Placements still working 6 and 12 months after their start, as CBS counts them: of the
        placements whose mark is decided (sustained, or ended), the share that reached it."""
        query = load(queries.FigureQuery(), {
            "cohort": cohort, "trajectory": trajectory, "target_group": target_group, "region": region,
            "period": period, "suppress": suppress, "group_by": group_by}, "durability query")
        return queries.durability(self.db.session, query)

    @rpc(public=True)
    def targets(self):
        """Each configured target (``REPORTING_TARGETS``): realised against the target, per month."""
        return queries.targets(self.db.session, self.targets_config, today())

    @rpc(public=True)
    def board_version(self):
        """The read models' version: it grows with every change; fetch ``board()`` when it did."""
        return {"version": queries.version(self.db.session)}

    @rpc(public=True)
    def board(self):
        """The regional board, suppressed (counts of 1-4 read "< 5", rates from them None). A contract::

            {"version": int, "as_of": ISO time of the latest event applied | None,
             "totals": {enrolled, placed, outflow_rate, median_days_to_placement, ended_early,
                        sustained_6m_rate, sustained_12m_rate},
             "by_target_group": [{"target_group", ...the totals' keys}],   # all six, fixed order
             "by_cohort": [{"cohort", ...the totals' keys}],               # by name
             "trend": [{"period": "2026-01", "enrolled", "placed"}],       # months, oldest first, gaps filled
             "targets": [{"id", "label", "target", "realised", "share", "start", "end",
                          "trend": [{"period": "2026-01", "realised"}]}],  # realised cumulative per month
             "aftercare": [{"organisation", "open", "overdue"}],           # organisations with open tasks
             "fairness": [{"target_group", "top_share", "pool_share"}]}
        """
        session, day = self.db.session, today()
        if self.cache.fresh(queries.version(session), day):
            return self.cache.board
        return self.cache.compute(lambda: queries.board(session, self.targets_config, day), day)
