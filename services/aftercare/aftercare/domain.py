"""The aftercare (nazorg) protocol, the UWV coaching budget and the jobcoach choice.

Plain functions and values, no framework: :mod:`aftercare.handlers` feeds them
rows and writes back what they decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from werkbrug_shared.clock import add_months

# A task is open until done (a check-in recorded) or cancelled (its placement ended).
OPEN, DONE, CANCELLED = "open", "done", "cancelled"
TASK_STATUSES = (OPEN, DONE, CANCELLED)
ACTIVE, ENDED = "active", "ended"  # a plan's
PLAN_STATUSES = (ACTIVE, ENDED)

# What a jobcoach records at a check-in (the catalogue's TASK_OUTCOMES).
GOING_WELL, AT_RISK, PLACEMENT_ENDED = "going_well", "at_risk", "ended"

# The task an at-risk outcome adds; the protocol's own kinds are in its steps.
CHECK_IN = "check_in"

# How a task came to its jobcoach (aftercare_task.assigned's ``assignment``): with its
# plan (told in the plan's mail), handed over later, or as an at-risk check-in.
WITH_PLAN, REASSIGNED = "plan", "reassigned"

# What a coordinator must act on.
UNASSIGNED_PLAN, OVERDUE_TASK = "unassigned_plan", "overdue_task"

# Expertise a jobcoach may have; a candidate's conditions and target groups ask for some.
EXPERTISE = ("autism", "language_support", "statushouders", "physical", "psychiatric", "fifty_plus")
EXPERTISE_FOR_CONDITION = {
    "low_stimulus_workplace": "autism",
    "workplace_adaptation": "physical",
    "no_heavy_lifting": "physical",
}
EXPERTISE_FOR_TARGET_GROUP = {"statushouder": "statushouders", "50plus": "fifty_plus"}
LANGUAGE_SUPPORT_BELOW = ("A1", "A2")  # Dutch below B1: the coach explains the work too

# UWV's jobcoach norm: coaching hours at most this share of the contract hours,
# year by year, for at most three years.
BUDGET_SHARES = (0.15, 0.075, 0.06)
WEEKS_PER_YEAR = 52
# A coach's load is what is due in the coming four weeks (overdue included),
# per week: the horizon in which a capacity in hours per week means something.
LOAD_HORIZON_DAYS = 28
CHECK_IN_DAYS = 7  # an at-risk outcome: the next check-in within a week
CHECK_IN_HOURS = 1.0
HOURS_STEP = 0.25  # hours are planned in quarters


@dataclass(frozen=True)
class Step:
    """One task of the protocol: due ``months`` and ``days`` after the start."""

    kind: str
    days: int = 0
    months: int = 0
    hours: float = 1.0
    # a checkpoint completed with going_well means the placement is sustained this long
    sustained_months: int | None = None


DEFAULT_PROTOCOL = (
    Step("first_working_day", hours=0.5),
    Step("week_1", days=7, hours=2.0),
    Step("week_4", days=28, hours=2.0),
    Step("end_of_probation", months=2, hours=1.5),  # the statutory maximum proeftijd
    Step("month_3", months=3, hours=2.0),
    Step("month_6", months=6, hours=2.0, sustained_months=6),
    Step("month_12", months=12, hours=2.0, sustained_months=12),
    Step("month_18", months=18, hours=2.0, sustained_months=18),
)


class ProtocolError(ValueError):
    pass


def protocol_from_config(raw: Sequence[dict] | None) -> tuple[Step, ...]:
    """The protocol as configured (``AFTERCARE_PROTOCOL``), or the default one."""
    if not raw:
        return DEFAULT_PROTOCOL
    steps = []
    for i, item in enumerate(raw):
        unknown = set(item) - {"kind", "days", "months", "hours", "sustained_months"}
        if unknown or not item.get("kind"):
            raise ProtocolError(f"AFTERCARE_PROTOCOL[{i}]: needs kind, may have days, months, hours, "
                                f"sustained_months (unknown: {sorted(unknown)})")
        step = Step(str(item["kind"]), int(item.get("days", 0)), int(item.get("months", 0)),
                    float(item.get("hours", 1.0)), item.get("sustained_months"))
        if step.days < 0 or step.months < 0 or step.hours <= 0 or step.sustained_months not in (None, 6, 12, 18):
            raise ProtocolError(f"AFTERCARE_PROTOCOL[{i}]: days and months >= 0, hours > 0, "
                                f"sustained_months 6, 12 or 18")
        steps.append(step)
    if len({s.kind for s in steps}) != len(steps):
        raise ProtocolError("AFTERCARE_PROTOCOL: task kinds must be unique")
    return tuple(steps)



def _due(start: date, step: Step) -> date | None:
    """A step's due date; None past the calendar's end (a start in 9999 validates as a date:
    its later tasks are dropped, as the norm drops those after its last year, not retried forever)."""
    try:
        return add_months(start, step.months) + timedelta(days=step.days)
    except (OverflowError, ValueError):
        return None


def coaching_budget(hours_per_week: float) -> tuple[float, ...]:
    """Most coaching hours per year of the placement under the UWV norm."""
    return tuple(round(share * hours_per_week * WEEKS_PER_YEAR, 2) for share in BUDGET_SHARES)


def plan_year(start: date, day: date) -> int:
    """0 for the placement's first year, 1 for the second, ..."""
    year = 0
    while True:
        try:
            boundary = add_months(start, 12 * (year + 1))
        except (OverflowError, ValueError):
            return year  # the calendar ends before this year does
        if day < boundary:
            return year
        year += 1


