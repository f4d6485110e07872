"""The services' input schemas, loaded the way the services load them."""

from __future__ import annotations

import inspect
from datetime import date

import pytest

from aftercare.schemas import CompleteTask, RegisterJobcoach, RegisterOrganisation, TaskQuery
from candidates.schemas import DefineTrajectory, RegisterCandidate
from matching.schemas import RecordPlacement
from vacancies.schemas import OpenVacancy, RegisterEmployer
from werkbrug_shared.errors import ValidationError, describe_fields
from werkbrug_shared.validation import arguments, bad_arguments, load, optional_text, require_id, text

SKILL = "http://data.europa.eu/esco/skill/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"

CANDIDATE = {
    "given_name": "Fatima",
    "family_name": "de Vries",
    "region": "Rijnmond",
    "postcode": "3011 AB",
    "target_groups": ["bijstand"],
    "skills": [SKILL],
    "hours_per_week": 24,
}
EMPLOYER = {"name": "Bakkerij Jansen", "kvk_number": "12345678", "region": "Rijnmond"}
VACANCY = {
    "employer_id": "emp-1",
    "title": "Medewerker bakkerij",
    "region": "Rijnmond",
    "postcode": "3012 CD",
    "skills_required": [SKILL],
    "hours_per_week": 32,
    "openings": 2,
}
PLACEMENT = {"candidate_id": "cand-1", "vacancy_id": "vac-1", "start_date": "2026-01-31", "hours_per_week": 24}
JOBCOACH = {"name": "Jan Bakker", "regions": ["Rijnmond"], "capacity_hours": 20}
COMPLETE = {"task_id": "t-1", "outcome": "going_well"}

# (schema class, a valid payload, its required fields)
CASES = [
    (RegisterCandidate, CANDIDATE,
     ["given_name", "family_name", "region", "postcode", "target_groups", "hours_per_week"]),
    (RegisterEmployer, EMPLOYER, ["name", "kvk_number", "region"]),
    (OpenVacancy, VACANCY,
     ["employer_id", "title", "region", "postcode", "skills_required", "hours_per_week", "openings"]),
    (RecordPlacement, PLACEMENT, ["candidate_id", "vacancy_id", "start_date", "hours_per_week"]),
    (RegisterJobcoach, JOBCOACH, ["name", "regions", "capacity_hours"]),
    (CompleteTask, COMPLETE, ["task_id", "outcome"]),
]
REQUIRED = [(schema, payload, field) for schema, payload, fields in CASES for field in fields]


def refused(schema_cls, payload, field: str, what: str = "input") -> ValidationError:
    """Load must fail, naming ``field`` in both ``.errors`` and the message."""
    with pytest.raises(ValidationError) as caught:
        load(schema_cls(), payload, what)
    err = caught.value
    assert field in err.errors, err.errors
    assert field in str(err), str(err)
    assert str(err).startswith(f"invalid {what}: ")
    return err


# --- valid input ------------------------------------------------------------------------


@pytest.mark.parametrize(("schema_cls", "payload", "_fields"), CASES, ids=[c[0].__name__ for c in CASES])
def test_valid_payload_loads(schema_cls, payload, _fields):
    load(schema_cls(), dict(payload), "input")


def test_candidate_defaults():
    minimal = {k: v for k, v in CANDIDATE.items() if k != "skills"}
    loaded = load(RegisterCandidate(), minimal, "candidate")
    assert loaded["skills"] == []
    assert loaded["conditions"] == []
    assert loaded["cohort"] is None


def test_placement_start_date_is_a_date():
    assert load(RecordPlacement(), PLACEMENT, "placement")["start_date"] == date(2026, 1, 31)


def test_task_query_all_optional():
    assert load(TaskQuery(), {}, "task query") == {"placement_id": None, "jobcoach_id": None, "status": None,
                                                    "due_before": None, "limit": 200, "after": None}


@pytest.mark.parametrize("postcode", ["3011AB", "3011 ab", "3011", " 3011 AB "])
def test_candidate_postcode_forms_accepted(postcode):
    load(RegisterCandidate(), {**CANDIDATE, "postcode": postcode}, "candidate")


