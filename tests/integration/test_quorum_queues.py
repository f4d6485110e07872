"""Quorum queues (WERKBRUG_QUEUE_TYPE=quorum) on the machine's RabbitMQ, and the move
of an existing installation's classic queues to quorum queues by ``werkbrug migrate``.

A single node holds quorum queues as a cluster does (one member): what is tested here
is the queues' arguments, the broker's own dead-lettering and the move. Losing a node
of a three-node cluster is tests/faults/test_cluster.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest
from amqp.exceptions import PreconditionFailed
from kombu import Connection

from tests.integration.harness import AMQP_BASE, ROOT, System, eventually, rabbitmqctl, register_jobcoaches
from werkbrug_shared import deadletters, refdata, topology
from werkbrug_shared.events import new_event
from werkbrug_shared.events.catalogue import event_type

PLACEMENT_RECORDED = "nl.werkbrug.placement.recorded.v1"
CONFIRMED = {"confirm_publish": True}
SKILL = sorted(refdata.skills())[1]


@pytest.fixture
def vhost():
    name = f"werkbrug_test_quorum_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"{AMQP_BASE}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


def is_of_type(uri: str, queue, queue_type: str) -> bool:
    """Whether ``queue`` exists with exactly the arguments ``queue_type`` gives it (a declare
    with other arguments is refused with PRECONDITION_FAILED)."""
    with Connection(uri) as conn:
        try:
            queue(conn.channel()).declare()
            return True
        except PreconditionFailed:
            return False


def depth(uri: str, name: str) -> int:
    with Connection(uri) as conn:
        return conn.channel().queue_declare(name, passive=True).message_count


def placement_event() -> str:
    return new_event(PLACEMENT_RECORDED, str(uuid.uuid4()), {
        "placement_id": str(uuid.uuid4()), "candidate_id": str(uuid.uuid4()), "vacancy_id": str(uuid.uuid4()),
        "employer_id": str(uuid.uuid4()), "start_date": "2027-03-01", "hours_per_week": 32, "region": "Twente",
        "target_groups": ["bijstand"], "cohort": None, "match_id": None, "credited_organisations": [],
        "conditions": [], "dutch_level": None}, source_service="matching").to_json()


def test_an_installation_moves_from_classic_to_quorum_queues_with_every_message(vhost, monkeypatch):
    # long delays: the parked retries must still be parked when the move is done
    monkeypatch.setenv("WERKBRUG_RETRY_DELAYS_MS", "600000,900000")
    assert deadletters.declare_topology(vhost, queue_type="classic") == {}
    aftercare = topology.consumer_queue([event_type(PLACEMENT_RECORDED)], "aftercare", "on_placement_recorded")
    with Connection(vhost, transport_options=CONFIRMED) as conn:
        producer = conn.Producer()
        for _ in range(7):  # to every consumer of placement.recorded
            producer.publish(placement_event(), exchange=topology.event_exchange("matching"),
                             routing_key=PLACEMENT_RECORDED, content_type="application/cloudevents+json",
                             content_encoding="utf-8", delivery_mode=2, mandatory=True, retry=False,
                             headers={"x-werkbrug-attempt": 0})
        parked = {"x-werkbrug-attempt": 1, "x-werkbrug-error": "RuntimeError: boom"}
        for exchange in (topology.retry_exchange(600000), topology.dead_letter_exchange()):
            for _ in range(3):
                topology.publish_event(producer, placement_event(), str(uuid.uuid4()), exchange, aftercare.name,
                                       parked)
    before = {aftercare.name: 7, aftercare.name + ".dlq": 3, "werkbrug.retry.600000ms": 3}
    assert {name: depth(vhost, name) for name in before} == before

    moved = deadletters.declare_topology(vhost, queue_type="quorum")

    assert {name: moved[name] for name in before} == before
    assert {name: depth(vhost, name) for name in before} == before
    every = [q for queue in deadletters.all_consumer_queues(queue_type="quorum")
             for q in topology.consumer_plumbing(queue, (600000, 900000), "quorum")]
    every += list(deadletters.rpc_queues(queue_type="quorum"))
    assert len(every) > 40
    assert all(is_of_type(vhost, q, "quorum") for q in every)
    # the moved messages kept their headers and bodies
    with Connection(vhost) as conn:
        message = conn.channel().basic_get(aftercare.name + ".dlq", no_ack=False)
        assert message.headers["x-werkbrug-error"] == "RuntimeError: boom"
        assert json.loads(message.body)["type"] == PLACEMENT_RECORDED
    # declared again: nothing moves
    assert deadletters.declare_topology(vhost, queue_type="quorum") == {}
    # and back, as an operator leaving a cluster would
    moved_back = deadletters.declare_topology(vhost, queue_type="classic")
    assert {name: moved_back[name] for name in before} == before
    assert {name: depth(vhost, name) for name in before} == before


def test_a_move_stopped_half_way_finishes_when_migrate_runs_again(vhost):
    """The holding queue of a move that died after the old queue was deleted is emptied into the new one."""
    queue = topology.consumer_queue([event_type(PLACEMENT_RECORDED)], "aftercare", "on_placement_recorded",
                                    "quorum")
    holding_name = queue.name + deadletters.HOLDING_SUFFIX
    with Connection(vhost, transport_options=CONFIRMED) as conn:
        channel = conn.channel()
        channel.queue_declare(holding_name, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"})
        for _ in range(4):
            conn.Producer(channel).publish(placement_event(), exchange="", routing_key=holding_name,
                                           delivery_mode=2, retry=False)
        assert deadletters.ensure_queue(conn, queue) == 0
    assert depth(vhost, queue.name) == 4
    with Connection(vhost) as conn, pytest.raises(Exception, match="NOT_FOUND"):
        conn.channel().queue_declare(holding_name, passive=True)


def test_a_message_over_the_delivery_limit_is_dead_lettered_by_the_broker_with_its_reason(vhost, monkeypatch):
    monkeypatch.setenv("WERKBRUG_DELIVERY_LIMIT", "3")
    monkeypatch.setenv("WERKBRUG_QUEUE_TYPE", "quorum")
    monkeypatch.setenv("WERKBRUG_AMQP_URI", vhost)
    deadletters.declare_topology(vhost)
    queue = topology.consumer_queue([event_type(PLACEMENT_RECORDED)], "aftercare", "on_placement_recorded",
                                    "quorum", 3)
    with Connection(vhost, transport_options=CONFIRMED) as conn:
        channel = conn.channel()
        conn.Producer(channel).publish(placement_event(), exchange=topology.event_exchange("matching"),
                                       routing_key=PLACEMENT_RECORDED, delivery_mode=2, mandatory=True, retry=False)
        # a consumer that dies holding it, again and again (its delivery handed back each time)
        handed_back = 0
        while (message := channel.basic_get(queue.name, no_ack=False)) is not None:
            channel.basic_reject(message.delivery_tag, requeue=True)
            handed_back += 1
            assert handed_back < 10
    assert handed_back == 4  # the first delivery and three more
    eventually(lambda: depth(vhost, queue.name + ".dlq") == 1, timeout=10, what="the broker to dead-letter it")
    shown = deadletters.peek(queue.name + ".dlq", amqp_uri=vhost)
    assert shown[0]["type"] == PLACEMENT_RECORDED
    assert shown[0]["error"] == "dead-lettered by the broker: delivery_limit"
    assert deadletters.replay(queue.name + ".dlq", amqp_uri=vhost) == 1
    assert depth(vhost, queue.name) == 1


@pytest.fixture
def quorum_system():
    system = System(extra_env={"WERKBRUG_QUEUE_TYPE": "quorum", "WERKBRUG_RETRY_DELAYS_MS": "200,400"})
    system.create()
    try:
        yield system
    finally:
        system.destroy()


def test_the_placement_chain_runs_on_quorum_queues_and_a_failing_event_retries_into_its_dead_letter_queue(
        quorum_system):
    system = quorum_system
    for service in ("matching", "aftercare", "vacancies", "candidates"):
        system.spawn(service)
    for service in ("matching", "aftercare", "vacancies", "candidates"):
        system.wait_ready(service)
    aftercare = topology.consumer_queue([event_type(PLACEMENT_RECORDED)], "aftercare", "on_placement_recorded",
                                        "quorum", 20)
    assert is_of_type(system.amqp_uri, aftercare, "quorum")
    rpc_queue = next(deadletters.rpc_queues(["matching"], "quorum"))
    assert is_of_type(system.amqp_uri, rpc_queue, "quorum")

    region = f"regio-{uuid.uuid4().hex[:6]}"
    register_jobcoaches(system, region, 1)
    with system.rpc() as rpc:
        employer = rpc.vacancies.register_employer({
            "name": "Quorum BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": region})
        vacancy = rpc.vacancies.open({"employer_id": employer["id"], "title": "medewerker", "region": region,
                                      "postcode": "7511 JD", "skills_required": [SKILL], "hours_per_week": 32,
                                      "openings": 3})
        people = [r["id"] for r in rpc.candidates.register_many([{
            "given_name": "Kandidaat", "family_name": f"Quorum {i}", "region": region, "postcode": "7512 AB",
            "target_groups": ["bijstand"], "skills": [SKILL], "hours_per_week": 32} for i in range(2)])]
        eventually(lambda: system.sql("matching", "SELECT count(*) FROM indexed_candidates "
                                                  "WHERE candidate_id = ANY(%s)", people)[0][0] == 2
                   and system.sql("matching", "SELECT count(*) FROM indexed_vacancies WHERE vacancy_id = %s",
                                  vacancy["id"])[0][0] == 1, timeout=60, what="matching to index them")
        placement = rpc.matching.record_placement({"candidate_id": people[0], "vacancy_id": vacancy["id"],
                                                    "start_date": "2027-03-01", "hours_per_week": 32})
    eventually(lambda: system.sql("aftercare", "SELECT count(*) FROM aftercare_plans WHERE placement_id = %s",
                                  placement["id"])[0][0] == 1, timeout=30, what="the plan")
    eventually(lambda: system.sql("candidates", "SELECT status FROM candidates WHERE id = %s",
                                  people[0])[0][0] == "placed", timeout=30, what="the candidate placed")

    # an event no handler can take (its vacancy does not exist) goes through both quorum retry queues
    system.publish("matching", PLACEMENT_RECORDED, placement_event())
    vacancies_queue = topology.consumer_queue_name("matching", PLACEMENT_RECORDED, "vacancies",
                                                   "on_placement_recorded")
    eventually(lambda: system.queue_depth(vacancies_queue + ".dlq") == 1, timeout=30,
               what="the failing event in its dead-letter queue")
    shown = deadletters.peek(vacancies_queue + ".dlq", amqp_uri=system.amqp_uri)
    assert shown[0]["attempts"] == 2 and "NotFound" in shown[0]["error"]


def test_migrate_moves_the_queues_and_says_so(vhost):
    deadletters.declare_topology(vhost, queue_type="classic")
    env = {"WERKBRUG_AMQP_URI": vhost, "WERKBRUG_QUEUE_TYPE": "quorum", "PYTHONWARNINGS": "ignore"}
    # the databases: SQLite files in a directory of the test's own
    with tempfile.TemporaryDirectory() as var:
        out = subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", "migrate"], cwd=ROOT, timeout=180,
                             env={**os.environ, **env, "WERKBRUG_VAR_DIR": var}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "moved to a quorum queue with its 0 message(s)" in out.stdout
    assert out.stdout.strip().endswith("queues declared (quorum)")
    assert deadletters.declare_topology(vhost, queue_type="quorum") == {}  # nothing left to move
