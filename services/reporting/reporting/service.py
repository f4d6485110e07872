"""Reporting's entrypoints: every event into the store, figures from the read models (the
operations are in :mod:`reporting.handlers`)."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from reporting import handlers, queries
from reporting.business_metrics import BusinessMetrics
from reporting.handlers import BoardCache
from reporting.models import metadata
from reporting.rebuild import KeepReadModelsCurrent
from werkbrug_shared.clock import Today
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.events import CATALOGUE
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load


class Targets(DependencyProvider):
    """``REPORTING_TARGETS`` from the config, checked when the service starts (a bad entry stops it
    with the entry and field named). Every replica reads the same config."""

    def setup(self):
        self.targets = queries.load_targets(self.container.config.get("REPORTING_TARGETS"))

    def get_dependency(self, worker_ctx):
        return self.targets


class ReportingService:
    name = "reporting"

    db = Database(metadata)
    metrics = EntrypointMetrics()
    business_metrics = BusinessMetrics()
    upkeep = KeepReadModelsCurrent()
    targets_config = Targets()
    cache = BoardCache()
    clock = Today()

    @event_handler(*CATALOGUE, batch=True)
    def store(self, events):
        """Every catalogued event lands here once; the read models follow in the same commit."""
        handlers.store_events(self.db, events)

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
        return handlers.outflow(self.db, query)

    @rpc(public=True)
    def durability(self, cohort=None, trajectory=None, target_group=None, region=None, period=None, suppress=True,
                   group_by=None):
        """Placements still working 6 and 12 months after their start, as CBS counts them: of the
        placements whose mark is decided (sustained, or ended), the share that reached it."""
        query = load(queries.FigureQuery(), {
            "cohort": cohort, "trajectory": trajectory, "target_group": target_group, "region": region,
            "period": period, "suppress": suppress, "group_by": group_by}, "durability query")
        return handlers.durability(self.db, query)

    @rpc(public=True)
    def targets(self):
        """Each configured target (``REPORTING_TARGETS``): realised against the target, per month."""
        return handlers.targets(self.db, self.targets_config, self.clock.today())

    @rpc(public=True)
    def board_version(self):
        """The read models' version: it grows with every change; fetch ``board()`` when it did."""
        return handlers.board_version(self.db)

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
        return handlers.board(self.db, self.cache, self.targets_config, self.clock.today())
