"""The services' pure domain rules, plus reporting's projections over an in-memory database."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from aftercare.domain import PROTOCOL, CoachLoad, add_months, choose_jobcoach, schedule
from candidates.domain import STATUSES, TRANSITIONS, IllegalTransition, next_status, normalise_postcode
from matching import domain as matching
from reporting import projections
from reporting.domain import outflow_rate
from reporting.models import CandidateOutflow, CandidateTargetGroup, PlacementFact, PlacementTargetGroup, metadata
from tests.unit.conftest import sqlite_session
from vacancies.domain import KVK, fill_opening

# --- aftercare: protocol schedule -----------------------------------------------------


def test_schedule_clamps_month_ends():
    assert schedule(date(2026, 1, 31)) == [
        ("first_working_day", date(2026, 1, 31)),
        ("week_1", date(2026, 2, 7)),
        ("week_4", date(2026, 2, 28)),
        ("month_3", date(2026, 4, 30)),
        ("month_6", date(2026, 7, 31)),
    ]


def test_schedule_ordinary_start():
    assert schedule(date(2026, 3, 2)) == [
        ("first_working_day", date(2026, 3, 2)),
        ("week_1", date(2026, 3, 9)),
        ("week_4", date(2026, 3, 30)),
        ("month_3", date(2026, 6, 2)),
        ("month_6", date(2026, 9, 2)),
    ]


def test_schedule_crosses_the_year():
    assert dict(schedule(date(2025, 11, 30))) == {
        "first_working_day": date(2025, 11, 30),
        "week_1": date(2025, 12, 7),
        "week_4": date(2025, 12, 28),
        "month_3": date(2026, 2, 28),
        "month_6": date(2026, 5, 30),
    }


def test_schedule_follows_the_protocol_in_order():
    plan = schedule(date(2026, 5, 15))
    assert [kind for kind, _ in plan] == [kind for kind, _, _ in PROTOCOL]
    dues = [due for _, due in plan]
    assert dues == sorted(dues)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 15), 0, date(2026, 1, 15)),
        (date(2026, 1, 15), 1, date(2026, 2, 15)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 10, 31), 12, date(2027, 10, 31)),
        (date(2026, 8, 31), 18, date(2028, 2, 29)),
        (date(2026, 1, 1), 11, date(2026, 12, 1)),
        (date(2026, 1, 1), 12, date(2027, 1, 1)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


# --- aftercare: jobcoach choice ---------------------------------------------------------


def test_choose_jobcoach_picks_fewest_open_tasks_among_those_with_room():
    coaches = [
        CoachLoad("jc-a", capacity=10, active_plans=3, open_tasks=9),
        CoachLoad("jc-b", capacity=10, active_plans=3, open_tasks=2),
        CoachLoad("jc-c", capacity=2, active_plans=2, open_tasks=0),  # full: no room
        CoachLoad("jc-d", capacity=10, active_plans=3, open_tasks=5),
    ]
    assert choose_jobcoach(coaches) == "jc-b"


def test_choose_jobcoach_ties_go_to_the_lower_id():
    coaches = [
        CoachLoad("jc-z", capacity=5, active_plans=1, open_tasks=4),
        CoachLoad("jc-m", capacity=5, active_plans=1, open_tasks=4),
        CoachLoad("jc-q", capacity=5, active_plans=1, open_tasks=4),
    ]
    assert choose_jobcoach(coaches) == "jc-m"
    assert choose_jobcoach(list(reversed(coaches))) == "jc-m"


def test_choose_jobcoach_over_capacity_has_no_room():
    assert choose_jobcoach([CoachLoad("jc-a", capacity=3, active_plans=4, open_tasks=0)]) is None


def test_choose_jobcoach_none_when_nobody_has_room():
    assert choose_jobcoach([]) is None
    assert choose_jobcoach([
        CoachLoad("jc-a", capacity=1, active_plans=1, open_tasks=0),
        CoachLoad("jc-b", capacity=3, active_plans=3, open_tasks=0),
    ]) is None


def test_choose_jobcoach_one_slot_left_is_room():
    assert choose_jobcoach([CoachLoad("jc-a", capacity=3, active_plans=2, open_tasks=40)]) == "jc-a"


# --- matching -----------------------------------------------------------------------------

def test_matches_move_proposed_introduced_placed_or_rejected():
    matching.check_match_transition("proposed", "introduced")
    matching.check_match_transition("introduced", "placed")
    matching.check_match_transition("proposed", "rejected")
    for current, wanted in [("rejected", "introduced"), ("placed", "rejected"), ("introduced", "proposed"),
                            ("placed", "placed")]:
        with pytest.raises(matching.RuleBroken):
            matching.check_match_transition(current, wanted)


def test_part_time_placements_that_fit_the_hours_coexist():
    matching.check_hours_fit([], 36, 36)
    matching.check_hours_fit([16], 16, 32)


def test_two_full_time_placements_never_coexist():
    with pytest.raises(matching.RuleBroken, match="36 hours"):
        matching.check_hours_fit([36], 36, 40)
    with pytest.raises(matching.RuleBroken):
        matching.check_hours_fit([16], 24, 32)  # part-time too, but more than they want


def test_credit_goes_to_every_steward_and_the_proposer():
    assert matching.credited_organisations(["soweco", "uwv-twente"], "jobhunters-twente", None) == [
        "jobhunters-twente", "soweco", "uwv-twente"]
    assert matching.credited_organisations(["soweco"], None, "soweco") == ["soweco"]


def test_fairness_compares_top_share_with_pool_share():
    tally = matching.FairnessTally()
    tally.add({"eligible": 100, "eligible_by_group": {"50plus": 40, "ww": 60},
               "top": 10, "top_by_group": {"50plus": 2, "ww": 8}})
    tally.add(None)
    report = tally.report()
    assert report["rankings"] == 1
    assert report["groups"]["50plus"] == {"in_top": 2, "in_pool": 40, "top_share": 0.2, "pool_share": 0.4,
                                          "ratio": 0.5}


# --- candidates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1234 ab", ("1234AB", "1234")),
        ("1234AB", ("1234AB", "1234")),
        ("1234ab", ("1234AB", "1234")),
        (" 3011 XZ ", ("3011XZ", "3011")),
        ("1234", ("1234", "1234")),
        ("9999 zz", ("9999ZZ", "9999")),
    ],
)
def test_normalise_postcode(raw, expected):
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize("raw", ["", "0123AB", "123AB", "12345", "1234 A", "1234ABC", "1234-AB", "1234  AB", "AB1234",
                                 "12 34AB", "1234 1B"])
def test_normalise_postcode_refuses(raw):
    with pytest.raises(ValueError, match="postcode"):
        normalise_postcode(raw)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        ("registered", "intake"),
        ("registered", "placed"),
        ("intake", "in_trajectory"),
        ("in_trajectory", "available"),
        ("available", "in_trajectory"),
        ("available", "introduced"),
        ("introduced", "available"),
        ("introduced", "placed"),
        ("placed", "available"),
        ("placed", "sustained"),
        ("sustained", "available"),
    ],
)
def test_next_status_allowed(current, wanted):
    assert next_status(current, wanted) == wanted


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        ("registered", "sustained"),
        ("registered", "registered"),
        ("intake", "registered"),
        ("available", "sustained"),
        ("introduced", "in_trajectory"),
        ("placed", "placed"),
        ("placed", "introduced"),
        ("sustained", "placed"),
        ("erased", "available"),
        ("available", "retired"),
    ],
)
def test_next_status_refused(current, wanted):
    with pytest.raises(IllegalTransition) as caught:
        next_status(current, wanted)
    assert current in str(caught.value) and wanted in str(caught.value)


def test_transitions_stay_within_the_known_statuses():
    assert set(TRANSITIONS) == set(STATUSES)
    for current, targets in TRANSITIONS.items():
        assert targets <= set(STATUSES)
        assert current not in targets
        assert "registered" not in targets


# --- vacancies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("openings", "filled", "expected"),
    [
        (2, 0, (1, "open")),
        (2, 1, (2, "filled")),
        (1, 0, (1, "filled")),
        (1, 1, (2, "filled")),  # one more hire than openings still counts
        (5, 3, (4, "open")),
    ],
)
def test_fill_opening(openings, filled, expected):
    assert fill_opening(openings, filled) == expected


def test_kvk_pattern():
    assert KVK.match("12345678")
    for bad in ("1234567", "123456789", "1234567a", ""):
        assert not KVK.match(bad)


# --- reporting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enrolled", "placed", "rate"),
    [(0, 0, 0.0), (18, 14, 0.7778), (3, 1, 0.3333), (4, 4, 1.0), (10, 0, 0.0)],
)
def test_outflow_rate(enrolled, placed, rate):
    assert outflow_rate(enrolled, placed) == rate


def test_outflow_rate_nobody_in_scope_is_a_float():
    assert isinstance(outflow_rate(0, 0), float)


@pytest.fixture
def session():
    with sqlite_session(metadata) as s:
        yield s


def _placement(placement_id="pl-1", candidate_id="cand-1", start=date(2026, 3, 1), groups=("bijstand",), cohort=None):
    return {
        "placement_id": placement_id, "candidate_id": candidate_id, "vacancy_id": "vac-1", "employer_id": "emp-1",
        "start_date": start, "hours_per_week": 24, "region": "Rijnmond", "target_groups": list(groups),
        "cohort": cohort,
    }


def test_projection_registered_then_enrolled(session):
    projections.apply(session, "nl.werkbrug.candidate.registered.v1", {
        "candidate_id": "cand-1", "region": "Rijnmond", "pc4": "3011", "target_groups": ["bijstand"],
        "skills": [], "hours_per_week": 24, "conditions": [], "cohort": None,
    })
    projections.apply(session, "nl.werkbrug.candidate.enrolled.v1", {
        "candidate_id": "cand-1", "cohort": "2026-Q1", "trajectory": None, "region": "Haaglanden",
        "target_groups": ["bijstand", "50plus"],
    })
    session.flush()
    row = session.get(CandidateOutflow, "cand-1")
    assert (row.region, row.cohort, row.placements, row.first_placed_on) == ("Haaglanden", "2026-Q1", 0, None)
    groups = set(session.scalars(select(CandidateTargetGroup.target_group)))
    assert groups == {"bijstand", "50plus"}


def test_projection_placement_is_idempotent_and_keeps_first_date(session):
    projections.apply(session, "nl.werkbrug.placement.recorded.v1", _placement("pl-1", start=date(2026, 3, 1)))
    projections.apply(session, "nl.werkbrug.placement.recorded.v1", _placement("pl-1", start=date(2026, 3, 1)))
    session.flush()
    projections.apply(session, "nl.werkbrug.placement.recorded.v1", _placement("pl-1", start=date(2026, 3, 1)))
    projections.apply(session, "nl.werkbrug.placement.recorded.v1",
                      _placement("pl-2", start=date(2026, 1, 5), groups=("bijstand", "ww", "ww")))
    session.commit()
    assert session.scalar(select(func.count()).select_from(PlacementFact)) == 2
    row = session.get(CandidateOutflow, "cand-1")
    assert row.placements == 2
    assert row.first_placed_on == date(2026, 1, 5)
    assert row.region == "Rijnmond"
    pl2_groups = set(session.scalars(
        select(PlacementTargetGroup.target_group).where(PlacementTargetGroup.placement_id == "pl-2")
    ))
    assert pl2_groups == {"bijstand", "ww"}


def test_projection_ignores_other_types(session):
    projections.apply(session, "nl.werkbrug.vacancy.opened.v1", {"vacancy_id": "vac-1"})
    session.flush()
    assert session.scalar(select(func.count()).select_from(CandidateOutflow)) == 0
