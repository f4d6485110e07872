"""Events as reporting receives them, a database to project them into, and an
independent brute-force recount of every figure straight from the events."""

from __future__ import annotations

import calendar
import statistics
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from reporting import handlers, projections
from reporting.models import READ_MODELS, ReadModelState, metadata
from werkbrug_shared.db import UnitOfWork
from werkbrug_shared.events import CATALOGUE, Event

BASE = datetime(2025, 12, 31, 22, 30, tzinfo=UTC)  # near a midnight and a year's end in the Netherlands
GROUPS = ("bijstand", "doelgroepregister", "sw", "statushouder", "50plus", "ww")


def event(short: str, data: dict, time: datetime, event_id: str | None = None) -> Event:
    name = f"nl.werkbrug.{short}.v1"
    subject = next((data[k] for k in ("placement_id", "task_id", "vacancy_id", "candidate_id") if k in data), "x")
    return Event(type=name, source=CATALOGUE[name].source, subject=subject, data=data,
                 id=event_id or str(uuid.uuid4()), time=time, wire_data=data)


@contextmanager
def database():
    """A fresh in-memory SQLite database with reporting's tables."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    try:
        with Session(engine) as session:
            projections.lock_state(session)  # the row the migration makes
            session.commit()
            yield session
    finally:
        engine.dispose()


def store(session: Session, events) -> None:
    """What the live handler does with one delivered batch (reporting.handlers.store_events), committed."""
    uow = UnitOfWork(session, "reporting", metadata.tables["outbox"], metadata.tables["processed_events"])
    handlers.store_events(uow, list(events))
    session.commit()


def read_models(session: Session) -> dict:
    """Every read-model row, comparable across databases."""
    out = {}
    for model in READ_MODELS:
        table = model.__table__
        key = next(iter(table.primary_key.columns))
        out[table.name] = [dict(r) for r in session.execute(select(table).order_by(key)).mappings()]
    state = session.execute(select(ReadModelState.__table__)).mappings().first()
    out["state"] = {k: state[k] for k in ("as_of", "fairness_top_total", "fairness_eligible_total")}
    return out


# --- the brute-force recount --------------------------------------------------------------------

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _plus_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _d(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _t(e) -> tuple:
    return (e.time, e.id)


class Recount:
    """Every figure computed the slow, obvious way from the list of events."""

    def __init__(self, events):
        by = defaultdict(list)
        for e in events:
            by[e.type.split(".")[2] + "." + e.type.split(".")[3]].append(e)
        self.people, self.placements, self.tasks, self.vacancies = {}, {}, {}, {}
        candidates = {e.data["candidate_id"] for k in ("candidate.registered", "candidate.profile_updated",
                                                       "candidate.enrolled", "placement.recorded")
                      for e in by[k]}
        for cid in candidates:
            mine = lambda kind, cid=cid: [e for e in by[kind] if e.data["candidate_id"] == cid]  # noqa: E731
            enrolments = ([(2, *_t(e), e.data.get("cohort"), e.data.get("trajectory"), e.time)
                           for e in mine("candidate.enrolled")]
                          + [(1, *_t(e), e.data.get("cohort"), None, e.time) for e in mine("candidate.registered")]
                          + [(0, *_t(e), e.data.get("cohort"), None, e.time) for e in mine("placement.recorded")])
            profiles = ([(1, *_t(e), e) for k in ("candidate.registered", "candidate.profile_updated",
                                                  "candidate.enrolled") for e in mine(k)]
                        + [(0, *_t(e), e) for e in mine("placement.recorded")])
            starts = [_d(e.data["start_date"]) for e in mine("placement.recorded")]
            person = {"cohort": None, "trajectory": None, "enrolled_on": None, "region": None, "groups": set(),
                      "first_start": min(starts) if starts else None}
            if enrolments:
                *_, cohort, trajectory, when = max(enrolments, key=lambda x: x[:3])
                person.update(cohort=cohort, trajectory=trajectory, enrolled_on=when.astimezone(AMSTERDAM).date())
            if profiles:
                latest = max(profiles, key=lambda x: x[:3])[-1]
                person.update(region=latest.data.get("region"), groups=set(latest.data.get("target_groups") or ()))
            self.people[cid] = person
        placement_ids = {e.data["placement_id"] for k in ("placement.recorded", "placement.ended",
                                                          "placement.sustained") for e in by[k]}
        for pid in placement_ids:
            rec = [e for e in by["placement.recorded"] if e.data["placement_id"] == pid]
            ends = [e for e in by["placement.ended"] if e.data["placement_id"] == pid]
            sus = [e.data["months"] for e in by["placement.sustained"] if e.data["placement_id"] == pid]
            latest = max(rec, key=_t) if rec else None
            self.placements[pid] = {
                "candidate_id": latest.data["candidate_id"] if latest else None,
                "start": _d(latest.data["start_date"]) if latest else None,
                "groups": set(latest.data["target_groups"]) if latest else set(),
                "vacancy_id": latest.data.get("vacancy_id") if latest else None,
                "end": _d(max(ends, key=_t).data["end_date"]) if ends else None,
                "sustained": max(sus, default=0)}
        task_ids = {e.data["task_id"] for k in ("aftercare_task.assigned", "aftercare_task.completed",
                                                "aftercare_task.cancelled", "aftercare_task.overdue")
                    for e in by[k]}
        for tid in task_ids:
            of = lambda kind, tid=tid: [e for e in by[kind] if e.data["task_id"] == tid]  # noqa: E731
            assigned = of("aftercare_task.assigned")
            is_open = bool(assigned) and not of("aftercare_task.completed") and not of("aftercare_task.cancelled")
            self.tasks[tid] = {
                "organisation": max(assigned, key=_t).data.get("organisation") if assigned else None,
                "open": is_open, "overdue": is_open and bool(of("aftercare_task.overdue"))}
        for e in sorted(by["vacancy.opened"] + by["vacancy.updated"], key=_t):
            self.vacancies[e.data["vacancy_id"]] = bool(e.data.get("is_leerwerkbaan"))
        self.fairness = defaultdict(lambda: [0, 0])
        self.fairness_totals = [0, 0]
        for e in by["matching.fairness_counted"]:
            for g in e.data["groups"]:
                self.fairness[g["target_group"]][0] += g["top"]
                self.fairness[g["target_group"]][1] += g["eligible"]
            self.fairness_totals[0] += e.data["top_total"]
            self.fairness_totals[1] += e.data["eligible_total"]

    # -- figures ------------------------------------------------------------------------------

    @staticmethod
    def _period(day: date | None, period: str | None):
        if period is None:
            return None
        if day is None:
            return "skip"
        return {"month": f"{day.year:04d}-{day.month:02d}", "quarter": f"{day.year}-Q{(day.month - 1) // 3 + 1}",
                "year": str(day.year)}[period]

    @staticmethod
    def _groups(person, group_by):
        if group_by is None:
            return [None]
        if group_by == "target_group":
            return sorted(person["groups"])
        return [person[group_by]]

    @staticmethod
    def _selected(person, query):
        for field in ("cohort", "trajectory", "region"):
            if query.get(field) is not None and person[field] != query[field]:
                return False
        return query.get("target_group") is None or query["target_group"] in person["groups"]

    def figures(self, query: dict) -> dict:
        """{(group, period): {...}} with every count exact."""
        group_by, period = query.get("group_by"), query.get("period")
        out = defaultdict(lambda: {"enrolled": 0, "placed": 0, "days": [], "placements": 0, "ended_early": 0,
                                   "decided_6": 0, "durable_6": 0, "decided_12": 0, "durable_12": 0})
        for person in self.people.values():
            if not self._selected(person, query):
                continue
            for g in self._groups(person, group_by):
                when = self._period(person["enrolled_on"], period)
                if when != "skip":
                    out[(g, when)]["enrolled"] += 1
                if person["first_start"] is not None:
                    when = self._period(person["first_start"], period)
                    out[(g, when)]["placed"] += 1
                    days = (person["first_start"] - person["enrolled_on"]).days if person["enrolled_on"] else None
                    out[(g, when)]["days"].append(None if days is None else max(0, days))
        for p in self.placements.values():
            person = self.people.get(p["candidate_id"])
            if p["start"] is None or person is None or not self._selected(person, query):
                continue
            for g in self._groups(person, group_by):
                f = out[(g, self._period(p["start"], period))]
                f["placements"] += 1
                f["ended_early"] += int(p["end"] is not None and p["end"] < _plus_months(p["start"], 6))
                for months in (6, 12):
                    mark = _plus_months(p["start"], months)
                    if p["end"] is not None:
                        f[f"decided_{months}"] += 1
                        f[f"durable_{months}"] += int(p["end"] >= mark)
                    elif p["sustained"] >= months:
                        f[f"decided_{months}"] += 1
                        f[f"durable_{months}"] += 1
        return dict(out)

    @staticmethod
    def outflow_row(f: dict) -> dict:
        days = [d for d in f["days"] if d is not None]
        return {"enrolled": f["enrolled"], "placed": f["placed"],
                "outflow_rate": round(f["placed"] / f["enrolled"], 4) if f["enrolled"] else None,
                "median_days_to_placement": float(statistics.median(days)) if days else None,
                "ended_early": f["ended_early"]}

    @staticmethod
    def durability_row(f: dict) -> dict:
        def rate(a, b):
            return round(a / b, 4) if b else None

        return {"placements": f["placements"], "decided_6m": f["decided_6"], "sustained_6m": f["durable_6"],
                "sustained_6m_rate": rate(f["durable_6"], f["decided_6"]), "decided_12m": f["decided_12"],
                "sustained_12m": f["durable_12"], "sustained_12m_rate": rate(f["durable_12"], f["decided_12"])}

    def aftercare(self) -> list[tuple]:
        per = defaultdict(lambda: [0, 0])
        for t in self.tasks.values():
            name = t["organisation"] or "unassigned"
            per[name][0] += t["open"]
            per[name][1] += t["overdue"]
        return sorted((name, o, d) for name, (o, d) in per.items() if o)

    def realised(self, target: dict) -> int:
        n = 0
        for p in self.placements.values():
            person = self.people.get(p["candidate_id"])
            if p["start"] is None or person is None or not target["start"] <= p["start"] <= target["end"]:
                continue
            if target.get("target_group") and target["target_group"] not in p["groups"]:
                continue
            if target.get("trajectory") is not None and person["trajectory"] != target["trajectory"]:
                continue
            if target.get("leerwerkbaan") is not None and \
                    self.vacancies.get(p["vacancy_id"], False) != target["leerwerkbaan"]:
                continue
            n += 1
        return n


def at(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)
