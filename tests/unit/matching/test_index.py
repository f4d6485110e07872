"""The vectorised index: the same answers as brute force over scoring.py, on
random data (property-based), and kept current by single events."""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from matching import scoring
from matching.esco import DUTCH_SKILLS, knowledge
from matching.index import MASK_GAPS, MatchingIndex
from matching.index.areas import CellIndex
from matching.index.ragged import Ragged
from matching.index.ranked import best
from matching.modules import ModuleCatalogue
from matching.profiles import (
    CANDIDATE_CONDITIONS,
    LANGUAGE_LEVELS,
    TARGET_GROUPS,
    VACANCY_CONDITIONS,
    CandidateProfile,
    VacancyProfile,
)
from matching.scoring import rank_candidates, rank_vacancies
from tests.unit.matching import factories as f

# hypothesis keeps its caches outside the repository
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "werkbrug-hypothesis")
TODAY = date(2026, 6, 1)
PC4S = ["7511", "7512", "7513", "7521", "7551", "7552", "7601", "7602", "1000"]  # Twente, and one unknown area
SKILLS = [f.WORK_ERGONOMICALLY, f.USE_MEASUREMENT_INSTRUMENTS, f.USE_POWER_TOOLS, f.USE_TOOLBOX_TOOLS,
          f.CREATE_WOOD_JOINTS, f.INTERPRET_2D_PLANS, f.SORT_WASTE, f.VCA_SAFETY, f.OPERATE_FORKLIFT,
          f.LIFT_HEAVY_WEIGHTS, f.ACCOUNTING_SKILLS[0], DUTCH_SKILLS[3],
          f.SKILL + "00000000-0000-0000-0000-000000000001"]  # not in ESCO
OCCUPATIONS = [f.CARPENTER, f.HANDYPERSON, f.BUILDING_CARETAKER, f.COOK,
               f.OCCUPATION + "00000000-0000-0000-0000-000000000001"]  # not in ESCO
CANDIDATE_IDS = [f"c{i:02d}" for i in range(30)]


def maybe(strategy):
    return st.none() | strategy


dates = st.integers(-20, 60).map(lambda d: (TODAY + timedelta(days=d)).isoformat())
weighted = st.lists(st.fixed_dictionaries({"skill": st.sampled_from(SKILLS),
                                           "weight": st.sampled_from([0.25, 0.5, 1.0])}), max_size=3)


@st.composite
def candidates(draw, candidate_id=None):
    skills = draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=6))
    hours = draw(st.sampled_from([8, 16, 24, 32, 36, 40]))
    return {
        "candidate_id": candidate_id or draw(st.sampled_from(CANDIDATE_IDS)),
        "region": draw(st.sampled_from(["Twente", "Achterhoek"])),
        "pc4": draw(st.sampled_from(PC4S)),
        "target_groups": draw(st.lists(st.sampled_from(TARGET_GROUPS), unique=True, max_size=2)),
        "skills": skills,
        "skill_evidence": [{"skill": s, "level": draw(st.integers(1, 4)), "evidence": "practice_day"}
                           for s in skills if draw(st.booleans())],
        "hours_per_week": hours,
        "hours_min": draw(maybe(st.integers(1, hours))),
        "conditions": draw(st.lists(st.sampled_from([*CANDIDATE_CONDITIONS, "other"]), unique=True, max_size=3)),
        "cohort": draw(maybe(st.sampled_from(["k1", "k2"]))),
        "banenafspraak": draw(st.booleans()),
        "occupations_wanted": draw(st.lists(st.sampled_from(OCCUPATIONS), unique=True, max_size=2)),
        "work_thinking_level": draw(maybe(st.integers(0, 7))),
        "dutch_level": draw(maybe(st.sampled_from(LANGUAGE_LEVELS))),
        "available_from": draw(maybe(dates)),
        "max_travel_minutes": draw(maybe(st.sampled_from([5, 15, 30, 60, 120]))),
        "max_distance_km": draw(maybe(st.sampled_from([1, 5, 10, 25, 50]))),
        "transport_modes": draw(st.lists(st.sampled_from(["car", "bicycle", "public_transport", "on_foot"]),
                                         unique=True, max_size=2)),
    }


