"""Aftercare end to end: every service a real nameko process, real RabbitMQ,
PostgreSQL and a real SMTP server. The rules themselves (the plan and its jobcoach, what an
outcome sets going, the sweep, the mails) are also held without a broker, on SQLite, in
tests/unit/test_aftercare_handlers.py; these hold the wiring."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser

import pytest

from tests.integration.harness import (
    System,
    aftercare_placement_queue,
    dumps,
    eventually,
    register_jobcoaches,
)
from tests.integration.test_spine import PLACEMENT_RECORDED, SKILL, Region, plans_for
from werkbrug_shared import clock
from werkbrug_shared.errors import Conflict, Forbidden, Unauthorized, ValidationError

SOWECO = "dev-soweco"
# the services' date (the Netherlands'), not the machine's: they differ from 23:00 UTC in winter
START = clock.today() + timedelta(days=7)  # plans are weighed against the coming four weeks


def register(rpc, region: Region, conditions=(), target_groups=("bijstand",), dutch_level=None) -> dict:
    candidate = rpc.candidates.register({
        "given_name": "Gerrit", "family_name": "Nazorgtest", "region": region.name, "postcode": "7512 AB",
        "target_groups": list(target_groups), "skills": [SKILL(1)], "hours_per_week": 32,
        "conditions": list(conditions), "cohort": region.cohort,
        **({"dutch_level": dutch_level} if dutch_level else {}),
    })
    region.wait_indexed([candidate])
    return candidate


def place(rpc, region: Region, candidate: dict, hours: int = 24) -> dict:
    return rpc.matching.record_placement({"candidate_id": candidate["id"], "vacancy_id": region.vacancy["id"],
                                          "start_date": START.isoformat(), "hours_per_week": hours})


def plan_of(rpc, placement: dict) -> dict:
    return eventually(lambda: _plan(rpc, placement["id"]), what="the aftercare plan")


def _plan(rpc, placement_id: str):
    from werkbrug_shared.errors import NotFound

    try:
        return rpc.aftercare.plan_for_placement(placement_id)
    except NotFound:
        return None


def mails_to(system, address: str) -> list:
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(m.as_bytes()) for m in system.mail.messages() if m["To"] == address]


def test_the_jobcoach_is_chosen_by_region_expertise_and_room(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=0)
    generalist, = register_jobcoaches(system, region.name, 1, capacity_hours=24)
    expert, = register_jobcoaches(system, region.name, 1, capacity_hours=24, expertise=["autism"])
    # an autism expert with room, but not in this region
    register_jobcoaches(system, f"{region.name}-elders", 1, capacity_hours=60, expertise=["autism"])

    low_stimulus = register(rpc, region, conditions=["low_stimulus_workplace"])
    plan = plan_of(rpc, place(rpc, region, low_stimulus))
    assert plan["jobcoach_id"] == expert["id"] and plan["expertise_wanted"] == ["autism"]
    assert {t["jobcoach_id"] for t in plan["tasks"]} == {expert["id"]}

    # no special need: the coach with the most room left
    plain = register(rpc, region)
    assert plan_of(rpc, place(rpc, region, plain))["jobcoach_id"] == generalist["id"]

    load = soweco.aftercare.workload(expert["id"])  # the coaches' organisation's to see
    assert load["open_tasks"] == 8 and load["active_plans"] == 1
    with pytest.raises(Forbidden):
        rpc.aftercare.workload(expert["id"])
    with pytest.raises(Forbidden):
        rpc.aftercare.workload(organisation="soweco")
    assert expert["id"] in [w["jobcoach_id"] for w in soweco.aftercare.workload()]
    assert 0 < load["planned_hours"] <= load["capacity_hours"]
    assert load["remaining_hours"] == pytest.approx(load["capacity_hours"] - load["planned_hours"])


def test_with_nobody_free_the_plan_is_unassigned_escalated_and_counted(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=0)
    # half an hour a week: less than the first weeks of any plan need
    busy, = register_jobcoaches(system, region.name, 1, capacity_hours=0.5)
    unassigned_before = system.metric("aftercare", "werkbrug_aftercare_plans_unassigned_total", region=region.name)

    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    assert plan["unassigned"] and plan["jobcoach_id"] is None and len(plan["tasks"]) == 8
    assert soweco.aftercare.workload(busy["id"])["open_tasks"] == 0
    (escalation,) = [e for e in rpc.aftercare.escalations() if e["plan_id"] == plan["id"]]
    assert escalation["kind"] == "unassigned_plan" and escalation["region"] == region.name
    assert system.metric("aftercare", "werkbrug_aftercare_plans_unassigned_total",
                         region=region.name) == unassigned_before + 1
    # the coordinators of organisations working in the region hear of it
    mail = eventually(lambda: [m for m in mails_to(system, "coordinator@soweco.example")
                               if plan["placement_id"] in m.get_content()], what="the escalation mail")
    assert "zonder jobcoach" in mail[0]["Subject"]

    # a coordinator assigns it once a coach has room
    with system.rpc(SOWECO) as soweco:
        rpc_coach = soweco.aftercare.register_jobcoach({"name": "Invaller", "regions": [region.name],
                                                        "capacity_hours": 16})
        moved = soweco.aftercare.reassign(plan["id"], rpc_coach["id"])
    assert moved["jobcoach_id"] == rpc_coach["id"] and not moved["unassigned"]
    assert {t["jobcoach_id"] for t in moved["tasks"]} == {rpc_coach["id"]}
    assert not [e for e in rpc.aftercare.escalations() if e["plan_id"] == plan["id"]]


def test_the_budget_of_a_24_hour_contract_follows_the_uwv_norm(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=1)
    plan = plan_of(rpc, place(rpc, region, register(rpc, region), hours=24))
    budget = plan["budget"]
    assert budget["hours_per_year"] == [187.2, 93.6, 74.88]  # 15%, 7.5%, 6% of 24 h x 52 weeks
    assert all(p <= b for p, b in zip(budget["planned_per_year"], budget["hours_per_year"], strict=True))
    assert budget["planned_per_year"][0] > 0 and budget["used_per_year"] == [0, 0, 0]

    first = plan["tasks"][0]
    soweco.aftercare.complete_task(first["id"], "going_well", None, 1.5)
    assert rpc.aftercare.plan_for_placement(plan["placement_id"])["budget"]["used_per_year"][0] == 1.5


def test_one_plan_per_placement_with_two_instances_and_redelivered_events(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=2)
    candidate = register(rpc, region)
    system.start_instance("aftercare", "aftercare-2")
    try:
        dlq = system.queue_depth(aftercare_placement_queue() + ".dlq")
        placement = place(rpc, region, candidate)
        (payload,) = system.sql("matching", "SELECT payload FROM outbox WHERE event_type = %s AND payload LIKE %s",
                                PLACEMENT_RECORDED, f"%{placement['id']}%")[0]
        # the same placement under new event ids, at once, to both instances
        for _ in range(6):
            event = json.loads(payload)
            event["id"] = str(uuid.uuid4())
            system.publish("matching", PLACEMENT_RECORDED, dumps(event))
        eventually(lambda: plans_for(system, placement["id"]) == 1, what="the plan")
        time.sleep(3)  # let every copy land (and any retry run)
        assert plans_for(system, placement["id"]) == 1
        assert len(soweco.aftercare.tasks(placement_id=placement["id"])) == 8
        assert system.queue_depth(aftercare_placement_queue() + ".dlq") == dlq
    finally:
        system.stop("aftercare-2")


def test_the_overdue_sweep_escalates_each_task_once(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=1)
    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    later = START + timedelta(days=40)  # first day, week 1 and week 4 are past due

    rpc.aftercare.sweep(later.isoformat())
    again = rpc.aftercare.sweep(later.isoformat())
    assert not [e for e in rpc.aftercare.escalations() if e["plan_id"] == plan["id"] and e["kind"] != "overdue_task"]
    overdue = [e for e in rpc.aftercare.escalations() if e["plan_id"] == plan["id"]]
    assert len(overdue) == 3 and {e["organisation"] for e in overdue} == {"soweco"}
    assert again["overdue"] >= 3 and again["by_organisation"]["soweco"] >= 3
    assert system.metric("aftercare", "werkbrug_aftercare_tasks_overdue", organisation="soweco") >= 3

    events = eventually(lambda: len(rows := system.sql(
        "reporting", "SELECT subject FROM event_store WHERE type = %s AND data->>'placement_id' = %s",
        "nl.werkbrug.aftercare_task.overdue.v1", plan["placement_id"])) == 3 and rows,
        what="three task_overdue events in reporting")
    assert len({s for (s,) in events}) == 3
    tasks = {t["id"]: t for t in soweco.aftercare.tasks(placement_id=plan["placement_id"])}
    assert sorted(tasks[s]["kind"] for (s,) in events) == ["first_working_day", "week_1", "week_4"]
    def escalation_mails():
        found = [m for m in mails_to(system, "coordinator@soweco.example") if "te laat" in m["Subject"]]
        return all(any(task_id in m.get_content() for m in found) for (task_id,) in events) and found

    mails = eventually(escalation_mails, what="the coordinator's escalation mails")
    assert sum(m.get_content().count(task_id) for m in mails for (task_id,) in events) == 3  # each told once

    # doing the task settles its escalation
    soweco.aftercare.complete_task(events[0][0], "going_well", None)
    assert len([e for e in rpc.aftercare.escalations() if e["plan_id"] == plan["id"]]) == 2


def test_the_timer_sweeps_on_an_injected_clock():
    """A second, private system runs aftercare alone with its date fixed a year ahead
    and a sweep every 0.3 s: the timer announces each overdue task once."""
    system = System(extra_env={"WERKBRUG_TODAY": (START + timedelta(days=365)).isoformat(),
                               "WERKBRUG_AFTERCARE_SWEEP_SECONDS": "0.3"})
    system.create()
    try:
        system.start("aftercare")
        with system.rpc(SOWECO) as soweco:
            soweco.aftercare.register_organisation({"name": "Soweco", "coordinator_email": "c@soweco.example"})
            soweco.aftercare.register_jobcoach({"name": "Coach", "regions": ["Twente"], "capacity_hours": 36})
        placement_id = str(uuid.uuid4())
        system.publish("matching", PLACEMENT_RECORDED, dumps({
            "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/werkbrug/matching",
            "type": PLACEMENT_RECORDED, "time": datetime.now(UTC).isoformat(), "subject": placement_id,
            "datacontenttype": "application/json",
            "data": {"placement_id": placement_id, "candidate_id": str(uuid.uuid4()), "vacancy_id": str(uuid.uuid4()),
                     "employer_id": str(uuid.uuid4()), "start_date": START.isoformat(), "hours_per_week": 24,
                     "region": "Twente", "target_groups": ["bijstand"]},
        }))
        # a year on: first day .. month 6 are overdue (6 tasks); month 12 is due on the day itself
        eventually(lambda: system.metric("aftercare", "werkbrug_aftercare_tasks_overdue",
                                         organisation="soweco") == 6, what="the timer's sweep")
        time.sleep(1.5)  # several more sweeps
        rows = system.sql("aftercare", "SELECT count(*), count(DISTINCT task_id) FROM escalations "
                                       "WHERE kind = 'overdue_task'")
        assert rows == [(6, 6)]
        announced = system.sql("aftercare", "SELECT count(*) FROM outbox WHERE event_type = %s",
                               "nl.werkbrug.aftercare_task.overdue.v1")
        assert announced == [(6,)]
        # announced in one sweep, they reach the coordinator in one mail
        eventually(lambda: [m for m in mails_to(system, "c@soweco.example") if "te laat" in m["Subject"]],
                   what="the coordinator's mail")
        time.sleep(0.5)
        told = [m for m in mails_to(system, "c@soweco.example") if "te laat" in m["Subject"]]
        assert [m["Subject"] for m in told] == ["Escalatie: 6 nazorgtaken te laat"]
        assert told[0].get_content().count(placement_id) == 6
    finally:
        system.destroy()


def test_at_risk_plans_a_check_in_and_tells_the_coach(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=1)
    coach = region.jobcoaches[0]
    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    first = plan["tasks"][0]
    before = clock.today()  # the services' date, read around the call in case midnight passes in between
    soweco.aftercare.complete_task(first["id"], "at_risk", "Conflict met collega.")
    after = clock.today()
    check_in, = [t for t in soweco.aftercare.tasks(placement_id=plan["placement_id"], status="open")
                 if t["kind"] == "check_in"]
    assert check_in["jobcoach_id"] == coach["id"]
    assert before < date.fromisoformat(check_in["due"]) <= after + timedelta(days=7), "within a week"
    mail = eventually(lambda: [m for m in mails_to(system, coach["email"]) if "extra contact" in m["Subject"]],
                      what="the check-in mail")
    assert check_in["id"] in mail[0].get_content()


def test_ended_returns_the_candidate_to_the_pool_and_reopens_the_opening(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=1, openings=1)
    candidate = register(rpc, region)
    placement = place(rpc, region, candidate)
    plan = plan_of(rpc, placement)
    eventually(lambda: rpc.vacancies.get(region.vacancy["id"])["openings_filled"] == 1, what="the opening filled")
    eventually(lambda: rpc.candidates.get(candidate["id"])["status"] == "placed", what="the candidate placed")

    with pytest.raises(ValidationError) as refused:
        soweco.aftercare.complete_task(plan["tasks"][1]["id"], "ended", None)
    assert "end_reason" in refused.value.errors
    soweco.aftercare.complete_task(plan["tasks"][1]["id"], "ended", "Werkgever stopt.", None,
                                (START + timedelta(days=8)).isoformat(), "dismissed")

    ended = eventually(lambda: (p := rpc.matching.get_placement(placement["id"]))["status"] == "ended" and p,
                       what="matching to end the placement")
    assert ended["end_reason"] == "dismissed"
    eventually(lambda: rpc.candidates.get(candidate["id"])["status"] == "available", what="the candidate available")
    eventually(lambda: rpc.vacancies.get(region.vacancy["id"])["openings_filled"] == 0, what="the opening reopened")
    assert rpc.matching.indexed([candidate["id"]])[candidate["id"]]["in_pool"]
    final = eventually(lambda: (p := rpc.aftercare.plan_for_placement(placement["id"]))["status"] == "ended" and p,
                       what="the plan to end")
    assert sorted({t["status"] for t in final["tasks"]}) == ["cancelled", "done"]
    assert sum(t["status"] == "cancelled" for t in final["tasks"]) == 7  # the first day was still open too


def test_a_sustained_checkpoint_reaches_reporting(system, rpc, soweco):
    region = Region(rpc, system, jobcoaches=1)
    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    month_6 = next(t for t in plan["tasks"] if t["kind"] == "month_6")
    soweco.aftercare.complete_task(month_6["id"], "going_well", None)
    stored = eventually(lambda: system.sql(
        "reporting", "SELECT data FROM event_store WHERE type = %s AND subject = %s",
        "nl.werkbrug.placement.sustained.v1", plan["placement_id"]), what="placement.sustained in reporting")
    assert stored[0][0]["months"] == 6
    # a going_well elsewhere is no checkpoint
    soweco.aftercare.complete_task(plan["tasks"][0]["id"], "going_well", None)
    time.sleep(0.5)
    assert len(system.sql("reporting", "SELECT 1 FROM event_store WHERE type = %s AND subject = %s",
                          "nl.werkbrug.placement.sustained.v1", plan["placement_id"])) == 1


def test_the_jobcoach_gets_the_plan_by_mail(system, rpc):
    region = Region(rpc, system, jobcoaches=1)
    coach = region.jobcoaches[0]
    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    mail, = eventually(lambda: mails_to(system, coach["email"]), what="the mail at the SMTP server")
    body = mail.get_content()
    assert "Nieuw nazorgplan" in mail["Subject"] and plan["id"] in body
    assert f"{START:%d-%m-%Y}" in body and "belmoment eerste werkdag" in body and "187,2 uur" in body
    assert "Gerrit" not in body and "Nazorgtest" not in body  # the candidate stays out of mail
    assert system.metric("aftercare", "werkbrug_mails_total", kind="plan_assigned", outcome="sent") >= 1


def test_coordinators_manage_only_their_own_jobcoaches(system, rpc):
    region = Region(rpc, system, jobcoaches=2)
    leaving, staying = region.jobcoaches
    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    assert plan["jobcoach_id"] in (leaving["id"], staying["id"])
    if plan["jobcoach_id"] != leaving["id"]:
        leaving, staying = staying, leaving

    with system.rpc("dev-gemeente-enschede") as other, pytest.raises(Forbidden):
        other.aftercare.deactivate_jobcoach(leaving["id"])
    with pytest.raises(ValidationError) as refused, system.rpc(SOWECO) as soweco:
        soweco.aftercare.register_jobcoach({"name": "X", "regions": [region.name], "capacity_hours": 900})
    assert "capacity_hours" in refused.value.errors
    assert not [j for j in rpc.aftercare.jobcoaches(region.name) if j["name"] == "X"]

    with system.rpc(SOWECO) as soweco:
        gone = soweco.aftercare.deactivate_jobcoach(leaving["id"])
        assert gone["plans_reassigned"] == 1 and not gone["active"]
        with pytest.raises(Conflict):
            soweco.aftercare.reassign(plan["id"], leaving["id"])
    moved = rpc.aftercare.plan_for_placement(plan["placement_id"])
    assert moved["jobcoach_id"] == staying["id"]
    assert {t["jobcoach_id"] for t in moved["tasks"] if t["status"] == "open"} == {staying["id"]}
    eventually(lambda: [m for m in mails_to(system, staying["email"]) if "toegewezen" in m.get_content()],
               what="the reassignment mail")


def test_a_jobcoach_works_the_task_list_over_http(system, rpc):
    region = Region(rpc, system, jobcoaches=1)
    coach = region.jobcoaches[0]
    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    as_soweco = {"Authorization": f"Bearer {SOWECO}"}
    query = {"status": "open", "placement_id": plan["placement_id"]}
    assert system.http("GET", f"/v1/jobcoaches/{coach['id']}/tasks", params=query, anonymous=True).status_code == 401
    listed = system.http("GET", f"/v1/jobcoaches/{coach['id']}/tasks", params=query, headers=as_soweco)
    assert listed.status_code == 200
    tasks = listed.json()
    assert [t["due"] for t in tasks] == sorted(t["due"] for t in tasks) and len(tasks) == 8

    completion = f"/v1/aftercare/tasks/{tasks[0]['id']}/completion"
    bad = system.http("POST", completion, json={"outcome": "fine"}, headers=as_soweco)
    assert bad.status_code == 400 and "outcome" in bad.text
    assert system.http("POST", completion, json={"outcome": "going_well"}, anonymous=True).status_code == 401
    done = system.http("POST", completion, json={"outcome": "going_well", "hours_spent": 0.75}, headers=as_soweco)
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert system.http("GET", f"/v1/jobcoaches/{coach['id']}/workload", headers=as_soweco).json()["open_tasks"] == 7
    used = system.http("GET", f"/v1/placements/{plan['placement_id']}/aftercare").json()["budget"]["used_per_year"]
    assert used[0] == 0.75


def test_only_the_coaches_organisation_sees_and_records_their_tasks(system, rpc, soweco):
    # aftercare tasks are a coaching organisation's caseload, and recording "ended" ends a
    # placement: nobody else lists them or records them
    region = Region(rpc, system, jobcoaches=1)
    coach = region.jobcoaches[0]
    plan = plan_of(rpc, place(rpc, region, register(rpc, region)))
    task = plan["tasks"][0]
    with system.rpc(None) as outsider:
        with pytest.raises(Unauthorized):
            outsider.aftercare.tasks(placement_id=plan["placement_id"])
        with pytest.raises(Unauthorized):
            outsider.aftercare.complete_task(task["id"], "ended", None, None, None, "dismissed")
    with system.rpc("dev-gemeente-enschede") as other:
        assert other.aftercare.tasks(placement_id=plan["placement_id"]) == []
        with pytest.raises(Forbidden):
            other.aftercare.tasks(jobcoach_id=coach["id"])
        with pytest.raises(Forbidden):
            other.aftercare.complete_task(task["id"], "ended", None, None, None, "dismissed")
    assert [t["status"] for t in soweco.aftercare.tasks(placement_id=plan["placement_id"])] == ["open"] * 8
    assert rpc.matching.get_placement(plan["placement_id"])["status"] == "active"
