"""A RabbitMQ node and a PostgreSQL cluster of the fault tests' own, for the session.

The tests SIGKILL that broker and crash that database; the machine's own
(5672, 5432), which other tests use at the same time, are never touched.
Everything is stopped and removed at the end, also when a test fails.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.faults.infra import PG_BIN, RABBITMQ_BIN, PostgresCluster, RabbitNode
from tests.faults.system import FaultSystem


def _require_tools():
    missing = [str(p) for p in (RABBITMQ_BIN / "rabbitmq-server", PG_BIN / "pg_ctl") if not p.exists()]
    if missing or shutil.which("epmd") is None:
        pytest.fail(f"the fault tests start a RabbitMQ node and a PostgreSQL cluster of their own; missing: "
                    f"{', '.join(missing) or 'epmd'}")
    if os.geteuid() == 0:
        return
    pytest.fail("the fault tests start RabbitMQ and PostgreSQL as their own users (rabbitmq, postgres): run as root")


@pytest.fixture(scope="session")
def rabbit_node():
    _require_tools()
    node = RabbitNode()
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def pg_cluster():
    _require_tools()
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def fault_system(rabbit_node, pg_cluster):
    """Every service its own ``nameko run`` process on the node and cluster above, shared by
    the fault tests (each keeps to its own region and cohort, and counts from its own start)."""
    system = FaultSystem(rabbit_node, pg_cluster, extra_env={
        # a fixed date: placements start well after it, so a plan's tasks weigh nothing on a
        # coach's coming four weeks and two coaches take every plan, whatever the date today
        "WERKBRUG_TODAY": "2026-01-05",
    })
    try:
        system.create()
        system.start_all()
        yield system
    finally:
        system.destroy(delete_vhost=False)  # the node goes with the session
