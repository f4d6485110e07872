"""The gateway's figure routes against a fake reporting service: what reaches reporting, what comes back."""

from __future__ import annotations

import json

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.figures import FigureRoutes
from gateway.service import GatewayService


class FakeReporting:
    def __init__(self):
        self.calls = []

    def outflow(self, **query):
        self.calls.append(("outflow", query))
        return {"enrolled": "< 5", "placed": "< 5", "outflow_rate": None}

    def durability(self, **query):
        self.calls.append(("durability", query))
        return {"placements": 12, "sustained_6m_rate": 0.75}

    def targets(self):
        self.calls.append(("targets", {}))
        return [{"id": "leerwerkbanen", "target": 1000, "realised": 12}]


class Gateway(FigureRoutes):
    def __init__(self):
        self.reporting = FakeReporting()


def request(path: str, query: dict | None = None) -> Request:
    return Request(EnvironBuilder(path=path, query_string=query or {}).get_environ())


def test_the_selection_and_grouping_reach_reporting_and_http_is_always_suppressed():
    gateway = Gateway()
    response = gateway.outflow(request("/v1/outflow", {
        "cohort": "2026-Q1", "region": "Twente", "group_by": "target_group", "period": "month",
        "suppress": "false"}))  # a partner cannot switch suppression off
    status, headers, body = response
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["enrolled"] == "< 5"
    assert gateway.reporting.calls == [("outflow", {
        "cohort": "2026-Q1", "trajectory": None, "target_group": None, "region": "Twente", "period": "month",
        "group_by": "target_group", "suppress": True})]


def test_durability_and_targets_are_served_as_json():
    gateway = Gateway()
    _, _, durability = gateway.durability(request("/v1/durability", {"trajectory": "leerwerkbaan-schoonmaak"}))
    _, _, targets = gateway.targets(request("/v1/targets"))
    assert json.loads(durability)["sustained_6m_rate"] == 0.75
    assert json.loads(targets)[0]["target"] == 1000
    assert gateway.reporting.calls[0] == ("durability", {
        "cohort": None, "trajectory": "leerwerkbaan-schoonmaak", "target_group": None, "region": None,
        "period": None, "group_by": None, "suppress": True})


def test_the_gateway_service_has_the_figure_routes():
    for method in ("outflow", "durability", "targets"):
        assert getattr(GatewayService, method).nameko_entrypoints
