"""A nameko timer whose interval comes from configuration.

nameko's ``@timer(interval=...)`` fixes the interval where the service is
written; a sweep that runs every five minutes in production must run every
second in a test, without a second copy of the service.
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
