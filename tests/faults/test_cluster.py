"""Queues that survive a node (issue 16 §2): the placement chain on a three-node RabbitMQ
cluster with quorum queues, and the node leading every queue SIGKILLed mid-stream.

The services reach the cluster through its three addresses (kombu's fail-over list);
``werkbrug migrate`` declared every queue on the first node, so it leads them all. When
it dies, the other two elect new leaders and every service reconnects to them: no
placement is lost or doubled, and every consumer is back without a restart.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.infra import RabbitCluster
from tests.faults.load import Load, Scenario, problems, state, summarise
from tests.faults.system import CONSUMING_SERVICES, FaultSystem, emit, idle_queues
from tests.integration.harness import eventually

PLACEMENTS = 200
INSTANCES = {s: 1 for s in CONSUMING_SERVICES} | {"gateway": 1}


@pytest.fixture(scope="module")
def cluster():
    cluster = RabbitCluster(3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_system(cluster, pg_cluster):
    system = FaultSystem(cluster.nodes[0], pg_cluster, extra_env={
        "WERKBRUG_QUEUE_TYPE": "quorum", "WERKBRUG_TODAY": "2026-01-05"})
    system.amqp_uri = cluster.uri(system.vhost)
    try:
        system.create()
        system.start_all()
        yield system
    finally:
        # the cluster is thrown away after the module: deleting quorum queues with a member gone only waits
        system.destroy(delete_vhost=False)


def test_the_chain_loses_nothing_when_the_node_leading_its_queues_dies(cluster, cluster_system, capsys):
    system = cluster_system
    first, survivor = cluster.nodes[0], cluster.nodes[1]
    leaders = cluster.leaders(first, system.vhost)
    # not a replica's own address (rpc-matching@<replica>): it lives and goes with its connection
    consumer_queues = sorted(q for q in leaders if q.startswith(("evt-", "rpc-")) and not q.endswith(".dlq")
                             and "@" not in q)
    assert len(consumer_queues) > 20
    not_led = [q for q in consumer_queues if leaders[q] != first.node]
    assert not not_led, f"every durable queue a quorum queue led by the first node: {not_led}"
    pids = {name: proc.pid for name, proc in system.procs.items()}

    scenario = Scenario(system, candidates=PLACEMENTS)
    load = Load(system, scenario.jobs(), callers=4, minimum=PLACEMENTS, timeout=15).start()
    eventually(lambda: len(load.out.placed) >= PLACEMENTS // 3, timeout=300, interval=0.2,
               what="a third of the placements before the node dies")
    placed_before = len(load.out.placed)
    first.sigkill()
    killed = time.monotonic()
    system.node = survivor
    outcomes = load.wait(600)

    def consumers_back():
        return not idle_queues(system, INSTANCES, consumer_queues)

    eventually(consumers_back, timeout=120, interval=0.5, what="every consumer back on the remaining nodes")
    back_after = time.monotonic() - killed
    eventually(lambda: not problems(state(system, scenario, outcomes)), timeout=180, interval=1,
               what="the chain to settle")
    settled_after = time.monotonic() - killed
    final = state(system, scenario, outcomes)
    new_leaders = cluster.leaders(survivor, system.vhost)
    dead_letters = {q: n for q, (_, n) in system.queues().items() if q.endswith(".dlq") and n}
    emit(capsys, f"cluster: {final['placements']} placements ({placed_before} before node {first.name} was "
                 f"SIGKILLed), lost {len(final['lost'])}, doubled {len(final['doubled'])}, plans doubled "
                 f"{len(final['plans_doubled'])}, tasks {final['tasks']}, dead letters {sum(dead_letters.values())}, "
                 f"client retries {dict(outcomes.retries)}; consumers back {back_after:.1f} s and chain settled "
                 f"{settled_after:.1f} s after the kill; queues now led by "
                 f"{sorted({new_leaders.get(q, '?') for q in consumer_queues})}")
    assert not problems(final), summarise(problems(final))
    assert final["placements"] == len(outcomes.placed) >= PLACEMENTS
    assert not outcomes.unknown and not outcomes.conflict_on_retry, (outcomes.unknown[:3], outcomes.conflict_on_retry)
    assert not dead_letters, dead_letters
    assert first.node not in {new_leaders.get(q) for q in consumer_queues}
    # nobody was restarted: the same processes reconnected
    assert {name: proc.pid for name, proc in system.procs.items()} == pids
    assert all(system.running(name) for name in pids)
