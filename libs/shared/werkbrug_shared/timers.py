"""A nameko timer whose interval comes from configuration.

nameko's ``@timer(interval=...)`` fixes the interval where the service is
written; a sweep that runs every five minutes in production must run every
second in a test, without a second copy of the service.

Every replica runs every timer, at its own moments: a timer's job must be right
when two run it at once. Today's: aftercare's sweep (claims tasks with SKIP
LOCKED and marks them in the same commit), matching's fairness report (each
replica reports only its own counts).
"""

from __future__ import annotations

import os

from nameko.timer import Timer


class ConfiguredTimer(Timer):
    def __init__(self, setting: str, default: float, eager: bool = False, **kwargs):
        """Fires every ``setting`` seconds: the container config's key, else the
        environment variable of that name, else ``default``."""
        self.setting = setting
        super().__init__(interval=default, eager=eager, **kwargs)

    def setup(self):
        raw = self.container.config.get(self.setting) or os.environ.get(self.setting)
        if raw not in (None, ""):
            self.interval = float(raw)
            if self.interval <= 0:
                raise ValueError(f"{self.setting} must be a positive number of seconds, not {raw!r}")


configured_timer = ConfiguredTimer.decorator
