"""The spine end to end: real processes, real RabbitMQ, real PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import (
    aftercare_placement_queue,
    dumps,
    eventually,
    matching_has,
    register_jobcoaches,
)
from werkbrug_shared import config, deadletters, refdata
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.events.types import MATCHING_FAIRNESS_COUNTED, PLACEMENT_RECORDED

# real ESCO skills: the services refuse URIs ESCO does not know
ESCO_SKILLS = sorted(refdata.skills())


def SKILL(i: int) -> str:  # noqa: N802 (reads like the constant it stands for)
    return ESCO_SKILLS[i]



class Region:
    """A region of its own per test: employer, vacancy, jobcoaches, candidates."""

    def __init__(self, rpc, system, openings: int = 20, jobcoaches: int = 2):
        self.rpc, self.system = rpc, system
        self.name = f"regio-{uuid.uuid4().hex[:8]}"
        self.cohort = f"werkfit-{uuid.uuid4().hex[:6]}"
        kvk = f"{uuid.uuid4().int % 10**8:08d}"
        self.employer = rpc.vacancies.register_employer({"name": "Facilitair BV", "kvk_number": kvk,
                                                         "region": self.name})
        self.vacancy = rpc.vacancies.open({
            "employer_id": self.employer["id"], "title": "allround facilitair medewerker", "region": self.name,
            "postcode": "7511 JD", "skills_required": [SKILL(1), SKILL(2), SKILL(3)], "hours_per_week": 32,
            "openings": openings,
        })
        self.jobcoaches = register_jobcoaches(system, self.name, jobcoaches)

    def candidate(self, i: int = 0, target_groups=("statushouder",)) -> dict:
        return self.rpc.candidates.register({
            "given_name": f"Kandidaat{i}", "family_name": "Testpersoon", "region": self.name,
            "postcode": "7512 AB", "target_groups": list(target_groups),
            "skills": [SKILL(1 + i % 3), SKILL(10 + i)], "hours_per_week": 32, "conditions": [],
            "cohort": self.cohort,
        })

    def wait_indexed(self, candidates):
        """Until matching holds the candidates and this region's vacancy (placing needs both: a
        vacancy's event may still be queued behind another test's bulk load)."""
        wanted = {c["id"] for c in candidates}
        eventually(lambda: matching_has(self.rpc, self.vacancy["id"], wanted),
                   what="matching to index the candidates and the vacancy")

    def place(self, candidate) -> dict:
        return self.rpc.matching.record_placement({
            "candidate_id": candidate["id"], "vacancy_id": self.vacancy["id"],
            "start_date": "2026-12-01", "hours_per_week": 32,
        })


def plans_for(system, placement_id: str) -> int:
    return system.sql("aftercare", "SELECT count(*) FROM aftercare_plans WHERE placement_id = %s",
                      placement_id)[0][0]


def test_a_cohort_of_18_with_14_placements(system, rpc, soweco):
    region = Region(rpc, system)
    candidates = [region.candidate(i, ["statushouder", "bijstand"] if i % 2 else ["statushouder"])
                  for i in range(18)]
    region.wait_indexed(candidates)
    placements = [region.place(c) for c in candidates[:14]]

    for placement in placements:
        tasks = eventually(lambda p=placement: len(soweco.aftercare.tasks(placement_id=p["id"])) == 8
                           and soweco.aftercare.tasks(placement_id=p["id"]), what="the aftercare plan")
        assert [t["status"] for t in tasks] == ["open"] * 8
        assert len({t["jobcoach_id"] for t in tasks}) == 1
        assert tasks[0]["jobcoach_id"] in {j["id"] for j in region.jobcoaches}
        assert [(t["kind"], t["due"]) for t in tasks] == [
            ("first_working_day", "2026-12-01"), ("week_1", "2026-12-08"), ("week_4", "2026-12-29"),
            ("end_of_probation", "2027-02-01"), ("month_3", "2027-03-01"), ("month_6", "2027-06-01"),
            ("month_12", "2027-12-01"), ("month_18", "2028-06-01")]
        assert plans_for(system, placement["id"]) == 1

    # the two coaches share the work: most room left first
    per_coach = [len(soweco.aftercare.tasks(jobcoach_id=j["id"])) for j in region.jobcoaches]
    assert sorted(per_coach) == [56, 56]

    outflow = eventually(lambda: (o := rpc.reporting.outflow(cohort=region.cohort))["placed"] == 14 and o,
                         what="reporting to count 14 placements")
    assert {k: outflow[k] for k in ("cohort", "target_group", "enrolled", "placed", "outflow_rate")} == {
        "cohort": region.cohort, "target_group": None, "enrolled": 18, "placed": 14, "outflow_rate": round(14 / 18, 4)}
    assert rpc.reporting.outflow(cohort=region.cohort, target_group="bijstand")["enrolled"] == 9

    # the other services followed the same events
    eventually(lambda: all(rpc.candidates.get(c["id"])["status"] == "placed" for c in candidates[:14]),
               what="candidates to be marked placed")
    assert {rpc.candidates.get(c["id"])["status"] for c in candidates[14:]} == {"registered"}
    eventually(lambda: rpc.vacancies.get(region.vacancy["id"])["openings_filled"] == 14,
               what="vacancies to count the openings filled")
    pool = rpc.matching.indexed([c["id"] for c in candidates])
    assert [pool[c["id"]]["in_pool"] for c in candidates] == [False] * 14 + [True] * 4, "placed ones left the pool"
    ranked = rpc.matching.candidates_for_vacancy(region.vacancy["id"], 100)
    served = {m["candidate_id"] for m in ranked["results"] + ranked["near_misses"]}
    assert not served & {c["id"] for c in candidates[:14]}
    assert system.metric("reporting", "werkbrug_placements_total", target_group="statushouder") >= 14


def test_the_same_event_delivered_twice_creates_one_plan(system, rpc, soweco):
    region = Region(rpc, system)
    candidate = region.candidate()
    region.wait_indexed([candidate])
    placement = region.place(candidate)
    eventually(lambda: plans_for(system, placement["id"]) == 1, what="the plan")

    # the very event matching published, as a relay that crashed before marking it sent would resend it
    (payload,) = system.sql("matching", "SELECT payload FROM outbox WHERE event_type = %s AND payload LIKE %s",
                            PLACEMENT_RECORDED, f"%{placement['id']}%")[0:1][0]
    duplicates = system.metric("aftercare", "werkbrug_events_handled_total", event_type=PLACEMENT_RECORDED,
                               outcome="duplicate")
    system.publish("matching", PLACEMENT_RECORDED, payload)
    system.publish("matching", PLACEMENT_RECORDED, payload)

    eventually(lambda: system.metric("aftercare", "werkbrug_events_handled_total", event_type=PLACEMENT_RECORDED,
                                     outcome="duplicate") == duplicates + 2, what="both copies to be skipped")
    assert plans_for(system, placement["id"]) == 1
    assert len(soweco.aftercare.tasks(placement_id=placement["id"])) == 8
    eventually(lambda: rpc.reporting.outflow(cohort=region.cohort, suppress=False)["placed"] == 1, what="reporting")
    time.sleep(0.5)
    assert rpc.reporting.outflow(cohort=region.cohort, suppress=False)["placed"] == 1
    assert rpc.vacancies.get(region.vacancy["id"])["openings_filled"] == 1


def test_a_handler_failing_twice_then_succeeding_creates_one_plan(system, rpc, soweco):
    region = Region(rpc, system)
    candidate = region.candidate()
    region.wait_indexed([candidate])
    retried = system.metric("aftercare", "werkbrug_events_retried_total", event_type=PLACEMENT_RECORDED)
    dead = system.queue_depth(aftercare_placement_queue() + ".dlq")

    # another session holds the plans table: aftercare's handler times out on the lock and fails
    with system.connect_db("aftercare") as blocker:
        blocker.execute("LOCK TABLE aftercare_plans IN ACCESS EXCLUSIVE MODE")
        placement = region.place(candidate)
        eventually(lambda: system.metric("aftercare", "werkbrug_events_retried_total",
                                         event_type=PLACEMENT_RECORDED) >= retried + 2,
                   what="two failed attempts")
        blocker.rollback()  # the third attempt, 1.5 s later, finds the table free

    eventually(lambda: plans_for(system, placement["id"]) == 1, what="the plan after the retries")
    assert system.metric("aftercare", "werkbrug_events_retried_total", event_type=PLACEMENT_RECORDED) == retried + 2
    assert len(soweco.aftercare.tasks(placement_id=placement["id"])) == 8
    assert system.queue_depth(aftercare_placement_queue() + ".dlq") == dead


def test_a_handler_that_always_fails_ends_in_the_dead_letter_queue(system, rpc):
    region = Region(rpc, system)
    candidate = region.candidate()
    region.wait_indexed([candidate])
    dlq = aftercare_placement_queue() + ".dlq"
    dead = system.metric("aftercare", "werkbrug_events_dead_lettered_total", event_type=PLACEMENT_RECORDED,
                         reason="failed")
    depth = system.queue_depth(dlq)

    with system.connect_db("aftercare") as blocker:
        blocker.execute("LOCK TABLE aftercare_plans IN ACCESS EXCLUSIVE MODE")
        placement = region.place(candidate)
        eventually(lambda: system.queue_depth(dlq) == depth + 1, timeout=30, what="the dead letter")
        blocker.rollback()

    assert system.metric("aftercare", "werkbrug_events_dead_lettered_total", event_type=PLACEMENT_RECORDED,
                         reason="failed") == dead + 1
    assert plans_for(system, placement["id"]) == 0
    (letter,) = [d for d in deadletters.peek(dlq, amqp_uri=system.amqp_uri) if d["subject"] == placement["id"]]
    assert letter["attempts"] == 3 and "LockNotAvailable" in letter["error"]

    # the operator fixes the cause and replays: the plan appears, once
    assert deadletters.replay(dlq, amqp_uri=system.amqp_uri) == depth + 1
    eventually(lambda: plans_for(system, placement["id"]) == 1, what="the plan after replay")
    assert system.queue_depth(dlq) == 0


def test_an_invalid_event_is_dead_lettered_at_once(system, rpc):
    dlq = aftercare_placement_queue() + ".dlq"
    invalid = system.metric("aftercare", "werkbrug_events_dead_lettered_total", reason="invalid")
    depth = system.queue_depth(dlq)
    poison = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/werkbrug/matching",
              "type": PLACEMENT_RECORDED, "time": "2026-11-23T10:00:00+00:00", "subject": "p-1",
              "datacontenttype": "application/json", "data": {"placement_id": "p-1"}}
    system.publish("matching", PLACEMENT_RECORDED, dumps(poison))
    eventually(lambda: system.metric("aftercare", "werkbrug_events_dead_lettered_total", reason="invalid")
               == invalid + 1, what="the invalid event to be counted")
    eventually(lambda: system.queue_depth(dlq) == depth + 1, what="the invalid event in the dead-letter queue")
    (letter,) = [d for d in deadletters.peek(dlq, amqp_uri=system.amqp_uri) if d["id"] == poison["id"]]
    assert "candidate_id" in letter["error"] and "start_date" in letter["error"]
    # drain it so later tests see an empty queue
    assert deadletters.replay(dlq, amqp_uri=system.amqp_uri) >= 1
    eventually(lambda: system.queue_depth(dlq) == depth + 1, what="the replayed poison to dead-letter again")


def _counts(system) -> dict:
    return {
        "placements": system.sql("matching", "SELECT count(*) FROM placements")[0][0],
        # not the fairness report: matching's timer emits it (within a minute of a ranking served,
        # such as wait_indexed's) whatever the calls do
        "matching_outbox": system.sql("matching", "SELECT count(*) FROM outbox WHERE event_type <> %s",
                                      MATCHING_FAIRNESS_COUNTED)[0][0],
        "plans": system.sql("aftercare", "SELECT count(*) FROM aftercare_plans")[0][0],
        "stored_placements": system.sql("reporting", "SELECT count(*) FROM event_store WHERE type = %s",
                                        PLACEMENT_RECORDED)[0][0],
        "candidates": system.sql("candidates", "SELECT count(*) FROM candidates")[0][0],
        "candidates_outbox": system.sql("candidates", "SELECT count(*) FROM outbox")[0][0],
    }


def test_record_placement_with_a_missing_field_is_refused_and_writes_nothing(system, rpc):
    region = Region(rpc, system)
    candidate = region.candidate()
    region.wait_indexed([candidate])
    before = _counts(system)

    with pytest.raises(ValidationError) as refused:
        rpc.matching.record_placement({"candidate_id": candidate["id"], "vacancy_id": region.vacancy["id"],
                                       "hours_per_week": 32})
    assert "start_date" in refused.value.errors
    assert "start_date" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        rpc.matching.record_placement({"candidate_id": candidate["id"], "vacancy_id": region.vacancy["id"],
                                       "start_date": "1 december", "hours_per_week": 99})
    assert set(refused.value.errors) == {"start_date", "hours_per_week"}

    time.sleep(1)  # long enough for any stray event to have travelled
    assert _counts(system) == before


def test_the_gateway_speaks_http_json(system, rpc):
    assert system.http("GET", "/health").json() == {"status": "ok", "broker": "ok"}
    before = _counts(system)
    refused = system.http("POST", "/v1/candidates", json={"given_name": "Anna", "region": "Zuid",
                                                          "postcode": "1234 AB", "target_groups": ["ww"],
                                                          "hours_per_week": 20})
    assert refused.status_code == 400
    assert refused.json()["error"] == "ValidationError"
    assert "family_name" in refused.json()["errors"] and "family_name" in refused.json()["message"]
    assert system.http("POST", "/v1/candidates", data="{not json").status_code == 400
    nowhere = system.http("POST", "/v1/candidates", json={
        "given_name": "Anna", "family_name": "de Vries", "region": "Zuid", "postcode": "1234 AB",
        "target_groups": ["ww"], "hours_per_week": 20})
    assert nowhere.status_code == 400 and "postcode" in nowhere.json()["errors"]
    assert _counts(system) == before

    created = system.http("POST", "/v1/candidates", json={
        "given_name": "Anna", "family_name": "de Vries", "region": "Zuid", "postcode": "5611 AB",
        "target_groups": ["ww", "50plus"], "hours_per_week": 20, "cohort": "gw-1"})
    assert created.status_code == 201
    fetched = system.http("GET", f"/v1/candidates/{created.json()['id']}").json()
    assert fetched["family_name"] == "de Vries" and fetched["status"] == "registered"
    assert system.http("GET", "/v1/candidates/nope").status_code == 404
    as_partner = {"Authorization": "Bearer dev-uwv-twente", "X-Werkbrug-Professional": "p-7"}
    assert system.http("GET", f"/v1/candidates/{created.json()['id']}", headers=as_partner).status_code == 200
    refused = system.http("GET", f"/v1/candidates/{created.json()['id']}",
                          headers={"Authorization": "Bearer not-a-real-credential"})
    assert refused.status_code == 401 and refused.json()["error"] == "Unauthorized"
    # one person: partners over HTTP see the group suppressed
    eventually(lambda: system.http("GET", "/v1/outflow", params={"cohort": "gw-1"}).json()["enrolled"] == "< 5",
               what="the outflow over HTTP")
    assert system.http("GET", "/v1/outflow", params={"target_group": "martians"}).status_code == 400
    by_month = system.http("GET", "/v1/outflow", params={"cohort": "gw-1", "period": "month"}).json()
    assert [row["enrolled"] for row in by_month["rows"]] == ["< 5"]
    durability = system.http("GET", "/v1/durability", params={"cohort": "gw-1"})
    assert durability.status_code == 200 and durability.json()["cohort"] == "gw-1"
    bad_grouping = system.http("GET", "/v1/durability", params={"group_by": "postcode"})
    assert bad_grouping.status_code == 400 and "group_by" in bad_grouping.text
    targets = system.http("GET", "/v1/targets")
    assert targets.status_code == 200 and isinstance(targets.json(), list)


def test_every_service_serves_prometheus_metrics(system, rpc):
    # a placement of its own, so that the figures it looks for exist whichever tests ran before
    region = Region(rpc, system, jobcoaches=1)
    candidate = region.candidate(0, ["statushouder"])
    region.wait_indexed([candidate])
    region.place(candidate)
    eventually(lambda: system.metric("reporting", "werkbrug_placements_total", target_group="statushouder",
                                     region=region.name) == 1, what="reporting to count the placement")
    rpc.reporting.outflow()
    for service in config.SERVICES:
        response = requests.get(system.metrics_url(service), timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        families = list(text_string_to_metric_families(response.text))
        names = {f.name for f in families}
        assert "werkbrug_requests" in names, service
        for family in families:  # one naming scheme: prefix, base units, _total counters, _seconds histograms
            if family.name.startswith(("python_", "process_")):
                continue
            assert family.name.startswith("werkbrug_"), family.name
            assert not family.name.endswith(("_ms", "_milliseconds", "_minutes", "_hours", "_days")), family.name
            if family.type == "counter":
                assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
            if family.type == "histogram":
                assert family.name.endswith("_seconds"), family.name
            if family.type == "gauge":
                assert not family.name.endswith("_total"), family.name
        if service in config.DATABASE_SERVICES:
            assert "werkbrug_outbox_backlog" in names, service
    reporting = requests.get(system.metrics_url("reporting"), timeout=5).text
    assert system.metric("reporting", "werkbrug_placements_total", target_group="statushouder") >= 1
    assert "werkbrug_outflow_ratio" in reporting
    assert system.metric("reporting", "werkbrug_requests_total", kind="rpc", entrypoint="outflow",
                         outcome="success") >= 1


def test_a_crash_between_commit_and_publish_loses_nothing(system, rpc):
    region = Region(rpc, system)
    registered = [region.candidate(i) for i in range(20)]
    system.kill("candidates")  # SIGKILL right after the replies: whatever was not relayed yet must survive

    # and a row committed by a process that died before its relay ever ran
    orphan_id = str(uuid.uuid4())
    profile = {"candidate_id": orphan_id, "region": region.name, "pc4": "7512",
               "target_groups": ["sw"], "skills": [SKILL(1)], "hours_per_week": 24, "conditions": [],
               "cohort": None}
    envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/werkbrug/candidates",
                "type": "nl.werkbrug.candidate.registered.v1", "time": "2026-11-23T10:00:00+00:00",
                "subject": orphan_id, "datacontenttype": "application/json", "data": profile}
    system.sql("candidates", "INSERT INTO outbox (event_id, event_type, source_service, payload, created_at) "
               "VALUES (%s, %s, 'candidates', %s, now()) RETURNING seq", envelope["id"], envelope["type"],
               json.dumps(envelope))

    system.start("candidates")
    region.wait_indexed(registered + [{"id": orphan_id}])
    eventually(lambda: system.sql("candidates", "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0] == 0,
               what="the outbox to drain")
    indexed = system.sql("matching", "SELECT count(*) FROM indexed_candidates WHERE region = %s", region.name)[0][0]
    assert indexed == 21


def test_a_redelivered_rpc_request_is_answered_from_its_record_not_run_twice(system, rpc):
    """RabbitMQ redelivers a request whose ack was lost (the service died after
    committing). Built here deterministically: the same request, flagged
    redelivered by the broker, reaches candidates after it already ran."""
    from kombu import Connection, Exchange, Queue

    from tests.integration.harness import DEFAULT_PARTNER
    from werkbrug_shared.actor import CREDENTIAL

    region = Region(rpc, system)
    correlation_id = str(uuid.uuid4())
    rpc_exchange = Exchange("nameko-rpc", type="topic", durable=True)
    replies = Queue(f"test-replies-{correlation_id}", exchange=rpc_exchange,
                    routing_key=f"test-replies-{correlation_id}", auto_delete=True)
    request = {"args": [{"given_name": "Fatima", "family_name": "El Amrani", "region": region.name,
                         "postcode": "7512 AB", "target_groups": ["statushouder"], "hours_per_week": 24}],
               "kwargs": {}}

    def send():
        with Connection(system.amqp_uri, transport_options={"confirm_publish": True}) as conn:
            conn.Producer().publish(dumps(request), exchange=rpc_exchange, routing_key="candidates.register",
                                    content_type="application/json", reply_to=replies.name,
                                    correlation_id=correlation_id, declare=[replies], retry=False,
                                    headers={f"nameko.{CREDENTIAL}": DEFAULT_PARTNER})

    def reply():
        with Connection(system.amqp_uri) as conn:
            message = replies(conn.default_channel).get(no_ack=True)
            return message and json.loads(message.body)

    def registered():
        return system.sql("candidates", "SELECT count(*) FROM candidates WHERE region = %s", region.name)[0][0]

    send()
    first = eventually(reply, what="the first reply")
    assert first["error"] is None and registered() == 1

    system.stop("candidates")
    send()
    with Connection(system.amqp_uri) as conn:  # take it and hand it back: now it is "redelivered"
        channel = conn.default_channel
        message = eventually(lambda: channel.basic_get("rpc-candidates", no_ack=False), what="the request")
        channel.basic_reject(message.delivery_tag, requeue=True)
    system.start("candidates")

    second = eventually(reply, what="the reply to the redelivered request")
    assert second == first
    assert registered() == 1


def test_unknown_ids_are_not_found_everywhere(system, rpc, soweco):
    from werkbrug_shared.errors import NotFound

    calls = [
        lambda: rpc.candidates.get("no-such-candidate"),
        lambda: rpc.vacancies.get("no-such-vacancy"),
        lambda: rpc.matching.candidates_for_vacancy("no-such-vacancy"),
        lambda: rpc.matching.get_placement("no-such-placement"),
        lambda: rpc.matching.record_placement({"candidate_id": "nobody", "vacancy_id": "nothing",
                                               "start_date": "2026-12-01", "hours_per_week": 8}),
        lambda: soweco.aftercare.complete_task("no-such-task", "going_well", None),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()


def test_a_jobcoach_completes_tasks_and_an_at_risk_outcome_travels(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=1)
    candidate = region.candidate()
    region.wait_indexed([candidate])
    placement = region.place(candidate)
    first, second = eventually(lambda: soweco.aftercare.tasks(placement_id=placement["id"]), what="the tasks")[:2]

    done = soweco.aftercare.complete_task(first["id"], "going_well", "Eerste dag goed verlopen.")
    assert done["status"] == "done" and done["outcome"] == "going_well"
    with pytest.raises(ValidationError) as refused:
        soweco.aftercare.complete_task(second["id"], "fine", None)
    assert "outcome" in refused.value.errors
    from werkbrug_shared.errors import Conflict
    with pytest.raises(Conflict):
        soweco.aftercare.complete_task(first["id"], "going_well", None)

    soweco.aftercare.complete_task(second["id"], "at_risk", "Spanning met leidinggevende.")
    open_tasks = soweco.aftercare.tasks(placement_id=placement["id"], status="open")
    # at risk: a check-in within a week joins the protocol's remaining tasks
    assert sorted(t["kind"] for t in open_tasks) == sorted(
        ["check_in", "week_4", "end_of_probation", "month_3", "month_6", "month_12", "month_18"])
    coach_done = soweco.aftercare.tasks(jobcoach_id=region.jobcoaches[0]["id"], status="done")
    assert [t["id"] for t in coach_done] == [first["id"], second["id"]]
    stored = eventually(lambda: system.sql(
        "reporting", "SELECT data FROM event_store WHERE type = %s AND subject = %s",
        "nl.werkbrug.placement.at_risk.v1", placement["id"]), what="placement.at_risk in reporting's store")
    assert stored[0][0]["task_id"] == second["id"]
    # the jobcoach's free-text note stays in aftercare: no event carries it
    notes = system.sql("reporting", "SELECT count(*) FROM event_store WHERE data::text LIKE %s", "%leidinggevende%")
    assert notes[0][0] == 0


def test_no_personal_data_in_events_logs_or_metrics(system, rpc):
    region = Region(rpc, system)
    person = {"given_name": "Zwaantje", "family_name": "Quakkelaar", "region": region.name,
              "postcode": "7512 XY", "target_groups": ["50plus"], "skills": [SKILL(1)],
              "hours_per_week": 20, "cohort": region.cohort}
    candidate = rpc.candidates.register(person)
    region.wait_indexed([candidate])
    placement = region.place(candidate)
    eventually(lambda: plans_for(system, placement["id"]) == 1, what="the plan")
    eventually(lambda: rpc.reporting.outflow(cohort=region.cohort, suppress=False)["placed"] == 1, what="reporting")
    with pytest.raises(ValidationError):  # a refused call must not echo the name into a log either
        rpc.candidates.register({**person, "postcode": "niet"})

    secrets = ("Zwaantje", "Quakkelaar", "7512XY", "7512 XY")
    events = system.sql("reporting", "SELECT data::text FROM event_store")
    assert events and not [e for (e,) in events if any(s in e for s in secrets)]
    for service in config.DATABASE_SERVICES:
        outbox = system.sql(service, "SELECT payload FROM outbox")
        assert not [p for (p,) in outbox if any(s in p for s in secrets)], service
    for service in config.SERVICES:
        assert not any(s in system.log_tail(service, lines=100_000) for s in secrets), service
        assert not any(s in requests.get(system.metrics_url(service), timeout=5).text for s in secrets), service
