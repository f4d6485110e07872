"""The services' pure domain rules (aftercare's: test_aftercare_domain.py; reporting's: tests/unit/reporting/)."""

from __future__ import annotations

import copy

import pytest

from candidates.domain import STATUSES, TRANSITIONS, IllegalTransition, next_status, normalise_postcode
from matching import domain as matching
from vacancies.domain import KVK, fill_opening

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


def test_reported_fairness_counts_are_taken_off_what_came_in_meanwhile():
    ranking = {"eligible": 10, "eligible_by_group": {"ww": 10}, "top": 5, "top_by_group": {"ww": 5}}
    pending = matching.FairnessTally()
    pending.add(ranking)
    reported = copy.deepcopy(pending)
    pending.add({**ranking, "eligible_by_group": {"sw": 10}, "top_by_group": {"sw": 5}})
    pending.subtract(reported)
    assert (pending.rankings, pending.top_total, pending.pool_total) == (1, 5, 10)
    assert dict(pending.in_top) == {"sw": 5} and dict(pending.in_pool) == {"sw": 10}


def test_replicas_fairness_tallies_merged_are_what_one_would_have_counted():
    rankings = [{"eligible": 10 + i, "eligible_by_group": {"ww": 10, "sw": i}, "top": 5,
                 "top_by_group": {"ww": 5 - i % 2, "sw": i % 2}} for i in range(6)]
    one, first, second = matching.FairnessTally(), matching.FairnessTally(), matching.FairnessTally()
    for i, ranking in enumerate(rankings):
        one.add(ranking)
        (first if i % 3 else second).add(ranking)
    first.merge(second)
    assert first.report() == one.report()


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
