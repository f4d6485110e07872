"""The reference scoring of one pair: constraints with their why-not, the
weighted score and its breakdown, skill gaps, the explanation."""

from __future__ import annotations

import math
from datetime import date

import pytest

from matching import scoring
from matching.esco import DUTCH_SKILLS, knowledge
from matching.scoring import WEIGHTS, rank_candidates, rank_vacancies, score_pair
from tests.unit.matching import factories as f

FAR_PC4 = "7601"  # Almelo, about 21 km from Enschede's 7511
UNKNOWN_PC4 = "1000"  # valid in form, in no PC4 table


def constraints(pair) -> list[str]:
    return [failure.constraint for failure in pair.failures]


def reasons(pair) -> str:
    return " | ".join(failure.reason for failure in pair.failures)


def test_a_fitting_pair_passes_every_constraint():
    pair = score_pair(f.candidate(skills=[f.SORT_WASTE]), f.vacancy(must_have=[{"skill": f.SORT_WASTE, "weight": 1}]))
    assert pair.eligible and not pair.failures
    assert 0 < pair.score <= 1


# --- hours --------------------------------------------------------------------------


def test_hours_outside_the_candidates_range_exclude():
    pair = score_pair(f.candidate(hours_min=12, hours_per_week=24), f.vacancy(hours_per_week=32))
    assert constraints(pair) == ["hours"]
    assert "32 hours a week do not fit the candidate's 12-24 hours" in reasons(pair)
    assert pair.near_miss  # eight hours off
    assert not score_pair(f.candidate(hours_min=12, hours_per_week=24), f.vacancy(hours_per_week=40)).near_miss


def test_flexible_hours_accept_from_half():
    vacancy = f.vacancy(hours_per_week=32, conditions_offered=["flexible_hours"])
    assert score_pair(f.candidate(hours_min=12, hours_per_week=24), vacancy).eligible
    assert constraints(score_pair(f.candidate(hours_min=8, hours_per_week=12), vacancy)) == ["hours"]


def test_no_least_hours_means_from_one_hour():
    assert score_pair(f.candidate(hours_per_week=40), f.vacancy(hours_per_week=8)).eligible


# --- travel -------------------------------------------------------------------------


def test_too_far_by_the_candidates_fastest_mode_excludes():
    candidate = f.candidate(max_travel_minutes=30, transport_modes=["bicycle", "on_foot"])
    pair = score_pair(candidate, f.vacancy(pc4=FAR_PC4))
    assert constraints(pair) == ["travel"]
    assert "km takes about" in reasons(pair) and "by bicycle" in reasons(pair)
    assert "over the candidate's maximum of 30 minutes" in reasons(pair)
    assert not pair.near_miss
    assert score_pair(f.candidate(max_travel_minutes=45, transport_modes=["car"]), f.vacancy(pc4=FAR_PC4)).eligible


def test_a_distance_limit_excludes_with_its_own_reason():
    pair = score_pair(f.candidate(max_distance_km=10, transport_modes=["car"]), f.vacancy(pc4=FAR_PC4))
    assert constraints(pair) == ["travel"]
    assert "is over the candidate's maximum of 10 km" in reasons(pair)


def test_without_limits_an_hour_by_bicycle_or_public_transport():
    cf = scoring.candidate_facts(f.candidate())
    assert cf.travel_minutes == scoring.DEFAULT_MAX_TRAVEL_MINUTES
    assert cf.modes == ("bicycle", "public_transport")
    # public transport: 50 minutes after 10 of waiting, at 25 km/h over 1.3x the straight line
    assert cf.reach_km == pytest.approx(50 * 25 / 60 / 1.3)


def test_an_unknown_postcode_area_cannot_be_reached():
    pair = score_pair(f.candidate(pc4=UNKNOWN_PC4), f.vacancy())
    assert constraints(pair) == ["travel"]
    assert f"postcode area {UNKNOWN_PC4} has no known location" in reasons(pair)
    assert pair.distance_km is None and pair.values["distance"] == 0.0


