"""Candidates' own rules: BSN, lifecycle, werkprofiel, schemas against the reference data."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from candidates import domain, records
from candidates.bsn import KEY_FILE, BsnKeyError, BsnVault, key_file_secret, load_secret
from candidates.models import Candidate, metadata
from candidates.schemas import CheckedCandidate, DefineTrajectory, RegisterCandidate, candidate_schema
from werkbrug_shared import pagination, visibility
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.events import new_event
from werkbrug_shared.validation import load
from werkbrug_shared.visibility import Viewer

SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
SAFETY = "http://data.europa.eu/esco/skill/86df7af2-f9f3-4c06-a500-7f1fba9e78fe"  # VCA's ESCO skill
OCCUPATION = "http://data.europa.eu/esco/occupation/79f435d0-9bc6-4d25-a26a-acbe16569ebb"
MADE_UP_SKILL = "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000000"
MADE_UP_OCCUPATION = "http://data.europa.eu/esco/occupation/00000000-0000-4000-8000-000000000000"
SECRET = b"test-key-for-werkbrug-bsn-32byte"

CANDIDATE = {
    "given_name": "Fatima", "family_name": "de Vries", "region": "Twente", "postcode": "7511 AB",
    "target_groups": ["statushouder"], "skills": [SKILL], "hours_per_week": 24,
}


def refused(schema, payload, *fields: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load(schema, payload, "candidate")
    for field in fields:
        assert field in caught.value.errors, caught.value.errors
        assert field in str(caught.value)
    return caught.value


# --- BSN: elfproef ------------------------------------------------------------------------


@pytest.mark.parametrize("bsn", ["111222333", "123456782", "999999990"])
def test_elfproef_accepts_valid_numbers(bsn):
    assert domain.elfproef(bsn)


@pytest.mark.parametrize("bsn", ["123456789", "111222334", "11122233", "1112223330", "12345678a", "000000000",
                                 "", " 111222333", None, 111222333])
def test_elfproef_refuses(bsn):
    assert not domain.elfproef(bsn)


def test_normalise_bsn_drops_spaces_and_dots_and_never_echoes():
    assert domain.normalise_bsn("1112 22 333") == "111222333"
    assert domain.normalise_bsn("1112.22.333") == "111222333"
    with pytest.raises(ValueError) as caught:
        domain.normalise_bsn("123456789")
    assert "123456789" not in str(caught.value)


# --- BSN at rest ----------------------------------------------------------------------------


def test_bsn_encrypt_decrypt_round_trip():
    vault = BsnVault(SECRET)
    sealed = vault.encrypt("111222333", "cand-1")
    assert vault.decrypt(sealed, "cand-1") == "111222333"
    assert b"111222333" not in sealed
    assert vault.encrypt("111222333", "cand-1") != sealed, "a fresh nonce each time"
    assert BsnVault(SECRET).decrypt(sealed, "cand-1") == "111222333", "the key, not the instance, decrypts"


def test_bsn_ciphertext_is_bound_to_its_candidate():
    vault = BsnVault(SECRET)
    sealed = vault.encrypt("111222333", "cand-1")
    with pytest.raises(Exception):  # noqa: B017 (cryptography's InvalidTag)
        vault.decrypt(sealed, "cand-2")
    with pytest.raises(Exception):  # noqa: B017
        BsnVault(os.urandom(32)).decrypt(sealed, "cand-1")


def test_bsn_hash_is_stable_keyed_and_not_the_number():
    one, again, other = BsnVault(SECRET), BsnVault(SECRET), BsnVault(os.urandom(32))
    digest = one.digest("111222333")
    assert digest == again.digest("111222333") == one.digest("111222333")
    assert len(digest) == 64 and "111222333" not in digest
    assert digest != one.digest("123456782")
    assert digest != other.digest("111222333"), "without the secret the hash cannot be recomputed"
    assert "test-key" not in repr(one)


def test_bsn_key_from_the_environment():
    env = {"CANDIDATES_BSN_KEY": base64.b64encode(SECRET).decode()}
    assert load_secret(env) == SECRET
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(BsnKeyError) as caught:
            load_secret({"CANDIDATES_BSN_KEY": bad})
        assert bad not in str(caught.value)


def test_bsn_key_file_is_made_private_once(tmp_path):
    first = load_secret({}, tmp_path)
    assert len(first) == 32
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_file_secret(tmp_path) == first, "the same key on the next start"
    assert list(tmp_path.iterdir()) == [path]


# --- lifecycle ------------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "wanted"), [
    ("registered", "intake"), ("intake", "in_trajectory"), ("in_trajectory", "available"),
    ("available", "introduced"), ("introduced", "placed"), ("placed", "sustained"), ("placed", "available"),
    ("registered", "placed"),  # a jobhunter may place straight from registration
])
def test_transitions_allowed(current, wanted):
    assert domain.next_status(current, wanted) == wanted
    assert domain.may_move(current, wanted)


@pytest.mark.parametrize(("current", "wanted"), [
    ("registered", "sustained"), ("intake", "intake"), ("placed", "intake"), ("sustained", "introduced"),
    ("introduced", "intake"), ("erased", "registered"), ("erased", "available"), ("available", "erased"),
])
def test_transitions_refused(current, wanted):
    with pytest.raises(domain.IllegalTransition):
        domain.next_status(current, wanted)
    assert not domain.may_move(current, wanted)


def test_erased_is_no_lifecycle_stage_and_manual_moves_are_early_ones():
    assert domain.ERASED not in domain.STATUSES
    assert set(domain.MANUAL_STATUSES) == {"intake", "in_trajectory", "available"}


@pytest.mark.parametrize(("current", "expected"), [
    ("registered", "in_trajectory"), ("intake", "in_trajectory"), ("available", "in_trajectory"),
    ("in_trajectory", None), ("introduced", None), ("placed", None), ("sustained", None),
])
def test_status_on_enrolment(current, expected):
    assert domain.status_on_enrolment(current) == expected


def test_placement_events_that_overtake_each_other():
    assert domain.status_on_placement_recorded(placement_ended=False) == "placed"
    assert domain.status_on_placement_recorded(placement_ended=True) is None
    assert domain.status_on_placement_ended(other_active_placements=0) == "available"
    assert domain.status_on_placement_ended(other_active_placements=1) is None
    assert domain.status_on_placement_sustained(placement_ended=True) is None


# --- werkprofiel ------------------------------------------------------------------------------


def test_plain_skill_uris_are_work_experience_at_level_2():
    assert domain.skill_claims([SKILL]) == [{"skill": SKILL, "level": 2, "evidence": "work_experience"}]


def test_a_skill_named_twice_keeps_its_highest_level():
    claims = domain.skill_claims([SKILL, {"skill": SKILL, "level": 4, "evidence": "diploma"},
                                  {"skill": SAFETY, "level": 1, "evidence": "informal"}])
    assert claims == [{"skill": SKILL, "level": 4, "evidence": "diploma"},
                      {"skill": SAFETY, "level": 1, "evidence": "informal"}]


def test_a_certificate_proves_a_skill():
    assert domain.with_certificate([], SAFETY) == [{"skill": SAFETY, "level": 2, "evidence": "certificate"}]
    had = [{"skill": SAFETY, "level": 3, "evidence": "informal"}]
    assert domain.with_certificate(had, SAFETY) == [{"skill": SAFETY, "level": 3, "evidence": "certificate"}]


def test_profile_problems_across_fields():
    assert domain.profile_problems({"hours_min": 20, "hours_per_week": 16}).keys() == {"hours_min"}
    assert domain.profile_problems({"banenafspraak": True, "target_groups": ["bijstand"]}).keys() == {"banenafspraak"}
    assert domain.profile_problems({"hours_min": 16, "hours_per_week": 16, "banenafspraak": True,
                                    "target_groups": ["doelgroepregister"]}) == {}


def test_personal_data_is_for_the_registering_organisation():
    assert visibility.may_see_personal_data(Viewer("gemeente-enschede"), "gemeente-enschede")
    assert not visibility.may_see_personal_data(Viewer("uwv-twente"), "gemeente-enschede")
    assert not visibility.may_see_personal_data(Viewer(None), "gemeente-enschede")
    assert visibility.may_see_personal_data(Viewer("uwv-twente"), None), "registered anonymously (spine)"


# --- schemas: the fields, named --------------------------------------------------------------


def test_a_full_werkprofiel_loads():
    full = {**CANDIDATE, "target_groups": ["doelgroepregister"], "banenafspraak": True,
            "skills": [SKILL, {"skill": SAFETY, "level": 3, "evidence": "certificate"}],
            "occupations_wanted": [OCCUPATION], "work_thinking_level": 0, "dutch_level": "A2", "hours_min": 16,
            "available_days": ["mon", "tue"], "available_from": "2027-01-04", "max_travel_minutes": 45,
            "max_distance_km": 20, "transport_modes": ["bicycle", "public_transport"],
            "conditions": ["low_stimulus_workplace", "jobcoach_needed"], "condition_notes": "Rustige plek.",
            "birth_date": "1990-05-01", "phone": "+31 6 12345678", "email": "f@example.org",
            "address": {"street": "Hengelosestraat", "house_number": "12a", "city": "Enschede"},
            "bsn": "111222333", "source_ref": "legacy-1"}
    loaded = load(CheckedCandidate(), full, "candidate")
    assert loaded["work_thinking_level"] == 0 and loaded["dutch_level"] == "A2"


def test_unknown_esco_skill_is_refused_naming_the_field():
    err = refused(CheckedCandidate(), {**CANDIDATE, "skills": [SKILL, MADE_UP_SKILL]}, "skills")
    assert err.errors["skills"] == {1: ["unknown ESCO skill"]}
    err = refused(CheckedCandidate(), {**CANDIDATE, "skills": [{"skill": MADE_UP_SKILL, "level": 2,
                                                                "evidence": "diploma"}]}, "skills")
    assert "skills.0: unknown ESCO skill" in str(err)


def test_unknown_esco_occupation_is_refused_naming_the_field():
    for schema in (CheckedCandidate(), RegisterCandidate()):
        err = refused(schema, {**CANDIDATE, "occupations_wanted": [OCCUPATION, MADE_UP_OCCUPATION]},
                      "occupations_wanted")
        assert err.errors["occupations_wanted"] == {1: ["unknown ESCO occupation"]}
    refused(CheckedCandidate(), {**CANDIDATE, "occupations_wanted": [SKILL]}, "occupations_wanted")


def test_unknown_postcode_area_is_refused():
    err = refused(CheckedCandidate(), {**CANDIDATE, "postcode": "1000 AA"}, "postcode")
    assert "PC4" in str(err)
    # the shape is still checked first, and said once
    err = refused(CheckedCandidate(), {**CANDIDATE, "postcode": "12345"}, "postcode")
    assert err.errors["postcode"] == ["not a Dutch postcode (1234 AB)"]


def test_every_registration_checks_skills_and_the_postcode_area():
    schema = candidate_schema()
    assert isinstance(schema, CheckedCandidate)
    refused(schema, {**CANDIDATE, "postcode": "1000 AA"}, "postcode")
    err = refused(schema, {**CANDIDATE, "skills": [MADE_UP_SKILL]}, "skills")
    assert err.errors["skills"] == {0: ["unknown ESCO skill"]}
    # the bare schema checks shapes only (the spine's schema tests use made-up URIs)
    load(RegisterCandidate(), {**CANDIDATE, "skills": [MADE_UP_SKILL], "postcode": "1000 AA"}, "candidate")


@pytest.mark.parametrize("level", ["a1", "A0", "C3", "B", "", 2])
def test_dutch_level_is_cefr(level):
    refused(CheckedCandidate(), {**CANDIDATE, "dutch_level": level}, "dutch_level")


@pytest.mark.parametrize("level", [-1, 8, "hoog", 3.5])
def test_work_thinking_level_is_0_to_7(level):
    refused(CheckedCandidate(), {**CANDIDATE, "work_thinking_level": level}, "work_thinking_level")


@pytest.mark.parametrize("level", [0, 7])
def test_work_thinking_level_bounds(level):
    assert load(CheckedCandidate(), {**CANDIDATE, "work_thinking_level": level}, "c")["work_thinking_level"] == level


def test_skill_objects_name_the_bad_part():
    err = refused(CheckedCandidate(), {**CANDIDATE, "skills": [{"skill": SKILL, "level": 5, "evidence": "cv"}]},
                  "skills")
    assert set(err.errors["skills"][0]) == {"level", "evidence"}
    assert "skills.0.level" in str(err) and "skills.0.evidence" in str(err)
    err = refused(CheckedCandidate(), {**CANDIDATE, "skills": [42]}, "skills")
    assert 0 in err.errors["skills"]


def test_bsn_is_checked_and_never_echoed():
    err = refused(CheckedCandidate(), {**CANDIDATE, "bsn": "123456789"}, "bsn")
    assert "123456789" not in str(err) and "123456789" not in json.dumps(err.errors)


def test_cross_field_rules_name_the_field():
    refused(CheckedCandidate(), {**CANDIDATE, "hours_min": 30}, "hours_min")
    refused(CheckedCandidate(), {**CANDIDATE, "banenafspraak": True}, "banenafspraak")


@pytest.mark.parametrize(("field", "value"), [
    ("conditions", ["needs_a_window_seat"]), ("available_days", ["monday"]), ("transport_modes", ["horse"]),
    ("max_travel_minutes", 0), ("max_distance_km", 301), ("email", "not-an-address"), ("phone", "bel me"),
    ("birth_date", "01-05-1990"), ("address", {"street": "Markt"}), ("target_groups", ["werkloos"]),
])
def test_bad_profile_and_personal_values(field, value):
    refused(CheckedCandidate(), {**CANDIDATE, field: value}, field)


def test_updates_are_partial_and_cannot_touch_bsn():
    schema = candidate_schema(update=True)
    assert load(schema, {"hours_per_week": 20}, "changes") == {"hours_per_week": 20}
    with pytest.raises(ValidationError) as caught:
        load(schema, {"bsn": "111222333"}, "changes")
    assert "bsn" in caught.value.errors


def test_trajectory_modules():
    module = {"code": "vca", "name": "VCA basis", "certificate_skill": SAFETY}
    loaded = load(DefineTrajectory(), {"name": "werkfit", "weeks": 12, "modules": [module]}, "trajectory")
    assert loaded["modules"][0]["certificate_skill"] == SAFETY
    with pytest.raises(ValidationError) as caught:
        load(DefineTrajectory(), {"name": "werkfit", "weeks": 12,
                                  "modules": [{**module, "certificate_skill": MADE_UP_SKILL}]}, "trajectory")
    assert "modules.0.certificate_skill" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        load(DefineTrajectory(), {"name": "werkfit", "weeks": 12, "modules": [module, module]}, "trajectory")
    assert "modules" in caught.value.errors


# --- rows, events and pages ---------------------------------------------------------------------


def test_registration_keeps_who_someone_is_out_of_the_profile():
    data = load(CheckedCandidate(), {**CANDIDATE, "bsn": "111222333", "phone": "+31 6 12345678",
                                     "condition_notes": "Geen avonden i.v.m. mantelzorg.",
                                     "conditions": ["no_night_shifts"]}, "candidate")
    new = records.prepare(data, "gemeente-enschede", datetime.now(UTC), BsnVault(SECRET))
    event = new_event("nl.werkbrug.candidate.registered.v1", new.id, new.profile(), source_service="candidates")
    text = event.to_json()
    for secret in ("Fatima", "de Vries", "7511AB", "7511 AB", "111222333", "12345678", "mantelzorg"):
        assert secret not in text and secret not in json.dumps(new.candidate, default=str)
    assert event.data["pc4"] == "7511" and event.data["conditions"] == ["no_night_shifts"]
    assert event.data["skill_evidence"] == [{"skill": SKILL, "level": 2, "evidence": "work_experience"}]
    assert new.personal["bsn_hash"] and b"111222333" not in new.personal["bsn_ciphertext"]


def test_pages_walk_every_row_once_in_registration_order():
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with Session(engine) as session:
        # several share a moment (a bulk import): the id breaks the tie
        session.execute(Candidate.__table__.insert(), [
            {"id": f"c-{i:02d}", "region": "R", "pc4": "7511", "banenafspraak": False, "occupations_wanted": [],
             "hours_per_week": 24, "available_days": [], "transport_modes": [], "conditions": [],
             "status": "registered", "registered_at": at + timedelta(seconds=i // 3), "updated_at": at}
            for i in reversed(range(10))])
        seen, cursor = [], None
        while True:
            got = pagination.page(session, select(Candidate), Candidate.registered_at, Candidate.id, 4, cursor,
                                  lambda row: row.id)
            seen += got["items"]
            cursor = got["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"c-{i:02d}" for i in range(10)]
        for bad in ("!!!", "bm9wZQ", base64.urlsafe_b64encode(b'["x", "y"]').decode()):
            with pytest.raises(ValidationError) as caught:
                pagination.page(session, select(Candidate), Candidate.registered_at, Candidate.id, 4, bad, str)
            assert "cursor" in caught.value.errors
        with pytest.raises(ValidationError) as caught:
            pagination.page(session, select(Candidate), Candidate.registered_at, Candidate.id, 0, None, str)
        assert "limit" in caught.value.errors
    engine.dispose()
