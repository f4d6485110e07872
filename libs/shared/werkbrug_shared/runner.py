"""``werkbrug run``: migrate, then run every service as its own ``nameko run``.

One process per service, as in production; Ctrl-C (or SIGTERM) stops them
all gracefully and waits for in-flight work to finish.
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

    procs = {}
    for service in services:
        procs[service] = subprocess.Popen(nameko_command(service, config_file), start_new_session=True)
    print("werkbrug is running:")
    for service in services:
        port = config.metrics_port(service)
        print(f"  {service:<11} pid {procs[service].pid:<7} metrics http://127.0.0.1:{port}/metrics")
    http = os.environ.get("WERKBRUG_HTTP_ADDRESS", "0.0.0.0:8000").replace("0.0.0.0", "127.0.0.1")
    print(f"  gateway HTTP  http://{http}/health")
    print("Ctrl-C stops everything.")

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for service, proc in procs.items():
            if proc.poll() is not None:
                print(f"{service} exited with {proc.returncode}; stopping the rest", file=sys.stderr)
                stopping, code = True, 1
                break
        time.sleep(0.3)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    print("werkbrug stopped.")
    return code
