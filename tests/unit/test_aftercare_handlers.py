"""Aftercare's operations (aftercare.handlers) on a SQLite unit of work with a fixed clock and
no broker: the plan and its jobcoach, what a check-in's outcome sets going, reassignment, the
overdue sweep, the end of a placement and the mails. The integration tests (test_aftercare.py)
hold the same service to these over RabbitMQ, PostgreSQL and SMTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select
from sqlalchemy.orm import sessionmaker

from aftercare import domain, handlers
from aftercare.models import AftercarePlan, AftercareTask, Escalation, metadata
from werkbrug_shared.actor import Actor, Partner
from werkbrug_shared.clock import Clock
from werkbrug_shared.db import UnitOfWork, make_engine
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, ValidationError
from werkbrug_shared.events.catalogue import schema_for

TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
START = TODAY + timedelta(days=7)  # plans are weighed against the coming four weeks
SOWECO = Actor(Partner("soweco", "Soweco", "coaching", "Twente"))
OTHER = Actor(Partner("gemeente-enschede", "Gemeente Enschede", "municipality", "Twente"))
PLACEMENT_RECORDED = "nl.werkbrug.placement.recorded.v1"


class Desk:
    """Runs a handler as a worker would: its own unit of work, committed after; keeps the events
    each call emitted."""

    def __init__(self, engine):
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.clock = Clock(TODAY, now=lambda: NOW)
        self.emitted: list = []

    def __call__(self, handler, *args, **kwargs):
        with self.sessions() as session:
            uow = UnitOfWork(session, "aftercare", metadata.tables["outbox"], metadata.tables["processed_events"])
            result = handler(uow, *args, **kwargs)
            session.commit()
        self.emitted = list(uow.emitted)
        return result

    def events(self, type_name: str) -> list[dict]:
        return [e.data for e in self.emitted if e.type == type_name]

    def rows(self, model, *where) -> list:
        with self.sessions() as session:
            return list(session.scalars(select(model).where(*where)))

    def at(self, today: date) -> Desk:
        self.clock = Clock(today, now=lambda: NOW)
        return self


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'aftercare.db'}")  # as a service on SQLite: foreign keys on
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def desk(engine):
    desk = Desk(engine)
    desk(handlers.register_organisation, SOWECO, {"name": "Soweco", "coordinator_email": "c@soweco.example"})
    return desk


def coach(desk: Desk, name: str, capacity: float = 24, regions=("Twente",), expertise=(), email=None):
    return desk(handlers.register_jobcoach, SOWECO, desk.clock, {
        "name": name, "email": email or f"{name.lower()}@soweco.example", "regions": list(regions),
        "capacity_hours": capacity, "expertise": list(expertise)})


_placements = iter(range(1, 10**6))


def placement(region="Twente", hours=24, start=START, **profile) -> dict:
    """placement.recorded's data as the consumer gets it: through the catalogue's schema."""
    n = next(_placements)
    return schema_for(PLACEMENT_RECORDED).load({
        "placement_id": f"placement-{n}", "candidate_id": f"candidate-{n}", "vacancy_id": "vacancy-1",
        "employer_id": "employer-1", "start_date": start.isoformat(), "hours_per_week": hours, "region": region,
        "target_groups": ["bijstand"], **profile})


def start(desk: Desk, *placements: dict) -> list[AftercarePlan]:
    return desk(handlers.start_plans, desk.clock, domain.DEFAULT_PROTOCOL, list(placements))


def tasks_of(desk: Desk, plan: AftercarePlan) -> list[AftercareTask]:
    return sorted(desk.rows(AftercareTask, AftercareTask.plan_id == plan.id), key=lambda t: (t.due, t.kind))


def complete(desk: Desk, task: AftercareTask, outcome: str, actor=SOWECO, **data) -> handlers.Completed:
    return desk(handlers.complete_task, actor, desk.clock, {
        "task_id": task.id, "outcome": outcome, "note": data.get("note"), "hours_spent": data.get("hours_spent"),
        "end_date": data.get("end_date"), "end_reason": data.get("end_reason")})


def leave(desk: Desk, jobcoach_id: str, actor=SOWECO) -> handlers.Deactivated:
    """As deactivate_jobcoach's entrypoint: the caller's own coach, in the same unit of work."""
    return desk(lambda uow: handlers.deactivate_jobcoach(uow, desk.clock,
                                                         handlers.own_jobcoach(uow, actor, jobcoach_id)))


def reassign(desk: Desk, plan_id: str, jobcoach_id: str) -> handlers.PlanRecord:
    return desk(lambda uow: handlers.reassign(uow, desk.clock, plan_id,
                                              handlers.own_jobcoach(uow, SOWECO, jobcoach_id)))


def unassigned_count(region: str) -> float:
    return REGISTRY.get_sample_value("werkbrug_aftercare_plans_unassigned_total", {"region": region}) or 0.0


# --- a recorded placement gets its plan ------------------------------------------------------


def test_a_placement_gets_the_protocols_plan_its_coach_and_the_events(desk):
    generalist = coach(desk, "Generalist")
    expert = coach(desk, "Expert", expertise=["autism"])
    coach(desk, "Elders", capacity=60, regions=["Achterhoek"], expertise=["autism"])  # not in this region

    (plan,) = start(desk, placement(conditions=["low_stimulus_workplace"]))
    assert plan.jobcoach_id == expert.id and plan.expertise_wanted == ["autism"]
    assert plan.status == domain.ACTIVE and plan.budget_hours == [187.2, 93.6, 74.88]
    tasks = tasks_of(desk, plan)
    assert [t.kind for t in tasks] == [s.kind for s in domain.DEFAULT_PROTOCOL]
    assert {(t.jobcoach_id, t.status) for t in tasks} == {(expert.id, domain.OPEN)}
    (created,) = desk.events(handlers.AFTERCARE_PLAN_CREATED)
    assert created["jobcoach_id"] == expert.id and created["organisation"] == "soweco" and created["task_count"] == 8
    assigned = desk.events(handlers.AFTERCARE_TASK_ASSIGNED)
    assert len(assigned) == 8 and {a["assignment"] for a in assigned} == {domain.WITH_PLAN}

    # no special need: the coach with the most room left
    (plain,) = start(desk, placement())
    assert plain.jobcoach_id == generalist.id


def test_a_placement_seen_again_gets_no_second_plan(desk):
    coach(desk, "Coach")
    twice = placement()
    plans = start(desk, twice, dict(twice))  # in one batch under two event ids
    assert len(plans) == 1
    assert start(desk, dict(twice)) == [] and desk.emitted == []  # and in a later one
    assert len(desk.rows(AftercarePlan, AftercarePlan.placement_id == twice["placement_id"])) == 1
    assert len(desk.rows(AftercareTask, AftercareTask.placement_id == twice["placement_id"])) == 8


def test_with_nobody_free_the_plan_is_unassigned_escalated_and_counted(desk):
    busy = coach(desk, "Busy", capacity=0.5, regions=["Salland"])  # less than any plan's first weeks need
    before = unassigned_count("Salland")
    (plan,) = start(desk, placement(region="Salland"))
    assert desk.events(handlers.AFTERCARE_PLAN_CREATED)[0]["jobcoach_id"] is None
    assert plan.jobcoach_id is None and len(tasks_of(desk, plan)) == 8
    assert desk(handlers.workload, SOWECO, desk.clock, busy.id)[0]["open_tasks"] == 0
    (escalation,) = desk.rows(Escalation, Escalation.plan_id == plan.id)
    assert (escalation.kind, escalation.region, escalation.resolved_at) == (domain.UNASSIGNED_PLAN, "Salland", None)
    assert unassigned_count("Salland") == before + 1


def test_a_batch_weighs_each_plan_against_the_load_of_those_before_it(desk, engine):
    # a plan starting in a week asks 0.625 hours a week of the coming four: room for one plan
    # each, so one at a time the two coaches take one each and the third finds nobody; a batch
    # of three must decide the same
    first, second = coach(desk, "Eerste", capacity=1), coach(desk, "Tweede", capacity=1)
    plans = start(desk, placement(), placement(), placement())
    assert sorted(p.jobcoach_id or "" for p in plans) == sorted(["", first.id, second.id])
    assert plans[2].jobcoach_id is None


def test_a_batch_looks_up_the_coaches_once_however_many_placements_it_holds(desk, engine):
    for n in range(3):
        coach(desk, f"Coach{n}", capacity=60)
    selects: list[str] = []

    def count(_conn, _cursor, statement, *_):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        start(desk, placement())
        one = len(selects)
        selects.clear()
        start(desk, *(placement() for _ in range(25)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # what is planned already, the coaches (locked), their loads, their organisations
    assert one == len(selects) == 4
    assert sum("FROM jobcoaches" in s and "aftercare_tasks" not in s for s in selects) == 2


# --- a check-in recorded -------------------------------------------------------------------------


def test_at_risk_plans_a_check_in_within_a_week_for_the_same_coach(desk):
    holder = coach(desk, "Coach")
    (plan,) = start(desk, placement())
    first = tasks_of(desk, plan)[0]
    done = complete(desk, first, domain.AT_RISK, note="Conflict met collega.")
    assert done.task.status == domain.DONE and done.task.completed_at == NOW and done.organisation == "soweco"
    check_in = done.check_in
    assert (check_in.kind, check_in.due, check_in.jobcoach_id, check_in.status, check_in.hours) == (
        domain.CHECK_IN, TODAY + timedelta(days=7), holder.id, domain.OPEN, domain.CHECK_IN_HOURS)
    (assigned,) = desk.events(handlers.AFTERCARE_TASK_ASSIGNED)
    assert assigned["task_id"] == check_in.id and assigned["assignment"] == domain.CHECK_IN
    (at_risk,) = desk.events(handlers.PLACEMENT_AT_RISK)
    assert at_risk == {"placement_id": plan.placement_id, "candidate_id": plan.candidate_id, "task_id": first.id}
    (completed,) = desk.events(handlers.AFTERCARE_TASK_COMPLETED)
    assert completed["outcome"] == domain.AT_RISK and completed["end_date"] is None
    assert "note" not in completed  # the jobcoach's free text stays in aftercare
    assert not desk.events(handlers.PLACEMENT_SUSTAINED)


def test_going_well_on_a_checkpoint_and_only_there_means_sustained(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement())
    tasks = {t.kind: t for t in tasks_of(desk, plan)}
    complete(desk, tasks["month_6"], domain.GOING_WELL)
    (sustained,) = desk.events(handlers.PLACEMENT_SUSTAINED)
    assert sustained == {"placement_id": plan.placement_id, "candidate_id": plan.candidate_id, "months": 6}
    complete(desk, tasks["first_working_day"], domain.GOING_WELL)  # no checkpoint
    assert not desk.events(handlers.PLACEMENT_SUSTAINED) and not desk.events(handlers.PLACEMENT_AT_RISK)
    assert [t.kind for t in tasks_of(desk, plan)].count(domain.CHECK_IN) == 0


def test_ended_tells_matching_the_day_and_the_reason(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement())
    week_1, week_4 = tasks_of(desk, plan)[1:3]
    complete(desk, week_1, domain.PLACEMENT_ENDED, end_date=START + timedelta(days=8), end_reason="dismissed")
    (completed,) = desk.events(handlers.AFTERCARE_TASK_COMPLETED)
    assert (completed["end_date"], completed["end_reason"]) == ((START + timedelta(days=8)).isoformat(), "dismissed")
    complete(desk, week_4, domain.PLACEMENT_ENDED, end_reason="resigned")  # no day given: today
    assert desk.events(handlers.AFTERCARE_TASK_COMPLETED)[0]["end_date"] == TODAY.isoformat()


def test_only_the_holding_organisation_records_a_task_and_only_once(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement())
    first = tasks_of(desk, plan)[0]
    with pytest.raises(Forbidden):
        complete(desk, first, domain.PLACEMENT_ENDED, actor=OTHER, end_reason="dismissed")
    assert tasks_of(desk, plan)[0].status == domain.OPEN
    complete(desk, first, domain.GOING_WELL, hours_spent=1.5)
    with pytest.raises(Conflict):
        complete(desk, first, domain.GOING_WELL)
    with pytest.raises(NotFound):
        complete(desk, AftercareTask(id="no-such-task"), domain.GOING_WELL)


def test_a_task_nobody_holds_is_recorded_by_nobody(desk):
    coach(desk, "Busy", capacity=0.5)
    (plan,) = start(desk, placement())
    with pytest.raises(Forbidden):
        complete(desk, tasks_of(desk, plan)[0], domain.GOING_WELL)


def test_the_budget_counts_hours_spent_in_the_year_they_were_spent(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement())
    complete(desk, tasks_of(desk, plan)[0], domain.GOING_WELL, hours_spent=1.5)
    record = desk(handlers.plan_for_placement, SOWECO, plan.placement_id)
    budget = tuple(record.plan.budget_hours)
    assert domain.used_per_year(budget, record.plan.start_date, record.tasks) == (1.5, 0, 0)
    assert domain.planned_per_year(budget, record.plan.start_date, record.tasks)[0] > 0
    assert record.organisation == "soweco"


def test_a_plan_is_seen_by_its_coaching_organisation_and_those_credited_with_the_placement(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement(credited_organisations=["gemeente-enschede", "jobhunters-twente"]))
    assert desk(handlers.plan_for_placement, SOWECO, plan.placement_id).plan.id == plan.id  # it coaches
    assert desk(handlers.plan_for_placement, OTHER, plan.placement_id).plan.id == plan.id  # it placed them
    hengelo = Actor(Partner("gemeente-hengelo", "Gemeente Hengelo", "municipality", "Twente"))
    for outsider in (hengelo, Actor(None)):
        with pytest.raises(NotFound):  # as if there were none
            desk(handlers.plan_for_placement, outsider, plan.placement_id)
    with pytest.raises(NotFound):
        desk(handlers.plan_for_placement, SOWECO, "no-such-placement")


# --- overdue work ---------------------------------------------------------------------------------


def test_the_sweep_escalates_each_overdue_task_once_and_doing_it_settles_that(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement())
    later = START + timedelta(days=40)  # first day, week 1 and week 4 are past due
    swept = desk(handlers.sweep_overdue, desk.clock, later)
    assert sorted(t.kind for t in swept.announced) == ["first_working_day", "week_1", "week_4"]
    assert swept.overdue == {"soweco": 3}
    overdue = desk.events(handlers.AFTERCARE_TASK_OVERDUE)
    assert len(overdue) == 3 and {o["organisation"] for o in overdue} == {"soweco"}
    again = desk(handlers.sweep_overdue, desk.clock, later)
    assert again.announced == [] and again.overdue == {"soweco": 3} and desk.emitted == []
    escalations = desk(handlers.escalations, SOWECO, True)
    assert len(escalations) == 3 and {e.kind for e in escalations} == {domain.OVERDUE_TASK}

    complete(desk, swept.announced[0], domain.GOING_WELL)
    assert len(desk(handlers.escalations, SOWECO, True)) == 2
    assert len(desk(handlers.escalations, SOWECO, False)) == 3


def test_the_sweep_takes_the_clocks_day_and_counts_tasks_nobody_holds_apart(desk):
    coach(desk, "Busy", capacity=0.5)
    start(desk, placement())
    assert desk(handlers.sweep_overdue, desk.clock).announced == []  # nothing due before the start
    swept = desk.at(START + timedelta(days=2))(handlers.sweep_overdue, desk.clock)
    assert [t.kind for t in swept.announced] == ["first_working_day"]
    assert swept.overdue == {handlers.UNASSIGNED: 1}
    escalations = desk(handlers.escalations, SOWECO, True)
    assert sorted(e.kind for e in escalations) == [domain.OVERDUE_TASK, domain.UNASSIGNED_PLAN]
    assert {e.organisation_id for e in escalations} == {None}


def test_escalations_are_for_who_may_see_the_plan_or_could_take_it_over(desk):
    coach(desk, "Busy", capacity=0.5)  # Soweco has a coach in Twente, without room
    (plan,) = start(desk, placement(credited_organisations=["gemeente-enschede"]))
    assert [e.kind for e in desk(handlers.escalations, SOWECO, True)] == [domain.UNASSIGNED_PLAN]  # could take it
    assert [e.kind for e in desk(handlers.escalations, OTHER, True)] == [domain.UNASSIGNED_PLAN]  # placed them
    hengelo = Actor(Partner("gemeente-hengelo", "Gemeente Hengelo", "municipality", "Twente"))
    assert desk(handlers.escalations, hengelo, True) == []
    assert plan.jobcoach_id is None


# --- coaches come and go ---------------------------------------------------------------------------


def test_a_leaving_coachs_plans_go_to_a_coach_with_room_or_are_escalated(desk):
    leaving = coach(desk, "Vertrekker")
    (plan,) = start(desk, placement())
    assert plan.jobcoach_id == leaving.id
    staying = coach(desk, "Blijver")
    with pytest.raises(Forbidden):
        leave(desk, leaving.id, actor=OTHER)
    gone = leave(desk, leaving.id)
    assert (gone.plans_reassigned, gone.plans_unassigned, gone.jobcoach.active) == (1, 0, False)
    assert {t.jobcoach_id for t in tasks_of(desk, plan)} == {staying.id}
    assigned = desk.events(handlers.AFTERCARE_TASK_ASSIGNED)
    assert len(assigned) == 8 and {a["assignment"] for a in assigned} == {domain.REASSIGNED}
    with pytest.raises(Conflict):  # nobody moves a plan to a coach who left
        reassign(desk, plan.id, leaving.id)

    again = leave(desk, leaving.id)
    assert (again.plans_reassigned, again.plans_unassigned) == (0, 0) and desk.emitted == []

    last = leave(desk, staying.id)
    assert (last.plans_reassigned, last.plans_unassigned) == (0, 1)
    assert {t.jobcoach_id for t in tasks_of(desk, plan)} == {None}
    assert [e.kind for e in desk.rows(Escalation, Escalation.plan_id == plan.id)] == [domain.UNASSIGNED_PLAN]


def test_a_coordinator_assigns_a_plan_nobody_held_to_a_coach_with_room(desk):
    coach(desk, "Busy", capacity=0.5)
    (plan,) = start(desk, placement())
    small = coach(desk, "Klein", capacity=0.5)
    with pytest.raises(Conflict, match="has no room"):
        reassign(desk, plan.id, small.id)
    room = coach(desk, "Invaller", capacity=16)
    record = reassign(desk, plan.id, room.id)
    assert record.plan.jobcoach_id == room.id and record.organisation == "soweco"
    assert {t.jobcoach_id for t in record.tasks} == {room.id}
    assert desk(handlers.escalations, SOWECO, True) == []
    with pytest.raises(NotFound):
        reassign(desk, "no-such-plan", room.id)


# --- the placement ends ------------------------------------------------------------------------------


def test_the_end_of_a_placement_ends_its_plan_and_cancels_what_is_open(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement())
    complete(desk, tasks_of(desk, plan)[0], domain.GOING_WELL, note="Ging goed, met Gerrit gesproken.")
    desk.at(START + timedelta(days=40))(handlers.sweep_overdue, desk.clock)
    ended = desk(handlers.end_plan, desk.clock, plan.placement_id, START + timedelta(days=9))
    assert (ended.status, ended.ended_on) == (domain.ENDED, START + timedelta(days=9))
    assert sorted(t.status for t in tasks_of(desk, plan)) == [domain.CANCELLED] * 7 + [domain.DONE]
    cancelled = desk.events(handlers.AFTERCARE_TASK_CANCELLED)
    assert len(cancelled) == 7 and {c["organisation"] for c in cancelled} == {"soweco"}
    assert desk(handlers.escalations, SOWECO, True) == []
    assert desk(handlers.end_plan, desk.clock, plan.placement_id, START) is None and desk.emitted == []
    assert desk(handlers.end_plan, desk.clock, "no-such-placement", START) is None

    desk(handlers.erase_notes, plan.candidate_id)
    assert {t.note for t in tasks_of(desk, plan)} == {None}
    assert {t.outcome for t in tasks_of(desk, plan)} == {None, domain.GOING_WELL}  # the outcomes stay


# --- who sees what ------------------------------------------------------------------------------------


def test_only_the_coaches_organisation_sees_their_tasks_and_workload(desk):
    holder = coach(desk, "Coach")
    (plan,) = start(desk, placement())
    query = {"placement_id": plan.placement_id, "jobcoach_id": None, "status": None, "due_before": None,
             "limit": 200, "after": None}
    assert len(desk(handlers.tasks, SOWECO, query)) == 8
    assert desk(handlers.tasks, OTHER, query) == []
    with pytest.raises(Forbidden):
        desk(handlers.tasks, OTHER, {**query, "jobcoach_id": holder.id})
    with pytest.raises(Forbidden):
        desk(handlers.workload, OTHER, desk.clock, holder.id)
    (load,) = desk(handlers.workload, SOWECO, desk.clock)
    assert (load["open_tasks"], load["active_plans"], load["overdue_tasks"]) == (8, 1, 0)
    assert 0 < load["planned_hours"] <= load["capacity_hours"]
    early = desk(handlers.tasks, SOWECO, {**query, "due_before": START + timedelta(days=8)})
    assert [t.kind for t in early] == ["first_working_day", "week_1"]


def test_tasks_come_a_page_at_a_time_each_after_the_last_of_the_page_before(desk):
    coach(desk, "Coach")
    plans = start(desk, placement(), placement())  # two plans: tasks due on the same days
    query = {"placement_id": None, "jobcoach_id": None, "status": None, "due_before": None, "limit": 200,
             "after": None}
    everything = [t.id for t in desk(handlers.tasks, SOWECO, query)]
    assert len(everything) == 8 * len(plans)
    pages, after = [], None
    while True:
        page = desk(handlers.tasks, SOWECO, {**query, "limit": 3, "after": after})
        if not page:
            break
        pages.append([t.id for t in page])
        after = page[-1].id
    assert [t for p in pages for t in p] == everything and max(map(len, pages)) == 3
    with pytest.raises(ValidationError):
        desk(handlers.tasks, SOWECO, {**query, "after": "no-such-task"})


# --- mails ----------------------------------------------------------------------------------------------


def test_the_coach_gets_a_new_plan_in_one_mail_and_nobodys_plan_goes_to_the_coordinator(desk):
    holder = coach(desk, "Coach", regions=["Twente"])
    coach(desk, "Busy", capacity=0.5, regions=["Salland"])
    (held,) = start(desk, placement())
    (nobodys,) = start(desk, placement(region="Salland"))
    mails = desk(handlers.plan_created_mails, [held.id, nobodys.id, "no-such-plan"])
    assert [(m.to, m.kind) for m in mails] == [(holder.email, "plan_assigned"),
                                               ("c@soweco.example", "unassigned_plan")]
    assert held.id in mails[0].body and "zonder jobcoach" in mails[1].subject


def test_only_a_task_handed_over_later_gets_a_mail_of_its_own(desk):
    holder = coach(desk, "Coach")
    (plan,) = start(desk, placement())
    with_plan = desk.events(handlers.AFTERCARE_TASK_ASSIGNED)
    done = complete(desk, tasks_of(desk, plan)[0], domain.AT_RISK)
    check_in = desk.events(handlers.AFTERCARE_TASK_ASSIGNED)
    assert desk(handlers.task_assigned_mails, with_plan) == []
    (mail,) = desk(handlers.task_assigned_mails, with_plan + check_in)
    assert (mail.to, mail.kind) == (holder.email, "task_check_in") and done.check_in.id in mail.body
    complete(desk, done.check_in, domain.GOING_WELL)
    assert desk(handlers.task_assigned_mails, check_in) == []  # done meanwhile


def test_a_coordinator_hears_of_a_sweeps_overdue_tasks_in_one_mail(desk):
    coach(desk, "Coach")
    (plan,) = start(desk, placement())
    desk(handlers.sweep_overdue, desk.clock, START + timedelta(days=2))
    (one,) = desk(handlers.task_overdue_mails, desk.events(handlers.AFTERCARE_TASK_OVERDUE))
    assert (one.to, one.kind) == ("c@soweco.example", "task_overdue")
    desk(handlers.sweep_overdue, desk.clock, START + timedelta(days=40))
    (many,) = desk(handlers.task_overdue_mails, desk.events(handlers.AFTERCARE_TASK_OVERDUE))
    assert (many.kind, many.subject) == ("tasks_overdue", "Escalatie: 2 nazorgtaken te laat")
    assert many.body.count(plan.placement_id) == 2
