"""DESIGN §5 under fire: nothing lost, nothing doubled, while everything that can die dies.

A bounded load of placements recorded over RPC (at least 1,000; 5,000 with
``WERKBRUG_FAULTS_FULL=1``) runs while two instances of every consuming service
crash at the worst moments (``WERKBRUG_CRASH_AT``, each point at least 50 times)
and are restarted by a supervisor, each consuming service is SIGKILLed in turn,
the broker is SIGKILLed and restarted and its application stopped and started,
and PostgreSQL is crashed and restarted and its backends terminated. Then every
figure is checked against what the callers saw.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import eventlet
import requests

from tests.faults.load import Load, Scenario, problems, state, summarise
from tests.faults.system import CONSUMING_SERVICES, CrashLog, Supervisor, emit, idle_queues, instance_names
from tests.integration.harness import eventually

FULL = os.environ.get("WERKBRUG_FAULTS_FULL") == "1"
PLACEMENTS = 5000 if FULL else 1000
CRASHES_PER_POINT = 50
INSTANCES = {s: 2 for s in CONSUMING_SERVICES} | {"gateway": 1}

# Which crash points each consuming service passes under this load, and the chance per passage.
CRASH_PLAN = {  # chances high enough that a restarted instance soon crashes again: restarts set the pace
    "aftercare": {"event.before_commit": 0.04, "event.after_commit": 0.04, "relay.after_confirm": 0.08},
    "candidates": {"event.before_commit": 0.04, "event.after_commit": 0.04, "relay.after_confirm": 0.08},
    "vacancies": {"event.before_commit": 0.04, "event.after_commit": 0.04, "relay.after_confirm": 0.08},
    "reporting": {"event.before_commit": 0.04, "event.after_commit": 0.04},
    "matching": {"rpc.after_commit": 0.12},
}


class Conductor:
    """The scheduled faults, one after another, while the load runs."""

    def __init__(self, system, supervisor):
        self.system, self.supervisor = system, supervisor
        self.log: list[tuple[float, str]] = []
        self.finished = False
        self.t0 = time.monotonic()

    def note(self, what: str):
        self.log.append((round(time.monotonic() - self.t0, 1), what))

    def wait_running(self, name: str, timeout: float = 90):
        def up():
            if not self.system.running(name):
                return False
            try:
                return requests.get(self.system.metrics_url(name), timeout=1).ok
            except (requests.ConnectionError, requests.Timeout):
                return False

        eventually(up, timeout=timeout, interval=0.3, what=f"{name} to run again")

    def run(self):
        system, node, pg = self.system, self.system.node, self.system.pg
        try:
            eventlet.sleep(3)
            for service in CONSUMING_SERVICES:  # (a) each consuming service SIGKILLed in turn
                if system.running(service):
                    system.kill(service)
                    self.note(f"SIGKILL {service}")
                self.wait_running(service)
                eventlet.sleep(1)
            node.sigkill()  # (b) the broker dies and comes back
            self.note("SIGKILL rabbitmq")
            eventlet.sleep(1)
            node.start()
            self.note("rabbitmq started")
            eventlet.sleep(8)
            node.stop_app()
            self.note("rabbitmq stop_app")
            eventlet.sleep(2)
            node.start_app()
            self.note("rabbitmq start_app")
            eventlet.sleep(8)
            pg.crash()  # (c) the database crashes and comes back
            self.note("postgres immediate stop")
            eventlet.sleep(1)
            pg.start()
            self.note("postgres started")
            eventlet.sleep(6)
            self.note(f"pg_terminate_backend: {pg.terminate_backends()} backends")
            eventlet.sleep(3)
        finally:
            self.finished = True


def test_nothing_lost_or_doubled_under_crashes_and_restarts(fault_system, capsys, request):
    system = fault_system
    scenario = Scenario(system, candidates=PLACEMENTS * 2)
    crashes = CrashLog(system.logdir)
    crashes.scan()
    before = Counter(crashes.counts)
    dead_before = system.dead_letters()
    crashing = {"on": True}

    def crash_spec(name: str) -> str:
        if not crashing["on"]:
            return ""
        counts = crashes.scan()
        plan = CRASH_PLAN[name.split("-", 1)[0]]
        return ",".join(f"{point}:{chance}" for point, chance in plan.items()
                        if counts[point] - before[point] < CRASHES_PER_POINT)

    system.use_fork_servers()  # hundreds of restarts: each a fork of a server that imported the service once
    # two instances of every consuming service, the second ones crashing from the start
    for service in CONSUMING_SERVICES:
        system.spawn(service, f"{service}-2", crash=crash_spec(f"{service}-2"))
    for service in CONSUMING_SERVICES:
        system.wait_ready(f"{service}-2")
    supervisor = Supervisor(system, instance_names(), crash_spec).start()
    request.addfinalizer(supervisor.stop)  # whatever happens below, it does not outlive this test
    conductor = Conductor(system, supervisor)

    def targets_met() -> bool:
        counts = crashes.scan()
        return conductor.finished and all(counts[p] - before[p] >= CRASHES_PER_POINT for p in
                                          {p for plan in CRASH_PLAN.values() for p in plan})

    # once enough placements are in, the load goes on more slowly until every crash point fired often enough
    load = Load(system, scenario.jobs(), callers=4, minimum=PLACEMENTS, done=targets_met, pace_after_minimum=0.3)
    t_load = time.monotonic()
    try:
        load.start()
        conductor_thread = eventlet.spawn(conductor.run)
        out = load.wait(timeout=480 if not FULL else 1800)
        conductor_thread.wait()
    finally:
        load.stop()
        crashing["on"] = False
    load_seconds = time.monotonic() - t_load
    t_end = time.monotonic()

    # the crashing processes make way for clean ones (new starts get no crash points now)
    crashing_ones = [n for n, spec in system.crash_specs.items() if spec and system.running(n)]
    supervisor.paused.update(crashing_ones)
    stopping = {n: system.procs.pop(n) for n in crashing_ones}
    for proc in stopping.values():
        proc.send_signal(signal.SIGTERM)
    for proc in stopping.values():
        proc.wait(60)
    supervisor.paused.clear()
    eventually(supervisor.all_running, timeout=60, what="every instance to run again")

    def settled():
        idle = idle_queues(system, INSTANCES)
        backlog = {q: m for q, (c, m) in system.queues().items()
                   if (q.startswith("evt-") or q.startswith("rpc-")) and not q.endswith(".dlq") and m}
        if idle or backlog:
            return False
        return not problems(state(system, scenario, out))

    try:
        eventually(settled, timeout=240, interval=1.0, what="the system to settle")
        settle_seconds = time.monotonic() - t_end
        settled_ok = True
    except AssertionError:
        settle_seconds, settled_ok = None, False
    supervisor.stop()
    final = state(system, scenario, out)
    bad = problems(final)
    counts = crashes.scan()
    fired = {p: counts[p] - before[p] for p in sorted({p for plan in CRASH_PLAN.values() for p in plan})}
    dead = {q: n - dead_before.get(q, 0) for q, n in system.dead_letters().items() if n - dead_before.get(q, 0)}
    idle = idle_queues(system, INSTANCES)
    exits = Counter(name for name, _, _ in supervisor.exits)
    # a process that ended other than by SIGKILL (a crash point, the conductor) stopped by itself
    self_exits = [(name, code) for name, code, _ in supervisor.exits if code != -9]
    emit(capsys, f"FAULT RUN placements={final['placements']} seen_ok={len(out.placed)} lost={len(final['lost'])} "
                 f"doubled={len(final['doubled'])} dead_letters={sum(dead.values())} "
                 f"settle_s={settle_seconds and round(settle_seconds, 1)} load_s={round(load_seconds, 1)} "
                 f"crashes={fired} restarts={sum(supervisor.starts.values())} request_id={out.request_id} "
                 f"retries={dict(out.retries)} unknown={len(out.unknown)} "
                 f"conflict_on_retry={len(out.conflict_on_retry)} refused={len(out.refused)}")
    emit(capsys, f"FAULT RUN timeline {conductor.log}; exits per instance {dict(exits)}; "
                 f"exited by themselves {self_exits}")
    if bad or idle or dead:
        emit(capsys, f"FAULT RUN problems {summarise(bad)} idle={idle} dead={dead}")

    assert not out.refused, f"placements refused: {out.refused[:5]}"
    assert settled_ok, f"did not settle within 240 s: {summarise(bad)}; idle queues {idle}"
    assert not final["lost"] and not final["doubled"]
    assert not bad
    assert not dead, f"dead letters: {dead}"
    assert not idle
    assert final["placements"] >= PLACEMENTS
    assert all(n >= CRASHES_PER_POINT for n in fired.values()), fired
    assert not out.conflict_on_retry, f"a retried request_id was refused: {out.conflict_on_retry[:3]}"
    if out.request_id:
        assert not out.unknown, out.unknown[:5]

