"""Who may see what: the one rule, free of frameworks.

A vacancy in the shared pool is ``public`` (anyone, a job site too),
``internal`` (every partner) or ``hidden`` (never published: the
professionals of its region, and its stewards wherever they are). A
candidate's personal data (name, BSN, contact) is for the organisation that
registered them, and for the organisations the candidate consented to, per purpose,
until the consent expires or is revoked (:func:`personal_data_scope`).

Every service applies these functions rather than its own copy: vacancies to
its rows and, through :func:`reach`, in SQL; matching to its index, matches
and placements (what it holds of a vacancy comes with ``vacancy.opened`` /
``vacancy.updated``: visibility, region, steward organisations). A vacancy a
caller may not see is answered as if it did not exist (NotFound), so that a
hidden vacancy's existence does not leak either.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

# a vacancy's visibility: published to anyone; for professionals of every region; for its own
# region's professionals and its stewards only
PUBLIC, INTERNAL, HIDDEN = "public", "internal", "hidden"
VISIBILITIES = (PUBLIC, INTERNAL, HIDDEN)


@dataclass(frozen=True)
class Viewer:
    """Who looks: a partner organisation and its region, or nobody known (both None)."""

    organisation: str | None = None
    region: str | None = None

    @classmethod
    def of(cls, caller) -> Viewer:
        """From anything with ``organisation`` and ``region`` (werkbrug_shared.actor.Actor)."""
        return cls(caller.organisation, caller.region)

    @property
    def is_partner(self) -> bool:
        return self.organisation is not None


ANONYMOUS = Viewer()


def visibilities_seen(viewer: Viewer, *, same_region: bool, steward: bool) -> frozenset[str]:
    """The visibilities of the vacancies ``viewer`` sees: of a vacancy in its own region
    or not, stewarded by its organisation or not. The rule itself; the rest derives from it."""
    if not viewer.is_partner:
        return frozenset({PUBLIC})
    if same_region or steward:
        return frozenset({PUBLIC, INTERNAL, HIDDEN})
    return frozenset({PUBLIC, INTERNAL})


def may_see_vacancy(viewer: Viewer, visibility: str, region: str | None,
                    steward_organisations: Collection[str] = ()) -> bool:
    """Whether ``viewer`` may see a vacancy, or anything that names or explains it (a
    ranking, a match, a placement). A visibility the rule does not know is seen by nobody."""
    same_region = viewer.region is not None and viewer.region == region
    steward = viewer.organisation is not None and viewer.organisation in steward_organisations
    return visibility in visibilities_seen(viewer, same_region=same_region, steward=steward)


@dataclass(frozen=True)
class Reach:
    """The rule for one viewer, as sets to test a column against (SQL, numpy):
    a vacancy is seen when its visibility is in ``anywhere``, or in ``own_region``
    and it is in the viewer's region, or in ``stewarded`` and the viewer stewards it."""

    region: str | None
    organisation: str | None
    anywhere: frozenset[str]
    own_region: frozenset[str]
    stewarded: frozenset[str]


def reach(viewer: Viewer) -> Reach:
    # the rule grows only with the region and stewardship (tests/unit/test_visibility_rule.py
    # checks it), so these three sets state it whole
    return Reach(
        region=viewer.region, organisation=viewer.organisation,
        anywhere=visibilities_seen(viewer, same_region=False, steward=False),
        own_region=visibilities_seen(viewer, same_region=True, steward=False),
        stewarded=visibilities_seen(viewer, same_region=False, steward=True),
    )


# --- a candidate's personal data: the registering organisation, and whom the candidate consented to

# What a candidate consents to (VUM's tiers): ``matching`` is the anonymous profile in the region's
# rankings (no personal data; every partner, while given); the others let one named organisation
# know who the person is, for that purpose.
MATCHING, MEDIATION, AFTERCARE, INTRODUCTION = "matching", "mediation", "aftercare", "introduction"
PERSONAL_PURPOSES = (MEDIATION, AFTERCARE, INTRODUCTION)
PURPOSES = (MATCHING, *PERSONAL_PURPOSES)
# How much a consent opens: name and contact details, or all the registering organisation sees
# (personal data, BSN's presence, plan, logbook). An introduction opens the contact details only.
CONTACT, FULL = "contact", "full"
SCOPES = (CONTACT, FULL)
CONTACT_FIELDS = ("given_name", "family_name", "phone", "email")


@dataclass(frozen=True)
class Consent:
    """One consent of a candidate, as the rule needs it: dates are dates in the Netherlands
    (``werkbrug_shared.clock``); ``expires_on`` is the last day it holds."""

    organisation: str
    purpose: str
    scope: str = FULL
    given_on: date | None = None
    expires_on: date | None = None
    revoked: bool = False
    introduced: bool = False  # an introduction's: the introduction took place (matching said so)


def consent_holds(consent: Consent, organisation: str | None, today: date) -> bool:
    """Whether ``consent`` lets ``organisation`` see personal data on ``today``: given to it, for a
    purpose that shows personal data, not revoked, begun and not expired; an introduction's only
    once the introduction took place."""
    return (organisation is not None and consent.organisation == organisation
            and consent.purpose in PERSONAL_PURPOSES and consent.scope in SCOPES and not consent.revoked
            and (consent.given_on is None or consent.given_on <= today)
            and (consent.expires_on is None or today <= consent.expires_on)
            and (consent.purpose != INTRODUCTION or consent.introduced))


def is_registering_organisation(viewer: Viewer, registered_by: str | None) -> bool:
    """The organisation that registered someone (their custodian: it changes, erases, accounts).
    One registered without a credential has no organisation to protect them: anyone is."""
    return registered_by is None or registered_by == viewer.organisation


def personal_data_scope(viewer: Viewer, registered_by: str | None, consents: Collection[Consent] = (),
                        today: date | None = None) -> str | None:
    """How much of who someone is ``viewer`` sees: ``FULL`` for the registering organisation, else
    the widest consent that holds today (an introduction: ``CONTACT``), else None (the anonymous
    profile only). The one rule: candidates applies it to every read of personal data."""
    if is_registering_organisation(viewer, registered_by):
        return FULL
    if today is None:
        return None
    held = [c for c in consents if consent_holds(c, viewer.organisation, today)]
    if not held:
        return None
    return FULL if any(c.scope == FULL and c.purpose != INTRODUCTION for c in held) else CONTACT


def may_see_personal_data(viewer: Viewer, registered_by: str | None, consents: Collection[Consent] = (),
                          today: date | None = None) -> bool:
    """Who someone is: the organisation that registered them, and an organisation the candidate
    consented to (:func:`personal_data_scope`). Without consents, the registering organisation only."""
    return personal_data_scope(viewer, registered_by, consents, today) is not None


def may_read_note(viewer: Viewer, written_by: str | None) -> bool:
    """A professional's own words about a person (which may name them) are read back by
    the organisation that wrote them only; a note of nobody known, by nobody."""
    return written_by is not None and written_by == viewer.organisation
