"""Profiles read from the catalogue's events, old and new."""

from __future__ import annotations

from datetime import date

from matching import profiles
from matching.modules import CATALOGUE, DEFAULT_MODULES, ModuleCatalogue, modules_for, register
from matching.profiles import CandidateProfile, VacancyProfile
from tests.unit.matching import factories as f
from werkbrug_shared import refdata
from werkbrug_shared.events import catalogue
from werkbrug_shared.events.catalogue import new_event, schema_for

PROFILE = {
    "candidate_id": "cand-1", "region": "Twente", "pc4": "7511", "target_groups": ["bijstand", "50plus"],
    "skills": [f.CREATE_WOOD_JOINTS, f.SORT_WASTE], "hours_per_week": 24, "conditions": ["no_night_shifts"],
}
VACANCY = {
    "vacancy_id": "vac-1", "employer_id": "emp-1", "region": "Twente", "pc4": "7512",
    "skills_required": [f.CREATE_WOOD_JOINTS], "hours_per_week": 32, "openings": 2,
}


def test_target_groups_mirror_the_catalogue():
    assert profiles.TARGET_GROUPS == catalogue.TARGET_GROUPS
    assert profiles.TRANSPORT_MODES == catalogue.TRANSPORT_MODES


def test_an_old_profile_event_takes_the_schema_defaults():
    loaded = schema_for("nl.werkbrug.candidate.registered.v1").load(PROFILE)
    p = CandidateProfile.from_event(loaded)
    assert p.skills == (f.CREATE_WOOD_JOINTS, f.SORT_WASTE)
    assert (p.hours_min, p.hours_per_week, p.cohort, p.banenafspraak) == (None, 24, None, False)
    assert (p.work_thinking_level, p.dutch_level, p.available_from, p.max_travel_minutes) == (None, None, None, None)
    assert p.skill_levels() == {f.CREATE_WOOD_JOINTS: None, f.SORT_WASTE: None}


def test_a_full_profile_reads_dates_as_objects_or_strings():
    full = {**PROFILE, "skill_evidence": [{"skill": f.CREATE_WOOD_JOINTS, "level": 3, "evidence": "diploma"},
                                          {"skill": f.CREATE_WOOD_JOINTS, "level": 2, "evidence": "informal"}],
            "occupations_wanted": [f.HANDYPERSON], "work_thinking_level": 2, "dutch_level": "B1", "hours_min": 16,
            "available_days": ["mon", "tue"], "available_from": "2026-09-01", "max_travel_minutes": 45,
            "transport_modes": ["bicycle"]}
    wire = new_event("nl.werkbrug.candidate.registered.v1", "cand-1", full).data  # as sent: ISO dates
    loaded = schema_for("nl.werkbrug.candidate.registered.v1").load(wire)  # as received: date objects
    for data in (wire, loaded):
        p = CandidateProfile.from_event(data)
        assert p.available_from == date(2026, 9, 1)
        assert p.skill_levels()[f.CREATE_WOOD_JOINTS] == 3  # the best claim counts
        assert (p.hours_min, p.max_travel_minutes, p.transport_modes) == (16, 45, ("bicycle",))


def test_an_old_vacancy_event_makes_every_required_skill_a_full_must_have():
    loaded = schema_for("nl.werkbrug.vacancy.opened.v1").load(VACANCY)
    v = VacancyProfile.from_event(loaded)
    assert [(w.skill, w.weight) for w in v.must_have] == [(f.CREATE_WOOD_JOINTS, 1.0)]
    assert v.skills_required == (f.CREATE_WOOD_JOINTS,)
    assert (v.visibility, v.status, v.is_open, v.occupation, v.valid_through) == ("public", "open", True, None, None)


def test_weighted_requirements_are_deduplicated_and_a_must_have_is_no_nice_to_have():
    v = f.vacancy(must_have=[{"skill": f.SORT_WASTE, "weight": 0.5}, {"skill": f.SORT_WASTE, "weight": 0.8}],
                  skills_required=[f.SORT_WASTE],
                  nice_to_have=[{"skill": f.SORT_WASTE, "weight": 0.3}, {"skill": f.USE_POWER_TOOLS, "weight": 0.4}],
                  valid_through=date(2026, 8, 1), status="filled")
    assert [(w.skill, w.weight) for w in v.must_have] == [(f.SORT_WASTE, 0.8)]
    assert [w.skill for w in v.nice_to_have] == [f.USE_POWER_TOOLS]
    assert not v.is_open
    assert v.valid_through == date(2026, 8, 1)


def test_no_free_opening_is_not_open():
    assert not f.vacancy(openings=0).is_open


# --- modules ------------------------------------------------------------------------


def test_every_default_module_certifies_skills_that_exist_in_esco():
    tree = refdata.skill_tree()
    for module in DEFAULT_MODULES:
        assert module.skills
        for skill in module.skills:
            assert skill in tree and not tree[skill].is_group, (module.name, skill)


def test_vca_closes_the_construction_safety_skill():
    assert modules_for(f.VCA_SAFETY) == ("VCA Basis",)
    assert CATALOGUE.closable(f.OPERATE_FORKLIFT)
    assert not CATALOGUE.closable(f.CREATE_WOOD_JOINTS)


def test_modules_learned_at_runtime_close_their_skill():
    modules = ModuleCatalogue()
    version = modules.version
    assert modules.register("Houtbewerking basis", f.CREATE_WOOD_JOINTS)
    assert not modules.register("Houtbewerking basis", f.CREATE_WOOD_JOINTS)
    assert modules.modules_for(f.CREATE_WOOD_JOINTS) == ("Houtbewerking basis",)
    assert modules.version == version + 1
    assert modules.register("VCA Basis", f.OPERATE_FORKLIFT)
    assert modules.modules_for(f.OPERATE_FORKLIFT) == ("Heftruckcertificaat", "VCA Basis")
    assert f.CREATE_WOOD_JOINTS in modules.skills_of("Houtbewerking basis")
    assert not CATALOGUE.closable(f.CREATE_WOOD_JOINTS)  # a private catalogue leaves the process-wide one alone


def test_the_process_wide_catalogue_takes_registrations(monkeypatch):
    monkeypatch.setattr("matching.modules.CATALOGUE", ModuleCatalogue())
    assert register("Sorteren", f.SORT_WASTE)
    from matching import modules

    assert modules.modules_for(f.SORT_WASTE) == ("Sorteren",)
