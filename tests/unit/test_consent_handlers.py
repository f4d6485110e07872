"""Consent on SQLite with a fixed clock: who reads a candidate's personal data (the registering
organisation; an organisation the candidate consented to, per purpose, scope and expiry; a
steward after an agreed introduction), revocation at once, matching's consent at intake and
after, and the one rule (werkbrug_shared.visibility) these follow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from candidates import handlers, records
from candidates.models import metadata
from candidates.schemas import ConsentInput
from tests.unit.conftest import sqlite_unit_of_work
from werkbrug_shared import visibility
from werkbrug_shared.actor import Actor, Partner
from werkbrug_shared.clock import Clock
from werkbrug_shared.errors import Forbidden, NotFound, ValidationError
from werkbrug_shared.events.types import CANDIDATE_CONSENT_CHANGED
from werkbrug_shared.validation import load
from werkbrug_shared.visibility import Consent, Viewer

# late on 2 March in UTC is 3 March in the Netherlands: dates are the services' (Europe/Amsterdam)
NOW = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
TODAY = date(2026, 3, 3)
ENSCHEDE = Actor(Partner("gemeente-enschede", "Gemeente Enschede", "gemeente", "Twente"), "p.jansen")
HENGELO = Actor(Partner("gemeente-hengelo", "Gemeente Hengelo", "gemeente", "Twente"))
SOWECO = Actor(Partner("soweco", "Soweco", "sw-bedrijf", "Twente"))
SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
NAME = ("given_name", "family_name", "email", "phone")


@pytest.fixture
def uow():
    with sqlite_unit_of_work(metadata, "candidates") as uow:
        yield uow


@pytest.fixture
def clock():
    return Clock(now=lambda: NOW)  # the date from the instant, in the Netherlands


def payload(**given):
    data = {"given_name": "Anna", "family_name": "de Vries", "postcode": "7511 AB", "region": "Twente",
            "target_groups": ["bijstand"], "skills": [SKILL], "hours_per_week": 32, "hours_min": None,
            "banenafspraak": False, "occupations_wanted": [], "work_thinking_level": None, "dutch_level": "B1",
            "available_days": [], "available_from": None, "max_travel_minutes": None, "max_distance_km": None,
            "transport_modes": [], "conditions": [], "cohort": None, "source_ref": None, "bsn": None,
            "email": "anna@example.nl", "phone": "+31 6 1234 5678"}
    data.update(given)
    return data


def register(uow, **given) -> str:
    new = records.prepare(payload(**given), ENSCHEDE.organisation, NOW, None)
    handlers.register(uow, ENSCHEDE, new)
    uow.session.flush()
    return new.id


def consent(**given) -> dict:
    return load(ConsentInput(), given, "consent")


def consent_events(uow):
    return [e.data for e in uow.emitted if e.type == CANDIDATE_CONSENT_CHANGED]


def test_the_clock_is_the_netherlands(clock):
    assert clock.today() == TODAY


def test_another_organisation_reads_the_profile_only_until_the_candidate_consents(uow, clock):
    cid = register(uow)
    assert not set(NAME) & set(handlers.view(uow, HENGELO, clock, cid))
    handlers.add_log_entry(uow, ENSCHEDE, clock, cid, "intake gesprek", None)
    assert handlers.log_entries(uow, HENGELO, clock, cid) == []
    given = handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="mediation",
                                                                      organisation="gemeente-hengelo"))
    assert handlers.consent_dict(given, TODAY)["holds"] and given.given_on == TODAY
    seen = handlers.view(uow, HENGELO, clock, cid)
    assert (seen["given_name"], seen["email"]) == ("Anna", "anna@example.nl")
    assert [e.text for e in handlers.log_entries(uow, HENGELO, clock, cid)] == ["intake gesprek"]
    # to whom it was given only
    assert "given_name" not in handlers.view(uow, SOWECO, clock, cid)
    assert consent_events(uow) == [{"candidate_id": cid, "purpose": "mediation", "organisation": "gemeente-hengelo",
                                    "given": True}]


def test_a_revocation_holds_from_its_commit_on(uow, clock):
    cid = register(uow)
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="aftercare", organisation="soweco"))
    assert "given_name" in handlers.view(uow, SOWECO, clock, cid)
    revoked = handlers.revoke_consent(uow, ENSCHEDE, clock, cid, "aftercare", "soweco")
    assert revoked.revoked_at == NOW and not handlers.consent_dict(revoked, TODAY)["holds"]
    assert "given_name" not in handlers.view(uow, SOWECO, clock, cid)
    # revoking again changes nothing and says nothing new
    handlers.revoke_consent(uow, ENSCHEDE, clock, cid, "aftercare", "soweco")
    assert [e["given"] for e in consent_events(uow)] == [True, False]
    with pytest.raises(NotFound):
        handlers.revoke_consent(uow, ENSCHEDE, clock, cid, "mediation", "soweco")
    # given again, it holds again
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="aftercare", organisation="soweco"))
    assert "given_name" in handlers.view(uow, SOWECO, clock, cid)


def test_a_read_under_a_consent_is_audited_for_its_purpose(uow, clock):
    from candidates.models import AUDIT_LOG

    cid = register(uow)
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="aftercare", organisation="soweco"))
    handlers.view(uow, SOWECO, clock, cid)
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="mediation", organisation="soweco"))
    handlers.view(uow, SOWECO, clock, cid)
    handlers.view(uow, HENGELO, clock, cid)  # sees nothing personal: no entry
    uow.session.commit()
    reads = uow.session.execute(AUDIT_LOG.select().where(AUDIT_LOG.c.action == "read")).mappings().all()
    assert [(r["organisation"], r["purpose"], r["operation"]) for r in reads] == [
        ("soweco", "aftercare", "get"), ("soweco", "mediation", "get")]


def test_a_consent_holds_through_its_last_day_in_the_netherlands(uow, clock):
    cid = register(uow)
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="mediation", organisation="gemeente-hengelo",
                                                             expires_on=TODAY.isoformat()))
    assert "given_name" in handlers.view(uow, HENGELO, clock, cid)
    # 23:01 UTC on 3 March is a minute past midnight in Amsterdam: 4 March, the day after the last
    later = Clock(now=lambda: datetime(2026, 3, 3, 23, 1, tzinfo=UTC))
    assert later.today() == TODAY + timedelta(days=1)
    assert "given_name" not in handlers.view(uow, HENGELO, later, cid)
    with pytest.raises(ValidationError):
        handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="mediation", organisation="soweco",
                                                                 expires_on="2026-03-02"))


def test_a_contact_scope_shows_name_and_contact_details_only(uow, clock):
    cid = register(uow, birth_date=date(1980, 1, 1))
    handlers.set_plan(uow, ENSCHEDE, clock, cid, {"goal": "werk", "steps": []})
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="mediation", organisation="soweco",
                                                             scope="contact"))
    seen = handlers.view(uow, SOWECO, clock, cid)
    assert {f: seen[f] for f in NAME} == {"given_name": "Anna", "family_name": "de Vries",
                                          "email": "anna@example.nl", "phone": "+31 6 1234 5678"}
    assert not {"birth_date", "plan", "has_bsn", "postcode", "address"} & set(seen)
    handlers.add_log_entry(uow, ENSCHEDE, clock, cid, "intake", None)
    assert handlers.log_entries(uow, SOWECO, clock, cid) == []


def test_a_steward_reads_contact_details_only_after_an_introduction_the_candidate_agreed_to(uow, clock):
    cid = register(uow)
    with pytest.raises(NotFound):  # no such match of this candidate
        handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="introduction", organisation="soweco",
                                                                 match_id="m-1"))
    handlers.match_proposed(uow, cid, "m-1")
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="introduction", organisation="soweco",
                                                             match_id="m-1"))
    assert "given_name" not in handlers.view(uow, SOWECO, clock, cid)  # agreed, not yet introduced
    handlers.match_introduced(uow, clock, "m-1")
    seen = handlers.view(uow, SOWECO, clock, cid)
    assert seen["email"] == "anna@example.nl" and "plan" not in seen and "has_bsn" not in seen
    assert "given_name" not in handlers.view(uow, HENGELO, clock, cid)
    handlers.revoke_consent(uow, ENSCHEDE, clock, cid, "introduction", "soweco")
    assert "given_name" not in handlers.view(uow, SOWECO, clock, cid)


def test_only_the_registering_organisation_records_consents_and_reads_them(uow, clock):
    cid = register(uow)
    for call in (lambda: handlers.give_consent(uow, HENGELO, clock, cid, consent(purpose="mediation",
                                                                                organisation="gemeente-hengelo")),
                 lambda: handlers.revoke_consent(uow, HENGELO, clock, cid, "matching", None),
                 lambda: handlers.consents(uow, HENGELO, clock, cid)):
        with pytest.raises(Forbidden):
            call()
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="mediation", organisation="gemeente-hengelo"))
    # a consent lets another organisation read, never act as custodian
    for call in (lambda: handlers.erase(uow, HENGELO, clock, cid),
                 lambda: handlers.custodian(uow, HENGELO, cid),
                 lambda: handlers.consents(uow, HENGELO, clock, cid)):
        with pytest.raises(Forbidden):
            call()
    listed = handlers.consents(uow, ENSCHEDE, clock, cid)
    assert listed["matching_consent"] is True
    assert [(c["purpose"], c["organisation"], c["scope"], c["given_on"], c["holds"]) for c in listed["consents"]] == [
        ("mediation", "gemeente-hengelo", "full", "2026-03-03", True)]


@pytest.mark.parametrize(("given", "field"), [
    ({"purpose": "mediation"}, "organisation"),
    ({"purpose": "matching", "organisation": "soweco"}, "organisation"),
    ({"purpose": "introduction", "organisation": "soweco"}, "match_id"),
    ({"purpose": "introduction", "organisation": "soweco", "match_id": "m", "scope": "full"}, "scope"),
    ({"purpose": "aftercare", "organisation": "soweco", "match_id": "m"}, "match_id"),
    ({"purpose": "marketing", "organisation": "soweco"}, "purpose"),
])
def test_a_consent_names_what_it_needs(given, field):
    with pytest.raises(ValidationError) as caught:
        consent(**given)
    assert field in caught.value.errors


def test_matching_consent_is_recorded_at_intake_and_revocable(uow, clock):
    given = register(uow)
    refused = register(uow, matching_consent=False)
    assert consent_events(uow) == [{"candidate_id": refused, "purpose": "matching", "organisation": None,
                                    "given": False}]
    assert handlers.consents(uow, ENSCHEDE, clock, given)["matching_consent"] is True
    assert handlers.consents(uow, ENSCHEDE, clock, refused)["matching_consent"] is False
    handlers.revoke_consent(uow, ENSCHEDE, clock, given, "matching", None)
    handlers.give_consent(uow, ENSCHEDE, clock, refused, consent(purpose="matching"))
    assert handlers.consents(uow, ENSCHEDE, clock, given)["matching_consent"] is False
    assert handlers.consents(uow, ENSCHEDE, clock, refused)["matching_consent"] is True
    assert [(e["candidate_id"], e["given"]) for e in consent_events(uow)][1:] == [(given, False), (refused, True)]
    # ids only: nothing personal travels
    assert all(set(e) == {"candidate_id", "purpose", "organisation", "given"} for e in consent_events(uow))


def test_an_erasure_removes_the_consents(uow, clock):
    cid = register(uow)
    handlers.give_consent(uow, ENSCHEDE, clock, cid, consent(purpose="mediation", organisation="gemeente-hengelo"))
    handlers.erase(uow, ENSCHEDE, clock, cid)
    listed = handlers.consents(uow, ENSCHEDE, clock, cid)
    assert listed == {"candidate_id": cid, "matching_consent": False, "consents": []}
    assert "given_name" not in handlers.view(uow, HENGELO, clock, cid)


# --- the rule itself ---------------------------------------------------------------------------

HENGELO_VIEW = Viewer("gemeente-hengelo", "Twente")


@pytest.mark.parametrize(("consents", "scope"), [
    ((), None),
    ((Consent("gemeente-hengelo", "mediation", given_on=TODAY),), "full"),
    ((Consent("gemeente-hengelo", "mediation", scope="contact", given_on=TODAY),), "contact"),
    ((Consent("gemeente-hengelo", "mediation", given_on=TODAY, revoked=True),), None),
    ((Consent("gemeente-hengelo", "mediation", given_on=TODAY, expires_on=TODAY),), "full"),
    ((Consent("gemeente-hengelo", "mediation", given_on=TODAY, expires_on=TODAY - timedelta(days=1)),), None),
    ((Consent("gemeente-hengelo", "mediation", given_on=TODAY + timedelta(days=1)),), None),
    ((Consent("soweco", "mediation", given_on=TODAY),), None),
    ((Consent("gemeente-hengelo", "matching", given_on=TODAY),), None),  # the anonymous profile only
    ((Consent("gemeente-hengelo", "introduction", scope="contact", given_on=TODAY),), None),
    ((Consent("gemeente-hengelo", "introduction", scope="full", given_on=TODAY, introduced=True),), "contact"),
    ((Consent("gemeente-hengelo", "introduction", scope="contact", given_on=TODAY, introduced=True),
      Consent("gemeente-hengelo", "aftercare", given_on=TODAY)), "full"),
])
def test_the_rule_of_who_sees_personal_data(consents, scope):
    assert visibility.personal_data_scope(HENGELO_VIEW, "gemeente-enschede", consents, TODAY) == scope
    assert visibility.may_see_personal_data(HENGELO_VIEW, "gemeente-enschede", consents, TODAY) is (scope is not None)
    # the registering organisation always; without consents, it alone
    assert visibility.personal_data_scope(Viewer("gemeente-enschede"), "gemeente-enschede", consents, TODAY) == "full"
    assert visibility.may_see_personal_data(HENGELO_VIEW, "gemeente-enschede") is False
    assert visibility.may_see_personal_data(visibility.ANONYMOUS, "gemeente-enschede", consents, TODAY) is False
