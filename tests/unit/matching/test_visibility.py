"""The index offers and explains only the vacancies a caller may see, by the shared
rule (werkbrug_shared.visibility), as vacancy events change who that is."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from matching.esco import knowledge
from matching.index import MatchingIndex
from tests.unit.matching import factories as f
from werkbrug_shared import visibility
from werkbrug_shared.visibility import ANONYMOUS, Viewer

TODAY = date(2026, 6, 1)
ENSCHEDE = Viewer("gemeente-enschede", "Twente")
HENGELO = Viewer("gemeente-hengelo", "Twente")
UTRECHT = Viewer("gemeente-utrecht", "Midden-Utrecht")
SOWECO = Viewer("soweco", "Twente")
VIEWERS = (ENSCHEDE, HENGELO, UTRECHT, SOWECO, ANONYMOUS)
STEWARDINGS = ((), ("gemeente-enschede",), ("gemeente-utrecht",), ("gemeente-enschede", "soweco"))


def job(vacancy_id: str, kind: str, region: str, stewards) -> object:
    return f.vacancy(vacancy_id, skills_required=[f.SORT_WASTE], pc4="7511", region=region, visibility=kind,
                     steward_organisations=list(stewards))


@pytest.fixture
def index():
    """Every combination of visibility, region and stewards, each a vacancy the candidate fits."""
    idx = MatchingIndex(knowledge())
    jobs = [job(f"v{n}", kind, region, stewards) for n, (kind, region, stewards) in enumerate(
        itertools.product(visibility.VISIBILITIES, ("Twente", "Midden-Utrecht"), STEWARDINGS))]
    idx.load([f.candidate("c", skills=[f.SORT_WASTE])], jobs)
    return idx


def offered(idx: MatchingIndex, viewer) -> set[str]:
    ranking = idx.vacancies_for_candidate("c", limit=100, near_misses=100, today=TODAY, viewer=viewer)
    return set(ranking.ids) | {m["id"] for m in ranking.near_misses}


def expected(idx: MatchingIndex, viewer: Viewer) -> set[str]:
    return {vf.id for vf in idx._vacancy_facts.values()
            if visibility.may_see_vacancy(viewer, vf.visibility, vf.region, vf.steward_organisations)}


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: v.organisation or "anonymous")
def test_a_candidate_is_offered_only_the_vacancies_the_caller_may_see(index, viewer):
    assert offered(index, viewer) == expected(index, viewer)
    for vacancy_id in index._vacancy_facts:
        assert index.may_see(vacancy_id, viewer) is (vacancy_id in expected(index, viewer))
        if index.may_see(vacancy_id, viewer):
            assert index.candidates_for_vacancy(vacancy_id, viewer=viewer).ids == ["c"]
        else:
            with pytest.raises(KeyError):  # the service answers NotFound: as if it were not there
                index.candidates_for_vacancy(vacancy_id, viewer=viewer)


def test_matching_itself_sees_every_vacancy(index):
    assert offered(index, None) == set(index._vacancy_facts) and len(index._vacancy_facts) == 24


def test_a_hidden_vacancy_of_twente_is_for_twente_and_its_stewards():
    idx = MatchingIndex(knowledge())
    idx.load([f.candidate("c", skills=[f.SORT_WASTE])], [job("hidden", "hidden", "Twente", ["gemeente-enschede"])])
    assert offered(idx, HENGELO) == {"hidden"}
    assert offered(idx, UTRECHT) == set() and offered(idx, ANONYMOUS) == set()

    # Utrecht becomes a steward (vacancy.updated): it sees it from then on
    idx.upsert_vacancy(job("hidden", "hidden", "Twente", ["gemeente-enschede", "gemeente-utrecht"]))
    assert offered(idx, UTRECHT) == {"hidden"}
    # and no longer once it stops being one
    idx.upsert_vacancy(job("hidden", "hidden", "Twente", ["gemeente-enschede"]))
    assert offered(idx, UTRECHT) == set()
    # internal: every partner
    idx.upsert_vacancy(job("hidden", "internal", "Twente", ["gemeente-enschede"]))
    assert offered(idx, UTRECHT) == {"hidden"} and offered(idx, ANONYMOUS) == set()
    assert idx.remove_vacancy("hidden") and offered(idx, ENSCHEDE) == set()


def test_stewards_of_a_vacancy_that_left_are_forgotten():
    idx = MatchingIndex(knowledge())
    idx.load([f.candidate("c", skills=[f.SORT_WASTE])], [job("v", "hidden", "Twente", ["gemeente-utrecht"])])
    idx.remove_vacancy("v")
    idx.upsert_vacancy(job("w", "hidden", "Twente", []))
    assert offered(idx, UTRECHT) == set()


def test_the_visibility_facts_come_with_the_vacancy_event():
    profile = f.vacancy("v", visibility="hidden", steward_organisations=["soweco", "gemeente-enschede", "soweco"])
    assert (profile.visibility, profile.region, profile.steward_organisations) == (
        "hidden", "Twente", ("gemeente-enschede", "soweco"))
    assert f.vacancy("old").visibility == "public" and f.vacancy("old").steward_organisations == ()
