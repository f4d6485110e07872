"""Reporting's rules as plain functions over event dicts: no framework, no database.

The read models are a handful of fact rows (one per person, placement, task,
vacancy, target group), each changed only by :func:`apply`. Every rule is
*order-independent*: "last wins" compares the event's (rank, time, id) stamp
instead of trusting arrival order, dates are folded with ``min``/``max`` and
counts are sums. So applying a set of events in any order, live as they
arrive or replayed from the store sorted by time, gives the same rows. That is
what makes ``werkbrug reporting rebuild`` give exactly what the live service
built, and the property tests hold it to that.

Event data is taken as it was stored (JSON values: dates as ``YYYY-MM-DD``);
only the fields an erasure keeps are read (see ``projections.KEPT_AFTER_ERASURE``),
so a replay of an anonymised store rebuilds the same counts.

Definitions (the board's and the RPCs'):

- *enrolled*: a person in scope. The enrolment is the latest ``candidate.enrolled``
  (its cohort and trajectory, the event's time as enrolment date); without one,
  the registration (its cohort, if any, and time); until either came, the latest
  placement (its cohort and time). Region and target groups: the latest of
  ``registered`` / ``profile_updated`` / ``enrolled`` (a placement's as fallback).
- *placed*: a person with at least one recorded placement; placed in the period of
  the first placement's ``start_date``; *days to placement* = first start date −
  enrolment date (Europe/Amsterdam calendar day), never below 0.
- *ended early*: a placement ended less than 6 months after its start.
- *durability* (as CBS counts it): a placement's 6 (12) month mark is decided by a
  ``placement.ended`` (durable when it ended on or after the mark) or, when no end
  is known, a ``placement.sustained`` of at least 6 (12) months (durable).
- *aftercare*: a task is open once assigned until completed or cancelled; overdue
  when an ``aftercare_task.overdue`` came and it is still open. A reassignment
  re-sends ``assigned``; the latest holds (its organisation counts).
- *fairness*: per target group the places in the top 10 and in the eligible pools,
  summed over ``matching.fairness_counted``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from werkbrug_shared.clock import add_months
from werkbrug_shared.events.catalogue import TARGET_GROUPS
from werkbrug_shared.events.types import (
    AFTERCARE_TASK_ASSIGNED,
    AFTERCARE_TASK_CANCELLED,
    AFTERCARE_TASK_COMPLETED,
    AFTERCARE_TASK_OVERDUE,
    CANDIDATE_ENROLLED,
    CANDIDATE_PROFILE_UPDATED,
    CANDIDATE_REGISTERED,
    MATCHING_FAIRNESS_COUNTED,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
    PLACEMENT_SUSTAINED,
    VACANCY_OPENED,
    VACANCY_UPDATED,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SUPPRESSED = "< 5"
SUPPRESS_BELOW = 5
HIDDEN = "x"  # a count of five or more hidden so that a small one cannot be worked out (protect_rows)
PERIODS = ("month", "quarter", "year")
NO_ORGANISATION = "unassigned"  # as aftercare labels tasks nobody holds; the board says so in Dutch


# ranks of the sources of a person's enrolment (higher wins, then the later event)
RANK_PLACEMENT, RANK_REGISTRATION, RANK_ENROLMENT = 0, 1, 2

BITS = {group: 1 << i for i, group in enumerate(TARGET_GROUPS)}


# --- small values --------------------------------------------------------------------------


def mask_of(groups) -> int:
    mask = 0
    for group in groups or ():
        mask |= BITS.get(group, 0)
    return mask


def groups_of(mask: int) -> list[str]:
    return [group for group, bit in BITS.items() if mask & bit]


def as_date(value) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def aware(moment: datetime) -> datetime:
    """A naive time (SQLite keeps no offset) is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def utc(moment: datetime) -> datetime:
    """Aware in UTC; a naive time is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stamp(rank: int, moment: datetime, event_id: str) -> str:
    """Sorts as (rank, time, id): how "the latest event wins" is decided in any order.
    The time as microseconds since 1970, fixed width, whatever zone it came in."""
    return f"{rank}|{(aware(moment) - EPOCH) // MICROSECOND:017d}|{event_id}"


def later(new: str, old: str | None) -> bool:
    return old is None or new > old


def local_day(moment: datetime) -> date:
    """The calendar day in the Netherlands."""
    return utc(moment).astimezone(AMSTERDAM).date()


def month_of(day: date | None) -> str | None:
    return None if day is None else f"{day.year:04d}-{day.month:02d}"


def period_of(month: str, granularity: str) -> str:
    """``2026-05`` as its month, quarter (``2026-Q2``) or year (``2026``)."""
    if granularity == "month":
        return month
    if granularity == "quarter":
        return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"
    if granularity == "year":
        return month[:4]
    raise ValueError(f"unknown period {granularity!r}")


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive (``YYYY-MM``)."""
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while (current := f"{year:04d}-{month:02d}") <= last:
        out.append(current)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


