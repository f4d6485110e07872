"""Reporting's figures over HTTP: outflow, durability and targets as JSON.

What leaves over HTTP is board output, so small groups are always suppressed
here ("< 5"); exact counts stay with operators (metrics) and internal RPC.
"""

from __future__ import annotations

from gateway.replies import reply
from gateway.routes import route
from reporting.queries import FigureQuery

# the selection and grouping reporting's FigureQuery knows; reporting validates the values
FIGURE_ARGS = ("cohort", "trajectory", "target_group", "region", "period", "group_by")


def figure_query(request) -> dict:
    return {name: request.args.get(name) for name in FIGURE_ARGS}


TAG = "reporting"
# what a partner may choose: suppression is not theirs to switch off
FIGURE_QUERY = FigureQuery(exclude=("suppress",))
SUPPRESSED = ("Counts of 1 to 4 people read \"< 5\" (and a count beside one \"x\"), rates from them null. "
              "Needs no credential.")


class FigureRoutes:
    """Mixed into the gateway service, which provides ``self.reporting``."""

    @route("GET", "/v1/outflow", tag=TAG, rpc="reporting.outflow", query=FIGURE_QUERY, public=True, reply="Figures",
           summary="Outflow: people in scope, placed, the rate, median days to placement, ended early",
           description=SUPPRESSED)
    def outflow(self, request):
        return reply(200, self.reporting.outflow(**figure_query(request), suppress=True))

    @route("GET", "/v1/durability", tag=TAG, rpc="reporting.durability", query=FIGURE_QUERY, public=True,
           reply="Figures", summary="Durability: placements still working 6 and 12 months after their start",
           description=SUPPRESSED)
    def durability(self, request):
        return reply(200, self.reporting.durability(**figure_query(request), suppress=True))

    @route("GET", "/v1/targets", tag=TAG, rpc="reporting.targets", public=True, reply="Targets",
           summary="Each configured target: realised against the target, per month")
    def targets(self, request):
        return reply(200, self.reporting.targets())
