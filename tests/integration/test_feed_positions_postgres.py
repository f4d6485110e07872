"""The feed's positions on PostgreSQL under concurrent writers: a reader that follows the feed
(always asking after the ``next`` it was given) misses nothing, and the positions are gap-free.

Writers store batches through reporting's handler, each in its own transaction held open a
little after numbering (as a slow batch would), some projecting into the read models and some
not; a reader polls meanwhile. A batch that committed after a reader had moved past its
positions would be missed: the lock on the head makes batches commit in position order.
"""

from __future__ import annotations

import subprocess
import sys
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from reporting import handlers
from reporting.models import StoredEvent, metadata
from tests.integration.harness import ROOT, private_database
from werkbrug_shared.db import UnitOfWork
from werkbrug_shared.migrations import upgrade

WRITERS, BATCHES = 4, 12

# one writer, a process of its own (psycopg waits would block a green thread's hub)
WRITER = """
import random, sys, time
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from reporting import handlers
from reporting.models import metadata
from tests.unit.reporting.factories import at, event
from tests.unit.reporting.test_feed import vacancy
from werkbrug_shared.db import UnitOfWork

url, w, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(w)
engine = create_engine(url)
for b in range(batches):
    batch = [vacancy(f"w{w}-b{b}-{i}", b) for i in range(rng.randint(1, 5))]
    if b % 3 == 1:  # a batch the read models do not take: only the head's lock
        batch.insert(0, event("trajectory.defined", {"trajectory_id": f"t{w}{b}", "trajectory": "x", "modules": []},
                              at(b)))
    with Session(engine) as session:
        handlers.store_events(UnitOfWork(session, "reporting", metadata.tables["outbox"],
                                         metadata.tables["processed_events"]), batch)
        time.sleep(rng.uniform(0, 0.05))  # holding the lock, uncommitted
        session.commit()
    print(" ".join(e.subject for e in batch if e.type.startswith("nl.werkbrug.vacancy")), flush=True)
"""


def unit_of_work(session: Session) -> UnitOfWork:
    return UnitOfWork(session, "reporting", metadata.tables["outbox"], metadata.tables["processed_events"])


def test_a_reader_following_the_feed_misses_nothing_while_batches_commit_concurrently():
    with private_database("feedpos") as engine:
        url = engine.url.render_as_string(hide_password=False)
        upgrade("reporting", url)
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(w), str(BATCHES)], cwd=ROOT,
                                    stdout=subprocess.PIPE, text=True) for w in range(WRITERS)]
        seen, after, deadline = [], 0, time.monotonic() + 120
        while True:
            finished = all(w.poll() is not None for w in writers)
            with Session(engine) as session:
                page = handlers.feed(unit_of_work(session), "gemeente-enschede", after, None, 1000)
            assert all(e["position"] > after for e in page["events"])
            seen.extend(e["subject"] for e in page["events"])
            after = page["next"]
            if finished and not page["events"]:
                break
            assert time.monotonic() < deadline, "the writers did not finish"
            time.sleep(0.002)
        stored = []
        for w in writers:
            out, _ = w.communicate()
            assert w.returncode == 0
            stored += out.split()
        assert len(stored) >= WRITERS * BATCHES
        # every event stored was read by the reader that only ever asked after the position it was given
        assert sorted(seen) == sorted(stored) and len(seen) == len(set(seen))
        with Session(engine) as session:
            positions = list(session.scalars(select(StoredEvent.position).order_by(StoredEvent.position)))
        assert positions == list(range(1, len(positions) + 1)) and after == len(positions)
