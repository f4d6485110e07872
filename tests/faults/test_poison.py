"""Issue 15 §3: poison and malformed messages, on the fault tests' own broker.

Published to matching's exchange under ``placement.recorded``, so they reach
every consumer of it (aftercare, candidates, vacancies, reporting): a body that
is not JSON, JSON that is no CloudEvent, an unknown type, an unknown version,
and an event that fails its schema. Each lands in every consumer's dead-letter
queue with its reason (``x-werkbrug-error``) and none holds up the placement
recorded right behind them. A handler that keeps failing reaches the
dead-letter queue after its bounded retries with the attempt count visible
(``x-werkbrug-attempt``), and ``werkbrug dlq replay`` after the cause is gone
leaves the state complete. (tests/integration covers a schema failure and the
lock-and-replay path on the shared broker; this extends them to every kind of
malformed message and every consumer of the event.)
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from kombu import Connection

from tests.faults.load import PARTNER, PLACEMENT_RECORDED, PROTOCOL_TASKS, START_DATE, Scenario
from tests.faults.system import FAULT_RETRY_DELAYS_MS
from tests.integration.harness import eventually
from werkbrug_shared import topology

CONSUMERS = {  # every handler of placement.recorded, and its queue
    "aftercare": topology.consumer_queue_name("matching", PLACEMENT_RECORDED, "aftercare", "on_placement_recorded"),
    "candidates": topology.consumer_queue_name("matching", PLACEMENT_RECORDED, "candidates", "on_placement_recorded"),
    "vacancies": topology.consumer_queue_name("matching", PLACEMENT_RECORDED, "vacancies", "on_placement_recorded"),
    "reporting": "evt-many--reporting.store",
}
RETRIES = len(FAULT_RETRY_DELAYS_MS.split(","))


def envelope(**changes) -> dict:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/werkbrug/matching",
             "type": PLACEMENT_RECORDED, "time": "2026-11-23T10:00:00+00:00", "subject": "p-poison",
             "datacontenttype": "application/json", "data": {"placement_id": "p-poison"}}
    event.update(changes)
    return event


def letters(system, dlq: str, remove=lambda body, headers: False) -> list[tuple[bytes, dict]]:
    """Every message parked in ``dlq`` (body, headers); those ``remove`` picks are taken out, the rest stay."""
    out = []
    with Connection(system.amqp_uri) as conn:
        channel = conn.channel()
        fetched = []
        while (msg := channel.basic_get(dlq, no_ack=False)) is not None:
            fetched.append(msg)
            body = msg.body if isinstance(msg.body, bytes) else str(msg.body).encode()
            out.append((body, dict(msg.headers or {})))
        for msg, (body, headers) in zip(fetched, out, strict=True):
            if remove(body, headers):
                channel.basic_ack(msg.delivery_tag)
            else:
                channel.basic_reject(msg.delivery_tag, requeue=True)
    return out


def ddl(system, service: str, statement: str) -> None:
    with psycopg.connect(system.database_url(service, "postgresql"), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def placements(fault_system):
    return Scenario(fault_system, candidates=4, vacancies=1)


def place(system, scenario, i: int) -> dict:
    with system.rpc(PARTNER) as rpc:
        return rpc.matching.record_placement({"candidate_id": scenario.candidates[i], "vacancy_id":
                                              scenario.vacancies[0], "start_date": START_DATE, "hours_per_week": 32})


def complete(system, scenario, placement: dict) -> bool:
    """The placement went the whole way: a plan with the protocol's tasks, the candidate placed,
    the opening filled, reporting's store and count."""
    tasks = system.sql("aftercare", "SELECT count(t.id) FROM aftercare_plans p JOIN aftercare_tasks t "
                                    "ON t.plan_id = p.id WHERE p.placement_id = %s", placement["id"])[0][0]
    status = system.sql("candidates", "SELECT status FROM candidates WHERE id = %s", placement["candidate_id"])[0][0]
    stored = system.sql("reporting", "SELECT count(*) FROM event_store WHERE type = %s AND subject = %s",
                        PLACEMENT_RECORDED, placement["id"])[0][0]
    return tasks == PROTOCOL_TASKS and status == "placed" and stored == 1


def filled(system, scenario) -> int:
    return system.sql("vacancies", "SELECT openings_filled FROM vacancies WHERE id = %s", scenario.vacancies[0])[0][0]


