"""Candidates' handlers on a SQLite unit of work and a fixed clock: registration, enrolment,
modules, status moves, the lifecycle from other services' events and erasure, without a
broker or nameko."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from candidates import domain, handlers, records
from candidates.models import Enrolment, LogEntry, ModuleCompletion, PersonalData, metadata
from tests.unit.conftest import sqlite_unit_of_work
from werkbrug_shared.actor import Actor, Partner
from werkbrug_shared.clock import Clock
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, ValidationError

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TODAY = date(2026, 3, 2)
ENSCHEDE = Actor(Partner("gemeente-enschede", "Gemeente Enschede", "gemeente", "Twente"), "p.jansen")
HENGELO = Actor(Partner("gemeente-hengelo", "Gemeente Hengelo", "gemeente", "Twente"))
VCA = "http://data.europa.eu/esco/skill/5f3b0b1e-8f1a-4f0e-9d3c-2a6b7c8d9e01"  # a certificate skill
SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"


@pytest.fixture
def uow():
    with sqlite_unit_of_work(metadata, "candidates") as uow:
        yield uow


@pytest.fixture
def clock():
    return Clock(TODAY, now=lambda: NOW)


def payload(**given):
    data = {"given_name": "Anna", "family_name": "de Vries", "postcode": "7511 AB", "region": "Twente",
            "target_groups": ["bijstand"], "skills": [SKILL], "hours_per_week": 32, "hours_min": None,
            "banenafspraak": False, "occupations_wanted": [], "work_thinking_level": None, "dutch_level": "B1",
            "available_days": [], "available_from": None, "max_travel_minutes": None, "max_distance_km": None,
            "transport_modes": [], "conditions": [], "cohort": None, "source_ref": None, "bsn": None}
    data.update(given)
    return data


def register(uow, caller=ENSCHEDE, **given) -> str:
    new = records.prepare(payload(**given), caller.organisation, NOW, None)
    handlers.register(uow, caller, new)
    uow.session.flush()
    return new.id


def trajectory_and_cohort(uow, clock):
    trajectory = handlers.define_trajectory(uow, ENSCHEDE, clock, {
        "name": "werkfit", "weeks": 12, "modules": [
            {"code": "intro", "name": "Introductie", "certificate_skill": None},
            {"code": "vca", "name": "VCA basis", "certificate_skill": VCA}]})
    return handlers.start_cohort(uow, ENSCHEDE, clock, {
        "trajectory_id": trajectory.id, "name": "werkfit-2026-1", "start_date": date(2026, 3, 9),
        "region": "Twente"})


def emitted(uow, suffix):
    return [e for e in uow.emitted if e.type.endswith(suffix)]


# --- registration ---------------------------------------------------------------------------

def test_a_registration_is_registered_and_announced_with_its_profile_only(uow):
    candidate_id = register(uow)
    row = handlers.candidate(uow, candidate_id)
    assert row.status == domain.REGISTERED
    [event] = emitted(uow, "candidate.registered.v1")
    assert event.data["candidate_id"] == candidate_id and event.data["pc4"] == "7511"
    assert "Anna" not in event.to_json()


def test_a_batch_meets_its_own_earlier_rows_and_what_was_imported_before(uow):
    first = register(uow, source_ref="ref-1")
    again = records.prepare(payload(source_ref="ref-1"), ENSCHEDE.organisation, NOW, None)
    fresh = records.prepare(payload(source_ref="ref-2"), ENSCHEDE.organisation, NOW, None)
    twin = records.prepare(payload(source_ref="ref-2"), ENSCHEDE.organisation, NOW, None)
    results = handlers.register_many(uow, ENSCHEDE, [(0, again), (1, fresh), (2, twin)])
    assert results == {0: {"index": 0, "id": first, "existing": True}, 1: {"index": 1, "id": fresh.id},
                       2: {"index": 2, "id": fresh.id, "existing": True}}


# --- enrolment and modules ------------------------------------------------------------------

def test_enrolling_moves_a_registered_candidate_into_the_trajectory_once(uow, clock):
    candidate_id = register(uow)
    cohort = trajectory_and_cohort(uow, clock)
    uow.emitted.clear()
    row, _ = handlers.enrol(uow, ENSCHEDE, clock, candidate_id, cohort.id)
    assert (row.status, row.cohort, row.updated_at) == (domain.IN_TRAJECTORY, cohort.name, NOW)
    [enrolled] = emitted(uow, "candidate.enrolled.v1")
    assert enrolled.data == {"candidate_id": candidate_id, "cohort": cohort.name, "trajectory": "werkfit",
                             "region": "Twente", "target_groups": ["bijstand"]}
    [moved] = emitted(uow, "candidate.status_changed.v1")
    assert (moved.data["from_status"], moved.data["to_status"]) == (domain.REGISTERED, domain.IN_TRAJECTORY)
    assert emitted(uow, "candidate.profile_updated.v1")[0].data["cohort"] == cohort.name

    uow.emitted.clear()
    handlers.enrol(uow, ENSCHEDE, clock, candidate_id, cohort.id)
    assert uow.emitted == []
    assert uow.session.query(Enrolment).count() == 1


def test_enrolling_someone_at_work_keeps_them_placed(uow, clock):
    candidate_id = register(uow)
    cohort = trajectory_and_cohort(uow, clock)
    handlers.placement_recorded(uow, clock, candidate_id, "pl-1")
    uow.emitted.clear()
    row, _ = handlers.enrol(uow, ENSCHEDE, clock, candidate_id, cohort.id)
    assert row.status == domain.PLACED
    assert emitted(uow, "candidate.status_changed.v1") == []


def test_a_certificate_module_proves_its_skill_once(uow, clock):
    candidate_id = register(uow)
    cohort = trajectory_and_cohort(uow, clock)
    handlers.enrol(uow, ENSCHEDE, clock, candidate_id, cohort.id)
    uow.emitted.clear()
    done = handlers.complete_module(uow, ENSCHEDE, clock, candidate_id, cohort.id, "vca")
    assert (done.module_code, done.skill) == ("vca", VCA)
    [completed] = emitted(uow, "candidate.module_completed.v1")
    assert completed.data == {"candidate_id": candidate_id, "cohort": cohort.name, "module": "vca",
                              "trajectory": "werkfit", "skill": VCA}
    [updated] = emitted(uow, "candidate.profile_updated.v1")
    proved = {"skill": VCA, "level": domain.CERTIFICATE_LEVEL, "evidence": "certificate"}
    assert proved in updated.data["skill_evidence"]

    uow.emitted.clear()
    assert handlers.complete_module(uow, ENSCHEDE, clock, candidate_id, cohort.id, "vca") == done
    assert uow.emitted == []
    assert uow.session.query(ModuleCompletion).count() == 1


def test_a_module_needs_an_enrolment_and_a_module_of_the_trajectory(uow, clock):
    candidate_id = register(uow)
    cohort = trajectory_and_cohort(uow, clock)
    with pytest.raises(NotFound):
        handlers.complete_module(uow, ENSCHEDE, clock, candidate_id, cohort.id, "vca")
    handlers.enrol(uow, ENSCHEDE, clock, candidate_id, cohort.id)
    with pytest.raises(ValidationError):
        handlers.complete_module(uow, ENSCHEDE, clock, candidate_id, cohort.id, "bakery")
    with pytest.raises(ValidationError):
        handlers.complete_module(uow, ENSCHEDE, clock, candidate_id, cohort.id, 7)


def test_a_cohort_name_is_taken_once(uow, clock):
    cohort = trajectory_and_cohort(uow, clock)
    with pytest.raises(Conflict):
        handlers.start_cohort(uow, ENSCHEDE, clock, {"trajectory_id": cohort.trajectory_id, "name": cohort.name,
                                                      "start_date": TODAY, "region": "Twente"})


# --- status ------------------------------------------------------------------------------------

def test_a_status_by_hand_logs_its_reason_and_keeps_it_off_the_event(uow, clock):
    candidate_id = register(uow)
    handlers.change_status(uow, ENSCHEDE, clock, candidate_id, domain.INTAKE, "first talk went well")
    [moved] = emitted(uow, "candidate.status_changed.v1")
    assert moved.data["reason"] == "set by gemeente-enschede"
    [entry] = uow.session.query(LogEntry).all()
    assert (entry.text, entry.date, entry.professional) == ("status intake: first talk went well", TODAY, "p.jansen")


def test_a_move_the_lifecycle_forbids_is_refused(uow, clock):
    candidate_id = register(uow)
    with pytest.raises(Conflict):
        handlers.change_status(uow, ENSCHEDE, clock, candidate_id, domain.SUSTAINED, None)


def test_only_the_registering_organisation_sets_a_status_by_hand_and_is_told_before_any_rule(uow, clock):
    candidate_id = register(uow)
    # a move the lifecycle forbids too: another organisation hears Forbidden, not the state it is in
    for status in (domain.INTAKE, domain.SUSTAINED):
        with pytest.raises(Forbidden):
            handlers.change_status(uow, HENGELO, clock, candidate_id, status, "niet de hunne")
    assert uow.session.query(LogEntry).all() == [] and emitted(uow, "candidate.status_changed.v1") == []


def test_events_follow_the_lifecycle_and_a_late_one_is_left(uow, clock):
    candidate_id = register(uow)
    handlers.placement_recorded(uow, clock, candidate_id, "pl-1")
    handlers.placement_recorded(uow, clock, candidate_id, "pl-2")
    handlers.placement_ended(uow, clock, candidate_id, "pl-1")
    assert handlers.candidate(uow, candidate_id).status == domain.PLACED  # pl-2 still runs
    handlers.placement_sustained(uow, clock, candidate_id, "pl-2", 6)
    assert handlers.candidate(uow, candidate_id).status == domain.SUSTAINED
    handlers.placement_ended(uow, clock, candidate_id, "pl-2")
    assert handlers.candidate(uow, candidate_id).status == domain.AVAILABLE
    handlers.placement_sustained(uow, clock, candidate_id, "pl-2", 12)  # overtaken by its end
    assert handlers.candidate(uow, candidate_id).status == domain.AVAILABLE


def test_an_introduction_needs_the_proposal_first(uow, clock):
    candidate_id = register(uow)
    with pytest.raises(NotFound):
        handlers.match_introduced(uow, clock, "m-1")
    handlers.match_proposed(uow, candidate_id, "m-1")
    handlers.match_introduced(uow, clock, "m-1")
    assert handlers.candidate(uow, candidate_id).status == domain.INTRODUCED


# --- erasure -----------------------------------------------------------------------------------

def test_erasure_is_for_the_registering_organisation_and_leaves_an_anonymous_row(uow, clock):
    candidate_id = register(uow)
    with pytest.raises(Forbidden):
        handlers.erase(uow, HENGELO, clock, candidate_id)
    row = handlers.erase(uow, ENSCHEDE, clock, candidate_id)
    assert (row.status, row.erased_at, row.pc4) == (domain.ERASED, NOW, None)
    assert uow.session.get(PersonalData, candidate_id) is None
    assert emitted(uow, "candidate.erased.v1")[0].data == {"candidate_id": candidate_id}
    with pytest.raises(Conflict):
        handlers.enrol(uow, ENSCHEDE, clock, candidate_id, "any-cohort")
    handlers.placement_recorded(uow, clock, candidate_id, "pl-9")  # nothing left to follow
    assert handlers.candidate(uow, candidate_id).status == domain.ERASED


# --- reads ---------------------------------------------------------------------------------------

def test_a_cohort_counts_its_enrolled_and_each_modules_completions(uow, clock):
    cohort = trajectory_and_cohort(uow, clock)
    first, second = register(uow), register(uow)
    for candidate_id in (first, second):
        handlers.enrol(uow, ENSCHEDE, clock, candidate_id, cohort.id)
    handlers.complete_module(uow, ENSCHEDE, clock, first, cohort.id, "vca")
    assert handlers.cohort_counts(uow, cohort.id)[1:] == (2, {"intro": 0, "vca": 1})


def test_the_list_leaves_out_the_erased_unless_asked_for(uow, clock):
    kept, erased = register(uow), register(uow)
    handlers.erase(uow, ENSCHEDE, clock, erased)
    assert uow.session.scalars(handlers.listed({})).all() == [handlers.candidate(uow, kept)]
    assert [c.id for c in uow.session.scalars(handlers.listed({"status": domain.ERASED}))] == [erased]
