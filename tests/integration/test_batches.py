"""Batched consumption keeps every event's fate its own."""

from __future__ import annotations

import json
import uuid

from kombu import Connection, Exchange

from tests.integration.harness import dumps, eventually
from tests.integration.test_spine import PLACEMENT_RECORDED, Region
from werkbrug_shared import topology


def placement_event(candidate_id: str, vacancy_id: str, employer_id: str, region: str) -> dict:
    placement_id = str(uuid.uuid4())
    return {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/werkbrug/matching", "type": PLACEMENT_RECORDED,
        "time": "2026-11-23T10:00:00+00:00", "subject": placement_id, "datacontenttype": "application/json",
        "data": {"placement_id": placement_id, "candidate_id": candidate_id, "vacancy_id": vacancy_id,
                 "employer_id": employer_id, "start_date": "2026-12-01", "hours_per_week": 24,
                 "region": region, "target_groups": ["bijstand"], "cohort": None},
    }


def test_one_failing_event_in_a_batch_fails_alone(system, rpc):
    region = Region(rpc, system, openings=10)
    candidates = [region.candidate(i) for i in range(5)]
    vacancy, employer = region.vacancy["id"], region.employer["id"]
    events = [placement_event(c["id"], vacancy, employer, region.name) for c in candidates[:4]]
    events.append(placement_event(candidates[4]["id"], "no-such-vacancy", employer, region.name))
    queue = topology.consumer_queue_name("matching", PLACEMENT_RECORDED, "vacancies", "on_placement_recorded")
    dead = system.queue_depth(queue + ".dlq")

    def worker_runs():
        return sum(system.metric("vacancies", "werkbrug_requests_total", kind="event",
                                 entrypoint="on_placement_recorded", outcome=o) for o in ("success", "error"))

    runs = worker_runs()

    # one connection, back to back: they arrive together and are handled as a batch
    with Connection(system.amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for event in events:
            producer.publish(dumps(event), exchange=Exchange("matching.events", type="topic", durable=True),
                             routing_key=PLACEMENT_RECORDED, content_type="application/cloudevents+json",
                             content_encoding="utf-8", delivery_mode=2, retry=False)

    eventually(lambda: rpc.vacancies.get(vacancy)["openings_filled"] == 4, what="the four good placements")
    eventually(lambda: system.queue_depth(queue + ".dlq") == dead + 1, timeout=30,
               what="the bad one, retried and dead-lettered on its own")
    assert rpc.vacancies.get(vacancy)["openings_filled"] == 4
    # one worker per event would be 5 runs plus 3 retries; a batch needs fewer
    assert worker_runs() - runs < 8
    # the other consumers of the same events took all five
    eventually(lambda: all(rpc.candidates.get(c["id"])["status"] == "placed" for c in candidates),
               what="candidates to be placed")


def test_a_cloudevents_batch_message_is_decided_event_by_event(system, rpc):
    """Bulk writes travel as application/cloudevents-batch+json; inside one message a
    good event commits, a failing one is retried and dead-lettered alone, and one that
    does not validate is dead-lettered at once, alone too."""
    region = Region(rpc, system, openings=10)
    candidates = [region.candidate(i) for i in range(5)]
    vacancy, employer = region.vacancy["id"], region.employer["id"]
    good = [placement_event(c["id"], vacancy, employer, region.name) for c in candidates[:4]]
    failing = placement_event(candidates[4]["id"], "no-such-vacancy", employer, region.name)
    invalid = {**placement_event(candidates[4]["id"], vacancy, employer, region.name), "time": "yesterday"}
    queue = topology.consumer_queue_name("matching", PLACEMENT_RECORDED, "vacancies", "on_placement_recorded")
    dead = system.queue_depth(queue + ".dlq")

    system.publish("matching", PLACEMENT_RECORDED, dumps([good[0], failing, good[1], invalid, *good[2:]]),
                   content_type="application/cloudevents-batch+json")

    eventually(lambda: rpc.vacancies.get(vacancy)["openings_filled"] == 4, what="the four good placements")
    eventually(lambda: system.queue_depth(queue + ".dlq") == dead + 2, timeout=30,
               what="the invalid one at once and the failing one after its retries")
    assert rpc.vacancies.get(vacancy)["openings_filled"] == 4
    parked = {}
    with Connection(system.amqp_uri) as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue + ".dlq", no_ack=False)) is not None:
            event = json.loads(message.body)
            parked[event["id"]] = message.headers
            channel.basic_ack(message.delivery_tag)
    assert set(parked) >= {failing["id"], invalid["id"]}, "each parked as a structured event of its own"
    assert parked[invalid["id"]][topology.ERROR_HEADER].startswith("invalid")
    assert parked[failing["id"]][topology.ATTEMPT_HEADER] == 3
    eventually(lambda: all(rpc.candidates.get(c["id"])["status"] == "placed" for c in candidates[:4]),
               what="the other consumers of the batch")
    # the other consumers parked the invalid one (and the failing one) too: leave them empty
    for service, method in (("candidates", "on_placement_recorded"), ("aftercare", "on_placement_recorded")):
        other = topology.consumer_queue_name("matching", PLACEMENT_RECORDED, service, method) + ".dlq"
        eventually(lambda q=other: system.queue_depth(q) >= 1, what=f"{service} to park the invalid event")
        with Connection(system.amqp_uri) as conn:
            conn.default_channel.queue_purge(other)