@st.composite
def vacancies(draw, vacancy_id="v1"):
    must = draw(weighted)
    return {
        "vacancy_id": vacancy_id, "employer_id": "e1",
        "region": draw(st.sampled_from(["Twente", "Achterhoek"])),
        "pc4": draw(st.sampled_from(PC4S)),
        "skills_required": [m["skill"] for m in must] if draw(st.booleans()) else [],
        "must_have": must,
        "nice_to_have": draw(weighted),
        "occupation": draw(maybe(st.sampled_from(OCCUPATIONS))),
        "hours_per_week": draw(st.sampled_from([8, 16, 24, 32, 40])),
        "openings": draw(st.integers(0, 2)),
        "conditions_offered": draw(st.lists(st.sampled_from(VACANCY_CONDITIONS), unique=True, max_size=3)),
        "work_thinking_level": draw(maybe(st.integers(0, 7))),
        "visibility": draw(st.sampled_from(["public", "internal", "hidden"])),
        "is_leerwerkbaan": draw(st.booleans()),
        "banenafspraak_suitable": draw(st.booleans()),
        "valid_through": draw(maybe(dates)),
        "status": draw(st.sampled_from(["open", "open", "filled", "closed"])),
    }


candidate_filters = st.fixed_dictionaries({}, optional={
    "region": st.sampled_from(["Twente", ["Achterhoek"]]), "target_group": st.sampled_from(TARGET_GROUPS),
    "cohort": st.sampled_from(["k1", "k2"]), "banenafspraak": st.booleans()})
vacancy_filters = st.fixed_dictionaries({}, optional={
    "region": st.sampled_from(["Twente", "Achterhoek"]), "is_leerwerkbaan": st.booleans(),
    "visibility": st.sampled_from(["public", ["internal", "hidden"]]), "banenafspraak_suitable": st.booleans()})

# no example database: the tests leave no files behind
PROPERTY = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def assert_same(got: scoring.Ranking, want: scoring.Ranking) -> None:
    assert got.ids == want.ids
    assert got.scores == pytest.approx(want.scores, abs=1e-6)
    assert [m["id"] for m in got.near_misses] == [m["id"] for m in want.near_misses]
    assert got.near_miss_scores == pytest.approx(want.near_miss_scores, abs=1e-6)
    assert got.fairness == want.fairness
    for mine, theirs in zip(got.results + got.near_misses, want.results + want.near_misses, strict=True):
        for key in ("explanation", "skill_gaps", "distance_km", "conditions_to_check", "why_not"):
            assert mine.get(key) == theirs.get(key), key
        assert [b["value"] for b in mine["breakdown"]] == pytest.approx(
            [b["value"] for b in theirs["breakdown"]], abs=1e-4)
    json.dumps(got.to_dict())  # plain JSON


def build(profiles, vacancy_profiles, placed, via_load, modules=None) -> MatchingIndex:
    index = MatchingIndex(knowledge(), modules)
    if via_load:
        index.load(profiles, vacancy_profiles, not_in_pool=placed)
    else:
        for v in vacancy_profiles:
            index.upsert_vacancy(v)
        for p in profiles:
            index.upsert_candidate(p)
        for candidate_id in placed:
            index.set_in_pool(candidate_id, False)
    return index


@contextmanager
def eager_housekeeping(on: bool):
    """Compact and re-sort at every chance, to exercise both."""
    saved = Ragged.COMPACT_MIN, CellIndex.REBUILD_MIN
    if on:
        Ragged.COMPACT_MIN, CellIndex.REBUILD_MIN = 0, 0
    try:
        yield
    finally:
        Ragged.COMPACT_MIN, CellIndex.REBUILD_MIN = saved


