"""The aftercare protocol and jobcoach choice, free of frameworks."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

# (task kind, days after start, months after start)
PROTOCOL = (
    ("first_working_day", 0, 0),
    ("week_1", 7, 0),
    ("week_4", 28, 0),
    ("month_3", 0, 3),
    ("month_6", 0, 6),
)
TASK_STATUSES = ("open", "done", "cancelled")


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def schedule(start: date) -> list[tuple[str, date]]:
    """Due dates of the protocol's tasks for a placement starting on ``start``."""
    return [(kind, add_months(start, months) + timedelta(days=days)) for kind, days, months in PROTOCOL]


@dataclass(frozen=True)
class CoachLoad:
    jobcoach_id: str
    capacity: int
    active_plans: int
    open_tasks: int


def choose_jobcoach(coaches: list[CoachLoad]) -> str | None:
    """The coach with room (active plans below capacity) and the fewest open tasks.

    Ties go to the coach carrying fewer plans, then to the lower id, so the
    choice is repeatable. None when nobody has room.
    """
    with_room = [c for c in coaches if c.active_plans < c.capacity]
    if not with_room:
        return None
    return min(with_room, key=lambda c: (c.open_tasks, c.active_plans, c.jobcoach_id)).jobcoach_id
