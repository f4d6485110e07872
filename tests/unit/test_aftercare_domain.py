"""The aftercare protocol, the UWV budget and the jobcoach choice, without a framework."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aftercare import domain
from aftercare.domain import CoachOption, Step

START = date(2026, 12, 1)


def test_the_default_plan_follows_the_protocol():
    plan = domain.make_plan(START, 24)
    assert [(t.kind, t.due) for t in plan.tasks] == [
        ("first_working_day", date(2026, 12, 1)), ("week_1", date(2026, 12, 8)), ("week_4", date(2026, 12, 29)),
        ("end_of_probation", date(2027, 2, 1)), ("month_3", date(2027, 3, 1)), ("month_6", date(2027, 6, 1)),
        ("month_12", date(2027, 12, 1)), ("month_18", date(2028, 6, 1)),
    ]
    assert [t.sustained_months for t in plan.tasks if t.sustained_months] == [6, 12, 18]


def test_a_24_hour_contract_stays_within_the_uwv_norm():
    plan = domain.make_plan(START, 24)
    # 15%, 7.5% and 6% of 24 hours a week over a year of 52 weeks
    assert plan.budget == (187.2, 93.6, 74.88)
    assert all(planned <= budget for planned, budget in zip(plan.planned, plan.budget, strict=True))
    assert plan.planned == (10.0, 4.0, 0.0)  # month 12 falls in the second year


def test_a_small_contract_has_its_hours_scaled_into_the_budget():
    plan = domain.make_plan(START, 1)  # 7.8 hours in year 1 against 10 asked
    assert plan.budget[0] == 7.8
    assert plan.planned[0] <= 7.8
    assert len(plan.tasks) == 8  # scaled, not dropped
    assert all(t.hours > 0 and (t.hours / domain.HOURS_STEP).is_integer() for t in plan.tasks)


def test_tasks_after_three_years_are_not_planned():
    protocol = (*domain.DEFAULT_PROTOCOL, Step("month_40", months=40))
    assert "month_40" not in {t.kind for t in domain.make_plan(START, 24, protocol).tasks}


def test_months_end_on_the_last_day_of_a_short_month():
    assert domain.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert domain.plan_year(date(2027, 1, 31), date(2028, 1, 30)) == 0
    assert domain.plan_year(date(2027, 1, 31), date(2028, 1, 31)) == 1


def test_the_protocol_comes_from_config_and_is_checked():
    steps = domain.protocol_from_config([{"kind": "intake", "hours": 1}, {"kind": "month_6", "months": 6,
                                                                           "sustained_months": 6}])
    assert steps == (Step("intake", hours=1.0), Step("month_6", months=6, sustained_months=6))
    assert domain.protocol_from_config(None) == domain.DEFAULT_PROTOCOL
    for bad in ([{"kind": "x", "weeks": 2}], [{"hours": 1}], [{"kind": "x", "hours": 0}],
                [{"kind": "x", "sustained_months": 9}], [{"kind": "x"}, {"kind": "x"}]):
        with pytest.raises(domain.ProtocolError):
            domain.protocol_from_config(bad)


def test_expertise_follows_conditions_target_groups_and_dutch_level():
    assert domain.wanted_expertise(["low_stimulus_workplace"], ["bijstand"]) == {"autism"}
    assert domain.wanted_expertise([], ["statushouder"], "A2") == {"statushouders", "language_support"}
    assert domain.wanted_expertise(["no_night_shifts"], ["ww"], "B2") == frozenset()


def test_weekly_load_counts_the_coming_four_weeks_and_what_is_overdue():
    today = date(2027, 1, 10)
    tasks = [(date(2027, 1, 1), 2.0), (date(2027, 1, 20), 2.0), (date(2027, 2, 6), 4.0), (date(2027, 3, 1), 8.0)]
    assert domain.weekly_load(tasks, today) == 2.0  # 2 + 2 + 4 hours over four weeks


def coach(cid, regions=("Twente",), expertise=(), capacity=8.0, load=0.0):
    return CoachOption(cid, frozenset(regions), frozenset(expertise), capacity, load)


def test_the_jobcoach_is_chosen_by_region_then_expertise_then_room():
    options = [
        coach("a", regions=("Achterhoek",), expertise=("autism",), capacity=40),
        coach("b", load=1.0, capacity=8),
        coach("c", expertise=("autism",), load=6.0, capacity=8),
        coach("d", load=0.0, capacity=8),
    ]
    # a low-stimulus need prefers the autism expert in the region, though others have more room
    assert domain.choose_jobcoach(options, "Twente", frozenset({"autism"}), demand=1.0) == "c"
    # without a need: the most room left
    assert domain.choose_jobcoach(options, "Twente", frozenset(), demand=1.0) == "d"
    # the expert lacks room for a big plan: the next best by room
    assert domain.choose_jobcoach(options, "Twente", frozenset({"autism"}), demand=3.0) == "d"


def test_a_coach_over_capacity_gets_no_new_plan():
    options = [coach("full", capacity=4, load=4.5), coach("other-region", regions=("Utrecht",))]
    assert domain.choose_jobcoach(options, "Twente", frozenset(), demand=0.5) is None


def test_equal_coaches_take_turns():
    loads = {"a": 0.0, "b": 0.0}
    chosen = []
    for _ in range(6):
        pick = domain.choose_jobcoach([coach(k, load=v) for k, v in loads.items()], "Twente", frozenset(), 1.0)
        loads[pick] += 1.0
        chosen.append(pick)
    assert chosen == ["a", "b", "a", "b", "a", "b"]


def test_overdue_is_the_day_after_the_due_date():
    assert not domain.overdue(date(2027, 1, 10), date(2027, 1, 10))
    assert domain.overdue(date(2027, 1, 10), date(2027, 1, 11))
    assert domain.check_in_due(date(2027, 1, 10)) == date(2027, 1, 17)


def test_a_digest_lists_each_overdue_task_by_due_date_and_names_no_candidate():
    from aftercare import notices
    from aftercare.models import AftercareTask, CoachingOrganisation, Jobcoach

    organisation = CoachingOrganisation(id="soweco", name="Soweco", coordinator_email="c@soweco.example")
    coach = Jobcoach(id="j1", name="Mark", organisation_id="soweco")
    late = AftercareTask(id="t-late", placement_id="p-1", kind="week_4", due=date(2026, 3, 1))
    later = AftercareTask(id="t-later", placement_id="p-2", kind="first_working_day", due=date(2026, 2, 1))
    subject, body = notices.tasks_overdue([(late, coach), (later, None)], organisation)
    assert subject == "Escalatie: 2 nazorgtaken te laat"
    ids = [line.split("taak ")[1] for line in body.splitlines() if "taak " in line]
    assert ids == ["t-later", "t-late"]  # by due date
    assert "01-02-2026" in body and "jobcoach Mark" in body
    assert "niemand (geen jobcoach met ruimte)" in body and "Soweco" in body


def test_a_start_at_the_end_of_the_calendar_keeps_the_tasks_the_calendar_holds():
    """9999-12-31 is a date every schema takes: the plan holds what fits, the handler never fails on it."""
    plan = domain.make_plan(date(9999, 12, 31), 24)
    assert [t.kind for t in plan.tasks] == ["first_working_day"]
    assert len(domain.make_plan(date(9999, 1, 1), 24).tasks) < len(domain.make_plan(date(2027, 1, 1), 24).tasks)


def test_a_load_summed_up_to_the_horizon_is_the_weekly_load():
    """The placement path sums hours in SQL (due before load_horizon, then per_week): the same figure."""
    today = date(2026, 12, 6)
    tasks = [(today - timedelta(days=3), 1.5), (today + timedelta(days=27), 2.25), (today + timedelta(days=28), 9.0)]
    horizon = domain.load_horizon(today)
    assert domain.per_week(sum(h for due, h in tasks if due < horizon)) == domain.weekly_load(tasks, today) == 0.9375


def test_plans_chosen_together_get_the_coaches_one_at_a_time_would():
    """A batch of placements chooses in turn (choose_jobcoaches); the reference writes each
    plan's tasks before the next chooses, as a batch of one does."""
    today = date(2026, 12, 6)
    coaches = [CoachOption("a", frozenset({"Twente"}), frozenset(), 3.0, 0.0),
               CoachOption("b", frozenset({"Twente", "Utrecht"}), frozenset({"autism"}), 2.0, 0.0),
               CoachOption("c", frozenset({"Utrecht"}), frozenset(), 1.5, 0.0)]
    existing = {"a": [(today + timedelta(days=2), 1.0)], "b": [], "c": [(today - timedelta(days=1), 0.5)]}
    new = [("Twente" if k % 3 else "Utrecht", frozenset({"autism"}) if k % 4 == 0 else frozenset(),
            domain.make_plan(today + timedelta(days=k % 9), 8 + 4 * (k % 7))) for k in range(40)]

    expected, open_tasks = [], {k: list(v) for k, v in existing.items()}
    for region, wanted, plan in new:
        options = [CoachOption(c.jobcoach_id, c.regions, c.expertise, c.capacity_hours,
                               domain.weekly_load(open_tasks[c.jobcoach_id], today)) for c in coaches]
        pick = domain.choose_jobcoach(options, region, wanted, domain.plan_demand(plan, today))
        if pick is not None:
            open_tasks[pick] += [(t.due, t.hours) for t in plan.tasks]
        expected.append(pick)

    horizon = domain.load_horizon(today)
    due_soon = {k: sum(h for due, h in v if due < horizon) for k, v in existing.items()}
    options = [CoachOption(c.jobcoach_id, c.regions, c.expertise, c.capacity_hours,
                           domain.per_week(due_soon[c.jobcoach_id])) for c in coaches]
    assert domain.choose_jobcoaches(options, due_soon, new, today) == expected
    assert None in expected and {"a", "b", "c"} <= set(expected)  # the case covers full coaches too