# --- missing fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema_cls", "payload", "field"), REQUIRED, ids=[f"{s.__name__}-{f}" for s, _, f in REQUIRED]
)
def test_missing_required_field_is_named(schema_cls, payload, field):
    without = {k: v for k, v in payload.items() if k != field}
    err = refused(schema_cls, without, field)
    assert err.errors[field] == ["Missing data for required field."]


def test_several_missing_fields_are_all_named():
    err = refused(RegisterCandidate, {"region": "Rijnmond"}, "given_name", "candidate")
    for field in ("family_name", "postcode", "target_groups", "hours_per_week"):
        assert field in err.errors and field in str(err)
    assert "region" not in err.errors


def test_payload_that_is_not_an_object():
    for payload in (None, [], "x", 3):
        refused(RegisterCandidate, payload, "_schema", "candidate")


def test_unknown_field_is_refused():
    refused(RegisterEmployer, {**EMPLOYER, "bsn": "123456782"}, "bsn", "employer")


# --- bad values -----------------------------------------------------------------------------


@pytest.mark.parametrize("groups", [["werkloos"], ["bijstand", "BIJSTAND"], ["bijstand", ""]])
def test_bad_target_group(groups):
    err = refused(RegisterCandidate, {**CANDIDATE, "target_groups": groups}, "target_groups", "candidate")
    assert "target_groups." in str(err)  # names the position in the list too


def test_empty_target_groups():
    refused(RegisterCandidate, {**CANDIDATE, "target_groups": []}, "target_groups", "candidate")


@pytest.mark.parametrize(
    "uri",
    [
        "https://data.europa.eu/esco/skill/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",  # https
        "http://data.europa.eu/esco/occupation/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
        "http://data.europa.eu/esco/skill/not-a-uuid",
        "http://data.europa.eu/esco/skill/0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D",  # upper case
        "bakken",
    ],
)
def test_bad_esco_uri(uri):
    err = refused(RegisterCandidate, {**CANDIDATE, "skills": [SKILL, uri]}, "skills", "candidate")
    assert err.errors["skills"] == {1: ["not an ESCO skill URI"]}
    assert "skills.1: not an ESCO skill URI" in str(err)
    err = refused(OpenVacancy, {**VACANCY, "skills_required": [uri]}, "skills_required", "vacancy")
    assert "skills_required.0: not an ESCO skill URI" in str(err)


@pytest.mark.parametrize("postcode", ["0123 AB", "123 AB", "12345", "3011 A", "3011-AB", "AB 3011", ""])
def test_bad_candidate_postcode(postcode):
    err = refused(RegisterCandidate, {**CANDIDATE, "postcode": postcode}, "postcode", "candidate")
    assert "not a Dutch postcode" in str(err)


@pytest.mark.parametrize("postcode", ["0123 AB", "123 AB", "12345", "3011 A", "3011-AB", "AB 3011", ""])
def test_bad_vacancy_postcode(postcode):
    err = refused(OpenVacancy, {**VACANCY, "postcode": postcode}, "postcode", "vacancy")
    assert "not a Dutch postcode" in str(err)


@pytest.mark.parametrize("kvk", ["1234567", "123456789", "1234567a", "1234 5678", "", 12345678])
def test_kvk_must_be_8_digits(kvk):
    err = refused(RegisterEmployer, {**EMPLOYER, "kvk_number": kvk}, "kvk_number", "employer")
    assert "kvk_number" in str(err)


@pytest.mark.parametrize(
    ("schema_cls", "payload", "field", "value"),
    [
        (RegisterEmployer, EMPLOYER, "kvk_number", "12345678\n"),
        (OpenVacancy, VACANCY, "postcode", "3012CD\n"),
    ],
    ids=["kvk", "vacancy-postcode"],
)
def test_trailing_newline_is_refused(schema_cls, payload, field, value):
    refused(schema_cls, {**payload, field: value}, field)


@pytest.mark.parametrize(
    ("schema_cls", "payload"),
    [(RegisterCandidate, CANDIDATE), (OpenVacancy, VACANCY), (RecordPlacement, PLACEMENT)],
    ids=["candidate", "vacancy", "placement"],
)
@pytest.mark.parametrize("hours", [0, -1, 61, 168, "veel"])
def test_hours_out_of_range(schema_cls, payload, hours):
    refused(schema_cls, {**payload, "hours_per_week": hours}, "hours_per_week")


