"""Both of the index's queries over the same data, against brute force over scoring.py:
the two compiled passes call the same rules (kernels), so on any data each must rank
every candidate's vacancies and every vacancy's candidates as scoring does, also after
vacancies change and leave (rows reused, lists rewritten and compacted)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from matching.esco import knowledge
from matching.index import MatchingIndex
from matching.modules import ModuleCatalogue
from matching.profiles import CandidateProfile, VacancyProfile
from matching.scoring import rank_candidates, rank_vacancies
from tests.unit.matching import factories as f
from tests.unit.matching.test_index import (
    CANDIDATE_IDS,
    PROPERTY,
    TODAY,
    assert_same,
    build,
    candidates,
    eager_housekeeping,
    vacancies,
)

VACANCY_IDS = [f"v{i}" for i in range(8)]
jobs = st.lists(st.sampled_from(VACANCY_IDS).flatmap(vacancies), max_size=8, unique_by=lambda v: v["vacancy_id"])
vacancy_changes = st.lists(st.one_of(st.tuples(st.just("upsert"), st.sampled_from(VACANCY_IDS).flatmap(vacancies)),
                                     st.tuples(st.just("remove"), st.sampled_from(VACANCY_IDS))), max_size=12)


def assert_both_ways(index: MatchingIndex, people: dict[str, CandidateProfile],
                     posted: dict[str, VacancyProfile], placed: set[str]) -> None:
    for candidate_id, profile in people.items():
        got = index.vacancies_for_candidate(candidate_id, limit=20, near_misses=20, today=TODAY)
        assert_same(got, rank_vacancies(profile, posted.values(), limit=20, near_misses=20, today=TODAY))
    for vacancy_id, vacancy in posted.items():
        got = index.candidates_for_vacancy(vacancy_id, limit=30, near_misses=30)
        assert_same(got, rank_candidates(vacancy, people.values(), limit=30, near_misses=30, placed=placed))


@PROPERTY
@given(people=st.lists(candidates(), max_size=12, unique_by=lambda c: c["candidate_id"]), jobs=jobs,
       changes=vacancy_changes, placed=st.sets(st.sampled_from(CANDIDATE_IDS), max_size=4), via_load=st.booleans(),
       eager=st.booleans())
def test_every_candidate_and_every_vacancy_is_ranked_as_brute_force_ranks(people, jobs, changes, placed, via_load,
                                                                          eager):
    profiles = {p["candidate_id"]: CandidateProfile.from_event(p) for p in people}
    posted = {v["vacancy_id"]: VacancyProfile.from_event(v) for v in jobs}
    with eager_housekeeping(eager):
        index = build(list(profiles.values()), list(posted.values()), placed, via_load)
        for change in changes:
            if change[0] == "upsert":
                vacancy = VacancyProfile.from_event(change[1])
                index.upsert_vacancy(vacancy)
                posted[vacancy.vacancy_id] = vacancy
            else:
                assert index.remove_vacancy(change[1]) == (change[1] in posted)
                posted.pop(change[1], None)
        assert_both_ways(index, profiles, posted, placed & set(profiles))


def test_a_module_learned_at_runtime_closes_a_must_have_both_ways():
    modules = ModuleCatalogue()
    index = MatchingIndex(knowledge(), modules)
    vacancy = f.vacancy("v1", skills_required=[f.CREATE_WOOD_JOINTS])
    person = f.candidate("c", skills=[f.SORT_WASTE])
    index.upsert_vacancy(vacancy)
    index.upsert_candidate(person)
    assert index.vacancies_for_candidate("c", today=TODAY).ids == []
    assert index.candidates_for_vacancy("v1").ids == []
    modules.register("Houtbewerking basis", f.CREATE_WOOD_JOINTS)
    ranking = index.vacancies_for_candidate("c", today=TODAY)
    assert ranking.ids == ["v1"]
    assert ranking.results[0]["skill_gaps"][0]["closable_by"] == ["Houtbewerking basis"]
    assert_same(ranking, rank_vacancies(person, [vacancy], today=TODAY, modules=modules))
    assert index.candidates_for_vacancy("v1").ids == ["c"]


def test_a_candidate_in_an_unknown_area_is_offered_nothing_and_no_near_miss():
    # no distance to anyone: travel fails, and not only just (as scoring.check_travel)
    index = MatchingIndex(knowledge())
    vacancy = f.vacancy("v1", skills_required=[f.SORT_WASTE])
    person = f.candidate("far", skills=[f.SORT_WASTE], pc4="1000")
    index.load([person], [vacancy])
    ranking = index.vacancies_for_candidate("far", today=TODAY)
    assert ranking.ids == [] and ranking.near_misses == []
    assert_same(ranking, rank_vacancies(person, [vacancy], today=TODAY))