@PROPERTY
@given(people=st.lists(candidates(), max_size=25, unique_by=lambda c: c["candidate_id"]), vacancy=vacancies(),
       placed=st.sets(st.sampled_from(CANDIDATE_IDS), max_size=5), filters=candidate_filters,
       limit=st.integers(1, 12), near_misses=st.integers(0, 4), via_load=st.booleans(), eager=st.booleans())
def test_candidates_for_vacancy_agrees_with_brute_force(people, vacancy, placed, filters, limit, near_misses,
                                                         via_load, eager):
    profiles = [CandidateProfile.from_event(p) for p in people]
    v = VacancyProfile.from_event(vacancy)
    index = build(profiles, [v], placed, via_load)
    with eager_housekeeping(eager):
        got = index.candidates_for_vacancy(v.vacancy_id, limit=limit, filters=filters, near_misses=near_misses)
    want = rank_candidates(v, profiles, limit=limit, filters=filters, near_misses=near_misses, placed=placed)
    assert_same(got, want)


@PROPERTY
@given(person=candidates(candidate_id="me"),
       jobs=st.lists(st.integers(0, 10_000).flatmap(lambda i: vacancies(f"v{i:05d}")), max_size=15,
                     unique_by=lambda v: v["vacancy_id"]),
       filters=vacancy_filters, limit=st.integers(1, 12), near_misses=st.integers(0, 4), via_load=st.booleans())
def test_vacancies_for_candidate_agrees_with_brute_force(person, jobs, filters, limit, near_misses, via_load):
    profile = CandidateProfile.from_event(person)
    vacancy_profiles = [VacancyProfile.from_event(v) for v in jobs]
    index = build([profile], vacancy_profiles, (), via_load)
    got = index.vacancies_for_candidate("me", limit=limit, filters=filters, near_misses=near_misses, today=TODAY)
    want = rank_vacancies(profile, vacancy_profiles, limit=limit, filters=filters, near_misses=near_misses,
                          today=TODAY)
    assert_same(got, want)


operations = st.one_of(
    st.tuples(st.just("upsert"), candidates()),
    st.tuples(st.just("remove"), st.sampled_from(CANDIDATE_IDS)),
    st.tuples(st.just("pool"), st.sampled_from(CANDIDATE_IDS), st.booleans()),
    st.tuples(st.just("vacancy"), vacancies()),
)


@PROPERTY
@given(ops=st.lists(operations, min_size=1, max_size=60), vacancy=vacancies(), eager=st.booleans())
def test_any_sequence_of_events_leaves_the_index_as_brute_force_sees_the_state(ops, vacancy, eager):
    with eager_housekeeping(eager):
        replay(ops, vacancy)


def replay(ops, vacancy):
    index = MatchingIndex(knowledge())
    state: dict[str, CandidateProfile] = {}
    placed: set[str] = set()
    v = VacancyProfile.from_event(vacancy)
    index.upsert_vacancy(v)
    for op in ops:
        if op[0] == "upsert":
            profile = CandidateProfile.from_event(op[1])
            index.upsert_candidate(profile)
            state[profile.candidate_id] = profile
        elif op[0] == "remove":
            assert index.remove_candidate(op[1]) == (op[1] in state)
            state.pop(op[1], None)
            placed.discard(op[1])
        elif op[0] == "pool":
            assert index.set_in_pool(op[1], op[2]) == (op[1] in state)
            if op[1] in state:
                (placed.discard if op[2] else placed.add)(op[1])
        else:
            v = VacancyProfile.from_event({**op[1], "vacancy_id": "v1"})
            index.upsert_vacancy(v)
    assert len(index) == len(state)
    got = index.candidates_for_vacancy("v1", limit=30, near_misses=30)
    want = rank_candidates(v, state.values(), limit=30, near_misses=30, placed=placed)
    assert_same(got, want)



