"""The whole system for integration tests: every service a real ``nameko run``
process, on a private RabbitMQ vhost and private PostgreSQL databases.

Nothing is mocked. Failures are injected the way they happen in production:
a process is SIGKILLed, a table is locked by another session, a broken
message is published.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import requests
from kombu import Connection, Exchange
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client.parser import text_string_to_metric_families

from werkbrug_shared import actor, config, topology

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PG_ADMIN = os.environ.get("WERKBRUG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("WERKBRUG_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
# Short back-offs keep the suite quick; three retries, the 2nd long enough to
# act on deterministically between two attempts.
RETRY_DELAYS_MS = "200,1500,1500"
# Every aftercare statement gives up after 300 ms on a lock: how tests make
# its handler fail for real, by locking a table from another session.
AFTERCARE_OPTIONS = "?options=-c%20lock_timeout%3D300"


def eventually(check, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``check`` until it returns a truthy value; fail with its last state."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except AssertionError as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@contextlib.contextmanager
def private_database(prefix: str):
    """An engine on a PostgreSQL database of the caller's own, dropped afterwards."""
    from sqlalchemy import create_engine

    name = f"werkbrug_test_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name)
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


class MailServer:
    """A real SMTP server (aiosmtpd) as a subprocess, keeping what it receives in a Maildir."""

    def __init__(self, directory: Path):
        self.directory, self.port, self.proc = directory, free_port(), None

    def start(self):
        # the parent only: the Mailbox handler makes the Maildir (new, cur, tmp) when it is missing
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def listening():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
            return False

        eventually(listening, timeout=20, what="the SMTP server to listen")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def messages(self) -> list:
        import mailbox

        return list(mailbox.Maildir(self.directory, create=False)) if (self.directory / "new").exists() else []


DEFAULT_PARTNER = "dev-gemeente-enschede"  # who the tests' clients call as, unless they say


