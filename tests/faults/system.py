"""The whole system on the fault tests' own broker node and database cluster,
with what a fault run needs around it: a supervisor that restarts whatever
dies (as Kubernetes or ``werkbrug run`` would), crash points per process,
a bounded load of placements recorded over RPC, and the checks of DESIGN §5.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import eventlet
import psycopg

from tests.faults.infra import PostgresCluster, RabbitNode
from tests.integration.harness import ROOT, System
from werkbrug_shared import faults

# Long enough to ride out a broker or database restart (an event that fails
# four times in ~18 s is dead-lettered), short enough for a test to see a
# handler that always fails reach its dead-letter queue.
FAULT_RETRY_DELAYS_MS = "500,2000,5000,10000"
CONSUMING_SERVICES = ("aftercare", "candidates", "vacancies", "reporting", "matching")
CRASH_LINE = re.compile(rb"CRASH POINT (\S+)")


class FaultSystem(System):
    """``harness.System`` pointed at a RabbitMQ node and a PostgreSQL cluster of the tests' own."""

    def __init__(self, node: RabbitNode, pg: PostgresCluster, tag: str | None = None,
                 extra_env: dict | None = None):
        env = {"WERKBRUG_RETRY_DELAYS_MS": FAULT_RETRY_DELAYS_MS}
        env.update(extra_env or {})
        super().__init__(tag=tag or f"faults-{uuid.uuid4().hex[:6]}", extra_env=env)
        self.node, self.pg = node, pg
        self.amqp_uri = f"{node.amqp_base}/{self.vhost}"
        self.crash_specs: dict[str, str] = {}  # the WERKBRUG_CRASH_AT each running process was started with
        self.fork_servers: dict[str, ForkServer] = {}
        self.supervisors: list = []  # stopped first on destroy, or they would start what destroy stops
        self._lock = threading.Lock()

    def database_url(self, service: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.pg.port}/{self.databases[service]}"

    def env(self) -> dict:
        env = super().env()
        # as in production, no lock_timeout for aftercare (the integration harness sets 300 ms to make its
        # handler fail on purpose): two instances take the jobcoaches' row locks in turn under this load
        env["AFTERCARE_DATABASE_URL"] = self.database_url("aftercare")
        # services are restarted hundreds of times: let Python keep the bytecode of werkbrug's own modules
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def create(self):
        self.node.ctl("add_vhost", self.vhost)
        self.node.ctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        with psycopg.connect(self.pg.admin_url, autocommit=True) as conn:
            for name in self.databases.values():
                conn.execute(f'CREATE DATABASE "{name}"')
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.mail.start()
        subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", "migrate"],
                       env=self.env(), cwd=ROOT, check=True, capture_output=True, timeout=180)

    def destroy(self, delete_vhost: bool = True):
        """Stop everything and drop what the system made (the vhost too, unless its broker is thrown away)."""
        for supervisor in self.supervisors:
            supervisor.stop()
        names = list(self.procs)
        for name in names:  # SIGTERM them all at once, then wait: a shutdown each in turn takes long
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name in names:
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for server in self.fork_servers.values():
            server.close()
        self.mail.stop()
        if delete_vhost:
            with contextlib.suppress(Exception):
                self.node.ctl("delete_vhost", self.vhost, timeout=60)
        with contextlib.suppress(Exception), psycopg.connect(self.pg.admin_url, autocommit=True) as conn:
            for name in self.databases.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def spawn(self, service: str, instance: str | None = None, crash: str = ""):
        """As ``System.spawn``, with the process's own crash points (``WERKBRUG_CRASH_AT``)."""
        name = instance or service
        env = self.env()
        if instance:
            self.metrics_ports[instance] = self.metrics_ports.get(instance) or _free_port()
            env[f"{service.upper()}_METRICS_PORT"] = str(self.metrics_ports[instance])
        faults.parse(crash)  # a typo in a test's crash spec fails here, not silently in the service
        env[faults.ENV] = crash
        self.crash_specs[name] = crash
        if service in self.fork_servers:
            self.procs[name] = self.fork_servers[service].spawn(env, self.logdir / f"{name}.log")
            return
        with open(self.logdir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config.yml"), f"{service}.service"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )

    def use_fork_servers(self, services=("aftercare", "candidates", "vacancies", "reporting", "matching")):
        """From now on these services start as forks of a server that imported them once (forkserver.py)."""
        for service in services:
            if service not in self.fork_servers:
                self.fork_servers[service] = ForkServer(service, self.env(), self.logdir)

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def sigterm(self, name: str, timeout: float = 60) -> int | str:
        """A graceful stop (what a deploy does): returns the exit code, or ``"hung"`` when the process
        had not ended after ``timeout`` (then its green threads' stacks go to its log, SIGUSR1, and it
        is killed)."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # werkbrug's diagnostics: every green thread's stack, logged
            eventlet.sleep(3)
            proc.kill()
            proc.wait(30)
            return "hung"

    def queues(self) -> dict[str, tuple[int, int]]:
        return self.node.list_queues(self.vhost)

    def dead_letters(self) -> dict[str, int]:
        return {name: messages for name, (_, messages) in self.queues().items() if name.endswith(".dlq")}

    def cli(self, *args: str) -> str:
        """``werkbrug ...`` with the system's environment, as an operator runs it."""
        result = subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", *args], env=self.env(), cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"werkbrug {' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout


class ForkedProcess:
    """A service process forked by a :class:`ForkServer`, with the part of ``Popen``'s interface the
    harness and the supervisor use."""

    def __init__(self, pid: int, status_dir: Path):
        self.pid, self._status, self.returncode = pid, status_dir / f"{pid}.exit", None

    def poll(self):
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text())
        return self.returncode

    def wait(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            eventlet.sleep(0.05)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


class ForkServer:
    """One service's modules imported once; each start of the service is a fork (see forkserver.py)."""

    def __init__(self, service: str, env: dict, logdir: Path):
        self.service = service
        self.status_dir = logdir / f".exits-{service}"
        self.status_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(logdir / f"forkserver-{service}.log", "ab")  # noqa: SIM115 (as long as the server)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.forkserver", service, str(self.status_dir)],
            env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"fork server of {service} did not start: {line!r}")

    def spawn(self, env: dict, log: Path) -> ForkedProcess:
        request = {"env": env, "log": str(log), "config": str(ROOT / "config.yml")}
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        if len(reply) != 2 or reply[0] != b"pid":
            raise RuntimeError(f"fork server of {self.service} answered {reply!r}")
        return ForkedProcess(int(reply[1]), self.status_dir)

    def close(self):
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
        with contextlib.suppress(Exception):
            self.proc.wait(10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _free_port() -> int:
    from tests.integration.harness import free_port

    return free_port()


def instance_names() -> dict[str, str]:
    names = {}
    for service in CONSUMING_SERVICES:
        names[service] = service
        names[f"{service}-2"] = service
    return names


def emit(capsys, line: str):
    with capsys.disabled():
        print(f"\n{line}", flush=True)


def service_of(name: str) -> str:
    return name.split("-", 1)[0]


def consumer_queue(name: str) -> bool:
    """RPC queues ``rpc-<service>`` and event queues ``evt-...``; not dead-letter or retry queues."""
    return (name.startswith("rpc-") or name.startswith("evt-")) and not name.endswith(".dlq")


def expected_consumers(system: FaultSystem, queue: str, instances: dict[str, int]) -> int:
    """How many consumers a queue should have: one per running instance of the service it belongs to."""
    if queue.startswith("rpc-"):
        service = queue[len("rpc-"):]
    else:
        service = queue.rsplit("--", 1)[1].split(".", 1)[0]
    return instances.get(service, 0)


def consumer_counts(system: FaultSystem, names) -> dict[str, tuple[int, int]] | None:
    """``{queue: (consumers, messages)}`` over AMQP (a passive declare each), much quicker than
    rabbitmqctl while the broker is busy recovering; None while the broker does not answer."""
    from kombu import Connection

    out = {}
    try:
        with Connection(system.amqp_uri, connect_timeout=5) as conn:
            channel = conn.channel()
            for name in names:
                _, messages, consumers = channel.queue_declare(name, passive=True)
                out[name] = (consumers, messages)
    except Exception:
        return None
    return out


def idle_queues(system: FaultSystem, instances: dict[str, int], names=None) -> dict[str, tuple[int, int, int]]:
    """Consumer queues without all their consumers: ``{queue: (consumers, expected, messages)}``.
    With ``names``, those queues are asked over AMQP (an unanswered broker counts as all idle)."""
    out = {}
    if names is None:
        counts = system.queues()
    else:
        counts = consumer_counts(system, names) or {name: (0, -1) for name in names}
    for name, (consumers, messages) in counts.items():
        if not consumer_queue(name):
            continue
        want = expected_consumers(system, name, instances)
        if want and consumers < want:
            out[name] = (consumers, want, messages)
    return out


class CrashLog:
    """Counts ``CRASH POINT <name>`` lines in the services' logs, reading only what was added."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.offsets: dict[Path, int] = {}
        self.counts: Counter = Counter()
        self.per_process: Counter = Counter()

    def scan(self) -> Counter:
        for path in sorted(self.logdir.glob("*.log")):
            offset = self.offsets.get(path, 0)
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # only whole lines
            for match in CRASH_LINE.finditer(chunk[:end]):
                point = match.group(1).decode()
                self.counts[point] += 1
                self.per_process[(path.stem, point)] += 1
            self.offsets[path] = offset + end
        return self.counts


class Supervisor:
    """Restarts any of ``names`` that is not running, as a process supervisor would.

    ``crash_spec(name)`` gives the crash points a process is (re)started with.
    A process is started again at most once a second; every start is counted.
    """

    def __init__(self, system: FaultSystem, names: dict[str, str], crash_spec=lambda name: ""):
        self.system, self.names, self.crash_spec = system, dict(names), crash_spec
        self.starts: Counter = Counter()
        self.exits: list[tuple[str, int | None, float]] = []
        self.paused: set[str] = set()
        self._last: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._stop = False
        self._thread = None

    def start(self):
        self._thread = eventlet.spawn(self._run)
        self.system.supervisors.append(self)
        return self

    def stop(self):
        self._stop = True
        if self._thread is not None:
            self._thread.wait()
            self._thread = None

    def _run(self):
        while not self._stop:
            for name, service in self.names.items():
                if name in self.paused:
                    continue
                proc = self.system.procs.get(name)
                if proc is not None and proc.poll() is None:
                    continue
                now = time.monotonic()
                if now - self._last.get(name, 0) < self._backoff.get(name, 1.0):
                    continue
                if proc is not None:
                    self.exits.append((name, proc.returncode, now))
                    # one that exits by itself while still starting (the broker or database away) waits
                    # longer each time; one that was killed (a crash point, a test) comes back at once
                    short_lived = now - self._last.get(name, 0) < 10 and proc.returncode != -signal.SIGKILL
                    self._backoff[name] = min(self._backoff.get(name, 1.0) * 2, 8.0) if short_lived else 0.2
                self._last[name] = now
                self.system.spawn(service, None if name == service else name, crash=self.crash_spec(name))
                self.starts[name] += 1
            eventlet.sleep(0.2)

    def all_running(self) -> bool:
        return all(self.system.running(n) for n in self.names)