def test_travel_just_beyond_reach_is_a_near_miss():
    cf = scoring.candidate_facts(f.candidate(max_distance_km=15))
    vf = scoring.vacancy_facts(f.vacancy(pc4=FAR_PC4))
    assert scoring.evaluate(cf, vf, distance=18.0).near_miss  # within a quarter beyond
    assert not scoring.evaluate(cf, vf, distance=19.0).near_miss


# --- conditions ---------------------------------------------------------------------


def test_a_low_stimulus_need_only_matches_a_low_stimulus_workplace():
    candidate = f.candidate(conditions=["low_stimulus_workplace"])
    pair = score_pair(candidate, f.vacancy())
    assert constraints(pair) == ["conditions"]
    assert "needs a low-stimulus workplace" in reasons(pair)
    assert score_pair(candidate, f.vacancy(conditions_offered=["low_stimulus_workplace"])).eligible


@pytest.mark.parametrize(("need", "offer"), [
    ("workplace_adaptation", "adapted_workplace"), ("jobcoach_needed", "on_the_job_guidance")])
def test_other_checked_conditions_need_their_offer(need, offer):
    candidate = f.candidate(conditions=[need])
    assert constraints(score_pair(candidate, f.vacancy())) == ["conditions"]
    assert score_pair(candidate, f.vacancy(conditions_offered=[offer])).eligible


def test_no_heavy_lifting_excludes_a_heavy_must_have_unless_the_job_is_carved():
    candidate = f.candidate(conditions=["no_heavy_lifting"], skills=[f.LIFT_HEAVY_WEIGHTS])
    heavy = f.vacancy(must_have=[{"skill": f.LIFT_HEAVY_WEIGHTS, "weight": 1.0}])
    pair = score_pair(candidate, heavy)
    assert constraints(pair) == ["conditions"]
    assert "cannot lift heavy loads" in reasons(pair) and "lift heavy weights" in reasons(pair)
    carved = f.vacancy(must_have=[{"skill": f.LIFT_HEAVY_WEIGHTS, "weight": 1.0}], conditions_offered=["job_carving"])
    assert score_pair(candidate, carved).eligible
    assert score_pair(candidate, f.vacancy(nice_to_have=[{"skill": f.LIFT_HEAVY_WEIGHTS, "weight": 1}])).eligible


def test_conditions_vacancy_data_cannot_answer_never_exclude_but_are_listed():
    candidate = f.candidate(conditions=["no_night_shifts", "childcare_window", "something_else"])
    pair = score_pair(candidate, f.vacancy())
    assert pair.eligible
    assert pair.result("c1")["conditions_to_check"] == ["childcare_window", "no_night_shifts", "something_else"]


def test_two_unmet_conditions_are_no_near_miss():
    candidate = f.candidate(conditions=["low_stimulus_workplace", "jobcoach_needed"])
    pair = score_pair(candidate, f.vacancy())
    assert constraints(pair) == ["conditions", "conditions"]
    assert not pair.near_miss
    assert score_pair(candidate, f.vacancy(conditions_offered=["on_the_job_guidance"])).near_miss


# --- level, skills, availability ----------------------------------------------------


def test_work_and_thinking_level_below_the_vacancys_excludes():
    pair = score_pair(f.candidate(work_thinking_level=2), f.vacancy(work_thinking_level=3))
    assert constraints(pair) == ["level"]
    assert "asks work and thinking level 3; the candidate's is 2" in reasons(pair)
    assert pair.near_miss
    assert not score_pair(f.candidate(work_thinking_level=1), f.vacancy(work_thinking_level=3)).near_miss
    leerwerkbaan = f.vacancy(work_thinking_level=3, is_leerwerkbaan=True)  # teaches on the job: one level less
    assert score_pair(f.candidate(work_thinking_level=2), leerwerkbaan).eligible
    assert score_pair(f.candidate(), f.vacancy(work_thinking_level=5)).eligible  # unknown: not held against


