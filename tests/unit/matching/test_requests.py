"""What matching's operations accept: ranking filters named field by field, and a
placement's request_id (the retry key), with the rule that tells a retry from a clash."""

from __future__ import annotations

from datetime import date

import pytest

from matching import domain
from matching.schemas import CandidateQuery, RecordPlacement, VacancyQuery
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.validation import load


def refused(schema, payload) -> dict:
    with pytest.raises(ValidationError) as caught:
        load(schema, payload, "query")
    return caught.value.errors


@pytest.mark.parametrize("value", [{"bijstand": True}, 7, 1.5, True, [["ww"]], [{}], ["ww", None]])
def test_a_filter_of_the_wrong_kind_is_refused_naming_it(value):
    errors = refused(CandidateQuery(), {"vacancy_id": "v1", "filters": {"target_group": value}})
    assert list(errors) == ["filters"] and list(errors["filters"]) == ["target_group"]


def test_flags_are_true_or_false():
    errors = refused(VacancyQuery(), {"candidate_id": "c1", "filters": {"is_leerwerkbaan": "yes", "region": "T"}})
    assert errors == {"filters": {"is_leerwerkbaan": ["expected true or false"]}}
    assert load(VacancyQuery(), {"candidate_id": "c1", "filters": {"is_leerwerkbaan": False}}, "query")[
        "filters"] == {"is_leerwerkbaan": False}


def test_an_unknown_filter_is_named():
    errors = refused(CandidateQuery(), {"vacancy_id": "v1", "filters": {"colour": "red"}})
    assert list(errors["filters"]) == ["colour"] and "allowed" in errors["filters"]["colour"][0]


def test_good_filters_pass_as_given():
    filters = {"target_group": ["ww", "bijstand"], "region": "Twente", "cohort": None, "banenafspraak": True}
    assert load(CandidateQuery(), {"vacancy_id": "v1", "filters": filters}, "query")["filters"] == filters
    assert "filters" in refused(CandidateQuery(), {"vacancy_id": "v1", "filters": {"region": ["x"] * 101}})


PLACEMENT = {"candidate_id": "c1", "vacancy_id": "v1", "start_date": "2026-12-01", "hours_per_week": 24}


def test_request_id_is_optional_and_short():
    assert load(RecordPlacement(), PLACEMENT, "placement")["request_id"] is None
    key = "0b7c6a4e-3f1d-4c59-9a51-8d0f3e2b1a77"
    assert load(RecordPlacement(), {**PLACEMENT, "request_id": key}, "placement")["request_id"] == key
    for bad in ("", "x" * 65, 42, ["a"]):
        with pytest.raises(ValidationError) as caught:
            load(RecordPlacement(), {**PLACEMENT, "request_id": bad}, "placement")
        assert "request_id" in caught.value.errors


def test_a_retry_asks_the_same_a_clash_differs():
    recorded = {"candidate_id": "c1", "vacancy_id": "v1", "start_date": date(2026, 12, 1), "hours_per_week": 24,
                "match_id": None}
    assert domain.request_differences(recorded, dict(recorded)) == []
    assert domain.request_differences(recorded, {**recorded, "hours_per_week": 32, "vacancy_id": "v2"}) == [
        "hours_per_week", "vacancy_id"]
