"""The CloudEvents envelope and the event catalogue: shape, round trip, privacy."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1.http import from_json as v1_from_json

from werkbrug_shared.config import SERVICES
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.events import CATALOGUE, CONTENT_TYPE, Event, event_type, new_event, parse_event

VERSIONED_TYPE = re.compile(
    r"nl\.werkbrug\.(?P<entity>[a-z][a-z_]*)\.(?P<action>[a-z][a-z_]*)\.v(?P<version>[1-9][0-9]*)"
)
SKILL_A = "http://data.europa.eu/esco/skill/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
SKILL_B = "http://data.europa.eu/esco/skill/11111111-2222-3333-4444-555555555555"

PROFILE = {
    "candidate_id": "cand-1",
    "region": "Rijnmond",
    "pc4": "3011",
    "target_groups": ["bijstand", "50plus"],
    "skills": [SKILL_A],
    "hours_per_week": 24,
    "conditions": ["no_night_shifts"],
    "cohort": "2026-Q1",
}
VACANCY = {
    "vacancy_id": "vac-1",
    "employer_id": "emp-1",
    "region": "Rijnmond",
    "pc4": "3012",
    "skills_required": [SKILL_A, SKILL_B],
    "hours_per_week": 32,
    "openings": 2,
}

# One valid payload (as a producer would hand it to new_event) per catalogue type.
SAMPLES: dict[str, dict] = {
    "nl.werkbrug.candidate.registered.v1": PROFILE,
    "nl.werkbrug.candidate.profile_updated.v1": {**PROFILE, "hours_per_week": 32},
    "nl.werkbrug.candidate.status_changed.v1": {
        "candidate_id": "cand-1", "from_status": "registered", "to_status": "intake", "reason": None,
    },
    "nl.werkbrug.candidate.enrolled.v1": {
        "candidate_id": "cand-1", "cohort": "2026-Q1", "trajectory": "taal", "region": "Rijnmond",
        "target_groups": ["statushouder"],
    },
    "nl.werkbrug.candidate.module_completed.v1": {"candidate_id": "cand-1", "cohort": "2026-Q1", "module": "vca"},
    "nl.werkbrug.candidate.erased.v1": {"candidate_id": "cand-1"},
    "nl.werkbrug.candidate.consent_changed.v1": {"candidate_id": "cand-1", "purpose": "mediation",
                                                 "organisation": "gemeente-hengelo", "given": False},
    "nl.werkbrug.trajectory.defined.v1": {
        "trajectory_id": "traj-1", "trajectory": "Werkfit bouw",
        "modules": [{"code": "vca", "name": "VCA Basis",
                     "skill": "http://data.europa.eu/esco/skill/0b7f9ae4-1f1c-4f2e-9cd2-1f2cbc43e6c1"},
                    {"code": "taal", "name": "Taal op de werkvloer", "skill": None}]},
    "nl.werkbrug.employer.registered.v1": {"employer_id": "emp-1", "region": "Rijnmond"},
    "nl.werkbrug.vacancy.opened.v1": VACANCY,
    "nl.werkbrug.vacancy.updated.v1": {**VACANCY, "openings": 3},
    "nl.werkbrug.vacancy.filled.v1": {"vacancy_id": "vac-1", "openings_filled": 2},
    "nl.werkbrug.vacancy.closed.v1": {"vacancy_id": "vac-1", "reason": "withdrawn"},
    "nl.werkbrug.match.proposed.v1": {
        "match_id": "m-1", "candidate_id": "cand-1", "vacancy_id": "vac-1", "score": 0.5,
    },
    "nl.werkbrug.match.introduced.v1": {"match_id": "m-1"},
    "nl.werkbrug.match.rejected.v1": {
        "match_id": "m-1", "candidate_id": "cand-1", "vacancy_id": "vac-1", "reason": "employer_declined",
    },
    "nl.werkbrug.placement.recorded.v1": {
        "placement_id": "pl-1", "candidate_id": "cand-1", "vacancy_id": "vac-1", "employer_id": "emp-1",
        "start_date": "2026-01-31", "hours_per_week": 24, "region": "Rijnmond",
        "target_groups": ["bijstand"], "cohort": "2026-Q1",
    },
    "nl.werkbrug.placement.ended.v1": {
        "placement_id": "pl-1", "candidate_id": "cand-1", "vacancy_id": "vac-1",
        "end_date": "2026-03-15", "reason": "contract_ended",
    },
    "nl.werkbrug.aftercare_plan.created.v1": {
        "plan_id": "plan-1", "placement_id": "pl-1", "candidate_id": "cand-1", "jobcoach_id": "jc-1",
        "region": "Rijnmond", "task_count": 5,
    },
    "nl.werkbrug.aftercare_task.assigned.v1": {
        "task_id": "t-1", "plan_id": "plan-1", "placement_id": "pl-1", "jobcoach_id": None,
        "kind": "week_1", "due": "2026-02-07",
    },
    "nl.werkbrug.aftercare_task.completed.v1": {
        "task_id": "t-1", "placement_id": "pl-1", "outcome": "ended", "end_date": "2026-03-01",
        "end_reason": "health", "organisation": "soweco", "kind": "month_3",
    },
    "nl.werkbrug.aftercare_task.overdue.v1": {
        "task_id": "t-1", "placement_id": "pl-1", "jobcoach_id": "jc-1", "due": "2026-02-07",
        "organisation": "Jobcoach Twente",
    },
    "nl.werkbrug.matching.fairness_counted.v1": {
        "instance": "matching-1", "period_start": "2026-02-07T10:00:00+00:00",
        "period_end": "2026-02-07T10:01:00+00:00", "rankings": 3, "top_total": 30, "eligible_total": 900,
        "groups": [{"target_group": "bijstand", "top": 12, "eligible": 400}],
    },
    "nl.werkbrug.aftercare_task.cancelled.v1": {"task_id": "t-1", "placement_id": "pl-1", "organisation": None},
    "nl.werkbrug.placement.at_risk.v1": {"placement_id": "pl-1", "candidate_id": "cand-1", "task_id": "t-1"},
    "nl.werkbrug.placement.sustained.v1": {"placement_id": "pl-1", "candidate_id": "cand-1", "months": 6},
}

# Substrings of a field name that suggest direct personal data (English and Dutch).
PERSONAL_HINTS = (
    "name", "naam", "bsn", "email", "mail", "phone", "telefoon", "address", "adres", "street", "straat",
    "postcode", "postal", "zip", "birth", "geboorte",
)
PERSONAL_FIELDS = ("given_name", "family_name", "bsn", "email", "phone", "postcode")


def looks_personal(field_name: str) -> bool:
    lowered = field_name.lower()
    return any(hint in lowered for hint in PERSONAL_HINTS)


def envelope(type_name: str = "nl.werkbrug.candidate.registered.v1", **overrides) -> dict:
    """A valid incoming envelope as a plain dict, with overrides applied."""
    body = new_event(type_name, "subject-1", SAMPLES[type_name]).to_dict()
    body.update(overrides)
    return body


def raises_naming(field: str, body) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_event(body)
    assert field in caught.value.errors, caught.value.errors
    assert field in str(caught.value)
    return caught.value


# --- the catalogue itself -------------------------------------------------------------


def test_catalogue_samples_cover_every_type():
    assert set(SAMPLES) == set(CATALOGUE)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_type_names_are_versioned(name):
    assert VERSIONED_TYPE.fullmatch(name), name
    etype = CATALOGUE[name]
    assert etype.name == name
    assert etype.source_service in SERVICES
    assert etype.source == f"/werkbrug/{etype.source_service}"


def test_design_minimum_catalogue_is_present():
    # DESIGN.md section 4 lists what the catalogue holds at least.
    for entity_action in (
        "candidate.registered", "candidate.profile_updated", "candidate.status_changed", "candidate.enrolled",
        "candidate.module_completed", "candidate.erased", "employer.registered", "vacancy.opened",
        "vacancy.updated", "vacancy.filled", "vacancy.closed", "match.proposed", "match.introduced",
        "match.rejected", "placement.recorded", "placement.ended", "aftercare_plan.created", "aftercare_task.assigned",
        "aftercare_task.completed", "aftercare_task.overdue", "placement.at_risk", "placement.sustained",
    ):
        assert f"nl.werkbrug.{entity_action}.v1" in CATALOGUE


def test_looks_personal_helper():
    for name in (*PERSONAL_FIELDS, "date_of_birth", "home_address", "email_address", "phone_number"):
        assert looks_personal(name), name
    for name in ("pc4", "candidate_id", "region", "skills", "hours_per_week", "cohort", "reason"):
        assert not looks_personal(name), name


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_no_schema_declares_personal_fields(name):
    schema = CATALOGUE[name].schema()
    for attr, fld in schema.fields.items():
        for wire_name in {attr, fld.data_key or attr}:
            assert not looks_personal(wire_name), f"{name} declares {wire_name!r}"


WITH_PC4 = sorted(name for name, etype in CATALOGUE.items() if "pc4" in etype.schema().fields)


def test_profiles_carry_pc4():
    assert "nl.werkbrug.candidate.registered.v1" in WITH_PC4
    assert "nl.werkbrug.vacancy.opened.v1" in WITH_PC4


@pytest.mark.parametrize("name", WITH_PC4)
@pytest.mark.parametrize("bad", ["3011AB", "3011 AB", "301", "30111", "0123", ""])
def test_pc4_is_four_digits_only(name, bad):
    with pytest.raises(ValidationError) as caught:
        new_event(name, "s", {**SAMPLES[name], "pc4": bad})
    assert "pc4" in caught.value.errors


def test_pc4_with_trailing_newline_is_refused():
    with pytest.raises(ValidationError):
        new_event("nl.werkbrug.candidate.registered.v1", "c", {**PROFILE, "pc4": "3011\n"})


# --- producing events -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_new_event_builds_a_cloudevents_1_0_envelope(name):
    evt = new_event(name, "subject-1", SAMPLES[name])
    body = json.loads(evt.to_json())
    assert set(body) == {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"}
    assert body["specversion"] == "1.0"
    assert body["type"] == name
    assert body["source"] == CATALOGUE[name].source
    assert body["subject"] == "subject-1"
    assert body["datacontenttype"] == "application/json"
    assert body["id"]
    assert CONTENT_TYPE == "application/cloudevents+json"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_cncf_sdk_accepts_the_envelope(name):
    evt = new_event(name, "subject-1", SAMPLES[name])
    # core API: validates required/optional attributes on construction
    ce = JSONFormat().read(CloudEvent, evt.to_json())
    assert ce.get_specversion() == "1.0"
    assert ce.get_id() == evt.id
    assert ce.get_source() == evt.source
    assert ce.get_type() == evt.type
    assert ce.get_subject() == evt.subject
    assert ce.get_datacontenttype() == "application/json"
    assert ce.get_time() == evt.time
    assert ce.get_data() == evt.data
    # and the v1 HTTP structured-mode parser agrees
    legacy = v1_from_json(evt.to_json())
    for attr in ("specversion", "id", "source", "type", "subject", "datacontenttype"):
        assert legacy[attr] == getattr(evt, attr)
    assert legacy.data == evt.data


def test_event_ids_are_unique():
    ids = {new_event("nl.werkbrug.candidate.erased.v1", "c", {"candidate_id": "c"}).id for _ in range(50)}
    assert len(ids) == 50


def test_outgoing_data_is_plain_json():
    evt = new_event("nl.werkbrug.placement.recorded.v1", "pl-1", SAMPLES["nl.werkbrug.placement.recorded.v1"])
    assert evt.data["start_date"] == "2026-01-31"
    json.dumps(evt.data)


@pytest.mark.parametrize("field", PERSONAL_FIELDS)
def test_producer_refuses_personal_fields(field):
    data = {**PROFILE, field: "1234AB" if field == "postcode" else "secret"}
    with pytest.raises(ValidationError) as caught:
        new_event("nl.werkbrug.candidate.registered.v1", "cand-1", data)
    assert field in caught.value.errors
    assert field in str(caught.value)


def test_producer_refuses_missing_and_bad_fields():
    data = {k: v for k, v in PROFILE.items() if k != "region"}
    data["hours_per_week"] = 0
    with pytest.raises(ValidationError) as caught:
        new_event("nl.werkbrug.candidate.registered.v1", "cand-1", data)
    assert {"region", "hours_per_week"} <= set(caught.value.errors)
    assert "region" in str(caught.value) and "hours_per_week" in str(caught.value)


def test_producer_refuses_unknown_type():
    with pytest.raises(ValidationError) as caught:
        new_event("nl.werkbrug.candidate.teleported.v1", "cand-1", {"candidate_id": "cand-1"})
    assert "type" in caught.value.errors
    with pytest.raises(ValidationError):
        event_type("candidate.registered")


def test_producer_refuses_wrong_publisher():
    with pytest.raises(ValueError, match="published by candidates"):
        new_event("nl.werkbrug.candidate.erased.v1", "c", {"candidate_id": "c"}, source_service="matching")
    evt = new_event("nl.werkbrug.candidate.erased.v1", "c", {"candidate_id": "c"}, source_service="candidates")
    assert evt.source == "/werkbrug/candidates"


# --- consuming events -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_round_trip(name):
    evt = new_event(name, "subject-1", SAMPLES[name])
    back = parse_event(evt.to_json())
    assert isinstance(back, Event)
    assert (back.id, back.type, back.source, back.subject) == (evt.id, evt.type, evt.source, evt.subject)
    assert back.time == evt.time
    assert back.time.tzinfo is not None
    expected = CATALOGUE[name].schema().load(SAMPLES[name])
    assert back.data == expected


def test_round_trip_types_dates():
    name = "nl.werkbrug.placement.recorded.v1"
    back = parse_event(new_event(name, "pl-1", SAMPLES[name]).to_json().encode())
    assert back.data["start_date"] == date(2026, 1, 31)
    assert type(back.data["start_date"]) is date  # a date, not a datetime
    assert not isinstance(back.data["start_date"], datetime)
    assert back.data["target_groups"] == ["bijstand"]
    for name, key in (
        ("nl.werkbrug.placement.ended.v1", "end_date"),
        ("nl.werkbrug.aftercare_task.assigned.v1", "due"),
        ("nl.werkbrug.aftercare_task.overdue.v1", "due"),
    ):
        back = parse_event(new_event(name, "s", SAMPLES[name]).to_json())
        assert isinstance(back.data[key], date)


def test_parse_accepts_dict_str_and_bytes():
    body = envelope()
    for form in (body, json.dumps(body), json.dumps(body).encode()):
        assert parse_event(form).data["candidate_id"] == "cand-1"


def test_parse_refuses_wrong_specversion():
    raises_naming("specversion", envelope(specversion="0.3"))


def test_parse_refuses_missing_id():
    body = envelope()
    del body["id"]
    raises_naming("id", body)


def test_parse_refuses_empty_id():
    raises_naming("id", envelope(id=""))


def test_parse_refuses_unknown_type():
    err = raises_naming("type", envelope(type="nl.werkbrug.candidate.teleported.v1"))
    assert "teleported" in str(err)


def test_parse_refuses_unversioned_type():
    raises_naming("type", envelope(type="nl.werkbrug.candidate.registered"))


def test_parse_refuses_source_of_another_publisher():
    err = raises_naming("source", envelope(source="/werkbrug/matching"))
    assert "/werkbrug/candidates" in str(err)


def test_parse_refuses_malformed_source():
    raises_naming("source", envelope(source="https://example.org/candidates"))


@pytest.mark.parametrize("missing", ["source", "type", "time", "subject", "datacontenttype", "data"])
def test_parse_refuses_missing_envelope_attribute(missing):
    body = envelope()
    del body[missing]
    raises_naming(missing, body)


def test_parse_refuses_naive_time():
    raises_naming("time", envelope(time="2026-01-31T09:00:00"))


def test_parse_refuses_bad_data_value():
    body = envelope()
    body["data"] = {**body["data"], "hours_per_week": 0}
    raises_naming("hours_per_week", body)


def test_parse_refuses_missing_data_field():
    body = envelope()
    body["data"] = {k: v for k, v in body["data"].items() if k != "candidate_id"}
    raises_naming("candidate_id", body)


def test_parse_refuses_bad_date():
    body = envelope("nl.werkbrug.placement.recorded.v1")
    body["data"] = {**body["data"], "start_date": "31-01-2026"}
    raises_naming("start_date", body)


def test_parse_refuses_data_that_is_not_an_object():
    raises_naming("data", envelope(data=["not", "an", "object"]))


def test_parse_refuses_non_json_and_non_object_bodies():
    raises_naming("body", b"{not json")
    raises_naming("body", "[1, 2]")


def test_consumer_ignores_unknown_data_fields():
    body = envelope()
    body["data"] = {**body["data"], "added_in_a_later_release": {"anything": 1}}
    evt = parse_event(json.dumps(body))
    assert "added_in_a_later_release" not in evt.data
    assert evt.data["candidate_id"] == "cand-1"


# --- who may see a vacancy travels with it (werkbrug_shared.visibility) ------------------------


@pytest.mark.parametrize("name", ["nl.werkbrug.vacancy.opened.v1", "nl.werkbrug.vacancy.updated.v1"])
def test_vacancy_events_carry_who_may_see_it(name):
    """Matching applies the shared visibility rule to what these events say: visibility,
    region and steward organisations. Older events, without them, read as public."""
    data = {**VACANCY, "visibility": "hidden", "steward_organisations": ["gemeente-enschede", "uwv-twente"]}
    parsed = parse_event(new_event(name, "vac-1", data).to_json())
    assert (parsed.data["visibility"], parsed.data["region"], parsed.data["steward_organisations"]) == (
        "hidden", "Rijnmond", ["gemeente-enschede", "uwv-twente"])
    older = parse_event(new_event(name, "vac-1", VACANCY).to_json())
    assert (older.data["visibility"], older.data["steward_organisations"]) == ("public", [])
    with pytest.raises(ValidationError) as refused:
        new_event(name, "vac-1", {**VACANCY, "visibility": "secret"})
    assert "visibility" in refused.value.errors