# --- single events --------------------------------------------------------------------


@pytest.fixture
def index():
    idx = MatchingIndex(knowledge())
    idx.upsert_vacancy(f.vacancy("v1", skills_required=[f.SORT_WASTE], pc4="7511"))
    return idx


def test_a_new_profile_is_matched_after_its_one_event(index):
    assert index.candidates_for_vacancy("v1").ids == []
    index.upsert_candidate(f.candidate("new", skills=[f.SORT_WASTE]))
    assert index.candidates_for_vacancy("v1").ids == ["new"]


def test_a_changed_profile_is_matched_as_changed(index):
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE], pc4="1000"))  # moved away (unknown area)
    assert index.candidates_for_vacancy("v1").ids == []
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE, f.CREATE_WOOD_JOINTS], pc4="7512"))
    assert index.candidates_for_vacancy("v1").ids == ["c"]


def test_changed_hours_are_matched_as_changed_after_a_load():
    # the first cut files each row's hours with it: a change of hours alone must refile the row
    idx = MatchingIndex(knowledge())
    idx.load([f.candidate("part", skills=[f.SORT_WASTE], hours_per_week=8),
              f.candidate("full", skills=[f.SORT_WASTE], hours_per_week=40)],
             [f.vacancy("v40", skills_required=[f.SORT_WASTE], hours_per_week=40)])
    assert idx.candidates_for_vacancy("v40").ids == ["full"]
    idx.upsert_candidate(f.candidate("part", skills=[f.SORT_WASTE], hours_per_week=40))
    idx.upsert_candidate(f.candidate("full", skills=[f.SORT_WASTE], hours_per_week=8))
    assert idx.candidates_for_vacancy("v40").ids == ["part"]
    assert idx.candidates_for_vacancy("v40").near_misses == []  # 32 hours short is no near-miss


def test_a_wider_reach_after_a_query_is_matched():
    # a query keeps the areas it reaches from the vacancy's area for the widest reach then
    # held; a candidate reaching further afterwards must still be found
    idx = MatchingIndex(knowledge())
    idx.load([f.candidate("near", skills=[f.SORT_WASTE], pc4="7511", max_distance_km=5)],
             [f.vacancy("v1", skills_required=[f.SORT_WASTE], pc4="7512")])
    assert idx.candidates_for_vacancy("v1").ids == ["near"]
    idx.upsert_candidate(f.candidate("far", skills=[f.SORT_WASTE], pc4="1011", max_distance_km=250,
                                     transport_modes=["car"], max_travel_minutes=240))
    assert sorted(idx.candidates_for_vacancy("v1").ids) == ["far", "near"]
    assert idx.memory_bytes() > 0


def test_a_placement_takes_the_candidate_out_of_the_pool_and_an_ended_one_puts_them_back(index):
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))
    assert index.set_in_pool("c", False)
    assert index.candidates_for_vacancy("v1").ids == []
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))  # a profile update keeps them placed
    assert index.candidates_for_vacancy("v1").ids == [] and index.in_pool("c") is False
    assert index.set_in_pool("c", True)
    assert index.candidates_for_vacancy("v1").ids == ["c"]
    assert not index.set_in_pool("unknown", True)


def test_erasure_removes_the_profile(index):
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))
    assert index.remove_candidate("c")
    assert "c" not in index and len(index) == 0
    assert index.candidates_for_vacancy("v1").ids == []
    with pytest.raises(KeyError):
        index.vacancies_for_candidate("c")
    assert not index.remove_candidate("c")


def test_vacancies_change_and_leave(index):
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))
    assert index.vacancies_for_candidate("c", today=TODAY).ids == ["v1"]
    index.upsert_vacancy(f.vacancy("v1", skills_required=[f.SORT_WASTE], pc4="7511", openings=0))
    assert index.vacancies_for_candidate("c", today=TODAY).ids == []
    assert index.candidates_for_vacancy("v1").ids == ["c"]  # still rankable for whoever asks
    assert index.remove_vacancy("v1")
    with pytest.raises(KeyError):
        index.candidates_for_vacancy("v1")


