"""The vacancy pool's rules: who changes a vacancy, openings with
placements, input validation against ESCO and PC4, and the list's SQL
agreeing with the shared visibility rule (on an in-memory SQLite database)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.unit.conftest import sqlite_session
from vacancies import domain, handlers, queries
from vacancies.models import Steward, Vacancy, metadata
from vacancies.schemas import (
    AddSteward,
    BulkVacancy,
    CloseVacancy,
    ListFilters,
    OpenVacancy,
    RegisterEmployer,
    UpdateVacancy,
)
from werkbrug_shared import visibility
from werkbrug_shared.actor import Actor, Partner
from werkbrug_shared.db import UnitOfWork
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.validation import load
from werkbrug_shared.visibility import Viewer

ESCO = "http://data.europa.eu/esco/"
CLEAN_AREAS = ESCO + "skill/1422e57c-a6ad-4ad3-ac72-711fc0d81f34"  # clean particular areas manually
CLEAN_FACADE = ESCO + "skill/0df2b2ab-393f-4fb3-bee0-9c50fd716b57"  # clean building facade
CLEANING_PRODUCTS = ESCO + "skill/192043be-5700-40fd-9e21-52c8f1ba8b2e"  # cleaning products
BUILDING_CLEANER = ESCO + "occupation/303a1e34-cb16-4054-b323-81e5eec17397"
# well-formed, but no such concept in ESCO
NO_SUCH_SKILL = ESCO + "skill/00000000-0000-4000-8000-000000000000"
NO_SUCH_OCCUPATION = ESCO + "occupation/00000000-0000-4000-8000-000000000000"

VACANCY = {
    "employer_id": "emp-1", "title": "Schoonmaker kantoren", "region": "Twente", "postcode": "7511 JD",
    "must_have": [{"skill": CLEAN_AREAS, "weight": 1.0}], "nice_to_have": [{"skill": CLEANING_PRODUCTS, "weight": 0.4}],
    "occupation": BUILDING_CLEANER, "hours_per_week": 24, "openings": 2,
    "conditions_offered": ["low_stimulus_workplace", "job_carving"], "visibility": "hidden",
    "is_leerwerkbaan": True, "banenafspraak_suitable": True, "valid_through": "2027-06-30", "work_thinking_level": 2,
}


def refused(schema, payload, field: str) -> dict:
    with pytest.raises(ValidationError) as caught:
        load(schema, payload, "vacancy")
    assert field in caught.value.errors, caught.value.errors
    assert field in str(caught.value)
    return caught.value.errors


TWENTE, UTRECHT = "Twente", "Midden-Utrecht"


# --- stewardship --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stewards", "caller", "caller_region", "expected"),
    [
        ({"gemeente-enschede"}, "gemeente-enschede", TWENTE, True),
        ({"gemeente-enschede", "uwv-twente"}, "uwv-twente", TWENTE, True),
        ({"gemeente-enschede"}, "soweco", TWENTE, False),  # same region, not a steward
        ({"gemeente-enschede", "gemeente-utrecht"}, "gemeente-utrecht", UTRECHT, True),  # any organisation
        (set(), "soweco", TWENTE, True),  # opened without a credential: the region looks after it
        (set(), "gemeente-utrecht", UTRECHT, False),
        (set(), None, None, False),
        ({"gemeente-enschede"}, None, None, False),
    ],
)
def test_who_may_change_a_vacancy(stewards, caller, caller_region, expected):
    assert domain.may_change(stewards, TWENTE, caller, caller_region) is expected


# --- openings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("openings", "filled", "status", "expected"),
    [
        (2, 0, "open", (1, "open")),
        (2, 1, "open", (2, "filled")),
        (1, 1, "filled", (2, "filled")),  # one more hire than openings still counts
        (2, 0, "closed", (1, "closed")),  # closed stays closed
    ],
)
def test_a_placement_fills_an_opening(openings, filled, status, expected):
    assert domain.fill_opening(openings, filled, status) == expected


@pytest.mark.parametrize(
    ("openings", "filled", "status", "expected"),
    [
        (2, 2, "filled", (1, "open")),  # the opening comes back: open again
        (2, 1, "open", (0, "open")),
        (1, 2, "filled", (1, "filled")),  # the extra hire left: still no opening free
        (2, 2, "closed", (1, "closed")),
        (2, 0, "open", (0, "open")),  # never below zero
    ],
)
def test_an_ended_placement_frees_an_opening(openings, filled, status, expected):
    assert domain.free_opening(openings, filled, status) == expected


def test_fill_and_free_are_inverse_while_open():
    filled, status = 0, "open"
    for _ in range(3):
        filled, status = domain.fill_opening(3, filled, status)
    assert (filled, status) == (3, "filled")
    for _ in range(3):
        filled, status = domain.free_opening(3, filled, status)
    assert (filled, status) == (0, "open")


def test_openings_cannot_drop_below_those_filled():
    domain.check_openings(3, 3)
    with pytest.raises(domain.Refused) as caught:
        domain.check_openings(2, 3)
    assert caught.value.field == "openings"


@pytest.mark.parametrize(("openings", "filled", "expected"), [(3, 2, "open"), (3, 3, "filled"), (4, 3, "open")])
def test_status_follows_openings(openings, filled, expected):
    assert domain.status_for(openings, filled, "filled") == expected
    assert domain.status_for(openings, filled, "closed") == "closed"


# --- skills and weights -------------------------------------------------------------------


def test_requirements_are_one_row_per_skill():
    rows = domain.requirements([{"skill": "b", "weight": 1.0}, {"skill": "a", "weight": 0.5}],
                               [{"skill": "c", "weight": 0.2}])
    assert rows == [("a", 0.5, True), ("b", 1.0, True), ("c", 0.2, False)]


def test_a_skill_is_must_have_or_nice_to_have_not_both():
    with pytest.raises(domain.Refused) as caught:
        domain.requirements([{"skill": "a", "weight": 1.0}],
                            [{"skill": "b", "weight": 0.3}, {"skill": "a", "weight": 0.5}])
    assert caught.value.field == "nice_to_have" and "1" in caught.value.message


@pytest.mark.parametrize("weight", [0, -0.1, 1.01, "veel", None])
def test_weights_are_above_0_up_to_1(weight):
    errors = refused(OpenVacancy(), {**VACANCY, "must_have": [{"skill": CLEAN_AREAS, "weight": weight}]}, "must_have")
    assert "weight" in errors["must_have"][0]


def test_weight_defaults_to_1():
    loaded = load(OpenVacancy(), {**VACANCY, "must_have": [{"skill": CLEAN_AREAS}]}, "vacancy")
    assert loaded["must_have"] == [{"skill": CLEAN_AREAS, "weight": 1.0}]


# --- validation names the field -----------------------------------------------------------


def test_a_full_vacancy_loads():
    loaded = load(OpenVacancy(), VACANCY, "vacancy")
    assert loaded["visibility"] == "hidden" and loaded["valid_through"].isoformat() == "2027-06-30"


def test_the_spine_form_still_loads_with_defaults():
    spine = {"employer_id": "emp-1", "title": "t", "region": "r", "postcode": "7511 JD",
             "skills_required": [CLEAN_AREAS], "hours_per_week": 32, "openings": 1}
    loaded = load(OpenVacancy(), spine, "vacancy")
    assert (loaded["visibility"], loaded["is_leerwerkbaan"], loaded["conditions_offered"]) == ("public", False, [])


def test_skills_in_one_form_only():
    refused(OpenVacancy(), {**VACANCY, "skills_required": [CLEAN_AREAS]}, "skills_required")
    without = {k: v for k, v in VACANCY.items() if k != "must_have"}
    errors = refused(OpenVacancy(), without, "skills_required")
    assert errors["skills_required"] == ["Missing data for required field."]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("must_have", [{"skill": NO_SUCH_SKILL, "weight": 1.0}], "unknown ESCO skill"),
        ("nice_to_have", [{"skill": NO_SUCH_SKILL, "weight": 0.5}], "unknown ESCO skill"),
        ("must_have", [{"skill": BUILDING_CLEANER}], "not an ESCO skill URI"),
        ("occupation", NO_SUCH_OCCUPATION, "unknown ESCO occupation"),
        ("occupation", CLEAN_AREAS, "not an ESCO occupation URI"),
        ("postcode", "1000 AA", "unknown postcode area 1000"),
        ("postcode", "751 JD", "not a Dutch postcode"),
        ("conditions_offered", ["quiet"], "Must be one of"),
        ("visibility", "secret", "Must be one of"),
        ("work_thinking_level", 8, "less than or equal to 7"),
        ("openings", 0, "greater than or equal to 1"),
        ("valid_through", "30-06-2027", "Not a valid date"),
    ],
)
def test_bad_values_are_refused_naming_the_field(field, value, message):
    refused(OpenVacancy(), {**VACANCY, field: value}, field)
    with pytest.raises(ValidationError) as caught:
        load(OpenVacancy(), {**VACANCY, field: value}, "vacancy")
    assert message in str(caught.value)


def test_unknown_esco_skill_names_its_position():
    with pytest.raises(ValidationError) as caught:
        load(OpenVacancy(), {**VACANCY, "nice_to_have": [{"skill": CLEANING_PRODUCTS, "weight": 0.5},
                                                         {"skill": NO_SUCH_SKILL, "weight": 0.5}]}, "vacancy")
    assert "nice_to_have.1.skill: unknown ESCO skill" in str(caught.value)


EMPLOYER = {"name": "Schoon BV", "kvk_number": "12345678", "region": "Twente"}


@pytest.mark.parametrize("kvk", ["1234567", "123456789", "1234567a", "", "12345678\n", 12345678])
def test_kvk_has_8_digits(kvk):
    refused(RegisterEmployer(), {**EMPLOYER, "kvk_number": kvk}, "kvk_number")


@pytest.mark.parametrize(("sbi", "ok"), [("81", True), ("8121", True), ("81210", True), ("8", False),
                                         ("812101", False), ("81.21", False), ("ab", False)])
def test_sbi_code(sbi, ok):
    if ok:
        assert load(RegisterEmployer(), {**EMPLOYER, "sbi": sbi}, "employer")["sbi"] == sbi
    else:
        refused(RegisterEmployer(), {**EMPLOYER, "sbi": sbi}, "sbi")


def test_employer_postcode_is_a_known_area():
    assert load(RegisterEmployer(), {**EMPLOYER, "postcode": "7511JD"}, "employer")["postcode"] == "7511JD"
    refused(RegisterEmployer(), {**EMPLOYER, "postcode": "1000 AA"}, "postcode")


def test_a_bulk_row_names_its_employer_once():
    row = {k: v for k, v in VACANCY.items() if k != "employer_id"}
    refused(BulkVacancy(), row, "employer_id")
    refused(BulkVacancy(), {**row, "employer_id": "e", "employer_kvk": "12345678"}, "employer_kvk")
    refused(BulkVacancy(), {**row, "employer_kvk": "1234"}, "employer_kvk")
    loaded = load(BulkVacancy(), {**row, "employer_kvk": "12345678", "employer_name": "Schoon BV",
                                  "employer_region": "Twente", "source_ref": "ats-1"}, "vacancy")
    assert loaded["employer_kvk"] == "12345678" and loaded["source_ref"] == "ats-1"


def test_an_update_is_partial_and_keeps_employer_and_source():
    assert load(UpdateVacancy(), {"openings": 3}, "changes") == {"openings": 3}
    assert load(UpdateVacancy(), {}, "changes") == {}
    refused(UpdateVacancy(), {"employer_id": "emp-2"}, "employer_id")
    refused(UpdateVacancy(), {"source_ref": "x"}, "source_ref")
    refused(UpdateVacancy(), {"postcode": "1000 AA"}, "postcode")


def test_closing_needs_a_reason_code():
    refused(CloseVacancy(), {}, "reason")
    refused(CloseVacancy(), {"reason": ""}, "reason")
    refused(CloseVacancy(), {"reason": "Jan de Vries is aangenomen"}, "reason")  # free text stays out of events
    assert load(CloseVacancy(), {"reason": "withdrawn_by_employer"}, "close")["note"] is None


def test_a_steward_is_an_organisation_and_a_professional():
    refused(AddSteward(), {"organisation": "uwv-twente"}, "professional")
    refused(AddSteward(), {"professional": "p-1"}, "organisation")


def test_list_filters():
    assert load(ListFilters(), {"is_leerwerkbaan": True, "skill": CLEAN_AREAS}, "filters") == {
        "is_leerwerkbaan": True, "skill": CLEAN_AREAS}
    refused(ListFilters(), {"status": "gone"}, "status")
    refused(ListFilters(), {"colour": "red"}, "colour")


# --- the list's SQL says what the shared rule says ------------------------------------------------

CALLERS = {
    "anonymous": Actor(None),
    "enschede": Actor(Partner("gemeente-enschede", "Gemeente Enschede", "municipality", TWENTE), "p-1"),
    "utrecht": Actor(Partner("gemeente-utrecht", "Gemeente Utrecht", "municipality", UTRECHT), "p-2"),
}


@pytest.fixture
def session():
    with sqlite_session(metadata) as s:
        yield s


def test_list_visibility_matches_the_rule(session):
    now = datetime(2026, 11, 23, tzinfo=UTC)
    stewardships = {"none": [], "utrecht": ["gemeente-utrecht"], "enschede": ["gemeente-enschede"]}
    for n, (kind, region, stewards) in enumerate(
            itertools.product(domain.VISIBILITIES, (TWENTE, UTRECHT), stewardships)):
        session.add(Vacancy(
            id=f"v{n}", employer_id="emp-1", title="t", region=region, postcode="7511JD", pc4="7511",
            hours_per_week=8, openings=1, openings_filled=0, status="open", visibility=kind,
            conditions_offered=[], is_leerwerkbaan=False, banenafspraak_suitable=False, opened_at=now,
            stewards=[Steward(organisation=o, added_at=now) for o in stewardships[stewards]],
        ))
    session.flush()
    for name, caller in CALLERS.items():
        listed = set(session.scalars(select(Vacancy.id).where(queries.visible_to(caller))))
        expected = {
            v.id for v in session.scalars(select(Vacancy))
            if visibility.may_see_vacancy(Viewer.of(caller), v.visibility, v.region,
                                          {s.organisation for s in v.stewards})
        }
        assert listed == expected, name
        assert expected == {v.id for v in session.scalars(select(Vacancy)) if handlers.visible(v, caller)}, name
    assert len(set(session.scalars(select(Vacancy.id).where(queries.visible_to(CALLERS["anonymous"]))))) == 6


# --- the same writes and reads on SQLite, the embedded default database -------------------

ENSCHEDE = CALLERS["enschede"]


def _uow(session: Session) -> UnitOfWork:
    return UnitOfWork(session, "vacancies", metadata.tables["outbox"], metadata.tables["processed_events"])


def _events(session: Session, event_type: str) -> list[dict]:
    outbox = metadata.tables["outbox"]
    payloads = session.scalars(select(outbox.c.payload).where(outbox.c.event_type == event_type)
                               .order_by(outbox.c.seq))
    return [json.loads(p)["data"] for p in payloads]


def _open_many(session, rows, caller=ENSCHEDE, at=None):
    results = handlers.open_many(_uow(session), caller, rows, at or datetime(2026, 11, 23, tzinfo=UTC))
    session.flush()
    return results


def _row(i: int, **fields) -> dict:
    return {"employer_kvk": "87654321", "employer_name": "Schoon BV", "employer_region": "Twente",
            **{k: v for k, v in VACANCY.items() if k != "employer_id"}, "title": f"vacature {i}",
            "source_ref": f"ats-{i}", **fields}


def test_open_many_on_sqlite(session):
    rows = [_row(0), _row(1, hours_per_week=0), _row(2), _row(0)]
    first = _open_many(session, rows)
    assert [sorted(r) for r in first] == [["id", "index"], ["errors", "index"], ["id", "index"],
                                          ["existing", "id", "index"]]
    assert first[1]["errors"].keys() == {"hours_per_week"}
    assert len(_events(session, "nl.werkbrug.employer.registered.v1")) == 1
    opened = _events(session, "nl.werkbrug.vacancy.opened.v1")
    assert [p["vacancy_id"] for p in opened] == [first[0]["id"], first[2]["id"]]
    assert opened[0]["steward_organisations"] == ["gemeente-enschede"] and opened[0]["visibility"] == "hidden"
    assert opened[0]["must_have"] == [{"skill": CLEAN_AREAS, "weight": 1.0}]

    again = _open_many(session, rows)
    assert [r.get("id") for r in again] == [first[0]["id"], None, first[2]["id"], first[0]["id"]]
    assert all(r.get("existing") for r in again if "id" in r)
    assert len(_events(session, "nl.werkbrug.vacancy.opened.v1")) == 2
    stored = session.get(Vacancy, first[0]["id"])
    assert handlers.vacancy_dict(stored)["nice_to_have"] == [{"skill": CLEANING_PRODUCTS, "weight": 0.4}]


def test_pages_on_sqlite_have_no_gaps_or_duplicates(session):
    # two batches: rows of one batch share their opening time, so the id breaks ties
    first = _open_many(session, [_row(i) for i in range(5)], at=datetime(2026, 11, 23, 9, tzinfo=UTC))
    second = _open_many(session, [_row(i) for i in range(5, 8)], at=datetime(2026, 11, 23, 10, tzinfo=UTC))
    seen, cursor = [], None
    while True:
        page = queries.page(session, queries.visible_to(ENSCHEDE), {"region": "Twente"}, 3, cursor)
        seen += [v["id"] for v in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    assert set(seen[:3]) == {r["id"] for r in second}
    assert set(seen[3:]) == {r["id"] for r in first}


def test_placements_move_openings_once_on_sqlite(session):
    (made,) = _open_many(session, [_row(0, openings=2)])
    uow, now = _uow(session), datetime(2026, 12, 1, tzinfo=UTC)
    v = session.get(Vacancy, made["id"])
    for placement in ("pl-1", "pl-2", "pl-1"):  # pl-1 twice, e.g. re-sent under a new event id
        handlers.placement_recorded(uow, v.id, placement, now)
    assert (v.openings_filled, v.status) == (2, "filled")
    assert _events(session, "nl.werkbrug.vacancy.filled.v1") == [{"vacancy_id": v.id, "openings_filled": 2}]
    for placement in ("pl-1", "pl-1"):
        handlers.placement_ended(uow, v.id, placement, now)
    assert (v.openings_filled, v.status) == (1, "open")
    assert _events(session, "nl.werkbrug.vacancy.updated.v1")[-1]["status"] == "open"
    handlers.placement_ended(uow, v.id, "pl-3", now)  # ended before its start was heard of
    handlers.placement_recorded(uow, v.id, "pl-3", now)
    assert v.openings_filled == 1
    v.openings_filled = 2  # a fill counted before placements were tracked (spine data)
    handlers.placement_ended(uow, v.id, "pl-old", now)
    assert v.openings_filled == 1


def test_an_update_naming_a_skill_without_its_weight_gets_the_default_weight():
    from vacancies.schemas import UpdateVacancy
    from werkbrug_shared.validation import load

    skill = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
    found = load(UpdateVacancy(), {"must_have": [{"skill": skill}], "nice_to_have": []}, "vacancy")
    assert found == {"must_have": [{"skill": skill, "weight": 1.0}], "nice_to_have": []}
    assert load(UpdateVacancy(), {"title": "x"}, "vacancy") == {"title": "x"}, "other fields stay optional"
