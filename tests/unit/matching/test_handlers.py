"""Matching's handlers on a SQLite unit of work, a fake index and a fixed moment: the rules
of proposals, placements and the index's rows, without a broker or nameko."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from matching import domain, handlers
from matching.changes import CANDIDATE, MODULE, POOL, VACANCY
from matching.models import ErasedCandidate, IndexedCandidate, IndexedVacancy, LearnedModule, Match, Placement, metadata
from tests.unit.conftest import sqlite_unit_of_work
from werkbrug_shared.errors import Conflict, NotFound, ValidationError
from werkbrug_shared.visibility import Viewer

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
START = date(2026, 4, 1)
ENSCHEDE = Viewer("gemeente-enschede", "Twente")
HENGELO = Viewer("gemeente-hengelo", "Twente")  # same region, not a steward
UTRECHT = Viewer("gemeente-utrecht", "Utrecht")
SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"


class FakeIndex:
    """What a handler tells the index: the kinds and keys it changed."""

    def __init__(self):
        self.changes: list[tuple[str, list]] = []

    def changed(self, kind, keys):
        self.changes.append((kind, list(keys)))


@pytest.fixture
def uow():
    with sqlite_unit_of_work(metadata, "matching") as uow:
        yield uow


@pytest.fixture
def index():
    return FakeIndex()


def add_candidate(uow, candidate_id="c-1", hours=32, in_pool=True):
    profile = {"candidate_id": candidate_id, "region": "Twente", "pc4": "7511", "hours_per_week": hours,
               "target_groups": ["bijstand"], "skills": [SKILL], "conditions": ["no_night_shifts"],
               "cohort": "werkfit-1", "dutch_level": "B1"}
    uow.session.add(IndexedCandidate(candidate_id=candidate_id, region="Twente", pc4="7511", target_groups=["bijstand"],
                                     skills=[SKILL], hours_per_week=hours, conditions=["no_night_shifts"],
                                     cohort="werkfit-1", in_pool=in_pool, profile=profile))
    uow.session.flush()


def add_vacancy(uow, vacancy_id="v-1", visibility="public", stewards=("gemeente-enschede",), status="open"):
    profile = {"vacancy_id": vacancy_id, "employer_id": "e-1", "region": "Twente", "pc4": "7511",
               "skills_required": [SKILL], "hours_per_week": 32, "openings": 2}
    uow.session.add(IndexedVacancy(vacancy_id=vacancy_id, employer_id="e-1", region="Twente", pc4="7511",
                                   skills_required=[SKILL], hours_per_week=32, openings=2, status=status,
                                   profile=profile, visibility=visibility, steward_organisations=list(stewards)))
    uow.session.flush()


def placement(**given):
    data = {"candidate_id": "c-1", "vacancy_id": "v-1", "start_date": START, "hours_per_week": 32,
            "match_id": None, "request_id": None}
    data.update(given)
    return data


def emitted(uow, type_suffix):
    return [e for e in uow.emitted if e.type.endswith(type_suffix)]


# --- placements ---------------------------------------------------------------------------

def test_a_placement_takes_the_candidate_out_of_the_pool_and_says_so_without_personal_data(uow, index):
    add_candidate(uow)
    add_vacancy(uow)
    row = handlers.record_placement(uow, index, ENSCHEDE, placement(), NOW)
    assert (row.status, row.recorded_at, row.recorded_by) == (domain.ACTIVE, NOW, "gemeente-enschede")
    assert row.credited_organisations == ["gemeente-enschede"]
    assert uow.session.get(IndexedCandidate, "c-1").in_pool is False
    assert index.changes == [(POOL, ["c-1"])]
    (event,) = emitted(uow, "placement.recorded.v1")
    assert event.data["conditions"] == ["no_night_shifts"] and event.data["dutch_level"] == "B1"
    assert set(event.data) == {"placement_id", "candidate_id", "vacancy_id", "employer_id", "start_date",
                               "hours_per_week", "region", "target_groups", "cohort", "match_id",
                               "credited_organisations", "conditions", "dutch_level"}


def test_a_retried_request_gets_its_placement_back_and_another_request_under_its_key_a_conflict(uow, index):
    add_candidate(uow)
    add_vacancy(uow)
    first = handlers.record_placement(uow, index, ENSCHEDE, placement(request_id="r-1"), NOW)
    again = handlers.record_placement(uow, index, ENSCHEDE, placement(request_id="r-1"), NOW)
    assert again.id == first.id
    assert len(emitted(uow, "placement.recorded.v1")) == 1 and index.changes == [(POOL, ["c-1"])]
    with pytest.raises(Conflict, match="hours_per_week"):
        handlers.record_placement(uow, index, ENSCHEDE, placement(request_id="r-1", hours_per_week=8), NOW)


def test_two_placements_side_by_side_must_fit_the_hours_the_candidate_wants(uow, index):
    add_candidate(uow, hours=32)
    add_vacancy(uow, "v-1")
    add_vacancy(uow, "v-2")
    handlers.record_placement(uow, index, ENSCHEDE, placement(hours_per_week=16), NOW)
    with pytest.raises(Conflict, match="active placement on this vacancy"):
        handlers.record_placement(uow, index, ENSCHEDE, placement(hours_per_week=8), NOW)
    with pytest.raises(Conflict, match="over the 32"):
        handlers.record_placement(uow, index, ENSCHEDE, placement(vacancy_id="v-2", hours_per_week=24), NOW)
    handlers.record_placement(uow, index, ENSCHEDE, placement(vacancy_id="v-2", hours_per_week=16), NOW)


def test_a_hidden_vacancy_is_placed_only_by_whoever_may_see_it(uow, index):
    add_candidate(uow)
    add_vacancy(uow, visibility="hidden")
    with pytest.raises(NotFound, match="no vacancy"):
        handlers.record_placement(uow, index, UTRECHT, placement(), NOW)
    assert index.changes == [] and uow.emitted == []
    handlers.record_placement(uow, index, HENGELO, placement(), NOW)


def test_an_ended_placement_puts_the_candidate_back_unless_placed_elsewhere(uow, index):
    add_candidate(uow, hours=32)
    add_vacancy(uow, "v-1")
    add_vacancy(uow, "v-2")
    one = handlers.record_placement(uow, index, ENSCHEDE, placement(hours_per_week=16), NOW)
    two = handlers.record_placement(uow, index, ENSCHEDE, placement(vacancy_id="v-2", hours_per_week=16), NOW)
    with pytest.raises(ValidationError, match="end_date"):
        handlers.end_placement(uow, index, ENSCHEDE, one.id, date(2026, 3, 1), "contract_ended")
    handlers.end_placement(uow, index, ENSCHEDE, one.id, date(2026, 5, 1), "contract_ended")
    assert uow.session.get(IndexedCandidate, "c-1").in_pool is False  # still placed on v-2
    with pytest.raises(Conflict, match="already ended"):
        handlers.end_placement(uow, index, ENSCHEDE, one.id, date(2026, 5, 1), "contract_ended")
    handlers.end_placement(uow, index, ENSCHEDE, two.id, date(2026, 6, 1), "contract_ended")
    assert uow.session.get(IndexedCandidate, "c-1").in_pool is True
    assert index.changes[-1] == (POOL, ["c-1"])
    assert [e.data["reason"] for e in emitted(uow, "placement.ended.v1")] == ["contract_ended", "contract_ended"]


def test_a_jobcoach_outcome_ends_an_active_placement_once_and_never_before_its_start(uow, index):
    add_candidate(uow)
    add_vacancy(uow)
    row = handlers.record_placement(uow, index, ENSCHEDE, placement(), NOW)
    handlers.placement_ended_by_jobcoach(uow, index, row.id, date(2026, 1, 1), "dismissed")
    assert (row.status, row.end_date) == (domain.ENDED, START)
    handlers.placement_ended_by_jobcoach(uow, index, row.id, date(2026, 7, 1), "dismissed")
    assert row.end_date == START and len(emitted(uow, "placement.ended.v1")) == 1
    handlers.placement_ended_by_jobcoach(uow, index, "no-such-placement", date(2026, 7, 1), "dismissed")


# --- matches ------------------------------------------------------------------------------

def test_a_match_goes_proposed_introduced_placed_and_a_placed_one_cannot_be_rejected(uow, index):
    add_candidate(uow)
    add_vacancy(uow)
    match = handlers.propose(uow, ENSCHEDE, "c-1", "v-1", NOW)
    assert (match.status, match.proposed_by, match.proposed_at) == (domain.PROPOSED, "gemeente-enschede", NOW)
    assert 0 <= match.score <= 1 and match.breakdown
    with pytest.raises(Conflict, match="already proposed"):
        handlers.propose(uow, HENGELO, "c-1", "v-1", NOW)
    handlers.introduce(uow, HENGELO, match.id, "spoke with the employer", NOW)
    assert (match.status, match.note_by) == (domain.INTRODUCED, "gemeente-hengelo")
    row = handlers.record_placement(uow, index, ENSCHEDE, placement(match_id=match.id), NOW)
    assert (match.status, match.placement_id) == (domain.PLACED, row.id)
    assert row.credited_organisations == ["gemeente-enschede"]
    with pytest.raises(Conflict, match="placed match cannot become rejected"):
        handlers.reject(uow, ENSCHEDE, match.id, "employer_declined", None, NOW)


def test_a_match_of_another_candidate_or_vacancy_is_refused_naming_match_id(uow, index):
    add_candidate(uow, "c-1")
    add_candidate(uow, "c-2")
    add_vacancy(uow)
    match = handlers.propose(uow, ENSCHEDE, "c-2", "v-1", NOW)
    with pytest.raises(ValidationError, match="match_id"):
        handlers.record_placement(uow, index, ENSCHEDE, placement(match_id=match.id), NOW)


def test_a_proposal_needs_an_open_vacancy_the_proposer_may_see(uow, index):
    add_candidate(uow)
    add_vacancy(uow, "v-1", status="filled")
    add_vacancy(uow, "v-2", visibility="hidden")
    with pytest.raises(Conflict, match="filled"):
        handlers.propose(uow, ENSCHEDE, "c-1", "v-1", NOW)
    with pytest.raises(NotFound):
        handlers.propose(uow, UTRECHT, "c-1", "v-2", NOW)
    assert uow.session.query(Match).count() == 0


# --- the index's rows ---------------------------------------------------------------------

def event(data, wire=None):
    return SimpleNamespace(data=data, wire_data=wire or data)


def profile_event(candidate_id, hours=32):
    return event({"candidate_id": candidate_id, "region": "Twente", "pc4": "7511", "target_groups": ["bijstand"],
                  "skills": [SKILL], "hours_per_week": hours, "conditions": [], "cohort": None})


def test_profiles_are_indexed_once_each_the_last_winning_and_an_erased_person_never_back(uow, index):
    add_candidate(uow, "c-1")
    uow.session.add(ErasedCandidate(candidate_id="c-gone", erased_at=NOW))
    uow.session.flush()
    handlers.index_candidates(uow, index, [profile_event("c-1", 20), profile_event("c-2"), profile_event("c-1", 24),
                                           profile_event("c-gone")])
    assert uow.session.get(IndexedCandidate, "c-1").hours_per_week == 24
    assert uow.session.get(IndexedCandidate, "c-2").in_pool is True
    assert uow.session.get(IndexedCandidate, "c-gone") is None
    assert index.changes == [(CANDIDATE, ["c-1", "c-2"])]


def test_erasure_takes_the_profile_and_the_notes_and_leaves_a_tombstone(uow, index):
    add_candidate(uow)
    add_vacancy(uow)
    match = handlers.propose(uow, ENSCHEDE, "c-1", "v-1", NOW)
    handlers.introduce(uow, ENSCHEDE, match.id, "a note that may name the person", NOW)
    uow.session.flush()
    handlers.erase_candidate(uow, index, "c-1", NOW)
    uow.session.flush()
    uow.session.expire_all()
    assert uow.session.get(IndexedCandidate, "c-1") is None
    assert uow.session.get(Match, match.id).note is None
    assert uow.session.get(ErasedCandidate, "c-1").erased_at.replace(tzinfo=UTC) == NOW
    assert index.changes[-1] == (CANDIDATE, ["c-1"])


def test_vacancy_rows_follow_their_events_and_an_unknown_one_is_left_alone(uow, index):
    data = {"vacancy_id": "v-9", "employer_id": "e-1", "region": "Twente", "pc4": "7511", "skills_required": [SKILL],
            "hours_per_week": 24, "openings": 1, "visibility": "internal", "status": "open",
            "steward_organisations": ["b", "a", "a"]}
    handlers.index_vacancy(uow, index, event(data))
    row = uow.session.get(IndexedVacancy, "v-9")
    assert (row.openings, row.visibility, row.steward_organisations) == (1, "internal", ["a", "b"])
    handlers.vacancy_status(uow, index, "v-9", "filled")
    handlers.vacancy_status(uow, index, "v-unknown", "closed")
    assert row.status == "filled"
    assert index.changes == [(VACANCY, ["v-9"]), (VACANCY, ["v-9"])]


def test_a_trajectory_teaches_each_module_skill_once(uow, index):
    modules = [{"name": "VCA", "skill": SKILL}, {"name": "Taal", "skill": None}]
    handlers.learn_modules(uow, index, "t-1", modules, NOW)
    uow.session.flush()
    handlers.learn_modules(uow, index, "t-2", modules, NOW)
    assert uow.session.query(LearnedModule).count() == 1
    assert index.changes == [(MODULE, ["VCA"]), (MODULE, [])]


def test_nothing_is_placed_for_a_candidate_the_index_does_not_hold(uow, index):
    add_vacancy(uow)
    with pytest.raises(NotFound, match="candidate"):
        handlers.record_placement(uow, index, ENSCHEDE, placement(), NOW)
    assert uow.session.query(Placement).count() == 0 and uow.emitted == []