@dataclass(frozen=True)
class PlannedTask:
    kind: str
    due: date
    hours: float
    sustained_months: int | None = None


@dataclass(frozen=True)
class Plan:
    start: date
    tasks: tuple[PlannedTask, ...]
    budget: tuple[float, ...]  # hours per year of the placement

    @property
    def planned(self) -> tuple[float, ...]:
        return hours_per_year(self.budget, self.start, [(t.due, t.hours) for t in self.tasks])


def _quarters(hours: float) -> float:
    return max(HOURS_STEP, int(hours / HOURS_STEP) * HOURS_STEP)


def make_plan(start: date, hours_per_week: int, protocol: Sequence[Step] = DEFAULT_PROTOCOL) -> Plan:
    """The plan for a placement: the protocol's tasks with due dates and hours,
    inside the budget. A task after the norm's last year is dropped; a year whose
    tasks ask more hours than its budget has them scaled down to fit."""
    budget = coaching_budget(hours_per_week)
    dated = sorted(((due, s) for s in protocol if (due := _due(start, s)) is not None), key=lambda ds: ds[0])
    dated = [(due, s) for due, s in dated if plan_year(start, due) < len(budget)]
    asked = [0.0] * len(budget)
    for due, s in dated:
        asked[plan_year(start, due)] += s.hours
    tasks = []
    for due, s in dated:
        year = plan_year(start, due)
        hours = s.hours if asked[year] <= budget[year] else _quarters(s.hours * budget[year] / asked[year])
        tasks.append(PlannedTask(s.kind, due, hours, s.sustained_months))
    # quarters of at least one step each may still overshoot a tiny budget: trim from the end
    for year in range(len(budget)):
        in_year = [i for i, t in enumerate(tasks) if plan_year(start, t.due) == year]
        while in_year and sum(tasks[i].hours for i in in_year) > budget[year] + 1e-9:
            tasks.pop(in_year.pop())
            in_year = [i for i, t in enumerate(tasks) if plan_year(start, t.due) == year]
    return Plan(start, tuple(tasks), budget)


def hours_per_year(budget: Sequence[float], start: date, hours: Iterable[tuple[date, float]]) -> tuple[float, ...]:
    per_year = [0.0] * len(budget)
    for day, h in hours:
        year = plan_year(start, day)
        if year < len(per_year):
            per_year[year] += h
    return tuple(round(h, 2) for h in per_year)


# --- choosing the jobcoach --------------------------------------------------------


def wanted_expertise(conditions: Iterable[str], target_groups: Iterable[str],
                     dutch_level: str | None = None) -> frozenset[str]:
    wanted = {EXPERTISE_FOR_CONDITION[c] for c in conditions if c in EXPERTISE_FOR_CONDITION}
    wanted |= {EXPERTISE_FOR_TARGET_GROUP[g] for g in target_groups if g in EXPERTISE_FOR_TARGET_GROUP}
    if dutch_level in LANGUAGE_SUPPORT_BELOW:
        wanted.add("language_support")
    return frozenset(wanted)


def weekly_load(open_tasks: Iterable[tuple[date, float]], today: date) -> float:
    """Hours per week a coach has planned: open tasks due in the coming four weeks
    (the overdue ones too, they still have to be done), spread over those weeks."""
    horizon = load_horizon(today)
    return per_week(sum(h for due, h in open_tasks if due < horizon))


def load_horizon(today: date) -> date:
    """Open tasks due before this day count in a coach's load (see weekly_load)."""
    return today + timedelta(days=LOAD_HORIZON_DAYS)


def per_week(hours_due_soon: float) -> float:
    """The hours of tasks due before the load horizon, spread over its weeks."""
    return round(hours_due_soon * 7 / LOAD_HORIZON_DAYS, 4)


def plan_demand(plan: Plan, today: date) -> float:
    """The weekly load a new plan adds to its coach now."""
    return weekly_load(((t.due, t.hours) for t in plan.tasks), today)