@pytest.mark.parametrize("hours", [1, 60])
def test_hours_bounds_are_inclusive(hours):
    assert load(RegisterCandidate(), {**CANDIDATE, "hours_per_week": hours}, "candidate")["hours_per_week"] == hours


@pytest.mark.parametrize("openings", [0, 1001])
def test_openings_out_of_range(openings):
    refused(OpenVacancy, {**VACANCY, "openings": openings}, "openings", "vacancy")


@pytest.mark.parametrize("capacity", [0, 61])
def test_jobcoach_capacity_out_of_range(capacity):
    refused(RegisterJobcoach, {**JOBCOACH, "capacity_hours": capacity}, "capacity_hours", "jobcoach")


def test_jobcoach_regions_and_expertise_are_checked():
    refused(RegisterJobcoach, {**JOBCOACH, "regions": []}, "regions", "jobcoach")
    refused(RegisterJobcoach, {**JOBCOACH, "expertise": ["magic"]}, "expertise", "jobcoach")


def test_an_ended_outcome_needs_a_reason():
    refused(CompleteTask, {**COMPLETE, "outcome": "ended"}, "end_reason", "task")


def test_bad_task_outcome_and_status():
    refused(CompleteTask, {**COMPLETE, "outcome": "fine"}, "outcome", "task")
    refused(TaskQuery, {"status": "later"}, "status", "task query")


def test_bad_start_date():
    refused(RecordPlacement, {**PLACEMENT, "start_date": "31-01-2026"}, "start_date", "placement")


def test_over_long_ids_and_names():
    refused(RecordPlacement, {**PLACEMENT, "candidate_id": "x" * 65}, "candidate_id", "placement")
    refused(RegisterCandidate, {**CANDIDATE, "given_name": ""}, "given_name", "candidate")
    refused(RegisterCandidate, {**CANDIDATE, "family_name": "x" * 101}, "family_name", "candidate")


# --- describe_fields ------------------------------------------------------------------------


def test_describe_fields_flattens_nested_errors():
    errors = {
        "target_groups": {0: ["Must be one of: bijstand."], 2: ["Not a valid string."]},
        "hours_per_week": ["Must be greater than or equal to 1.", "Not a valid integer."],
        "address": {"street": {"number": ["Missing data for required field."]}},
        "_schema": "expected an object",
    }
    assert describe_fields(errors) == (
        "_schema: expected an object; "
        "address.street.number: Missing data for required field.; "
        "hours_per_week: Must be greater than or equal to 1. Not a valid integer.; "
        "target_groups.0: Must be one of: bijstand.; "
        "target_groups.2: Not a valid string."
    )


def test_describe_fields_empty():
    assert describe_fields({}) == ""


def test_validation_error_from_fields():
    err = ValidationError.from_fields("employer", {"kvk_number": ["a KvK number has 8 digits"]})
    assert str(err) == "invalid employer: kvk_number: a KvK number has 8 digits"
    assert err.errors == {"kvk_number": ["a KvK number has 8 digits"]}
    assert err.message == str(err)


def test_require_id():
    assert require_id("cand-1", "candidate_id") == "cand-1"
    for bad in ("", None, 5, "x" * 65):
        with pytest.raises(ValidationError) as caught:
            require_id(bad, "candidate_id")
        assert "candidate_id" in caught.value.errors and "candidate_id" in str(caught.value)


# --- text that cannot be stored or sent: refused everywhere, naming the field --------------

BAD_TEXT = ["7511\x00AB", "\udfff", "Twente\x00", "ok \ud800 half a pair"]


@pytest.mark.parametrize("value", BAD_TEXT)
def test_nul_and_lone_surrogates_are_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as refused:
        load(RegisterCandidate(), {**CANDIDATE, "region": value}, "candidate")
    assert refused.value.errors == {"region": [refused.value.errors["region"][0]]}
    assert value not in str(refused.value)
    str(refused.value).encode("utf-8")  # the refusal itself can be sent


