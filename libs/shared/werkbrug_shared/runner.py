"""``werkbrug run``: migrate, then run every service as its own ``nameko run``.

One process per service, as in production, kept running by a small supervisor
(a service that exits is started again, with back-off); Ctrl-C (or SIGTERM)
stops them all gracefully and waits for in-flight work to finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kombu import Connection

from werkbrug_shared import config

BROKER_HELP = """\
RabbitMQ is not answering at {uri}.
werkbrug needs it for every RPC and event. Start it, then run this again:
  Debian/Ubuntu:  sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached
  Docker:         docker run -d -p 5672:5672 rabbitmq:3.13
  Elsewhere:      set WERKBRUG_AMQP_URI=amqp://user:password@host:5672/ to use another broker.
"""


def broker_answers(uri: str) -> bool:
    try:
        with Connection(uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def nameko_command(service: str, config_file: Path) -> list[str]:
    return [sys.executable, "-m", "nameko", "run", "--config", str(config_file), f"{service}.service"]


class Supervisor:
    """Keeps one process per service running, as a process supervisor or Kubernetes would.

    A service that exits (a crash, an OOM kill, a bug) is started again after a
    back-off that doubles from ``backoff`` up to ``backoff_max`` seconds and
    starts over once a run lasted ``stable_after`` seconds; each restart is
    logged and counted. One service's death never stops the others.
    """

    def __init__(self, commands: dict[str, list[str]], backoff: float = 1.0, backoff_max: float = 30.0,
                 stable_after: float = 60.0, out=None, **popen):
        self.commands = commands
        self.backoff, self.backoff_max, self.stable_after = backoff, backoff_max, stable_after
        self.out = out or sys.stderr
        self.popen = popen
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts = dict.fromkeys(commands, 0)
        self._started: dict[str, float] = {}
        self._delay = dict.fromkeys(commands, backoff)
        self._due: dict[str, float] = {}  # service -> when to start it again

    def start(self, service: str) -> None:
        self.procs[service] = subprocess.Popen(self.commands[service], start_new_session=True, **self.popen)
        self._started[service] = time.monotonic()

    def start_all(self) -> None:
        for service in self.commands:
            self.start(service)

    def poll(self) -> None:
        """Notice exits and start again what is due; call it every few tenths of a second."""
        now = time.monotonic()
        for service, proc in self.procs.items():
            if service in self._due or proc.poll() is None:
                continue
            if now - self._started[service] >= self.stable_after:
                self._delay[service] = self.backoff
            delay = self._delay[service]
            self._delay[service] = min(delay * 2, self.backoff_max)
            self._due[service] = now + delay
            self.restarts[service] += 1
            print(f"{service} exited with {proc.returncode}; starting it again in {delay:g}s "
                  f"(restart {self.restarts[service]})", file=self.out, flush=True)
        for service, due in list(self._due.items()):
            if now >= due:
                del self._due[service]
                self.start(service)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every process (in-flight work finishes), SIGKILL what outlives ``grace``."""
        self._due.clear()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(services=config.SERVICES, config_file: Path = Path("config.yml")) -> int:
    from werkbrug_shared import deadletters, migrations

    uri = config.amqp_uri()
    if not broker_answers(uri):
        sys.stderr.write(BROKER_HELP.format(uri=Connection(uri).as_uri()))  # as_uri() hides the password
        return 2
    for service in services:
        if service in config.DATABASE_SERVICES:
            migrations.upgrade(service)
    deadletters.declare_topology(uri, services)

    supervisor = Supervisor({service: nameko_command(service, config_file) for service in services})
    supervisor.start_all()
    print("werkbrug is running:")
    for service in services:
        port = config.metrics_port(service)
        print(f"  {service:<11} pid {supervisor.procs[service].pid:<7} metrics http://127.0.0.1:{port}/metrics"
              f"  health http://127.0.0.1:{port}/health/ready")
    http = os.environ.get("WERKBRUG_HTTP_ADDRESS", "0.0.0.0:8000").replace("0.0.0.0", "127.0.0.1")
    print(f"  gateway HTTP  http://{http}/health")
    print("A service that exits is started again. Ctrl-C stops everything.")

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        supervisor.poll()
        time.sleep(0.3)
    supervisor.stop()
    restarted = {s: n for s, n in supervisor.restarts.items() if n}
    print("werkbrug stopped." + (f" Restarts: {restarted}" if restarted else ""))
    return 0