def test_a_vacancy_profile_can_be_tried_without_indexing_it(index):
    index.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))
    trial = f.vacancy("draft", skills_required=[f.SORT_WASTE, f.SKILL + "00000000-0000-0000-0000-00000000abcd"])
    ranking = index.candidates_for_vacancy(trial)
    assert ranking.ids == [] and [m["why_not"][0]["constraint"] for m in ranking.near_misses] == ["skills"]
    assert index.candidates_for_vacancy(f.vacancy("draft", skills_required=[f.SORT_WASTE])).ids == ["c"]
    assert not index.has_vacancy("draft")


def test_a_module_learned_at_runtime_closes_a_must_have():
    modules = ModuleCatalogue()
    idx = MatchingIndex(knowledge(), modules)
    idx.upsert_vacancy(f.vacancy("v1", skills_required=[f.CREATE_WOOD_JOINTS]))
    idx.upsert_candidate(f.candidate("c", skills=[f.SORT_WASTE]))
    assert idx.candidates_for_vacancy("v1").ids == []
    modules.register("Houtbewerking basis", f.CREATE_WOOD_JOINTS)
    ranking = idx.candidates_for_vacancy("v1")
    assert ranking.ids == ["c"]
    assert ranking.results[0]["skill_gaps"][0]["closable_by"] == ["Houtbewerking basis"]


def test_growth_and_rewrites_keep_answers_right(monkeypatch):
    monkeypatch.setattr(Ragged, "COMPACT_MIN", 100)
    monkeypatch.setattr(CellIndex, "REBUILD_MIN", 50)
    idx = MatchingIndex(knowledge())
    v = f.vacancy("v1", must_have=[{"skill": f.SORT_WASTE, "weight": 1.0}], occupation=f.HANDYPERSON)
    idx.upsert_vacancy(v)
    state = {}
    for i in range(3000):  # one at a time: columns grow by doubling
        profile = f.candidate(f"c{i % 1200:04d}", pc4=PC4S[i % 8], skills=SKILLS[: 1 + i % 9][::-1 if i % 2 else 1],
                              hours_per_week=8 + i % 33)
        idx.upsert_candidate(profile)
        state[profile.candidate_id] = profile
    for i in range(0, 1200, 7):
        idx.remove_candidate(f"c{i:04d}")
        state.pop(f"c{i:04d}")
    assert len(idx) == len(state) == idx.counts()["candidates"]
    assert_same(idx.candidates_for_vacancy("v1", limit=50, near_misses=20),
                rank_candidates(v, state.values(), limit=50, near_misses=20))
    # no strict must-have: hundreds of rows left, all scored
    open_door = f.vacancy("v2", occupation=f.HANDYPERSON, hours_per_week=24,
                          nice_to_have=[{"skill": f.USE_POWER_TOOLS, "weight": 0.5}])
    idx.upsert_vacancy(open_door)
    ranking = idx.candidates_for_vacancy("v2", limit=20, near_misses=5)
    assert ranking.fairness["eligible"] > 256
    assert_same(ranking, rank_candidates(open_door, state.values(), limit=20, near_misses=5))


def test_load_builds_only_an_empty_index(index):
    with pytest.raises(RuntimeError):
        index.load([f.candidate("c")])


def test_ties_are_broken_by_id():
    idx = MatchingIndex(knowledge())
    idx.upsert_vacancy(f.vacancy("v1"))
    for candidate_id in ["b", "c", "a"]:
        idx.upsert_candidate(f.candidate(candidate_id))
    ranking = idx.candidates_for_vacancy("v1", limit=2)
    assert ranking.ids == ["a", "b"]
    assert ranking.fairness["eligible"] == 3 and ranking.fairness["top"] == 3