class System:
    def __init__(self, tag: str | None = None, extra_env: dict | None = None):
        self.tag = tag or uuid.uuid4().hex[:8]
        self.extra_env = dict(extra_env or {})
        self.vhost = f"werkbrug_test_{self.tag}"
        self.amqp_uri = f"{AMQP_BASE}/{self.vhost}"
        self.databases = {s: f"werkbrug_test_{self.tag}_{s}" for s in config.DATABASE_SERVICES}
        self.metrics_ports = {s: free_port() for s in config.SERVICES}
        self.http_port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.logdir = ARTIFACTS / f"logs-{self.tag}"
        self.mail = MailServer(self.logdir / "mail")

    # -- lifecycle -----------------------------------------------------------------

    def database_url(self, service: str, driver: str = "postgresql+psycopg") -> str:
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", f"{driver}://")
        return f"{base}/{self.databases[service]}"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            WERKBRUG_AMQP_URI=self.amqp_uri,
            WERKBRUG_HTTP_ADDRESS=f"127.0.0.1:{self.http_port}",
            WERKBRUG_RETRY_DELAYS_MS=RETRY_DELAYS_MS,
            WERKBRUG_OUTBOX_POLL_SECONDS="0.2",
            PYTHONUNBUFFERED="1",
            PYTHONWARNINGS="ignore",
            # a fixed test key: BSNs are encrypted at rest with it
            CANDIDATES_BSN_KEY="dGVzdC1rZXktZm9yLXdlcmticnVnLWJzbi0zMmJ5dGU=",
            WERKBRUG_SMTP_HOST="127.0.0.1",
            WERKBRUG_SMTP_PORT=str(self.mail.port),
            WERKBRUG_MATCHING_FAIRNESS_REPORT_SECONDS="1",
        )
        for service in config.DATABASE_SERVICES:
            url = self.database_url(service)
            env[f"{service.upper()}_DATABASE_URL"] = url + (AFTERCARE_OPTIONS if service == "aftercare" else "")
        for service, port in self.metrics_ports.items():
            env[f"{service.upper()}_METRICS_PORT"] = str(port)
        env.update(self.extra_env)
        return env

    def create(self):
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in self.databases.values():
                conn.execute(f'CREATE DATABASE "{name}"')
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.mail.start()
        # the same command an operator runs: migrate every database, declare every queue
        subprocess.run(
            [sys.executable, "-m", "werkbrug_shared.cli", "migrate"],
            env=self.env(), cwd=ROOT, check=True, capture_output=True, timeout=120,
        )

    def destroy(self):
        for service in list(self.procs):
            self.stop(service)
        self.mail.stop()
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", self.vhost)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in self.databases.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def spawn(self, service: str, instance: str | None = None):
        """Start ``service``; as a further ``instance`` (a name) beside the first, with its own metrics port."""
        name = instance or service
        env = self.env()
        if instance:
            self.metrics_ports[instance] = free_port()
            env[f"{service.upper()}_METRICS_PORT"] = str(self.metrics_ports[instance])
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config.yml"), f"{service}.service"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )

    def start_instance(self, service: str, instance: str):
        self.spawn(service, instance)
        self.wait_ready(instance)

    def start(self, service: str):
        self.spawn(service)
        self.wait_ready(service)

    def start_all(self):
        for service in config.SERVICES:
            self.spawn(service)
        for service in config.SERVICES:
            self.wait_ready(service)

    def wait_ready(self, service: str):
        proc = self.procs[service]

        def ready():
            if proc.poll() is not None:
                raise RuntimeError(f"{service} exited with {proc.returncode}:\n{self.log_tail(service)}")
            try:
                return requests.get(self.metrics_url(service), timeout=1).ok
            except (requests.ConnectionError, requests.Timeout):  # not up, or its hub still busy starting
                return False

        eventually(ready, timeout=60, what=f"{service} to start")
        # the metrics server starts with the container; consumers follow within moments
        time.sleep(0.3)

    def stop(self, service: str):
        proc = self.procs.pop(service, None)
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def kill(self, service: str):
        """SIGKILL: no shutdown, no flush, exactly what a crash is."""
        proc = self.procs.pop(service)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.logdir / f"{service}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- talking to it -------------------------------------------------------------

    def rpc(self, credential: str | None = DEFAULT_PARTNER, professional: str | None = None):
        """An RPC client calling as the partner of ``credential`` (see werkbrug_shared/partners.dev.yml;
        every call is some partner's); ``None``: without one, as an outsider would."""
        context_data = actor.context(credential, professional) if credential else None
        return ClusterRpcProxy(config.nameko_config(AMQP_URI=self.amqp_uri), context_data=context_data, timeout=30)

    def http(self, method: str, path: str, anonymous: bool = False, **kwargs):
        """A request to the gateway as ``DEFAULT_PARTNER`` unless it names its own
        ``Authorization`` header, or, ``anonymous``, without a credential."""
        headers = dict(kwargs.pop("headers", None) or {})
        if not anonymous:
            headers.setdefault("Authorization", f"Bearer {DEFAULT_PARTNER}")
        return requests.request(method, f"http://127.0.0.1:{self.http_port}{path}", timeout=30, headers=headers,
                                **kwargs)

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"

    def metric(self, service: str, name: str, **labels) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels``."""
        text = requests.get(self.metrics_url(service), timeout=5).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def sql(self, service: str, query: str, *params):
        with psycopg.connect(self.database_url(service, "postgresql"), autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def connect_db(self, service: str) -> psycopg.Connection:
        return psycopg.connect(self.database_url(service, "postgresql"))

    def queue_depth(self, name: str) -> int:
        with Connection(self.amqp_uri) as conn:
            _, messages, _ = conn.default_channel.queue_declare(name, passive=True)
            return messages

    def publish(self, source_service: str, routing_key: str, body: str | bytes,
                content_type: str = "application/cloudevents+json"):
        with Connection(self.amqp_uri, transport_options={"confirm_publish": True}) as conn:
            conn.Producer().publish(
                body, exchange=Exchange(f"{source_service}.events", type="topic", durable=True),
                routing_key=routing_key, content_type=content_type, content_encoding="utf-8",
                delivery_mode=2, mandatory=True, retry=False,
            )


def aftercare_placement_queue() -> str:
    return topology.consumer_queue_name(
        "matching", "nl.werkbrug.placement.recorded.v1", "aftercare", "on_placement_recorded"
    )


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def matching_has(rpc, vacancy_id: str, candidate_ids) -> bool:
    """Whether matching's index holds the vacancy and every one of the candidates."""
    from werkbrug_shared.errors import NotFound

    try:
        rpc.matching.candidates_for_vacancy(vacancy_id, 1)
    except NotFound:
        return False
    return set(candidate_ids) <= set(rpc.matching.indexed(list(candidate_ids)))


def register_jobcoaches(system, region: str, n: int = 2, capacity_hours: float = 36, expertise=(),
                        credential: str = "dev-soweco", regions=None) -> list[dict]:
    """Jobcoaches of the credential's organisation (registered too, with a coordinator) in ``region``."""
    organisation = credential.removeprefix("dev-")
    with system.rpc(credential) as partner:
        partner.aftercare.register_organisation({"name": f"Jobcoaching {organisation}",
                                                 "coordinator_email": f"coordinator@{organisation}.example"})
        return [partner.aftercare.register_jobcoach({
            "name": f"Coach {i}", "email": f"coach{i}.{uuid.uuid4().hex[:6]}@{organisation}.example",
            "regions": list(regions or [region]), "capacity_hours": capacity_hours, "expertise": list(expertise),
        }) for i in range(n)]
