"""Fairness of the rankings served, per target group, as metrics and for the RPC.

Counted in memory as rankings are served (a ranking is a read: writing a row
for each would cost more than the ranking). Prometheus sums the counters of
every replica and copes with a restart's reset; the RPC answers for this
instance since it started.

With several replicas each counts the rankings it served, and each hands its own
counts to reporting (``report_fairness``, every replica's timer, the event's
subject its instance): reporting adds them up, so the board's fairness is the
service's, whichever replica served what. ``matching.fairness`` stays one
replica's count (no replica knows the others' without a write per ranking); the
replicas' counts, asked at ``matching@<replica>``, add up to what one instance
would have counted (tests/integration/test_replicas_agree.py). A replica that
is SIGKILLed loses what it served since its last report (at most the report
interval's rankings), as one instance would.
"""

from __future__ import annotations

import copy
import os
import socket
from datetime import datetime

from nameko.extensions import DependencyProvider
from prometheus_client import Counter

from matching.domain import FairnessTally

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
        self.instance = f"{socket.gethostname()}-{os.getpid()}"

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

    def report(self) -> dict:
        return self.tally.report()

    def unreported_counts(self) -> tuple[FairnessTally, datetime | None]:
        """A copy of what is not yet reported; ``reported`` takes it off once its event is committed."""
        return copy.deepcopy(self.unreported), self.unreported_since

    def reported(self, counted: FairnessTally) -> None:
        self.unreported.subtract(counted)
        if self.unreported.rankings == 0:
            self.unreported_since = None
