"""Fairness of the rankings served, per target group, as metrics and for the RPC.

Counted in memory as rankings are served (a ranking is a read: writing a row
for each would cost more than the ranking). Prometheus sums the counters of
every replica and copes with a restart's reset.

With several replicas each counts the rankings it served and hands its counts,
every ``MATCHING_FAIRNESS_REPORT_SECONDS``, to reporting (``report_fairness``,
the event's subject its instance) and, in the same transaction, to its row of
``fairness_counts`` in matching's database. ``matching.fairness`` answers for the
whole service on every replica: every other instance's row (replicas, and this
service's earlier lives) plus what this instance counted in memory. What another
replica served reaches it at that replica's next report; a replica that is
SIGKILLed loses what it served since its last report, as one instance would.
"""

from __future__ import annotations

import copy
import os
import socket
import uuid
from collections import Counter as CounterOf
from datetime import datetime

from nameko.extensions import DependencyProvider
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.domain import FairnessTally
from matching.models import FairnessCount
from werkbrug_shared.events.envelope import utcnow

RANKINGS = Counter(
    "werkbrug_matching_rankings_total", "Rankings of candidates for a vacancy served.", ["service"])
IN_TOP = Counter(
    "werkbrug_matching_top10_candidates_total",
    "Candidates served in a top 10, by target group (a person may be in several groups).",
    ["service", "target_group"])
ELIGIBLE = Counter(
    "werkbrug_matching_eligible_candidates_total",
    "Candidates in the eligible pool of a ranking served, by target group.",
    ["service", "target_group"])
SERVED_TOTAL = Counter(
    "werkbrug_matching_top10_served_total", "Candidates served in a top 10, all groups.", ["service"])
ELIGIBLE_TOTAL = Counter(
    "werkbrug_matching_eligible_total", "Candidates in the eligible pools of rankings served, all groups.",
    ["service"])


class FairnessMetrics(DependencyProvider):
    """Counts every ranking's target-group shares; ``served`` and ``report`` for the service."""

    def setup(self):
        self.tally = FairnessTally()
        self.service = self.container.service_name
        # what was served since the last matching.fairness_counted event (reporting's figures)
        self.unreported = FairnessTally()
        self.unreported_since: datetime | None = None
        # this life of this process (a container restarted in its pod may get the same host and pid)
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def get_dependency(self, worker_ctx):
        return self

    def served(self, fairness: dict | None) -> None:
        if not fairness:
            return
        self.tally.add(fairness)
        if self.unreported.rankings == 0:
            self.unreported_since = datetime.now().astimezone()
        self.unreported.add(fairness)
        RANKINGS.labels(self.service).inc()
        SERVED_TOTAL.labels(self.service).inc(fairness["top"])
        ELIGIBLE_TOTAL.labels(self.service).inc(fairness["eligible"])
        for group, count in fairness["top_by_group"].items():
            IN_TOP.labels(self.service, group).inc(count)
        for group, count in fairness["eligible_by_group"].items():
            ELIGIBLE.labels(self.service, group).inc(count)

    def report(self, session: Session) -> dict:
        """The service's shares: every other instance's reported counts and all of this one's."""
        total = copy.deepcopy(self.tally)
        for row in session.scalars(select(FairnessCount).where(FairnessCount.instance != self.instance)):
            total.merge(tally_of(row))
        return total.report()

    def store(self, session: Session, counted: FairnessTally) -> None:
        """Add ``counted`` to this instance's row (in the transaction that reports it)."""
        row = session.get(FairnessCount, self.instance, with_for_update=True)
        if row is None:
            row = FairnessCount(instance=self.instance, rankings=0, top_total=0, pool_total=0, in_top={},
                                in_pool={})
            session.add(row)
        stored = tally_of(row)
        stored.merge(counted)
        row.rankings, row.top_total, row.pool_total = stored.rankings, stored.top_total, stored.pool_total
        row.in_top, row.in_pool = dict(stored.in_top), dict(stored.in_pool)
        row.updated_at = utcnow()

    def unreported_counts(self) -> tuple[FairnessTally, datetime | None]:
        """A copy of what is not yet reported; ``reported`` takes it off once its event is committed."""
        return copy.deepcopy(self.unreported), self.unreported_since

    def reported(self, counted: FairnessTally) -> None:
        self.unreported.subtract(counted)
        if self.unreported.rankings == 0:
            self.unreported_since = None


def tally_of(row: FairnessCount) -> FairnessTally:
    return FairnessTally(rankings=row.rankings, top_total=row.top_total, pool_total=row.pool_total,
                         in_top=CounterOf(row.in_top), in_pool=CounterOf(row.in_pool))
