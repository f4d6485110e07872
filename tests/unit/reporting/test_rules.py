"""Reporting's pure rules: periods, marks, medians, suppression, targets, stamps."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting import domain
from reporting.domain import (
    SUPPRESSED,
    ReadModels,
    durability,
    median_of,
    months_between,
    outflow_rate,
    period_of,
    ratio,
    stamp,
    suppressed,
    target_progress,
)
from werkbrug_shared.events import types


@pytest.mark.parametrize(
    ("enrolled", "placed", "rate"),
    [(0, 0, 0.0), (18, 14, 0.7778), (3, 1, 0.3333), (4, 4, 1.0), (10, 0, 0.0)],
)
def test_outflow_rate_for_metrics(enrolled, placed, rate):
    assert outflow_rate(enrolled, placed) == rate
    assert isinstance(outflow_rate(enrolled, placed), float)


def test_periods():
    assert period_of("2026-05", "month") == "2026-05"
    assert period_of("2026-05", "quarter") == "2026-Q2"
    assert period_of("2026-12", "quarter") == "2026-Q4"
    assert period_of("2026-01", "year") == "2026"
    with pytest.raises(ValueError):
        period_of("2026-01", "week")
    assert months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months_between("2026-03", "2026-02") == []


def test_durability_marks_as_cbs_counts_them():
    start = date(2026, 1, 15)
    assert durability(start, None, 0, 6) == (0, 0)  # not decided yet
    assert durability(start, None, 6, 6) == (1, 1)  # sustained at 6 months
    assert durability(start, None, 6, 12) == (0, 0)
    assert durability(start, None, 18, 12) == (1, 1)
    assert durability(start, date(2026, 7, 14), 0, 6) == (1, 0)  # ended the day before the mark
    assert durability(start, date(2026, 7, 15), 0, 6) == (1, 1)  # still there on the mark
    assert durability(start, date(2026, 9, 1), 6, 12) == (1, 0)  # ended after 6, before 12
    assert durability(None, date(2026, 9, 1), 6, 6) == (0, 0)  # start unknown: not counted


def test_ended_early_is_within_six_months():
    placement = domain.new_placement("p")
    placement.update(start_date=date(2026, 1, 31), end_date=date(2026, 7, 30))
    domain.derive_placement(placement)
    assert placement["ended_early"] == 1 and placement["start_month"] == "2026-01"
    placement["end_date"] = date(2026, 7, 31)
    domain.derive_placement(placement)
    assert placement["ended_early"] == 0 and (placement["decided_6"], placement["durable_6"]) == (1, 1)


@given(st.lists(st.integers(0, 400), min_size=1, max_size=60))
def test_median_of_a_histogram_is_the_median(values):
    assert median_of(Counter(values)) == float(statistics.median(values))


def test_median_of_nothing():
    assert median_of(Counter()) is None


def test_suppression_of_small_counts():
    assert [suppressed(n) for n in (0, 1, 4, 5, 17)] == [0, SUPPRESSED, SUPPRESSED, 5, 17]
    assert suppressed(3, suppress=False) == 3
    assert ratio(14, 18) == 0.7778
    assert ratio(3, 18) is None  # from a suppressed count
    assert ratio(6, 4) is None
    assert ratio(0, 18) == 0.0
    assert ratio(0, 0) is None
    assert ratio(3, 18, suppress=False) == 0.1667


def test_figures_suppress_rates_and_medians_from_small_counts():
    f = domain.Figures()
    f.enrolled, f.placed, f.days = 12, 3, Counter({10: 2, 30: 1})
    f.decided_6, f.durable_6 = 6, 5
    shown = f.board()
    assert shown == {"enrolled": 12, "placed": SUPPRESSED, "outflow_rate": None, "median_days_to_placement": None,
                     "ended_early": 0, "sustained_6m_rate": 0.8333, "sustained_12m_rate": None}
    assert f.outflow(suppress=False)["median_days_to_placement"] == 10.0


def test_stamps_order_by_rank_then_time_whatever_the_zone():
    utc = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    cet = datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=1)))  # a microsecond later
    assert stamp(1, cet, "a") > stamp(1, utc, "b")
    assert stamp(2, utc - timedelta(days=400), "a") > stamp(1, utc, "z")
    assert stamp(1, utc, "b") > stamp(1, utc, "a")
    assert stamp(1, utc.replace(tzinfo=None), "a") == stamp(1, utc, "a")  # naive is UTC (SQLite)


def test_enrolment_date_is_the_dutch_calendar_day():
    models = ReadModels()
    late_evening_utc = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on New Year's Day in Enschede
    domain.apply(models, types.CANDIDATE_ENROLLED, {"candidate_id": "c", "cohort": "A", "trajectory": "werkfit",
                                           "region": "Twente", "target_groups": ["ww"]}, late_evening_utc, "e1")
    person = models.people["c"]
    assert person["enrolled_on"] == date(2026, 1, 1) and person["enrolled_month"] == "2026-01"
    assert person["target_groups"] == domain.mask_of(["ww"])


def test_a_later_registration_does_not_undo_an_enrolment_nor_an_older_one_a_newer():
    models = ReadModels()
    t = datetime(2026, 2, 1, 9, tzinfo=UTC)
    enrolled = {"candidate_id": "c", "cohort": "werkfit-3", "trajectory": "werkfit", "region": "Twente",
                "target_groups": ["bijstand"]}
    registered = {"candidate_id": "c", "region": "Rijnmond", "target_groups": ["ww"], "cohort": None}
    domain.apply(models, types.CANDIDATE_ENROLLED, enrolled, t, "e2")
    domain.apply(models, types.CANDIDATE_REGISTERED, registered, t + timedelta(days=1), "e3")
    domain.apply(models, types.CANDIDATE_ENROLLED, {**enrolled, "cohort": "older"}, t - timedelta(days=1), "e1")
    person = models.people["c"]
    assert (person["cohort"], person["trajectory"], person["enrolled_on"]) == ("werkfit-3", "werkfit", t.date())
    assert (person["region"], domain.groups_of(person["target_groups"])) == ("Rijnmond", ["ww"])  # latest profile


def test_days_to_placement_from_enrolment_never_below_zero():
    models = ReadModels()
    t = datetime(2026, 2, 1, 9, tzinfo=UTC)
    domain.apply(models, types.CANDIDATE_ENROLLED,
                 {"candidate_id": "c", "cohort": "A", "region": "R", "target_groups": []}, t, "e1")
    placed = {"placement_id": "p", "candidate_id": "c", "vacancy_id": "v", "start_date": "2026-03-03",
              "region": "R", "target_groups": [], "cohort": "A"}
    domain.apply(models, types.PLACEMENT_RECORDED, placed, t, "e2")
    assert models.people["c"]["days_to_placement"] == 30
    domain.apply(models, types.PLACEMENT_RECORDED, {**placed, "placement_id": "p0", "start_date": "2026-01-05"},
                 t, "e3")
    assert models.people["c"]["first_start"] == date(2026, 1, 5)
    assert models.people["c"]["days_to_placement"] == 0 and models.people["c"]["placed_month"] == "2026-01"


def test_a_reassigned_task_counts_for_its_latest_organisation_and_stays_open_until_done():
    models = ReadModels()
    t = datetime(2026, 2, 1, 9, tzinfo=UTC)
    task = {"task_id": "t", "plan_id": "pl", "placement_id": "p", "jobcoach_id": "j", "kind": "week_1",
            "due": "2026-02-08", "organisation": "Soweco"}
    domain.apply(models, types.AFTERCARE_TASK_ASSIGNED, {**task, "organisation": "Larcom"}, t + timedelta(days=3), "e2")
    domain.apply(models, types.AFTERCARE_TASK_ASSIGNED, task, t, "e1")  # the first assignment, arriving late
    domain.apply(models, types.AFTERCARE_TASK_OVERDUE, {"task_id": "t", "placement_id": "p", "due": "2026-02-08"},
                 t + timedelta(days=9), "e3")
    row = models.tasks["t"]
    assert (row["organisation"], row["is_open"], row["is_overdue"]) == ("Larcom", 1, 1)
    domain.apply(models, types.AFTERCARE_TASK_COMPLETED, {"task_id": "t", "placement_id": "p", "outcome": "going_well"},
                 t + timedelta(days=10), "e4")
    assert (row["is_open"], row["is_overdue"]) == (0, 0)


def test_unprojected_events_change_nothing():
    models = ReadModels()
    assert domain.apply(models, "nl.werkbrug.match.proposed.v1", {"match_id": "m"}, datetime.now(UTC), "e") is False
    assert models.meta["as_of"] is None and not models.people


TARGET = {"id": "banenafspraak", "label": "Banenafspraak: 10 garantiebanen", "target": 10,
          "target_group": "doelgroepregister", "trajectory": None, "leerwerkbaan": None,
          "start": date(2026, 1, 1), "end": date(2026, 6, 30)}


def test_target_progress_counts_matching_placements_cumulatively_per_month():
    dgr, bijstand = domain.mask_of(["doelgroepregister", "ww"]), domain.mask_of(["bijstand"])
    placements = [
        (date(2025, 12, 31), dgr, None, False, 5),  # before the target's period
        (date(2026, 1, 10), dgr, None, False, 2),
        (date(2026, 1, 20), bijstand, None, False, 7),  # another target group
        (date(2026, 3, 2), dgr, "werkfit", True, 1),
        (date(2026, 7, 1), dgr, None, False, 4),  # after it
    ]
    progress = target_progress(TARGET, placements, today=date(2026, 4, 15))
    assert progress["realised"] == 3 and progress["share"] == 0.3
    assert progress["trend"] == [{"period": "2026-01", "realised": 2}, {"period": "2026-02", "realised": 2},
                                 {"period": "2026-03", "realised": 3}, {"period": "2026-04", "realised": 3}]
    assert (progress["start"], progress["end"]) == ("2026-01-01", "2026-06-30")
    later = target_progress(TARGET, placements, today=date(2027, 1, 1))
    assert later["trend"][-1] == {"period": "2026-06", "realised": 3}
    on_leerwerkbanen = target_progress({**TARGET, "target_group": None, "leerwerkbaan": True}, placements,
                                       today=date(2026, 4, 15))
    assert on_leerwerkbanen["realised"] == 1
    in_trajectory = target_progress({**TARGET, "target_group": None, "trajectory": "werkfit"}, placements,
                                    today=date(2026, 4, 15))
    assert in_trajectory["realised"] == 1


def test_target_trend_reaches_a_future_start_already_recorded():
    dgr = domain.mask_of(["doelgroepregister"])
    progress = target_progress(TARGET, [(date(2026, 3, 1), dgr, None, False, 1)], today=date(2026, 1, 20))
    assert [p["period"] for p in progress["trend"]] == ["2026-01", "2026-02", "2026-03"]
    assert progress["trend"][-1]["realised"] == 1


@pytest.mark.parametrize(("values", "unshown", "hidden"), [
    ([12, 4], 0, {0, 1}),          # 16 - 12 would tell the 4
    ([12, 8, 4], 0, {1, 2}),       # the smallest other goes with it
    ([12, 8, 1, 1], 0, {1, 2, 3}),  # two hidden adding up to 2 tell too much: one more
    ([12, 8], 0, set()),
    ([12, 8], 3, {1}),             # a small part no row shows (people without a cohort) is protected too
    ([12, 3], 6, {1}),             # five or more unshown already cover the 3
    ([0, 0, 3], 0, {2}),           # nothing else to hide: the total is small itself
])
def test_cells_to_hide(values, unshown, hidden):
    assert domain.cells_to_hide(values, unshown) == hidden


@given(st.lists(st.integers(0, 30), max_size=8), st.integers(0, 12))
def test_no_small_group_can_be_worked_out_from_the_total(values, unshown):
    hidden = domain.cells_to_hide(values, unshown)
    assert {i for i, v in enumerate(values) if 0 < v < 5} <= hidden
    parts = len([i for i in hidden if values[i]]) + (unshown > 0)
    pool = unshown + sum(values[i] for i in hidden)
    everything = all(i in hidden for i, v in enumerate(values) if v)
    if hidden or 0 < unshown < 5:
        assert everything or (parts >= 2 and pool >= 5)


def test_protect_rows_hides_counts_and_what_they_give_away_but_not_overlapping_groups():
    def figures(enrolled, placed):
        f = domain.Figures()
        f.enrolled, f.placed = enrolled, placed
        return f

    total = figures(16, 9)
    parts = [figures(12, 8), figures(4, 1)]
    rows = [{**f.outflow(), "cohort": c} for f, c in zip(parts, ("groot", "klein"), strict=True)]
    domain.protect_rows(rows, parts, total)
    assert [(r["enrolled"], r["placed"], r["outflow_rate"], r["median_days_to_placement"]) for r in rows] == [
        (domain.HIDDEN, domain.HIDDEN, None, None), (SUPPRESSED, SUPPRESSED, None, None)]
    overlapping = [figures(12, 8), figures(10, 6), figures(4, 1)]  # add up to more than the total
    rows = [f.outflow() for f in overlapping]
    domain.protect_rows(rows, overlapping, total)
    assert [r["enrolled"] for r in rows] == [12, 10, SUPPRESSED]
