"""Liveness and readiness: what the Kubernetes probes and the compose healthchecks ask."""

from __future__ import annotations

import importlib

import requests

from werkbrug_shared import config
from werkbrug_shared.consuming import RpcProxy


def health(system, service: str, which: str) -> requests.Response:
    port = system.metrics_ports[service]
    return requests.get(f"http://127.0.0.1:{port}/health/{which}", timeout=5)


def calls_others(service: str) -> bool:
    """Whether the service holds an RPC proxy: the replies to its calls come in on a watched consumer."""
    module = importlib.import_module(f"{service}.service")
    (cls,) = [c for c in vars(module).values() if isinstance(c, type) and getattr(c, "name", None) == service]
    return any(isinstance(getattr(cls, name, None), RpcProxy) for name in dir(cls))


def test_every_service_is_live_and_ready_with_its_consumers_and_database(system):
    for service in config.SERVICES:
        live, ready = health(system, service, "live"), health(system, service, "ready")
        assert live.status_code == 200 and live.json()["status"] == "ok", (service, live.text)
        assert ready.status_code == 200 and ready.json()["status"] == "ok", (service, ready.text)
        checks = ready.json()["checks"]
        expected = {"consumers:rpc-replies": True} if calls_others(service) else {}
        if service in config.DATABASE_SERVICES:  # each has RPCs and event handlers
            expected |= {"database": True, "consumers:rpc": True, "consumers:events": True}
        assert checks == expected, (service, checks)
        assert ready.headers["Content-Type"] == "application/json"


def test_metrics_are_still_served_beside_the_health_checks(system):
    port = system.metrics_ports["matching"]
    assert "werkbrug_requests_total" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
