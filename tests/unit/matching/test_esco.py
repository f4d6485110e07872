"""Transferable skills, checked against the ESCO data itself."""

from __future__ import annotations

import numpy as np
import pytest

from matching.esco import ROOTS, knowledge
from tests.unit.matching import factories as f
from werkbrug_shared import refdata


@pytest.fixture(scope="module")
def k():
    return knowledge()


@pytest.mark.parametrize(("uri", "label"), [
    (f.CARPENTER, "carpenter"),
    (f.HANDYPERSON, "handyperson"),
    (f.BUILDING_CARETAKER, "building caretaker"),
    (f.ACCOUNTANT, "accountant"),
    (f.COOK, "cook"),
])
def test_the_cases_occupations_are_esco_occupations(uri, label):
    assert refdata.occupations()[uri].label_en == label


@pytest.mark.parametrize(("uri", "label"), [
    (f.WORK_ERGONOMICALLY, "work ergonomically"),
    (f.USE_MEASUREMENT_INSTRUMENTS, "use measurement instruments"),
    (f.USE_POWER_TOOLS, "use power tools"),
    (f.USE_TOOLBOX_TOOLS, "use traditional toolbox tools"),
    (f.CREATE_WOOD_JOINTS, "create wood joints"),
    (f.VCA_SAFETY, "follow health and safety procedures in construction"),
    (f.OPERATE_FORKLIFT, "operate forklift"),
    (f.LIFT_HEAVY_WEIGHTS, "lift heavy weights"),
    (f.ACCOUNTING_SKILLS[0], "accounting department processes"),
])
def test_the_cases_skills_are_esco_skills(uri, label):
    assert refdata.skills()[uri].label_en == label


def test_carpenter_holds_2_of_the_19_essential_skills_of_handyperson(k):
    comparison = k.compare(f.CARPENTER, f.HANDYPERSON)
    assert comparison.target_essential == 19
    assert set(comparison.shared_essential) == {f.WORK_ERGONOMICALLY, f.USE_MEASUREMENT_INSTRUMENTS}


def test_but_reaches_most_of_handypersons_skill_groups(k):
    # three levels up the broader tree, without the four roots every skill shares
    comparison = k.compare(f.CARPENTER, f.HANDYPERSON)
    assert (len(comparison.shared_concepts), comparison.target_concepts) == (29, 56)
    labels = {k.concept_label(c) for c in comparison.shared_concepts}
    assert {"using hand tools", "handling and moving"} <= labels


def test_building_caretaker_shares_no_essential_skill_with_carpenter_and_is_mostly_supervisory(k):
    comparison = k.compare(f.CARPENTER, f.BUILDING_CARETAKER)
    assert comparison.shared_essential == ()
    assert comparison.target_essential == 10
    caretaker = {k.label(s) for s in k.essential_skills(f.BUILDING_CARETAKER)}
    assert {"manage cleaning activities", "manage ground maintenance", "liaise with managers"} <= caretaker
    assert len(comparison.shared_concepts) < comparison.target_concepts / 4


def test_a_carpenter_fits_handyperson_far_better_than_building_caretaker(k):
    to_handyperson = k.compare(f.CARPENTER, f.HANDYPERSON).fit
    to_caretaker = k.compare(f.CARPENTER, f.BUILDING_CARETAKER).fit
    assert to_handyperson > 0.4
    assert to_caretaker < 0.1
    assert k.occupation_similarity(f.CARPENTER, f.HANDYPERSON) > 5 * k.occupation_similarity(
        f.CARPENTER, f.BUILDING_CARETAKER)


def test_an_accountant_fits_handyperson_worse_than_a_carpenter(k):
    assert k.compare(f.ACCOUNTANT, f.HANDYPERSON).fit < k.compare(f.CARPENTER, f.HANDYPERSON).fit / 2


def test_rare_groups_weigh_more_than_common_ones(k):
    hand_tools = next(c for c in k.concepts_of([f.USE_TOOLBOX_TOOLS]) if k.concept_label(c) == "using hand tools")
    handling = next(c for c in k.concepts_of([f.USE_TOOLBOX_TOOLS]) if k.concept_label(c) == "handling and moving")
    assert k.idf[hand_tools] > k.idf[handling]


def test_the_roots_are_not_concepts(k):
    assert not ROOTS & set(k.concepts)


def test_an_occupation_is_fully_similar_to_itself_and_unknown_ones_to_nothing(k):
    assert k.occupation_similarity(f.CARPENTER, f.CARPENTER) == 1.0
    assert k.occupation_similarity(f.OCCUPATION + "00000000-0000-0000-0000-000000000000", f.CARPENTER) == 0.0
    row = k.similarities_to(f.CARPENTER)
    among = [k.occupation_index[f.HANDYPERSON], k.occupation_index[f.CARPENTER]]
    assert list(k.similarities_to(f.CARPENTER, among=np.array(among))) == list(row[among])


def test_occupation_fits_ranks_related_occupations_first(k):
    fits = k.occupation_fits(k.concepts_of(k.essential_skills(f.CARPENTER)))
    assert fits[k.occupation_index[f.CARPENTER]] == pytest.approx(1.0)
    assert fits[k.occupation_index[f.HANDYPERSON]] > 3 * fits[k.occupation_index[f.BUILDING_CARETAKER]]


def test_unknown_skills_reach_no_concepts(k):
    assert k.skill_concepts(f.SKILL + "00000000-0000-0000-0000-000000000000") == frozenset()
