"""Liveness and readiness: what the Kubernetes probes and the compose healthchecks ask."""

from __future__ import annotations

import requests

from werkbrug_shared import config


def health(system, service: str, which: str) -> requests.Response:
    port = system.metrics_ports[service]
    return requests.get(f"http://127.0.0.1:{port}/health/{which}", timeout=5)


def test_every_service_is_live_and_ready_with_its_consumers_and_database(system):
    for service in config.SERVICES:
        live, ready = health(system, service, "live"), health(system, service, "ready")
        assert live.status_code == 200 and live.json()["status"] == "ok", (service, live.text)
        assert ready.status_code == 200 and ready.json()["status"] == "ok", (service, ready.text)
        checks = ready.json()["checks"]
        if service in config.DATABASE_SERVICES:  # each has RPCs and event handlers
            assert checks == {"database": True, "consumers:rpc": True, "consumers:events": True}, (service, checks)
        else:  # the gateway: the replies to its calls come in on a watched consumer too
            assert checks == {"consumers:rpc-replies": True}, (service, checks)
        assert ready.headers["Content-Type"] == "application/json"


def test_metrics_are_still_served_beside_the_health_checks(system):
    port = system.metrics_ports["matching"]
    assert "werkbrug_requests_total" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
