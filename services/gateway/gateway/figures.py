"""Reporting's figures over HTTP: outflow, durability and targets as JSON.

What leaves over HTTP is board output, so small groups are always suppressed
here ("< 5"); exact counts stay with operators (metrics) and internal RPC.
"""

from __future__ import annotations

from gateway.replies import reply
from werkbrug_shared.entrypoints import http

# the selection and grouping reporting's FigureQuery knows; reporting validates the values
FIGURE_ARGS = ("cohort", "trajectory", "target_group", "region", "period", "group_by")


def figure_query(request) -> dict:
    return {name: request.args.get(name) for name in FIGURE_ARGS}


class FigureRoutes:
    """Mixed into the gateway service, which provides ``self.reporting``."""

    @http("GET", "/v1/outflow")
    def outflow(self, request):
        return reply(200, self.reporting.outflow(**figure_query(request), suppress=True))

    @http("GET", "/v1/durability")
    def durability(self, request):
        return reply(200, self.reporting.durability(**figure_query(request), suppress=True))

    @http("GET", "/v1/targets")
    def targets(self, request):
        return reply(200, self.reporting.targets())
