"""A whole werkbrug of its own (tests/integration/harness.py's System), for the board's
browser test and bench/freshness.py: the board's totals are then theirs alone."""

from __future__ import annotations

import contextlib

import requests

from tests.integration.harness import System
from werkbrug_shared import config


def start_all(system: System, attempts: int = 3) -> None:
    """``System.start_all``, patient with a metrics endpoint that answers slowly on a
    loaded machine (a read timeout there means "not yet", not "failed")."""
    for service in config.SERVICES:
        system.spawn(service)
    for service in config.SERVICES:
        for attempt in range(attempts):
            try:
                system.wait_ready(service)
                break
            except requests.Timeout:
                if attempt == attempts - 1:
                    raise


@contextlib.contextmanager
def running_system():
    system = System()
    system.create()
    try:
        start_all(system)
        yield system
    finally:
        system.destroy()
