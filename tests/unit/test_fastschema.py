"""The fast path agrees with marshmallow or hands over to it, for every catalogued schema."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from marshmallow import EXCLUDE, RAISE, fields, validate
from marshmallow import ValidationError as SchemaError

from werkbrug_shared import refdata
from werkbrug_shared.events import CATALOGUE, fastschema, new_event
from werkbrug_shared.events.catalogue import ESCO_OCCUPATION, ESCO_SKILL, schema_for
from werkbrug_shared.events.fastschema import _Unsure
from werkbrug_shared.refdata import OCCUPATION_PREFIX, SKILL_PREFIX

# Values that cross every edge the checks have: wrong types, bools for numbers,
# impossible dates, bytes, lists and dicts where scalars belong.
JUNK = [None, True, False, 0, -1, 61, 1.5, float("nan"), "", "x", "7511", "2026-02-30", "2026-11-23",
        "20261123", ["a"], {"x": 1}, b"bytes", (1,)]
PATTERN_SAMPLES = {
    ESCO_SKILL: lambda r: SKILL_PREFIX + _uuid(r),
    ESCO_OCCUPATION: lambda r: OCCUPATION_PREFIX + _uuid(r),
}


def _uuid(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128)))


def _valid(field, r: random.Random, overrides=None):
    if overrides and field.name in overrides:
        return overrides[field.name](r)
    kind = type(field)
    for v in field.validators:
        if isinstance(v, validate.OneOf):
            return r.choice(list(v.choices))
        if isinstance(v, validate.Regexp):
            sample = PATTERN_SAMPLES.get(v.regex.pattern)
            return sample(r) if sample else str(r.randint(1000, 9999))
    bounds = [v for v in field.validators if isinstance(v, (validate.Range, validate.Length))]
    low, high = (bounds[0].min, bounds[0].max) if bounds else (None, None)
    if kind is fields.String:
        return "".join(r.choice("abcé -_1") for _ in range(r.randint(low or 0, min(high or 12, 12))))
    if kind is fields.Integer:
        return r.randint(0 if low is None else low, 70 if high is None else high)
    if kind is fields.Float:
        return r.uniform(0.01 if low is None else low, 1.0 if high is None else high)
    if kind is fields.Boolean:
        return r.random() < 0.5
    if kind is fields.Date:
        day = date(2026, 1, 1) + timedelta(days=r.randint(0, 900))
        return day if r.random() < 0.5 else day.isoformat()
    if kind is fields.DateTime:
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=r.randint(0, 9 * 10**7))
        return moment if r.random() < 0.5 else moment.isoformat()
    if kind is fields.List:
        return [_value(field.inner, r) for _ in range(r.randint(0, 4))]
    if kind is fields.Nested:
        return _data(field.schema, r)
    if kind is fields.Email:
        return r.choice(["anna@example.nl", "j.de.vries@gemeente.nl", "not-an-email", "a@b"])
    raise AssertionError(kind)


def _value(field, r: random.Random, overrides=None):
    return r.choice(JUNK) if r.random() < 0.01 else _valid(field, r, overrides)


def _data(schema, r: random.Random, overrides=None) -> dict:
    data = {}
    for name, field in schema.load_fields.items():
        if field.required or r.random() < 0.6:
            data[name] = _value(field, r, overrides)
    if data and r.random() < 0.05:
        del data[r.choice(sorted(data))]  # now and then a required field goes missing
    if r.random() < 0.05:
        data["extra_field"] = "x"
    return data


def _agree(schema, data, unknown) -> bool:
    """Whether the fast path answered itself (it must then agree with marshmallow)."""
    fast = fastschema.compiled(schema)
    assert fast is not None
    try:
        expected = schema.load(data, unknown=unknown)
    except SchemaError:
        with pytest.raises(_Unsure):
            fast.load(data, unknown)
        return False
    try:
        got = fast.load(data, unknown)
    except _Unsure:
        return False  # handed over; marshmallow's answer stands
    assert got == expected
    assert fastschema.dump(schema, got) == schema.dump(expected)
    return True


@pytest.mark.parametrize("type_name", sorted(CATALOGUE))
def test_the_fast_path_never_disagrees_with_marshmallow(type_name):
    schema = schema_for(type_name)
    r = random.Random(type_name)
    answered = [_agree(schema, _data(schema, r), r.choice([RAISE, EXCLUDE])) for _ in range(1500)]
    # mostly valid data, or the test would prove little
    assert sum(answered) > len(answered) / 4


def test_the_fast_path_agrees_on_registering_a_candidate():
    """A schema with a custom field, an e-mail field, @validates and @validates_schema."""
    from candidates.schemas import CheckedCandidate, Skill

    skills = sorted(refdata.skills())[:50]
    areas = sorted(refdata.postcode_areas())[:50]
    occupations = sorted(refdata.occupations())[:50]

    def skill(r):
        uri = r.choice(skills + [SKILL_PREFIX + _uuid(r)])
        return uri if r.random() < 0.5 else {"skill": uri, "level": r.choice([1, 2, 3, 4, 5]),
                                              "evidence": r.choice(["diploma", "practice_day", "hearsay"])}

    overrides = {
        "postcode": lambda r: r.choice([f"{r.choice(areas)} AB", f"{r.choice(areas)}", "1234 AB", "99999"]),
        "bsn": lambda r: r.choice(["111222333", "123456782", "123456789", " 11122 2333"]),
        "skills": lambda r: [skill(r) for _ in range(r.randint(0, 4))],
        "occupations_wanted": lambda r: r.sample(occupations, r.randint(0, 2)) + (
            [OCCUPATION_PREFIX + _uuid(r)] if r.random() < 0.1 else []),
        "hours_min": lambda r: r.randint(1, 40), "hours_per_week": lambda r: r.randint(8, 40),
        "phone": lambda r: r.choice(["+31 6 1234 5678", "053-1234567", "12"]),
        "target_groups": lambda r: r.sample(["bijstand", "ww", "sw", "50plus"], r.randint(1, 2)),
    }
    assert isinstance(CheckedCandidate().fields["skills"].inner, Skill)
    for schema in (CheckedCandidate(),):
        r = random.Random(type(schema).__name__)
        answered = [_agree(schema, _data(schema, r, overrides), RAISE) for _ in range(1500)]
        assert sum(answered) > 100  # enough valid registrations for the test to mean something


def test_valid_profiles_take_the_fast_path_and_errors_still_name_the_field():
    skill = "http://data.europa.eu/esco/skill/" + "0" * 8 + "-1111-2222-3333-" + "4" * 12
    profile = {
        "candidate_id": "c-1", "region": "Overijssel", "pc4": "7511", "target_groups": ["bijstand"],
        "skills": [skill], "hours_per_week": 24, "conditions": [], "available_from": "2026-12-01",
        "skill_evidence": [{"skill": skill, "level": 2, "evidence": "diploma"}],
    }
    schema = schema_for("nl.werkbrug.candidate.registered.v1")
    loaded = fastschema.compiled(schema).load(profile, RAISE)
    assert loaded["available_from"] == date(2026, 12, 1) and loaded["occupations_wanted"] == []
    with pytest.raises(Exception) as refused:
        new_event("nl.werkbrug.candidate.registered.v1", "c-1", {**profile, "bsn": "123456782"})
    assert "bsn" in str(refused.value.errors)
    with pytest.raises(Exception) as refused:
        new_event("nl.werkbrug.candidate.registered.v1", "c-1", {**profile, "hours_per_week": 61})
    assert "hours_per_week" in str(refused.value.errors)


def test_the_quick_envelope_agrees_with_the_schema():
    from werkbrug_shared.events.envelope import ENVELOPE, load_envelope

    r = random.Random(11)
    good = {"specversion": "1.0", "id": "e-1", "source": "/werkbrug/matching", "subject": "p-1",
            "type": "nl.werkbrug.placement.recorded.v1", "time": "2026-11-23T10:00:00.123456+00:00",
            "datacontenttype": "application/json", "data": {"placement_id": "p-1"}}
    variants = {
        "specversion": ["1.0", "0.3", 1.0], "id": ["e-1", "", "x" * 201, 7], "subject": ["p-1", "", None],
        "source": ["/werkbrug/matching", "/werkbrug/Matching", "matching"],
        "type": ["nl.werkbrug.placement.recorded.v1", "nl.werkbrug.placement.v1", "x"],
        "time": ["2026-11-23T10:00:00Z", "2026-11-23T10:00:00+01:00", "2026-11-23T10:00:00", "2026-02-30T10:00:00Z",
                 "2026-11-23 10:00:00+00:00", "20261123T100000Z", "yesterday", 5],
        "datacontenttype": ["application/json", "text/plain"], "data": [{"a": 1}, {}, [], "x"],
    }
    quick = 0
    for _ in range(3000):
        body = {k: (r.choice(variants[k]) if r.random() < 0.3 else v) for k, v in good.items()}
        if r.random() < 0.05:
            body["traceparent"] = "00-abc"
        if r.random() < 0.05:
            del body[r.choice(sorted(body))]
        try:
            expected = ENVELOPE.load(body)
        except SchemaError:
            with pytest.raises(SchemaError):
                load_envelope(body)
            continue
        assert load_envelope(body) == expected
        quick += body.keys() == good.keys()
    assert quick > 100
