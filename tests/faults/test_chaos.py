"""Issue 15 §1: no consumer sits idle after a broker restart.

Seen about one run in seven before the fix: after ``stop_app``/``start_app`` a
service's consumer drained a fresh connection with no channel and no
``basic.consume``; its queue showed messages ready and 0 consumers until the
service was restarted by hand. Here the test's own node cycles its application
again and again while events flow into every consumer (placements being
recorded, candidates registered), and after each cycle every queue must have
all its consumers back within 30 s, with no service restarted.
``WERKBRUG_CHAOS_CYCLES`` sets the number of cycles (at least 5 by default).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import Counter

import eventlet

from tests.faults.load import PARTNER, SKILLS, Load, Scenario, problems, state, summarise
from tests.faults.system import consumer_queue, idle_queues, service_of
from tests.integration.harness import eventually

CYCLES = max(1, int(os.environ.get("WERKBRUG_CHAOS_CYCLES", "5")))
RECOVERY_SECONDS = 30
NEVER_SECONDS = 30  # after a miss: how much longer to watch before calling the consumer idle for good


def running_instances(system) -> dict[str, int]:
    return dict(Counter(service_of(name) for name in list(system.procs) if system.running(name)))


class Registrations:
    """Candidates registered in small batches, over and over: events into matching and reporting."""

    def __init__(self, system, region: str, cohort: str):
        self.system, self.region, self.cohort = system, region, cohort
        self.registered, self.failed, self.stopped = 0, 0, False
        self._n = 0
        self._thread = None

    def start(self):
        self._thread = eventlet.spawn(self._run)
        return self

    def stop(self):
        self.stopped = True
        if self._thread is not None:
            self._thread.wait()

    def _run(self):
        while not self.stopped:
            rows = [{"source_ref": f"chaos-{self.cohort}-{self._n + i}", "given_name": "Chaos",
                     "family_name": f"Kandidaat{self._n + i}", "region": self.region, "postcode": "7512 AB",
                     "target_groups": ["ww"], "skills": [SKILLS[2]], "hours_per_week": 24, "cohort": self.cohort}
                    for i in range(10)]
            try:
                with self.system.rpc(PARTNER) as rpc:
                    while not self.stopped:
                        rpc.candidates.register_many(rows)  # a retry of a batch finds its rows (source_ref)
                        self._n += len(rows)
                        self.registered = self._n
                        rows = [{**r, "source_ref": f"chaos-{self.cohort}-{self._n + i}",
                                 "family_name": f"Kandidaat{self._n + i}"} for i, r in enumerate(rows)]
                        eventlet.sleep(0.5)
            except Exception:
                self.failed += 1  # the broker is away: a new client in a moment
                eventlet.sleep(1)


def test_every_queue_has_its_consumers_after_each_broker_app_restart(fault_system, capsys):
    system, node = fault_system, fault_system.node
    expected = running_instances(system)
    watched = sorted(q for q in system.queues() if consumer_queue(q))  # asked over AMQP after each restart
    scenario = Scenario(system, candidates=150 * CYCLES + 200)
    load = Load(system, scenario.jobs(), callers=3, minimum=10**9)
    registrations = Registrations(system, scenario.region, f"chaos-{uuid.uuid4().hex[:6]}")
    pids = {name: proc.pid for name, proc in system.procs.items()}
    survived, misses, history, slow = 0, [], [], {}
    rng = random.Random()
    load.start()
    registrations.start()
    try:
        for cycle in range(1, CYCLES + 1):
            eventlet.sleep(rng.uniform(1.0, 3.0))  # consumers busy acking when the broker goes
            node.stop_app()
            eventlet.sleep(rng.uniform(0.2, 2.0))
            node.start_app()
            t0 = time.monotonic()
            seen: dict = {}

            def recovered(seen=seen, t0=t0):
                idle = idle_queues(system, expected, watched)
                for queue, state_now in idle.items():  # for the record: what was slow to come back
                    seen[queue] = (round(time.monotonic() - t0, 1), state_now)
                return not idle

            try:
                eventually(recovered, timeout=RECOVERY_SECONDS, interval=0.5,
                           what=f"every queue to have its consumers after cycle {cycle}")
                survived += 1
                history.append(round(time.monotonic() - t0, 1))
                slow.update({(cycle, q): v for q, v in seen.items() if v[0] > 10})
            except AssertionError:
                idle = idle_queues(system, expected, watched)
                try:  # does it ever come back by itself?
                    eventually(lambda: not idle_queues(system, expected, watched), timeout=NEVER_SECONDS, interval=1.0,
                               what="late recovery")
                    misses.append((cycle, idle, "recovered after more than 30 s"))
                except AssertionError:
                    misses.append((cycle, idle_queues(system, expected, watched) or idle, "never recovered"))
                break
    finally:
        load.stop()
        registrations.stop()
        load.wait(timeout=120)
    exited = {name: proc.returncode for name, proc in system.procs.items()
              if proc.poll() is not None or proc.pid != pids.get(name)}
    with capsys.disabled():
        print(f"\nCHAOS cycles survived={survived}/{CYCLES} recovery_s={history} placements={len(load.out.placed)} "
              f"registered={registrations.registered} services_exited={exited} misses={misses} "
              f"slow_to_return={slow}", flush=True)
    assert not misses, f"a consumer sat idle after a broker restart: {misses}"
    assert survived == CYCLES
    assert not exited, f"services did not ride out the restarts: {exited}"

    # and what flowed meanwhile arrived whole: every placement once, its plan, statuses and counts
    eventually(lambda: not problems(state(system, scenario, load.out)), timeout=120, interval=1.0,
               what="the placements of the chaos run to settle")
    final = state(system, scenario, load.out)
    assert not final["lost"] and not final["doubled"], summarise(problems(final))
