"""Vacancies' handlers on a SQLite unit of work and a fixed moment: employers, opening,
stewards' changes, the shortlist, placements and erasure, without a broker or nameko."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.unit.conftest import sqlite_unit_of_work
from vacancies import domain, handlers
from vacancies.models import Employer, PlacementSeen, ShortlistEntry, Vacancy, metadata
from werkbrug_shared.actor import Actor, Partner
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, ValidationError
from werkbrug_shared.events.types import (
    EMPLOYER_REGISTERED,
    VACANCY_CLOSED,
    VACANCY_FILLED,
    VACANCY_OPENED,
    VACANCY_UPDATED,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SKILL = "http://data.europa.eu/esco/skill/1422e57c-a6ad-4ad3-ac72-711fc0d81f34"
OCCUPATION = "http://data.europa.eu/esco/occupation/303a1e34-cb16-4054-b323-81e5eec17397"
ENSCHEDE = Actor(Partner("gemeente-enschede", "Gemeente Enschede", "municipality", "Twente"), "p-1")
HENGELO = Actor(Partner("gemeente-hengelo", "Gemeente Hengelo", "municipality", "Twente"), "p-2")
UTRECHT = Actor(Partner("gemeente-utrecht", "Gemeente Utrecht", "municipality", "Midden-Utrecht"), "p-3")
ANONYMOUS = Actor(None)
EMPLOYER = {"name": "Schoon BV", "kvk_number": "87654321", "region": "Twente", "sbi": "81210",
            "postcode": "7511 jd"}


@pytest.fixture
def uow():
    with sqlite_unit_of_work(metadata, "vacancies") as uow:
        yield uow


def emitted(uow, type_name):
    return [e.data for e in uow.emitted if e.type == type_name]


def employer(uow) -> str:
    """The one test employer, registered on first use."""
    known = uow.session.scalar(select(Employer.id).where(Employer.kvk_number == EMPLOYER["kvk_number"]))
    return known or handlers.register_employer(uow, dict(EMPLOYER), NOW).id


def vacancy_data(employer_id, **given) -> dict:
    """What OpenVacancy loads: every field present, defaults filled in."""
    data = {"employer_id": employer_id, "title": "Schoonmaker", "occupation": OCCUPATION, "region": "Twente",
            "postcode": "7511 jd", "skills_required": [SKILL], "hours_per_week": 24, "openings": 2,
            "conditions_offered": ["job_carving"], "visibility": "internal", "is_leerwerkbaan": False,
            "banenafspraak_suitable": False, "valid_through": None, "work_thinking_level": None}
    data.update(given)
    return data


def opened(uow, caller=ENSCHEDE, **given) -> Vacancy:
    return handlers.open_vacancy(uow, caller, vacancy_data(employer(uow), **given), NOW)


# --- employers ----------------------------------------------------------------------------


def test_an_employer_is_registered_once_per_kvk_number_and_its_event_names_no_one(uow):
    row = handlers.register_employer(uow, dict(EMPLOYER), NOW)
    assert (row.postcode, row.registered_at) == ("7511JD", NOW)
    assert emitted(uow, EMPLOYER_REGISTERED) == [{"employer_id": row.id, "region": "Twente", "sbi": "81210"}]
    with pytest.raises(Conflict, match=row.id):
        handlers.register_employer(uow, dict(EMPLOYER, name="Ander BV"), NOW)
    assert len(emitted(uow, EMPLOYER_REGISTERED)) == 1


# --- opening ------------------------------------------------------------------------------


def test_opening_makes_the_caller_steward_and_announces_the_profile(uow):
    v = opened(uow)
    assert (v.status, v.openings_filled, v.opened_at, v.postcode, v.pc4) == (domain.OPEN, 0, NOW, "7511JD", "7511")
    assert handlers.steward_organisations(v) == ["gemeente-enschede"]
    (profile,) = emitted(uow, VACANCY_OPENED)
    assert profile == handlers.vacancy_profile(v) and profile["openings"] == 2


def test_opening_without_a_credential_has_no_steward_and_the_region_looks_after_it(uow):
    v = opened(uow, caller=ANONYMOUS, visibility="public")
    assert v.stewards == []
    assert handlers.require_steward(v, HENGELO) is v
    with pytest.raises(NotFound):
        handlers.require_steward(opened(uow, caller=ANONYMOUS, visibility="hidden"), UTRECHT)


def test_opening_refuses_an_unknown_employer_and_a_source_ref_without_credential(uow):
    with pytest.raises(ValidationError) as caught:
        handlers.open_vacancy(uow, ENSCHEDE, vacancy_data("no-such-employer"), NOW)
    assert "employer_id" in caught.value.errors
    with pytest.raises(ValidationError) as caught:
        handlers.open_vacancy(uow, ANONYMOUS, vacancy_data(employer(uow), source_ref="ats-1"), NOW)
    assert "source_ref" in caught.value.errors
    assert emitted(uow, VACANCY_OPENED) == []


def test_opening_again_under_a_source_ref_returns_the_first_vacancy(uow):
    first = opened(uow, source_ref="ats-1")
    data = vacancy_data(first.employer_id, source_ref="ats-1", title="Anders")
    assert handlers.open_vacancy(uow, ENSCHEDE, data, NOW) is first
    assert len(emitted(uow, VACANCY_OPENED)) == 1
    other = handlers.open_vacancy(uow, HENGELO, data, NOW)  # another organisation's ref is its own
    assert other.id != first.id


def test_a_skill_both_must_have_and_nice_to_have_is_refused_on_its_field(uow):
    skill = {"skill": SKILL, "weight": 1.0}
    with pytest.raises(ValidationError) as caught:
        opened(uow, must_have=[skill], nice_to_have=[skill])
    assert "nice_to_have" in caught.value.errors


# --- stewards' work -----------------------------------------------------------------------


def test_only_a_stewarding_organisation_may_change_and_an_invisible_vacancy_is_not_found(uow):
    v = opened(uow)
    assert handlers.require_steward(v, ENSCHEDE) is v
    with pytest.raises(Forbidden):
        handlers.require_steward(v, HENGELO)  # every partner sees an internal vacancy, may not change it
    with pytest.raises(NotFound):  # NotFound, not Forbidden: a hidden vacancy's existence does not leak
        handlers.require_steward(opened(uow, visibility="hidden"), UTRECHT)


def test_lowering_openings_to_the_filled_count_fills_the_vacancy(uow):
    v = opened(uow)
    handlers.placement_recorded(uow, v.id, "pl-1", NOW)
    uow.emitted.clear()
    handlers.update_vacancy(uow, v, {"openings": 1}, NOW)
    assert (v.status, v.updated_at) == (domain.FILLED, NOW)
    assert emitted(uow, VACANCY_FILLED) == [{"vacancy_id": v.id, "openings_filled": 1}]
    assert emitted(uow, VACANCY_UPDATED)[-1]["openings"] == 0
    with pytest.raises(ValidationError) as caught:
        handlers.update_vacancy(uow, v, {"openings": 0}, NOW)
    assert "openings" in caught.value.errors


def test_a_change_that_changes_nothing_is_not_announced(uow):
    v = opened(uow)
    uow.emitted.clear()
    handlers.update_vacancy(uow, v, {"title": v.title}, NOW)
    assert uow.emitted == []


def test_closing_is_for_good_and_says_why_by_code_only(uow):
    v = opened(uow)
    handlers.close_vacancy(uow, v, {"reason": "withdrawn_by_employer", "note": "mevrouw X belde"}, NOW)
    assert (v.status, v.closed_at, v.closed_note) == (domain.CLOSED, NOW, "mevrouw X belde")
    assert emitted(uow, VACANCY_CLOSED) == [{"vacancy_id": v.id, "reason": "withdrawn_by_employer"}]
    with pytest.raises(Conflict, match="already closed"):
        handlers.close_vacancy(uow, v, {"reason": "other", "note": None}, NOW)
    with pytest.raises(Conflict):
        handlers.update_vacancy(uow, v, {"title": "Nieuw"}, NOW)
    with pytest.raises(Conflict):
        handlers.add_candidate(uow, ENSCHEDE, v, {"candidate_id": "c-1", "note": None}, NOW)


def test_a_new_stewarding_organisation_is_announced_a_known_one_is_not(uow):
    v = opened(uow)
    uow.emitted.clear()
    handlers.add_steward(uow, ENSCHEDE, v, {"organisation": "gemeente-enschede", "professional": "p-9"}, NOW)
    assert uow.emitted == []
    stewards = handlers.add_steward(uow, ENSCHEDE, v, {"organisation": "uwv-twente", "professional": None}, NOW)
    assert [s.organisation for s in stewards] == ["gemeente-enschede", "gemeente-enschede", "uwv-twente"]
    assert emitted(uow, VACANCY_UPDATED)[-1]["steward_organisations"] == ["gemeente-enschede", "uwv-twente"]
    with pytest.raises(ValidationError) as caught:
        handlers.add_steward(uow, ENSCHEDE, v, {"organisation": "nobody", "professional": None}, NOW)
    assert "organisation" in caught.value.errors


def test_the_region_partner_taking_charge_of_an_unstewarded_vacancy_keeps_charge(uow):
    v = opened(uow, caller=ANONYMOUS, visibility="public")
    stewards = handlers.add_steward(uow, HENGELO, v, {"organisation": "uwv-twente", "professional": None}, NOW)
    assert [(s.organisation, s.professional) for s in stewards] == [("gemeente-hengelo", "p-2"), ("uwv-twente", None)]


def test_shortlisting_again_replaces_the_note_and_the_writer(uow):
    v = opened(uow)
    handlers.add_steward(uow, ENSCHEDE, v, {"organisation": "uwv-twente", "professional": None}, NOW)
    handlers.add_candidate(uow, ENSCHEDE, v, {"candidate_id": "c-1", "note": "eerste"}, NOW)
    uwv = Actor(Partner("uwv-twente", "UWV Twente", "uwv", "Twente"), "p-4")
    entry = handlers.add_candidate(uow, uwv, v, {"candidate_id": "c-1", "note": "tweede"}, NOW)
    assert (entry.organisation, entry.professional, entry.note) == ("uwv-twente", "p-4", "tweede")
    assert handlers.shortlist(uow, v) == [entry]
    assert uow.emitted[-1].type == VACANCY_UPDATED  # the shortlist itself tells no one


# --- placements ---------------------------------------------------------------------------


def test_each_placement_moves_an_opening_once_whatever_the_order(uow):
    v = opened(uow)
    for placement in ("pl-1", "pl-2", "pl-1"):  # pl-1 redelivered under a new event id
        handlers.placement_recorded(uow, v.id, placement, NOW)
    assert (v.openings_filled, v.status, v.updated_at) == (2, domain.FILLED, NOW)
    assert emitted(uow, VACANCY_FILLED) == [{"vacancy_id": v.id, "openings_filled": 2}]
    handlers.placement_ended(uow, v.id, "pl-1", NOW)
    handlers.placement_ended(uow, v.id, "pl-1", NOW)
    assert (v.openings_filled, v.status) == (1, domain.OPEN)
    handlers.placement_ended(uow, v.id, "pl-3", NOW)  # the end overtook its start
    handlers.placement_recorded(uow, v.id, "pl-3", NOW)
    assert v.openings_filled == 1
    seen = dict(uow.session.execute(select(PlacementSeen.placement_id, PlacementSeen.status)).tuples().all())
    assert seen == {"pl-1": domain.PLACEMENT_GONE, "pl-2": domain.PLACEMENT_ACTIVE, "pl-3": domain.PLACEMENT_GONE}


def test_a_closed_vacancy_keeps_its_counts_quietly(uow):
    v = opened(uow)
    handlers.close_vacancy(uow, v, {"reason": "other", "note": None}, NOW)
    uow.emitted.clear()
    handlers.placement_recorded(uow, v.id, "pl-1", NOW)
    assert (v.openings_filled, v.status) == (1, domain.CLOSED)
    assert uow.emitted == []


def test_a_placement_on_an_unknown_vacancy_is_not_found(uow):
    with pytest.raises(NotFound):
        handlers.placement_recorded(uow, "no-such-vacancy", "pl-1", NOW)


# --- erasure ------------------------------------------------------------------------------


def test_erasure_takes_the_person_off_every_shortlist(uow):
    first, second = opened(uow), opened(uow, caller=HENGELO, source_ref="ats-2")
    for v, caller in ((first, ENSCHEDE), (second, HENGELO)):
        handlers.add_candidate(uow, caller, v, {"candidate_id": "c-1", "note": "over c-1"}, NOW)
        handlers.add_candidate(uow, caller, v, {"candidate_id": "c-2", "note": None}, NOW)
    handlers.erase_candidate(uow, "c-1")
    left = uow.session.scalars(select(ShortlistEntry.candidate_id)).all()
    assert sorted(left) == ["c-2", "c-2"]