# --- fact rows -----------------------------------------------------------------------------


def new_person(candidate_id: str) -> dict:
    return {"candidate_id": candidate_id, "cohort": None, "trajectory": None, "region": None, "target_groups": 0,
            "enrolled_on": None, "enrol_stamp": None, "profile_stamp": None, "first_start": None,
            "enrolled_month": None, "placed_month": None, "days_to_placement": None}


def new_placement(placement_id: str) -> dict:
    return {"placement_id": placement_id, "candidate_id": None, "vacancy_id": None, "start_date": None,
            "target_groups": 0, "recorded_stamp": None, "end_date": None,
            "end_stamp": None, "sustained_months": 0, "start_month": None, "ended_early": 0,
            "decided_6": 0, "durable_6": 0, "decided_12": 0, "durable_12": 0}


def new_task(task_id: str) -> dict:
    return {"task_id": task_id, "organisation": None, "assign_stamp": None, "completed": False,
            "cancelled": False, "overdue": False, "is_open": 0, "is_overdue": 0}


def new_vacancy(vacancy_id: str) -> dict:
    return {"vacancy_id": vacancy_id, "is_leerwerkbaan": False, "stamp": None}


def new_fairness(target_group: str) -> dict:
    return {"target_group": target_group, "top": 0, "eligible": 0}


def new_meta() -> dict:
    return {"as_of": None, "fairness_top_total": 0, "fairness_eligible_total": 0}


def derive_person(person: dict) -> None:
    person["enrolled_month"] = month_of(person["enrolled_on"])
    first = person["first_start"]
    person["placed_month"] = month_of(first)
    if first is None or person["enrolled_on"] is None:
        person["days_to_placement"] = None
    else:
        person["days_to_placement"] = max(0, (first - person["enrolled_on"]).days)


def durability(start: date | None, end: date | None, sustained_months: int, months: int) -> tuple[int, int]:
    """(decided, durable) for the ``months`` mark of one placement."""
    if start is None:
        return 0, 0
    if end is not None:
        return 1, int(end >= add_months(start, months))
    if sustained_months >= months:
        return 1, 1
    return 0, 0


def derive_placement(placement: dict) -> None:
    start, end = placement["start_date"], placement["end_date"]
    placement["start_month"] = month_of(start)
    placement["ended_early"] = int(start is not None and end is not None and end < add_months(start, 6))
    for months in (6, 12):
        decided, durable = durability(start, end, placement["sustained_months"], months)
        placement[f"decided_{months}"], placement[f"durable_{months}"] = decided, durable


def derive_task(task: dict) -> None:
    task["is_open"] = int(task["assign_stamp"] is not None and not task["completed"] and not task["cancelled"])
    task["is_overdue"] = int(task["is_open"] and task["overdue"])


# --- the read models and how an event changes them ------------------------------------------


class ReadModels:
    """The fact rows a batch of events touches, as plain dicts.

    The database layer fills it with the stored rows; :func:`apply` changes
    them in memory; the database layer writes back what changed.
    """

    def __init__(self, people=None, placements=None, tasks=None, vacancies=None, fairness=None, meta=None):
        self.people: dict[str, dict] = people if people is not None else {}
        self.placements: dict[str, dict] = placements if placements is not None else {}
        self.tasks: dict[str, dict] = tasks if tasks is not None else {}
        self.vacancies: dict[str, dict] = vacancies if vacancies is not None else {}
        self.fairness: dict[str, dict] = fairness if fairness is not None else {}
        self.meta: dict = meta if meta is not None else new_meta()

    def person(self, candidate_id: str) -> dict:
        row = self.people.get(candidate_id)
        if row is None:
            row = self.people[candidate_id] = new_person(candidate_id)
        return row

    def placement(self, placement_id: str) -> dict:
        row = self.placements.get(placement_id)
        if row is None:
            row = self.placements[placement_id] = new_placement(placement_id)
        return row

    def task(self, task_id: str) -> dict:
        row = self.tasks.get(task_id)
        if row is None:
            row = self.tasks[task_id] = new_task(task_id)
        return row

    def vacancy(self, vacancy_id: str) -> dict:
        row = self.vacancies.get(vacancy_id)
        if row is None:
            row = self.vacancies[vacancy_id] = new_vacancy(vacancy_id)
        return row

    def group(self, target_group: str) -> dict:
        row = self.fairness.get(target_group)
        if row is None:
            row = self.fairness[target_group] = new_fairness(target_group)
        return row


