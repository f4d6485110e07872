"""Business metrics computed from the read models at scrape time.

Read from the database rather than counted in memory, so they survive a
restart, agree across replicas and follow a rebuild. Exact (operators see
every count; suppression is for the board). Labels are bounded: target group,
cohort, region, organisation (a partner), months; never a person. A missing
cohort or region reads "none".

- ``werkbrug_placements_total{target_group,cohort,region}``: placements recorded, by the
  person's groupings as the board shows them (a counter: placements are never removed; it
  moves between label sets only in the rare case a placed person changes cohort or region)
- ``werkbrug_outflow_ratio{target_group,cohort,region}``: people placed / people in scope
- ``werkbrug_sustained_ratio{months,target_group}``: placements durable at 6 / 12 months of those
  whose mark is decided (series only where some are)
- ``werkbrug_aftercare_tasks_open{organisation}``, ``werkbrug_aftercare_tasks_overdue{organisation}``
- ``werkbrug_board_last_update_timestamp_seconds``: when the read models last changed
"""

from __future__ import annotations

import logging
from collections import defaultdict

from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reporting import domain, queries
from reporting.models import Person, Placement
from reporting.projections import read_state
from werkbrug_shared.db import Database

log = logging.getLogger(__name__)
NONE = "none"


def _groups(mask: int) -> list[str]:
    return domain.groups_of(mask) or [NONE]


def read_figures(session: Session) -> dict:
    """Every sample, as plain dicts keyed by label tuples (also what the tests look at)."""
    placements: dict[tuple, int] = defaultdict(int)
    stmt = (select(Person.target_groups, Person.cohort, Person.region, func.count()).select_from(Placement)
            .join(Person, Person.candidate_id == Placement.candidate_id)
            .where(Placement.start_date.is_not(None))
            .group_by(Person.target_groups, Person.cohort, Person.region))
    for mask, cohort, region, n in session.execute(stmt):
        for group in _groups(mask):
            placements[(group, cohort or NONE, region or NONE)] += n
    scope: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    stmt = (select(Person.target_groups, Person.cohort, Person.region, func.count(), func.count(Person.first_start))
            .group_by(Person.target_groups, Person.cohort, Person.region))
    for mask, cohort, region, enrolled, placed in session.execute(stmt):
        for group in _groups(mask):
            scope[(group, cohort or NONE, region or NONE)][0] += enrolled
            scope[(group, cohort or NONE, region or NONE)][1] += placed
    marks: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    stmt = (select(Person.target_groups, *[func.coalesce(func.sum(getattr(Placement, c)), 0) for c in
                                           ("decided_6", "durable_6", "decided_12", "durable_12")])
            .select_from(Placement).join(Person, Person.candidate_id == Placement.candidate_id)
            .where(Placement.start_date.is_not(None)).group_by(Person.target_groups))
    for mask, *sums in session.execute(stmt):
        for group in _groups(mask):
            marks[group] = [a + int(b) for a, b in zip(marks[group], sums, strict=True)]
    sustained = {}
    for group, (d6, s6, d12, s12) in marks.items():
        if d6:
            sustained[("6", group)] = round(s6 / d6, 4)
        if d12:
            sustained[("12", group)] = round(s12 / d12, 4)
    state = read_state(session) or {}
    updated = state.get("updated_at")
    return {
        "placements": dict(placements),
        "outflow": {k: domain.outflow_rate(e, p) for k, (e, p) in scope.items()},
        "sustained": sustained,
        "aftercare": {name: (o, d) for name, o, d in queries.aftercare(session, only_open=False)},
        "last_update": domain.utc(updated).timestamp() if updated is not None else None,
    }


class ReadModelCollector:
    def __init__(self, engine):
        self.engine = engine

    def describe(self):
        return []

    def collect(self):
        try:
            with Session(self.engine) as session:
                figures = read_figures(session)
        except Exception:
            log.warning("could not read business metrics", exc_info=True)
            return
        placements = CounterMetricFamily(
            "werkbrug_placements", "Placements recorded, by the person's target group, cohort and region.",
            labels=["target_group", "cohort", "region"])
        for labels, n in sorted(figures["placements"].items()):
            placements.add_metric(list(labels), n)
        ratio = GaugeMetricFamily(
            "werkbrug_outflow_ratio", "Share of the people in scope placed in work.",
            labels=["target_group", "cohort", "region"])
        for labels, value in sorted(figures["outflow"].items()):
            ratio.add_metric(list(labels), value)
        sustained = GaugeMetricFamily(
            "werkbrug_sustained_ratio",
            "Share of placements still working the given months after their start, of those decided (CBS).",
            labels=["months", "target_group"])
        for labels, value in sorted(figures["sustained"].items()):
            sustained.add_metric(list(labels), value)
        open_ = GaugeMetricFamily("werkbrug_aftercare_tasks_open", "Aftercare tasks assigned and not yet done.",
                                  labels=["organisation"])
        overdue = GaugeMetricFamily("werkbrug_aftercare_tasks_overdue", "Aftercare tasks overdue and still open.",
                                    labels=["organisation"])
        for name, (o, d) in sorted(figures["aftercare"].items()):
            open_.add_metric([name], o)
            overdue.add_metric([name], d)
        last = GaugeMetricFamily("werkbrug_board_last_update_timestamp_seconds",
                                 "Unix time the board's read models last changed.")
        if figures["last_update"] is not None:
            last.add_metric([], figures["last_update"])
        yield from (placements, ratio, sustained, open_, overdue, last)


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
