"""Business metrics computed from the read models at scrape time.

Read from the database rather than counted in memory, so they survive a
restart, agree across replicas and follow a rebuild. Labels are bounded to
target groups; never a person.
"""

from __future__ import annotations

import logging

from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import distinct, func, select

from reporting.domain import outflow_rate
from reporting.models import CandidateOutflow, CandidateTargetGroup, PlacementTargetGroup
from werkbrug_shared.db import Database
from werkbrug_shared.events import TARGET_GROUPS

log = logging.getLogger(__name__)


class ReadModelCollector:
    def __init__(self, engine):
        self.engine = engine

    def describe(self):
        return []

    def collect(self):
        placements = CounterMetricFamily(
            "werkbrug_placements", "Placements recorded, by target group.", labels=["target_group"])
        ratio = GaugeMetricFamily(
            "werkbrug_outflow_ratio", "Share of candidates in scope placed in work, by target group.",
            labels=["target_group"])
        try:
            with self.engine.connect() as conn:
                placed = dict(conn.execute(
                    select(PlacementTargetGroup.target_group, func.count()).group_by(PlacementTargetGroup.target_group)
                ).all())
                in_scope = dict(conn.execute(
                    select(CandidateTargetGroup.target_group, func.count(distinct(CandidateTargetGroup.candidate_id)))
                    .group_by(CandidateTargetGroup.target_group)
                ).all())
                outflowed = dict(conn.execute(
                    select(CandidateTargetGroup.target_group, func.count())
                    .join(CandidateOutflow, CandidateOutflow.candidate_id == CandidateTargetGroup.candidate_id)
                    .where(CandidateOutflow.first_placed_on.is_not(None))
                    .group_by(CandidateTargetGroup.target_group)
                ).all())
        except Exception:
            log.warning("could not read business metrics", exc_info=True)
            return
        for group in TARGET_GROUPS:
            placements.add_metric([group], placed.get(group, 0))
            ratio.add_metric([group], outflow_rate(in_scope.get(group, 0), outflowed.get(group, 0)))
        yield placements
        yield ratio


class BusinessMetrics(DependencyProvider):
    """Registers the read-model collector for as long as the service runs."""

    def start(self):
        db = next(d for d in self.container.dependencies if isinstance(d, Database))
        self.collector = ReadModelCollector(db.engine)
        REGISTRY.register(self.collector)

    def stop(self):
        collector = getattr(self, "collector", None)
        if collector is not None:
            REGISTRY.unregister(collector)
            self.collector = None

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return None