def _profile(person: dict, data: dict, rank: int, moment: datetime, event_id: str) -> None:
    s = stamp(rank, moment, event_id)
    if later(s, person["profile_stamp"]):
        person["profile_stamp"] = s
        person["region"] = data.get("region")
        person["target_groups"] = mask_of(data.get("target_groups"))


def _enrolment(person: dict, cohort, trajectory, rank: int, moment: datetime, event_id: str) -> None:
    s = stamp(rank, moment, event_id)
    if later(s, person["enrol_stamp"]):
        person["enrol_stamp"] = s
        person["cohort"], person["trajectory"] = cohort, trajectory
        person["enrolled_on"] = local_day(moment)


def candidate_registered(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    person = models.person(data["candidate_id"])
    _profile(person, data, RANK_REGISTRATION, moment, event_id)
    _enrolment(person, data.get("cohort"), None, RANK_REGISTRATION, moment, event_id)
    derive_person(person)


def candidate_profile_updated(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    person = models.person(data["candidate_id"])
    _profile(person, data, RANK_REGISTRATION, moment, event_id)
    derive_person(person)


def candidate_enrolled(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    person = models.person(data["candidate_id"])
    _profile(person, data, RANK_REGISTRATION, moment, event_id)
    _enrolment(person, data.get("cohort"), data.get("trajectory"), RANK_ENROLMENT, moment, event_id)
    derive_person(person)


def placement_recorded(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    start = as_date(data["start_date"])
    placement = models.placement(data["placement_id"])
    s = stamp(0, moment, event_id)
    if later(s, placement["recorded_stamp"]):
        placement.update(recorded_stamp=s, candidate_id=data["candidate_id"], vacancy_id=data.get("vacancy_id"),
                         start_date=start, target_groups=mask_of(data.get("target_groups")))
        derive_placement(placement)
    # the placement may overtake the person's own events: it carries enough to count them until they come
    person = models.person(data["candidate_id"])
    _profile(person, data, RANK_PLACEMENT, moment, event_id)
    _enrolment(person, data.get("cohort"), None, RANK_PLACEMENT, moment, event_id)
    if person["first_start"] is None or start < person["first_start"]:
        person["first_start"] = start
    derive_person(person)


def placement_ended(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    placement = models.placement(data["placement_id"])
    s = stamp(0, moment, event_id)
    if later(s, placement["end_stamp"]):
        placement["end_stamp"] = s
        placement["end_date"] = as_date(data["end_date"])
        if placement["candidate_id"] is None:
            placement["candidate_id"] = data.get("candidate_id")
        derive_placement(placement)


def placement_sustained(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    placement = models.placement(data["placement_id"])
    months = int(data["months"])
    if months > placement["sustained_months"]:
        placement["sustained_months"] = months
        if placement["candidate_id"] is None:
            placement["candidate_id"] = data.get("candidate_id")
        derive_placement(placement)


def task_assigned(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    task = models.task(data["task_id"])
    s = stamp(0, moment, event_id)
    if later(s, task["assign_stamp"]):  # a reassignment re-sends it: the latest holds
        task["assign_stamp"] = s
        task["organisation"] = data.get("organisation")
        derive_task(task)


def _task_flag(flag: str):
    def project(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
        task = models.task(data["task_id"])
        if not task[flag]:
            task[flag] = True
            derive_task(task)

    project.__name__ = f"task_{flag}"
    return project


def vacancy_profile(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    vacancy = models.vacancy(data["vacancy_id"])
    s = stamp(0, moment, event_id)
    if later(s, vacancy["stamp"]):
        vacancy["stamp"] = s
        vacancy["is_leerwerkbaan"] = bool(data.get("is_leerwerkbaan"))


def fairness_counted(models: ReadModels, data: dict, moment: datetime, event_id: str) -> None:
    for count in data.get("groups") or ():
        row = models.group(count["target_group"])
        row["top"] += int(count["top"])
        row["eligible"] += int(count["eligible"])
    models.meta["fairness_top_total"] += int(data.get("top_total") or 0)
    models.meta["fairness_eligible_total"] += int(data.get("eligible_total") or 0)


PROJECTIONS = {
    CANDIDATE_REGISTERED: candidate_registered,
    CANDIDATE_PROFILE_UPDATED: candidate_profile_updated,
    CANDIDATE_ENROLLED: candidate_enrolled,
    PLACEMENT_RECORDED: placement_recorded,
    PLACEMENT_ENDED: placement_ended,
    PLACEMENT_SUSTAINED: placement_sustained,
    AFTERCARE_TASK_ASSIGNED: task_assigned,
    AFTERCARE_TASK_COMPLETED: _task_flag("completed"),
    AFTERCARE_TASK_CANCELLED: _task_flag("cancelled"),
    AFTERCARE_TASK_OVERDUE: _task_flag("overdue"),
    VACANCY_OPENED: vacancy_profile,
    VACANCY_UPDATED: vacancy_profile,
    MATCHING_FAIRNESS_COUNTED: fairness_counted,
}


def apply(models: ReadModels, event_type: str, data: dict, moment: datetime, event_id: str) -> bool:
    """One event through the read models; False when its type changes none of them."""
    projection = PROJECTIONS.get(event_type)
    if projection is None:
        return False
    projection(models, data, moment, event_id)
    as_of = models.meta["as_of"]
    if as_of is None or aware(moment) > as_of:
        models.meta["as_of"] = aware(moment)
    return True


def keys_touched(events) -> dict[str, set]:
    """Which rows a batch of ``(type, data)`` pairs may change, per fact table."""
    people, placements, tasks, vacancies = set(), set(), set(), set()
    for event_type, data in events:
        if event_type in (CANDIDATE_REGISTERED, CANDIDATE_PROFILE_UPDATED, CANDIDATE_ENROLLED):
            people.add(data["candidate_id"])
        elif event_type == PLACEMENT_RECORDED:
            people.add(data["candidate_id"])
            placements.add(data["placement_id"])
        elif event_type in (PLACEMENT_ENDED, PLACEMENT_SUSTAINED):
            placements.add(data["placement_id"])
        elif event_type in (AFTERCARE_TASK_ASSIGNED, AFTERCARE_TASK_COMPLETED, AFTERCARE_TASK_CANCELLED,
                            AFTERCARE_TASK_OVERDUE):
            tasks.add(data["task_id"])
        elif event_type in (VACANCY_OPENED, VACANCY_UPDATED):
            vacancies.add(data["vacancy_id"])
    return {"people": people, "placements": placements, "tasks": tasks, "vacancies": vacancies}


# --- figures -------------------------------------------------------------------------------


def suppressed(count: int, suppress: bool = True):
    """A count of people as shown: fewer than 5 (but some) becomes "< 5"."""
    return SUPPRESSED if suppress and 0 < count < SUPPRESS_BELOW else count


def is_small(count: int) -> bool:
    return 0 < count < SUPPRESS_BELOW


def ratio(part: int, whole: int, suppress: bool = True) -> float | None:
    """part / whole rounded to 4 places; None without a whole or when either count is suppressed."""
    if not whole or (suppress and (is_small(part) or is_small(whole))):
        return None
    return round(part / whole, 4)


# the counts rows show, by the Figures attribute they show; and what each count gives away too
COUNT_FIELDS = {"enrolled": "enrolled", "placed": "placed", "ended_early": "ended_early",
                "placements": "placements", "decided_6m": "decided_6", "sustained_6m": "durable_6",
                "decided_12m": "decided_12", "sustained_12m": "durable_12"}
DERIVED = {"enrolled": ("outflow_rate",), "placed": ("outflow_rate", "median_days_to_placement"),
           "decided_6m": ("sustained_6m_rate",), "sustained_6m": ("sustained_6m_rate",),
           "decided_12m": ("sustained_12m_rate",), "sustained_12m": ("sustained_12m_rate",)}


def cells_to_hide(values: list[int], unshown: int = 0) -> set[int]:
    """Which counts of rows that add up to a total shown elsewhere to hide (``unshown``: the
    part of the total no row shows). Small ones (1-4), and then, smallest first, as many more
    as it takes for what is hidden to be at least two parts adding up to five or more: else
    the total less the rows shown gives a small group away (secondary suppression)."""
    hidden = {i for i, v in enumerate(values) if is_small(v)}
    if not hidden and not is_small(unshown):
        return hidden
    parts, pool = len(hidden) + (unshown > 0), unshown + sum(values[i] for i in hidden)
    for v, i in sorted((v, i) for i, v in enumerate(values) if v > 0 and i not in hidden):
        if parts >= 2 and pool >= SUPPRESS_BELOW:
            break
        hidden.add(i)
        parts, pool = parts + 1, pool + v
    return hidden


def protect_rows(rows: list[dict], figures: list[Figures], total: Figures) -> None:
    """Secondary suppression of rows (as shown, from ``figures``) whose counts add up to
    ``total``'s, which is shown too: a count hidden beside a small one reads ``HIDDEN``, and
    what it gives away (its rates, the median) goes too. Rows of groups that overlap (a
    person in two target groups) add up to more than the total: nothing can be worked out."""
    if not rows:
        return
    for field, attr in COUNT_FIELDS.items():
        if field not in rows[0]:
            continue
        values = [getattr(f, attr) for f in figures]
        unshown = getattr(total, attr) - sum(values)
        if unshown < 0:
            continue
        for i in cells_to_hide(values, unshown):
            if rows[i][field] != SUPPRESSED:
                rows[i][field] = HIDDEN
            for derived in DERIVED.get(field, ()):
                if derived in rows[i]:
                    rows[i][derived] = None


def outflow_rate(enrolled: int, placed: int) -> float:
    """Share of people in scope who flowed out to work; 0 when nobody is in scope (metrics)."""
    return round(placed / enrolled, 4) if enrolled else 0.0


def median_of(histogram: Counter) -> float | None:
    """The median of values given as {value: how many}, as :func:`statistics.median` computes it."""
    n = sum(histogram.values())
    if not n:
        return None
    lower_index, upper_index = (n - 1) // 2, n // 2
    lower = upper = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if lower is None and seen > lower_index:
            lower = value
        if seen > upper_index:
            upper = value
            break
    return float(lower + upper) / 2


def median_days(days: list[int]) -> float | None:
    return float(statistics.median(days)) if days else None


class Figures:
    """What the figures of one group (and period) are computed from: sums, and days to placement
    as a histogram (so groups add up and the median is exact)."""

    __slots__ = ("enrolled", "placed", "days", "placements", "ended_early",
                 "decided_6", "durable_6", "decided_12", "durable_12")

    def __init__(self):
        self.enrolled = self.placed = self.placements = self.ended_early = 0
        self.decided_6 = self.durable_6 = self.decided_12 = self.durable_12 = 0
        self.days: Counter = Counter()

    def outflow(self, suppress: bool = True) -> dict:
        small_placed = suppress and is_small(self.placed)
        return {
            "enrolled": suppressed(self.enrolled, suppress),
            "placed": suppressed(self.placed, suppress),
            "outflow_rate": ratio(self.placed, self.enrolled, suppress),
            "median_days_to_placement": None if small_placed else median_of(self.days),
            "ended_early": suppressed(self.ended_early, suppress),
        }

    def durability(self, suppress: bool = True) -> dict:
        return {
            "placements": suppressed(self.placements, suppress),
            "decided_6m": suppressed(self.decided_6, suppress),
            "sustained_6m": suppressed(self.durable_6, suppress),
            "sustained_6m_rate": ratio(self.durable_6, self.decided_6, suppress),
            "decided_12m": suppressed(self.decided_12, suppress),
            "sustained_12m": suppressed(self.durable_12, suppress),
            "sustained_12m_rate": ratio(self.durable_12, self.decided_12, suppress),
        }

    def board(self, suppress: bool = True) -> dict:
        out = self.outflow(suppress)
        out["sustained_6m_rate"] = ratio(self.durable_6, self.decided_6, suppress)
        out["sustained_12m_rate"] = ratio(self.durable_12, self.decided_12, suppress)
        return out


def target_progress(target: dict, placements, today: date) -> dict:
    """Realised against one target from placements given as (start_date, target_groups mask,
    trajectory, is_leerwerkbaan, how many). The trend is cumulative per month, from the
    target's first month up to the current one (or a later one a placement already starts in),
    never past the target's last month."""
    start, end = target["start"], target["end"]
    bit = BITS[target["target_group"]] if target.get("target_group") else 0
    per_month: Counter = Counter()
    for start_date, mask, trajectory, leerwerkbaan, count in placements:
        if not start <= start_date <= end:
            continue
        if bit and not mask & bit:
            continue
        if target.get("trajectory") is not None and trajectory != target["trajectory"]:
            continue
        if target.get("leerwerkbaan") is not None and bool(leerwerkbaan) != target["leerwerkbaan"]:
            continue
        per_month[month_of(start_date)] += count
    realised = sum(per_month.values())
    trend, running = [], 0
    last = min(month_of(end), max(month_of(today), month_of(start), *per_month))
    for month in months_between(month_of(start), last):
        running += per_month.get(month, 0)
        trend.append({"period": month, "realised": running})
    return {"id": target["id"], "label": target["label"], "target": target["target"], "realised": realised,
            "share": round(realised / target["target"], 4), "start": start.isoformat(), "end": end.isoformat(),
            "trend": trend}