def test_malformed_messages_are_dead_lettered_with_their_reason_and_block_nothing(fault_system, placements):
    system, scenario = fault_system, placements
    marker = uuid.uuid4().hex
    poison = {
        "not JSON": (f"{{not json {marker}".encode(), "application/cloudevents+json"),
        "not a CloudEvent": (json.dumps({"hello": "world", "marker": marker}), "application/json"),
        "unknown type": (json.dumps(envelope(type="nl.werkbrug.placement.exploded.v1", subject=marker)),
                         "application/cloudevents+json"),
        "unknown version": (json.dumps(envelope(type="nl.werkbrug.placement.recorded.v9", subject=marker)),
                            "application/cloudevents+json"),
        "fails its schema": (json.dumps(envelope(subject=marker)), "application/cloudevents+json"),
    }
    for body, content_type in poison.values():
        system.publish("matching", PLACEMENT_RECORDED, body, content_type=content_type)
    # and the good news right behind them
    first = place(system, scenario, 0)
    second = place(system, scenario, 1)
    eventually(lambda: complete(system, scenario, first) and complete(system, scenario, second), timeout=60,
               what="the placements behind the poison to go the whole way")
    eventually(lambda: filled(system, scenario) == 2, what="both openings filled")

    def mine(body: bytes, headers: dict) -> bool:
        return marker.encode() in body

    found = {}
    for service, queue in CONSUMERS.items():
        dlq = queue + ".dlq"
        eventually(lambda q=dlq: len([1 for b, h in letters(system, q) if mine(b, h)]) == len(poison),
                   timeout=30, what=f"the five poison messages in {dlq}")
        found[service] = letters(system, dlq, remove=mine)  # taken out: later runs find the queue as it was
    for service, parked in found.items():
        mine_only = [(b, h) for b, h in parked if mine(b, h)]
        assert len(mine_only) == len(poison), service
        for body, headers in mine_only:
            reason = headers.get(topology.ERROR_HEADER)
            assert reason and reason.startswith("invalid"), (service, body[:80], headers)
            assert headers.get(topology.QUEUE_HEADER) == CONSUMERS[service]
        reasons = " | ".join(h[topology.ERROR_HEADER] for _, h in mine_only)
        for expected in ("undecodable", "envelope", "unknown event type 'nl.werkbrug.placement.exploded.v1'",
                         "unknown event type 'nl.werkbrug.placement.recorded.v9'", "candidate_id"):
            assert expected in reasons, (service, expected, reasons)


def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_retries_and_replayed(fault_system, placements):
    system, scenario = fault_system, placements
    dlq = CONSUMERS["aftercare"] + ".dlq"
    parked_before = len(letters(system, dlq))
    # the cause: a table aftercare's handler needs is gone (an operator's migration gone wrong)
    ddl(system, "aftercare", "ALTER TABLE aftercare_tasks RENAME TO aftercare_tasks_away")
    try:
        placement = place(system, scenario, 2)
        # the other consumers take it at once; aftercare retries after each back-off, then parks it
        eventually(lambda: len(letters(system, dlq)) == parked_before + 1, timeout=90, interval=1.0,
                   what="the failing event in aftercare's dead-letter queue")
        parked = [h for b, h in letters(system, dlq) if placement["id"].encode() in b]
        assert len(parked) == 1
        assert parked[0][topology.ATTEMPT_HEADER] == RETRIES, parked[0]  # the first try, then every retry
        assert "aftercare_tasks" in parked[0][topology.ERROR_HEADER], parked[0]
        assert system.sql("aftercare", "SELECT count(*) FROM aftercare_plans WHERE placement_id = %s",
                          placement["id"])[0][0] == 0, "the failed attempts left nothing behind"
        listed = system.cli("dlq", "list")
        assert any(line.split()[-1] == dlq and int(line.split()[0]) >= 1 for line in listed.splitlines()), listed
    finally:
        ddl(system, "aftercare", "ALTER TABLE aftercare_tasks_away RENAME TO aftercare_tasks")
    # the operator fixed the cause; the replay brings the plan, once
    out = system.cli("dlq", "replay", dlq)
    assert "replayed" in out, out
    eventually(lambda: complete(system, scenario, placement), timeout=60, what="the replayed placement's plan")
    assert system.sql("aftercare", "SELECT count(*) FROM aftercare_plans WHERE placement_id = %s",
                      placement["id"])[0][0] == 1
    assert not [b for b, h in letters(system, dlq) if placement["id"].encode() in b]
    assert filled(system, scenario) >= 1