def test_a_missing_must_have_no_module_closes_excludes():
    pair = score_pair(f.candidate(skills=[f.SORT_WASTE]), f.vacancy(skills_required=[f.CREATE_WOOD_JOINTS]))
    assert constraints(pair) == ["skills"]
    assert "must-have skill 'create wood joints' is missing and no known module closes it" in reasons(pair)
    assert not pair.near_miss  # lacking the one key skill asked is no near-miss


def test_missing_one_of_two_strict_must_haves_is_a_near_miss():
    vacancy = f.vacancy(skills_required=[f.CREATE_WOOD_JOINTS, f.JOIN_WOOD_ELEMENTS])
    assert score_pair(f.candidate(skills=[f.CREATE_WOOD_JOINTS]), vacancy).near_miss
    assert not score_pair(f.candidate(skills=[f.SORT_WASTE]), vacancy).near_miss


def test_a_vca_gap_names_the_vca_module_and_does_not_exclude():
    vacancy = f.vacancy(must_have=[{"skill": f.VCA_SAFETY, "weight": 1.0}, {"skill": f.SORT_WASTE, "weight": 1.0}])
    pair = score_pair(f.candidate(skills=[f.SORT_WASTE]), vacancy)
    assert pair.eligible
    result = pair.result("c1")
    assert result["skill_gaps"] == [{
        "skill": f.VCA_SAFETY, "label": "follow health and safety procedures in construction",
        "requirement": "must_have", "weight": 1.0, "closable_by": ["VCA Basis"]}]
    assert "1 more closable by a module" in result["explanation"]
    assert pair.values["must_have"] == pytest.approx(0.5 * scoring.STRENGTH[scoring.UNKNOWN_LEVEL])
    assert score_pair(f.candidate(skills=[f.SORT_WASTE, f.VCA_SAFETY]), vacancy).values["must_have"] > 0.7


def test_available_only_after_the_vacancy_closes_excludes():
    candidate = f.candidate(available_from="2026-09-10")
    pair = score_pair(candidate, f.vacancy(valid_through="2026-09-01"))
    assert constraints(pair) == ["availability"]
    assert "available from 2026-09-10, after the vacancy closes on 2026-09-01" in reasons(pair)
    assert pair.near_miss
    assert score_pair(candidate, f.vacancy(valid_through="2026-10-01")).eligible


def test_a_dutch_level_implies_the_dutch_skills():
    speak_dutch = DUTCH_SKILLS[3]  # interact verbally in Dutch
    vacancy = f.vacancy(must_have=[{"skill": speak_dutch, "weight": 1.0}])
    assert score_pair(f.candidate(dutch_level="B1"), vacancy).result("c")["skill_gaps"] == []
    gaps = score_pair(f.candidate(dutch_level="A1"), vacancy).result("c")["skill_gaps"]
    assert gaps[0]["closable_by"] == ["Nederlands op de werkvloer (NT2)"]


# --- the score ----------------------------------------------------------------------


def test_weights_sum_to_one_and_the_breakdown_adds_up():
    assert math.isclose(sum(WEIGHTS.values()), 1.0)
    pair = score_pair(f.candidate(skills=list(f.CARPENTER_SKILLS), occupations_wanted=[f.CARPENTER]),
                      f.vacancy(occupation=f.HANDYPERSON, nice_to_have=[{"skill": f.SORT_WASTE, "weight": 0.5}]))
    breakdown = pair.result("c1")["breakdown"]
    assert [b["component"] for b in breakdown] == list(WEIGHTS)
    for b in breakdown:
        assert 0 <= b["value"] <= 1
        assert b["weight"] == WEIGHTS[b["component"]]
        assert b["contribution"] == pytest.approx(b["weight"] * b["value"], abs=1e-4)
    assert sum(b["contribution"] for b in breakdown) == pytest.approx(pair.score, abs=1e-3)
    assert scoring.breakdown(pair.values) == breakdown  # what a proposed match keeps