def test_the_carpenter_ranks_for_the_facility_worker_through_transferable_skills():
    from tests.unit.matching.test_scoring import FACILITY_WORKER, the_bookkeeper, the_carpenter

    idx = MatchingIndex(knowledge())
    idx.load([the_bookkeeper(), the_carpenter()], [f.vacancy("facility", **FACILITY_WORKER)])
    ranking = idx.candidates_for_vacancy("facility")
    assert ranking.ids == ["carpenter", "bookkeeper"]
    assert "transferable skills carry the match" in ranking.results[0]["explanation"]
    suggestions = idx.suggest_occupations("carpenter", limit=400)
    assert suggestions == scoring.suggest_occupations(scoring.candidate_facts(the_carpenter()), limit=400)


def test_skills_outside_esco_are_matched_exactly():
    idx = MatchingIndex(knowledge())
    local = [f.SKILL + f"00000000-0000-0000-0000-{i:012d}" for i in range(3000)]
    for i in range(0, 3000, 3):
        idx.upsert_candidate(f.candidate(f"c{i}", skills=local[i:i + 3]))
    v = f.vacancy("v1", skills_required=[local[2997]], nice_to_have=[{"skill": local[2998], "weight": 0.5}])
    assert idx.candidates_for_vacancy(v).ids == ["c2997"]


def test_an_empty_load_is_an_empty_index():
    idx = MatchingIndex(knowledge())
    idx.load([], [])
    assert len(idx) == 0 and idx.counts()["vacancies"] == 0
    idx.upsert_vacancy(f.vacancy("v1"))
    assert idx.candidates_for_vacancy("v1").ids == []


def test_counts_and_memory():
    idx = MatchingIndex(knowledge())
    empty = idx.memory_bytes()
    idx.load([f.candidate(f"c{i}", skills=[f.SORT_WASTE]) for i in range(100)], [f.vacancy("v1")], ["c0"])
    assert idx.counts() == {"candidates": 100, "in_pool": 99, "vacancies": 1, "open_vacancies": 1}
    assert idx.memory_bytes() > empty


def test_best_orders_as_rank_key_on_rounded_ties():
    # best rounds as np.round(score, 9) does, by its steps: near-ties within 1e-9 order by id
    rng = np.random.default_rng(5)
    score = np.round(rng.random(400), 9) + rng.choice([0.0, 4e-10, 5e-10, 6e-10], 400)
    ids = [f"c{i:03d}" for i in rng.permutation(400)]
    rows = np.arange(400)
    top, rest = best(score, (np.arange(0, 300), np.arange(300, 400)), (25, 5), ids, rows)
    want = sorted(range(300), key=lambda i: scoring.rank_key(score[i], ids[i]))[:25]
    assert top == want
    assert rest == sorted(range(300, 400), key=lambda i: scoring.rank_key(score[i], ids[i]))[:5]


def test_a_vacancy_asking_more_skills_than_a_mask_holds_is_explained_as_brute_force_does():
    # past 63 asked skills the held mask is worked out by sets, not compiled: the same answer
    asked = knowledge().known_skills()[:70]
    vacancy = f.vacancy("many", must_have=[{"skill": s, "weight": 1.0} for s in asked[:4]],
                        nice_to_have=[{"skill": s, "weight": 0.5} for s in asked[4:]])
    people = [f.candidate(f"c{i}", skills=asked[i:i + 30]) for i in range(0, 12, 3)]
    index = MatchingIndex(knowledge())
    index.load(people, [vacancy])
    assert len(asked) > MASK_GAPS  # more skills asked than the compiled mask has bits for
    got = index.candidates_for_vacancy("many", limit=10, near_misses=5)
    assert got.ids and any(r["skill_gaps"] for r in got.results)
    assert_same(got, rank_candidates(vacancy, people, limit=10, near_misses=5))
