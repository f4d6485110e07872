"""Today's date as a dependency, so time-driven work can be tested without waiting.

``WERKBRUG_TODAY`` (container config key ``TODAY``, or the environment) fixes
the date, e.g. for a test that needs tasks to be a month overdue; otherwise it
is the date in the Netherlands, where the work is.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

from nameko.extensions import DependencyProvider

NL = ZoneInfo("Europe/Amsterdam")


class Clock:
    def __init__(self, fixed: date | None = None):
        self.fixed = fixed

    def today(self) -> date:
        return self.fixed or datetime.now(NL).date()


class Today(DependencyProvider):
    def setup(self):
        raw = self.container.config.get("TODAY") or os.environ.get("WERKBRUG_TODAY")
        if isinstance(raw, str) and raw:
            raw = date.fromisoformat(raw)
        self.clock = Clock(raw or None)  # YAML config hands over a date already

    def get_dependency(self, worker_ctx):
        return self.clock
