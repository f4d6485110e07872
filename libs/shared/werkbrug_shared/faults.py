"""Crash points: where the fault tests make a service die at the worst moment.

``WERKBRUG_CRASH_AT`` names points and the chance that passing one kills the
process with SIGKILL, e.g. ``event.after_commit:0.05,relay.after_confirm:0.1``.
Unset (production), :func:`crash_point` is a dictionary look-up and nothing
more. The points:

- ``event.before_commit``: a consumer's handler ran, its unit of work is not committed;
- ``event.after_commit``: committed, the deliveries not yet acked;
- ``rpc.after_commit``: an RPC committed, its reply not yet sent;
- ``relay.after_confirm``: the broker confirmed outbox rows, they are not yet marked sent.

Each crash is logged first (``CRASH POINT <name>``), so a test can count them.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys

log = logging.getLogger(__name__)

ENV = "WERKBRUG_CRASH_AT"
POINTS = ("event.before_commit", "event.after_commit", "rpc.after_commit", "relay.after_confirm")


def parse(spec: str) -> dict[str, float]:
    """``"a:0.1,b"`` → ``{"a": 0.1, "b": 1.0}``; an unknown point is an error, not a silent no-op."""
    chances = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, chance = item.partition(":")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown crash point {name!r} (known: {', '.join(POINTS)})")
        chances[name] = float(chance) if chance else 1.0
    return chances


_CHANCES = parse(os.environ.get(ENV, ""))


def crash_point(name: str) -> None:
    """Die here, as SIGKILL would, if the environment asks for it."""
    chance = _CHANCES.get(name)
    if chance and random.random() < chance:  # noqa: S311 (a test's dice)
        log.error("CRASH POINT %s (pid %s)", name, os.getpid())
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
