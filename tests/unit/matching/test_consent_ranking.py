"""The ranking rule (scoring.rankable: in the pool and consented to matching) in the index and in
the brute-force reference alike: any sequence of profiles, placements, erasures and consents given
or withdrawn leaves the index ranking as brute force does over the state; a load at start-up
with withdrawn candidates too."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching import scoring
from matching.esco import knowledge
from matching.index import MatchingIndex
from matching.profiles import CandidateProfile, VacancyProfile
from matching.scoring import rank_candidates
from tests.unit.matching import factories as f
from tests.unit.matching.test_index import (
    CANDIDATE_IDS,
    PROPERTY,
    assert_same,
    candidates,
    eager_housekeeping,
    vacancies,
)

operations = st.one_of(
    st.tuples(st.just("upsert"), candidates()),
    st.tuples(st.just("remove"), st.sampled_from(CANDIDATE_IDS)),
    st.tuples(st.just("pool"), st.sampled_from(CANDIDATE_IDS), st.booleans()),
    st.tuples(st.just("consent"), st.sampled_from(CANDIDATE_IDS), st.booleans()),
    st.tuples(st.just("vacancy"), vacancies()),
)


@PROPERTY
@given(ops=st.lists(operations, min_size=1, max_size=60), vacancy=vacancies(), eager=st.booleans())
def test_any_sequence_with_consents_leaves_the_index_as_brute_force_sees_the_state(ops, vacancy, eager):
    with eager_housekeeping(eager):
        index = MatchingIndex(knowledge())
        state: dict[str, CandidateProfile] = {}
        placed: set[str] = set()
        withdrawn: set[str] = set()
        v = VacancyProfile.from_event(vacancy)
        index.upsert_vacancy(v)
        for op in ops:
            if op[0] == "upsert":
                profile = CandidateProfile.from_event(op[1])
                index.upsert_candidate(profile)
                state[profile.candidate_id] = profile
            elif op[0] == "remove":  # erasure: nothing of them stays, their consent neither
                assert index.remove_candidate(op[1]) == (op[1] in state)
                state.pop(op[1], None)
                placed.discard(op[1])
                withdrawn.discard(op[1])
            elif op[0] == "pool":
                assert index.set_in_pool(op[1], op[2]) == (op[1] in state)
                if op[1] in state:
                    (placed.discard if op[2] else placed.add)(op[1])
            elif op[0] == "consent":  # kept for one not indexed yet, as the change log may bring it first
                assert index.set_consent(op[1], op[2]) == (op[1] in state)
                (withdrawn.discard if op[2] else withdrawn.add)(op[1])
            else:
                v = VacancyProfile.from_event({**op[1], "vacancy_id": "v1"})
                index.upsert_vacancy(v)
        got = index.candidates_for_vacancy("v1", limit=30, near_misses=30)
        want = rank_candidates(v, state.values(), limit=30, near_misses=30, placed=placed, withdrawn=withdrawn)
        assert_same(got, want)


@PROPERTY
@given(people=st.lists(candidates(), max_size=25, unique_by=lambda c: c["candidate_id"]), vacancy=vacancies(),
       placed=st.sets(st.sampled_from(CANDIDATE_IDS), max_size=5),
       withdrawn=st.sets(st.sampled_from(CANDIDATE_IDS), max_size=8))
def test_a_load_with_withdrawn_consents_agrees_with_brute_force(people, vacancy, placed, withdrawn):
    profiles = [CandidateProfile.from_event(p) for p in people]
    v = VacancyProfile.from_event(vacancy)
    index = MatchingIndex(knowledge())
    index.load(profiles, [v], not_in_pool=placed, withdrawn=withdrawn)
    got = index.candidates_for_vacancy(v.vacancy_id, limit=30, near_misses=30)
    assert_same(got, rank_candidates(v, profiles, limit=30, near_misses=30, placed=placed, withdrawn=withdrawn))


@pytest.mark.parametrize(("in_pool", "consented", "ranked"), [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False)])
def test_the_rule(in_pool, consented, ranked):
    assert scoring.rankable(in_pool, consented) is ranked


def test_a_withdrawal_takes_the_candidate_out_of_rankings_and_a_consent_brings_them_back():
    index = MatchingIndex(knowledge())
    index.upsert_vacancy(f.vacancy("v1", skills_required=[f.SORT_WASTE], pc4="7511"))
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))
    assert index.set_consent("c", False)
    assert index.candidates_for_vacancy("v1").ids == []
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))  # a profile update keeps them out
    index.set_in_pool("c", True)  # so does an ended placement
    assert index.candidates_for_vacancy("v1").ids == [] and index.in_pool("c") is True
    assert index.set_consent("c", True)
    assert index.candidates_for_vacancy("v1").ids == ["c"]
    assert index.counts()["in_pool"] == 1
