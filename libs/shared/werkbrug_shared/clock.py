"""Today's date as a dependency, so time-driven work can be tested without waiting.

``WERKBRUG_TODAY`` (container config key ``TODAY``, or the environment) fixes
the date, e.g. for a test that needs tasks to be a month overdue; otherwise it
is the date in the Netherlands, where the work is: from 23:00 UTC in winter
(22:00 in summer) that is already tomorrow's date in UTC terms. Tests compare
with :func:`today`, never with the machine's ``date.today()``.

Nothing is kept between calls: every replica reads the same setting, or the
date in the Netherlands from its machine's (synchronised) clock.
"""

from __future__ import annotations

import calendar
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from nameko.extensions import DependencyProvider

NL = ZoneInfo("Europe/Amsterdam")


def date_in_nl(instant: datetime) -> date:
    """The date in the Netherlands at ``instant`` (an aware datetime)."""
    return instant.astimezone(NL).date()


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day where it is shorter
    (31 August + 6 months is 28 February): how a placement's 6-month mark and an
    aftercare step's due date are counted."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _now() -> datetime:
    return datetime.now(UTC)


class Clock:
    def __init__(self, fixed: date | None = None, now: Callable[[], datetime] = _now):
        self.fixed = fixed
        self.now = now

    def today(self) -> date:
        return self.fixed or date_in_nl(self.now())


def fixed_date(raw) -> date | None:
    """A configured date: ISO text (environment), a date already (YAML config), or none."""
    if isinstance(raw, str) and raw:
        return date.fromisoformat(raw)
    return raw or None


def today() -> date:
    """The date the services count with, as their clock reads it in this process's environment."""
    return Clock(fixed_date(os.environ.get("WERKBRUG_TODAY"))).today()


class Today(DependencyProvider):
    def setup(self):
        self.clock = Clock(fixed_date(self.container.config.get("TODAY") or os.environ.get("WERKBRUG_TODAY")))

    def get_dependency(self, worker_ctx):
        return self.clock