def test_what_an_outcome_sets_going():
    today = date(2026, 12, 6)
    at_risk = domain.follow_up(domain.AT_RISK, None, today)
    assert at_risk == domain.FollowUp(check_in_due=date(2026, 12, 13))  # within a week
    assert domain.follow_up(domain.AT_RISK, 6, today).sustained_months is None  # at risk is not sustained
    assert domain.follow_up(domain.GOING_WELL, 12, today) == domain.FollowUp(sustained_months=12)
    assert domain.follow_up(domain.GOING_WELL, None, today) == domain.FollowUp()  # no checkpoint
    assert domain.follow_up(domain.PLACEMENT_ENDED, 6, today, None, "dismissed") == domain.FollowUp(
        end_date=today, end_reason="dismissed")
    assert domain.follow_up(domain.PLACEMENT_ENDED, None, today, date(2026, 11, 30), "resigned").end_date == date(
        2026, 11, 30)


def test_room_is_capacity_less_load_to_a_rounding():
    coach = CoachOption("a", frozenset({"Twente"}), frozenset(), 2.0, 1.4)
    assert coach.has_room(0.6) and coach.has_room(0.6 + 1e-10) and not coach.has_room(0.61)


def test_the_budget_counts_planned_tasks_not_cancelled_and_used_hours_when_done():
    from types import SimpleNamespace as Task

    budget = domain.coaching_budget(24)
    done_at = datetime(2027, 12, 2, 10, tzinfo=UTC)  # in the second year
    tasks = [Task(status=domain.OPEN, due=START, hours=2.0, completed_at=None, hours_spent=None),
             Task(status=domain.CANCELLED, due=START, hours=5.0, completed_at=None, hours_spent=None),
             Task(status=domain.DONE, due=START, hours=1.0, completed_at=done_at, hours_spent=None),
             Task(status=domain.DONE, due=START, hours=1.0, completed_at=datetime(2026, 12, 3, tzinfo=UTC),
                  hours_spent=0.75)]
    assert domain.planned_per_year(budget, START, tasks) == (4.0, 0, 0)
    assert domain.used_per_year(budget, START, tasks) == (0.75, 1.0, 0)  # recorded without hours: the estimate


def test_the_outcomes_named_here_are_the_catalogues():
    from werkbrug_shared.events.catalogue import TASK_OUTCOMES

    assert sorted((domain.GOING_WELL, domain.AT_RISK, domain.PLACEMENT_ENDED)) == sorted(TASK_OUTCOMES)