def test_higher_skill_levels_score_higher():
    vacancy = f.vacancy(must_have=[{"skill": f.SORT_WASTE, "weight": 1.0}])

    def with_level(level):
        return f.candidate(skills=[f.SORT_WASTE],
                           skill_evidence=[{"skill": f.SORT_WASTE, "level": level, "evidence": "practice_day"}])

    scores = [score_pair(with_level(level), vacancy).score for level in (1, 2, 3)]
    assert scores == sorted(scores) and scores[0] < scores[2]


def test_closer_is_better():
    near, far = f.candidate(pc4="7511"), f.candidate(pc4="7552")
    vacancy = f.vacancy(pc4="7511")
    assert score_pair(near, vacancy).values["distance"] == 1.0
    assert score_pair(far, vacancy).score < score_pair(near, vacancy).score


def test_a_wanted_occupation_counts():
    vacancy = f.vacancy(occupation=f.HANDYPERSON)
    wants = score_pair(f.candidate(occupations_wanted=[f.HANDYPERSON]), vacancy)
    related = score_pair(f.candidate(occupations_wanted=[f.CARPENTER]), vacancy)
    other = score_pair(f.candidate(occupations_wanted=[f.ACCOUNTANT]), vacancy)
    assert wants.values["wishes"] > related.values["wishes"] > other.values["wishes"]
    assert "wants to work as handyperson" in wants.result("c")["explanation"]


# --- the carpenter and the facility worker ------------------------------------------


FACILITY_WORKER = dict(  # allround facilitair medewerker: ESCO's nearest is handyperson
    occupation=f.HANDYPERSON,
    must_have=[{"skill": f.WORK_ERGONOMICALLY, "weight": 1.0}, {"skill": f.USE_MEASUREMENT_INSTRUMENTS, "weight": 1.0}],
    nice_to_have=[{"skill": f.USE_POWER_TOOLS, "weight": 0.5}, {"skill": f.USE_TOOLBOX_TOOLS, "weight": 0.5}],
)


def the_carpenter():
    return f.candidate("carpenter", skills=list(f.CARPENTER_SKILLS))


def the_bookkeeper():
    """The same two exact skills, and nothing else in common with the work."""
    return f.candidate("bookkeeper", skills=[f.WORK_ERGONOMICALLY, f.USE_MEASUREMENT_INSTRUMENTS,
                                             *f.ACCOUNTING_SKILLS])


def test_the_bookkeepers_other_skills_have_nothing_in_common_with_handyperson():
    k = knowledge()
    assert not k.concepts_of(f.ACCOUNTING_SKILLS) & k.occupation_concepts(f.HANDYPERSON) - k.concepts_of(
        [f.WORK_ERGONOMICALLY, f.USE_MEASUREMENT_INSTRUMENTS])


def test_the_carpenter_ranks_above_the_same_exact_skills_through_transferable_skills():
    vacancy = f.vacancy(**FACILITY_WORKER)
    carpenter, bookkeeper = score_pair(the_carpenter(), vacancy), score_pair(the_bookkeeper(), vacancy)
    assert carpenter.values["must_have"] == bookkeeper.values["must_have"]
    assert carpenter.values["nice_to_have"] == bookkeeper.values["nice_to_have"] == 0
    assert carpenter.values["occupation_fit"] > bookkeeper.values["occupation_fit"]
    assert carpenter.score > bookkeeper.score
    explanation = carpenter.result("carpenter")["explanation"]
    assert "transferable skills carry the match" in explanation
    assert "of handyperson's 56 skill groups" in explanation and "using hand tools" in explanation
    assert "transferable" not in bookkeeper.result("bookkeeper")["explanation"]
    ranking = rank_candidates(vacancy, [the_bookkeeper(), the_carpenter()])
    assert ranking.ids == ["carpenter", "bookkeeper"]


def test_the_carpenter_fits_building_caretaker_poorly():
    caretaker = score_pair(the_carpenter(), f.vacancy(occupation=f.BUILDING_CARETAKER))
    handyperson = score_pair(the_carpenter(), f.vacancy(occupation=f.HANDYPERSON))
    assert handyperson.values["occupation_fit"] > 3 * caretaker.values["occupation_fit"]
    assert "transferable" not in caretaker.result("c")["explanation"]


