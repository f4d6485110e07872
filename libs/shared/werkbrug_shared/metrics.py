"""Prometheus metrics shared by every service, and the endpoint serving them.

All collectors live in the process-wide default registry with a ``service``
label, so several containers in one process (tests) do not collide. Labels
are bounded: service, entrypoint, event type, outcome — never a person.

Counters and histograms count what this process did; Prometheus tells replicas
apart by its own ``instance`` label and sums them. The outbox backlog gauge is
a count in the database that every replica reports alike: take its max.
"""

from __future__ import annotations

import json
import logging
import time
from weakref import WeakKeyDictionary

import eventlet
import eventlet.wsgi
from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app

from werkbrug_shared import config, diagnostics
from werkbrug_shared.consuming import queue_consumers
from werkbrug_shared.errors import EXPECTED

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "werkbrug_requests_total",
    "Entrypoint calls (RPC, HTTP, event, timer) by outcome.",
    ["service", "kind", "entrypoint", "outcome"],
)
REQUEST_DURATION = Histogram(
    "werkbrug_request_duration_seconds",
    "Entrypoint duration, from worker start to result.",
    ["service", "kind", "entrypoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_HANDLED = Counter(
    "werkbrug_events_handled_total",
    "Events a consumer finished: processed, or skipped as a duplicate id.",
    ["service", "event_type", "outcome"],
)
EVENTS_RETRIED = Counter(
    "werkbrug_events_retried_total",
    "Failed event deliveries sent back for a retry after a back-off.",
    ["service", "event_type"],
)
EVENTS_DEAD_LETTERED = Counter(
    "werkbrug_events_dead_lettered_total",
    "Events moved to a dead-letter queue: retries exhausted, or invalid.",
    ["service", "event_type", "reason"],
)
EVENT_LAG = Histogram(
    "werkbrug_event_lag_seconds",
    "Time from an event's creation to its handler's commit.",
    ["service", "event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
OUTBOX_BACKLOG = Gauge(
    "werkbrug_outbox_backlog",
    "Outbox rows committed but not yet confirmed by the broker.",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "werkbrug_outbox_published_total",
    "Events the outbox relay published with a broker confirm.",
    ["service", "event_type"],
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "werkbrug_outbox_publish_failures_total",
    "Relay attempts that failed (broker away, or no queue bound yet).",
    ["service"],
)


def liveness(container) -> dict[str, bool]:
    """Whether the process should be left running: its hub answers (this runs on
    it) and no consumer's watchdog gave up on its connection (see consuming.py)."""
    return {f"consumers:{qc.kind}": qc.live for qc in queue_consumers(container)}


def readiness(container) -> dict[str, bool]:
    """Whether the process can take work: each consumer consuming on the broker,
    and each database answering a query."""
    from werkbrug_shared.db import databases_of

    checks = {f"consumers:{qc.kind}": qc.consuming() for qc in queue_consumers(container) if qc._providers}
    for db in databases_of(container):
        checks["database"] = database_answers(db.engine)
    return checks


def database_answers(engine, timeout: float = 2.0) -> bool:
    if engine is None:
        return False
    try:
        with eventlet.Timeout(timeout), engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except (Exception, eventlet.Timeout):
        return False


def health_app(container, metrics_app):
    """``/health/live`` and ``/health/ready`` (200 or 503, JSON naming each check); the rest is metrics."""
    checks_of = {"/health/live": liveness, "/health/ready": readiness}

    def app(environ, start_response):
        check = checks_of.get(environ.get("PATH_INFO", ""))
        if check is None:
            return metrics_app(environ, start_response)
        checks = check(container)
        ok = all(checks.values())
        body = json.dumps({"status": "ok" if ok else "failing", "checks": checks}).encode()
        start_response("200 OK" if ok else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return [body]

    return app


class MetricsServer(SharedExtension):
    """Serves the registry, and the health checks, on the service's own metrics port.

    A green WSGI server on the container's managed thread, so it starts and
    stops with the container and never blocks the hub.
    """

    def __init__(self):
        self._socket = None
        self._thread = None
        self.port = None

    def start(self):
        diagnostics.install()
        port = config.metrics_port(self.container.service_name, self.container.config)
        if not port:
            return
        self._socket = eventlet.listen(("0.0.0.0", port))
        self.port = self._socket.getsockname()[1]
        app = health_app(self.container, make_wsgi_app(REGISTRY))
        self._thread = self.container.spawn_managed_thread(
            lambda: eventlet.wsgi.server(self._socket, app, log_output=False),
            identifier="metrics-server",
        )
        log.info("metrics for %s on :%s/metrics", self.container.service_name, self.port)

    def stop(self):
        # the server loop does not notice a closed socket; end it ourselves
        if self._thread is not None:
            self._thread.kill()
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def kill(self):
        self.stop()


def entrypoint_kind(entrypoint) -> str:
    name = type(entrypoint).__name__.lower()
    for kind in ("rpc", "http", "event", "timer"):
        if kind in name or (kind == "http" and "request" in name):
            return kind
    return name


class EntrypointMetrics(DependencyProvider):
    """RED metrics for every entrypoint of the service it is declared on.

    Declaring it also starts the service's metrics endpoint. It records in
    ``worker_result``, which runs after the reply was sent, so measuring never
    delays a caller.
    """

    server = MetricsServer()

    def __init__(self):
        self._started = WeakKeyDictionary()

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        ep = worker_ctx.entrypoint
        kind = entrypoint_kind(ep)
        service = self.container.service_name
        if exc_info is None:
            outcome = "success"
        elif isinstance(exc_info[1], EXPECTED):
            outcome = "client_error"
        else:
            outcome = "error"
        REQUESTS.labels(service, kind, ep.method_name, outcome).inc()
        if started is not None:
            REQUEST_DURATION.labels(service, kind, ep.method_name).observe(time.perf_counter() - started)

    def get_dependency(self, worker_ctx):
        return None