def test_bad_text_is_found_in_lists_nested_objects_and_keys():
    payload = {**CANDIDATE, "skills": [SKILL, {"skill": "x\x00", "level": 2, "evidence": "diploma"}],
               "address": {"street": "\udfff", "house_number": "1", "city": "Enschede"}, "a\x00": 1}
    with pytest.raises(ValidationError) as refused:
        load(RegisterCandidate(), payload, "candidate")
    errors = refused.value.errors
    assert set(errors) == {"skills", "address", ascii("a\x00")}
    assert errors["skills"] == {1: {"skill": ["contains a NUL character"]}}
    assert errors["address"] == {"street": ["contains an unpaired surrogate (not valid Unicode)"]}
    str(refused.value).encode("utf-8")


def test_valid_unicode_passes():
    loaded = load(RegisterCandidate(), {**CANDIDATE, "given_name": "Zoë 😀 Ŝ"}, "candidate")
    assert loaded["given_name"] == "Zoë 😀 Ŝ"


@pytest.mark.parametrize("value", BAD_TEXT)
def test_an_id_with_bad_text_is_refused(value):
    with pytest.raises(ValidationError) as refused:
        require_id(value, "candidate_id")
    assert set(refused.value.errors) == {"candidate_id"}


def test_plain_arguments_are_checked_by_name():
    assert text({"region": "Twente", "n": [1, 2.5, None]}, "filters") == {"region": "Twente", "n": [1, 2.5, None]}
    with pytest.raises(ValidationError) as refused:
        arguments(match_id="m-1", note="\udfff")
    assert refused.value.errors == {"note": ["contains an unpaired surrogate (not valid Unicode)"]}
    with pytest.raises(ValidationError) as refused:
        optional_text({"a": 1}, "organisation")
    assert set(refused.value.errors) == {"organisation"}
    assert optional_text(None, "organisation") is None


def test_every_argument_of_a_call_is_checked_by_its_parameter_name():
    def introduce(self, match_id, note=None):
        pass

    signature = inspect.signature(introduce)
    bad_arguments(signature, ("m-1",), {"note": "ok"})
    with pytest.raises(ValidationError) as refused:
        bad_arguments(signature, ("m-1", "7511\x00AB"), {})
    assert set(refused.value.errors) == {"note"}


def test_absurdly_deep_payloads_are_refused_not_recursed():
    deep = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValidationError) as refused:
        load(RegisterCandidate(), {**CANDIDATE, "skills": deep}, "candidate")
    assert "skills" in refused.value.errors


def test_a_trajectory_module_without_a_code_is_named_not_a_key_error():
    module = {"code": "VCA", "name": "VCA basis"}
    for broken in ({"name": "zonder code"}, {"code": None, "name": "code leeg"}, {"code": 7, "name": "getal"}):
        with pytest.raises(ValidationError) as refused:
            load(DefineTrajectory(), {"name": "werkfit", "weeks": 12, "modules": [module, broken]}, "trajectory")
        assert "code" in refused.value.errors["modules"][1]


def test_aftercare_mails_only_addresses_every_mail_server_takes():
    """A non-ASCII address needs SMTPUTF8, which not every server offers: the mail would be
    retried into the dead-letter queue, so the address is refused when it is registered."""
    for schema, payload, field in (
            (RegisterJobcoach(), {**JOBCOACH, "email": "zoë@example.org"}, "email"),
            (RegisterOrganisation(), {"name": "Soweco", "coordinator_email": "nazorg@soweço.example"},
             "coordinator_email")):
        with pytest.raises(ValidationError) as refused:
            load(schema, payload, "jobcoach")
        assert set(refused.value.errors) == {field}
    assert load(RegisterJobcoach(), {**JOBCOACH, "email": "zoe@xn--sowe-0pa.example"}, "jobcoach")["email"]


@pytest.mark.parametrize("item", [{}, 5, {"skill": 3}, None])
def test_a_skill_item_that_is_no_claim_is_named_not_a_crash(item):
    # found by schemathesis: {"skills": [{}]} reached the check of known skills and raised KeyError
    from candidates.schemas import CheckedCandidate

    payload = {"given_name": "Sara", "family_name": "Bakker", "region": "Twente", "postcode": "7511 AB",
               "target_groups": ["bijstand"], "hours_per_week": 24, "skills": [item]}
    with pytest.raises(ValidationError) as refused:
        load(CheckedCandidate(), payload, "candidate")
    assert set(refused.value.errors) == {"skills"}