@dataclass(frozen=True)
class CoachOption:
    jobcoach_id: str
    regions: frozenset[str]
    expertise: frozenset[str]
    capacity_hours: float  # per week
    load_hours: float  # per week, see weekly_load

    @property
    def remaining(self) -> float:
        return self.capacity_hours - self.load_hours

    def has_room(self, demand: float) -> bool:
        """Whether the coach can take on ``demand`` more hours a week (to a rounding)."""
        return self.remaining >= demand - 1e-9


def choose_jobcoach(options: Iterable[CoachOption], region: str, wanted: frozenset[str],
                    demand: float) -> str | None:
    """By region, then expertise the candidate needs, then remaining capacity.

    Only a coach with room for the plan's demand is considered, so a coach over
    capacity gets no new plans. Ties go to the lower id: the choice is repeatable.
    None when nobody in the region has room.
    """
    with_room = [o for o in options if region in o.regions and o.has_room(demand)]
    if not with_room:
        return None
    best = min(with_room, key=lambda o: (-len(wanted & o.expertise), -o.remaining, o.jobcoach_id))
    return best.jobcoach_id


def choose_jobcoaches(options: Iterable[CoachOption], hours_due_soon: dict[str, float],
                      new_plans: Iterable[tuple[str, frozenset[str], Plan]], today: date) -> list[str | None]:
    """A coach for each of several new plans (region, wanted expertise, plan), in turn.

    Each choice sees the load the plans before it added, exactly as if they had been
    made one at a time with their tasks written in between: ``hours_due_soon`` holds
    each coach's open hours due before the load horizon (what ``weekly_load`` counts).
    """
    horizon = load_horizon(today)
    current = {o.jobcoach_id: o for o in options}
    due_soon = dict(hours_due_soon)
    chosen: list[str | None] = []
    for region, wanted, plan in new_plans:
        jobcoach_id = choose_jobcoach(current.values(), region, wanted, plan_demand(plan, today))
        if jobcoach_id is not None:
            due_soon[jobcoach_id] = due_soon.get(jobcoach_id, 0.0) + sum(
                t.hours for t in plan.tasks if t.due < horizon)
            current[jobcoach_id] = replace(current[jobcoach_id], load_hours=per_week(due_soon[jobcoach_id]))
        chosen.append(jobcoach_id)
    return chosen


# --- outcomes ------------------------------------------------------------------------


def check_in_due(completed_on: date) -> date:
    return completed_on + timedelta(days=CHECK_IN_DAYS)


@dataclass(frozen=True)
class FollowUp:
    """What a recorded outcome sets going besides the task being done."""

    check_in_due: date | None = None  # at risk: another check-in, within a week
    sustained_months: int | None = None  # going well at a checkpoint: sustained this long
    end_date: date | None = None  # ended: the placement ends on this day ...
    end_reason: str | None = None  # ... for this reason


def follow_up(outcome: str, sustained_months: int | None, today: date, end_date: date | None = None,
              end_reason: str | None = None) -> FollowUp:
    """An outcome recorded ``today`` on a task (a checkpoint when it has ``sustained_months``).
    An ended placement ends on the day given, else today."""
    if outcome == AT_RISK:
        return FollowUp(check_in_due=check_in_due(today))
    if outcome == GOING_WELL and sustained_months:
        return FollowUp(sustained_months=sustained_months)
    if outcome == PLACEMENT_ENDED:
        return FollowUp(end_date=end_date or today, end_reason=end_reason)
    return FollowUp()


def overdue(due: date, today: date) -> bool:
    """A task is overdue the day after its due date."""
    return due < today


# --- the budget as it stands -----------------------------------------------------------


def planned_per_year(budget: Sequence[float], start: date, tasks: Iterable) -> tuple[float, ...]:
    """The estimated hours of a plan's tasks (``.status``, ``.due``, ``.hours``) per year;
    a cancelled task takes none."""
    return hours_per_year(budget, start, [(t.due, t.hours) for t in tasks if t.status != CANCELLED])


def used_per_year(budget: Sequence[float], start: date, tasks: Iterable) -> tuple[float, ...]:
    """The hours spent on a plan's done tasks per year, by the day each was done; a task
    recorded without its hours counts its estimate."""
    return hours_per_year(budget, start, [
        (t.completed_at.date(), t.hours_spent if t.hours_spent is not None else t.hours)
        for t in tasks if t.status == DONE])


# --- who sees a plan -------------------------------------------------------------------


def may_see_plan(organisation: str | None, coaching: str | None, credited: Iterable[str]) -> bool:
    """A placement's aftercare plan is for the organisation coaching it and for those credited
    with the placement (they placed the person); another organisation, even one whose coaches
    could take it over, learns of it through an escalation, not by reading it."""
    return organisation is not None and (organisation == coaching or organisation in credited)
