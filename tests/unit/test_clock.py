"""The services' date is the Netherlands', whatever the machine's timezone or hour."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

from werkbrug_shared import clock


@pytest.mark.parametrize(("instant", "expected"), [
    (datetime(2026, 12, 6, 23, 30, tzinfo=UTC), date(2026, 12, 7)),   # winter: UTC+1, already tomorrow
    (datetime(2026, 12, 6, 22, 59, tzinfo=UTC), date(2026, 12, 6)),
    (datetime(2026, 7, 6, 22, 30, tzinfo=UTC), date(2026, 7, 7)),     # summer: UTC+2
    (datetime(2026, 7, 6, 21, 59, tzinfo=UTC), date(2026, 7, 6)),
    (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), date(2027, 1, 1)),    # a new year an hour early
])
def test_the_date_is_the_netherlands_at_any_instant(instant, expected):
    assert clock.Clock(now=lambda: instant).today() == expected
    assert clock.date_in_nl(instant) == expected


def test_a_fixed_date_wins():
    assert clock.Clock(date(2027, 3, 1), now=lambda: datetime(2026, 12, 6, 23, 30, tzinfo=UTC)).today() == \
        date(2027, 3, 1)
    assert clock.fixed_date("2027-03-01") == date(2027, 3, 1)
    assert clock.fixed_date(date(2027, 3, 1)) == date(2027, 3, 1)
    assert clock.fixed_date("") is None and clock.fixed_date(None) is None


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "America/Adak", "UTC", "Europe/Amsterdam"])
def test_the_machines_timezone_changes_nothing(tz):
    """A process in the furthest timezones either side reads the same date as one in Amsterdam."""
    code = ("from datetime import datetime; from zoneinfo import ZoneInfo; from werkbrug_shared import clock; "
            "print(clock.today() == datetime.now(ZoneInfo('Europe/Amsterdam')).date())")
    env = {k: v for k, v in os.environ.items() if k != "WERKBRUG_TODAY"}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env={**env, "TZ": tz},
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "True"


def test_today_follows_werkbrug_today(monkeypatch):
    monkeypatch.setenv("WERKBRUG_TODAY", "2030-02-03")
    assert clock.today() == date(2030, 2, 3)


def test_add_months_clamps_month_ends():
    assert clock.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert clock.add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert clock.add_months(date(2026, 1, 15), 12) == date(2027, 1, 15)
    assert clock.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)  # as aftercare's steps count