def test_suggest_occupations_looks_broader_than_the_last_job():
    cf = scoring.candidate_facts(the_carpenter())
    suggestions = scoring.suggest_occupations(cf, limit=400)
    labels = [s["label"] for s in suggestions]
    assert "carpenter" in labels[:10]
    assert "handyperson" in labels and "building caretaker" not in labels
    handyperson = suggestions[labels.index("handyperson")]
    assert handyperson["essential_held"] == 2 and handyperson["essential_total"] == 19
    assert any(g["label"] == "use power tools" for g in handyperson["skill_gaps"])
    assert "of handyperson's 56 skill groups" in handyperson["explanation"]
    full = scoring.candidate_facts(f.candidate(skills=list(knowledge().essential_skills(f.CARPENTER))))
    assert scoring.suggest_occupations(full, limit=1)[0]["label"] == "carpenter"


# --- brute-force rankings -----------------------------------------------------------


def test_rank_candidates_leaves_out_the_placed_and_counts_fairness():
    vacancy = f.vacancy(skills_required=[f.SORT_WASTE])
    people = [f.candidate(f"c{i}", skills=[f.SORT_WASTE], target_groups=[group])
              for i, group in enumerate(["bijstand", "statushouder", "statushouder", "ww"])]
    ranking = rank_candidates(vacancy, people, placed={"c3"})
    assert sorted(ranking.ids) == ["c0", "c1", "c2"]
    assert ranking.ids == ["c0", "c1", "c2"]  # equal scores: by id
    assert ranking.fairness["eligible"] == 3
    assert ranking.fairness["eligible_by_group"]["statushouder"] == 2
    assert ranking.fairness["top_by_group"] == {**dict.fromkeys(scoring.TARGET_GROUPS, 0), "bijstand": 1,
                                                "statushouder": 2}


def test_near_misses_come_apart_with_why_not():
    vacancy = f.vacancy(hours_per_week=32)
    people = [f.candidate("fits"), f.candidate("short", hours_per_week=28), f.candidate("far", pc4=UNKNOWN_PC4)]
    ranking = rank_candidates(vacancy, people)
    assert ranking.ids == ["fits"]
    assert [m["id"] for m in ranking.near_misses] == ["short"]
    assert ranking.near_misses[0]["why_not"][0]["constraint"] == "hours"


def test_filters_narrow_the_pool_and_unknown_filters_are_refused():
    vacancy = f.vacancy()
    people = [f.candidate("a", region="Twente", cohort="k1"), f.candidate("b", region="Achterhoek", cohort="k2",
                                                                         banenafspraak=True)]
    assert rank_candidates(vacancy, people, filters={"region": "Twente"}).ids == ["a"]
    assert rank_candidates(vacancy, people, filters={"cohort": ["k2"]}).ids == ["b"]
    assert rank_candidates(vacancy, people, filters={"banenafspraak": True}).ids == ["b"]
    assert rank_candidates(vacancy, people, filters={"target_group": "ww"}).ids == []
    with pytest.raises(ValueError, match="unknown filter"):
        rank_candidates(vacancy, people, filters={"postcode": "7511"})


def test_rank_vacancies_offers_only_open_vacancies_with_a_free_opening():
    today = date(2026, 6, 1)
    vacancies = [f.vacancy("open"), f.vacancy("filled", openings=0), f.vacancy("closed", status="closed"),
                 f.vacancy("expired", valid_through="2026-05-01"), f.vacancy("hidden", visibility="hidden")]
    assert rank_vacancies(f.candidate(), vacancies, today=today).ids == ["hidden", "open"] or \
        sorted(rank_vacancies(f.candidate(), vacancies, today=today).ids) == ["hidden", "open"]
    assert rank_vacancies(f.candidate(), vacancies, today=today, filters={"visibility": "public"}).ids == ["open"]
