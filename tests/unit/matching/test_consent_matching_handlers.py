"""Consent to matching in matching's handlers and change log on SQLite: a withdrawal is kept
(also before the profile arrives, and a late older event undoes nothing), logged for every
replica's index, applied by the change log as scoring.rankable says (a rebuild reads the same
table: test_consent_ranking loads withdrawn candidates), and a withdrawn candidate cannot be proposed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from matching import changes, handlers
from matching.changes import CANDIDATE, POOL
from matching.esco import knowledge
from matching.index import MatchingIndex
from matching.models import MatchingConsent
from tests.unit.matching import factories as f
from tests.unit.matching.test_handlers import (  # noqa: F401 (fixtures)
    ENSCHEDE,
    SKILL,
    FakeIndex,
    add_candidate,
    add_vacancy,
    index,
    uow,
)
from werkbrug_shared.errors import Conflict

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_a_withdrawal_is_kept_and_logged_for_every_replica(uow, index):  # noqa: F811
    handlers.consent_changed(uow, index, "c-1", False, NOW)  # before the profile: kept all the same
    assert uow.session.get(MatchingConsent, "c-1").given is False
    assert index.changes == [(POOL, ["c-1"])]
    handlers.consent_changed(uow, index, "c-1", True, NOW - timedelta(seconds=1))  # a late, older event
    assert uow.session.get(MatchingConsent, "c-1").given is False and len(index.changes) == 1
    handlers.consent_changed(uow, index, "c-1", True, NOW + timedelta(seconds=1))
    assert uow.session.get(MatchingConsent, "c-1").given is True and len(index.changes) == 2


def test_a_withdrawn_candidate_is_not_proposed(uow, index):  # noqa: F811
    add_candidate(uow)
    add_vacancy(uow)
    handlers.consent_changed(uow, index, "c-1", False, NOW)
    try:
        handlers.propose(uow, ENSCHEDE, "c-1", "v-1", NOW)
    except Conflict as exc:
        assert "consent" in str(exc)
    else:
        raise AssertionError("proposed a candidate who withdrew their consent to matching")
    handlers.consent_changed(uow, index, "c-1", True, NOW + timedelta(seconds=1))
    assert handlers.propose(uow, ENSCHEDE, "c-1", "v-1", NOW).candidate_id == "c-1"


def test_the_change_log_drops_and_restores_the_candidate_in_the_index(uow):  # noqa: F811
    session = uow.session
    add_candidate(uow, "c-1")
    add_candidate(uow, "c-2")
    live = MatchingIndex(knowledge())
    live.upsert_vacancy(f.vacancy("v1", skills_required=[SKILL], pc4="7511", hours_per_week=32))
    changes.apply(session, live, [(CANDIDATE, "c-1"), (CANDIDATE, "c-2")])
    assert live.candidates_for_vacancy("v1").ids == ["c-1", "c-2"]
    told = FakeIndex()  # what the handler says changed, as the live index logs it
    handlers.consent_changed(uow, told, "c-1", False, NOW)
    session.flush()
    changes.apply(session, live, keys(told))
    assert live.candidates_for_vacancy("v1").ids == ["c-2"] and live.in_pool("c-1") is True
    # a profile update read again keeps them out; so does a rebuild from the tables
    changes.apply(session, live, [(CANDIDATE, "c-1")])
    assert live.candidates_for_vacancy("v1").ids == ["c-2"]
    assert changes.withdrawn_consents(session) == {"c-1"}
    assert changes.withdrawn_consents(session, ["c-2"]) == set()
    told = FakeIndex()
    handlers.consent_changed(uow, told, "c-1", True, NOW + timedelta(seconds=1))
    session.flush()
    changes.apply(session, live, keys(told))
    assert live.candidates_for_vacancy("v1").ids == ["c-1", "c-2"]


def keys(told: FakeIndex) -> list[tuple[str, str]]:
    return [(kind, key) for kind, changed in told.changes for key in changed]
