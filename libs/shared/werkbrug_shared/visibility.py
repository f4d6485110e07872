"""Who may see what: the one rule, free of frameworks.

A vacancy in the shared pool is ``public`` (anyone, a job site too),
``internal`` (every partner) or ``hidden`` (never published: the
professionals of its region, and its stewards wherever they are). A
candidate's personal data (name, BSN, contact) is for the organisation that
registered them.

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


def may_see_personal_data(viewer: Viewer, registered_by: str | None) -> bool:
    """Who someone is, only for the organisation that registered them. One registered
    without a credential has no organisation to protect them: anyone sees those."""
    return registered_by is None or registered_by == viewer.organisation


def may_read_note(viewer: Viewer, written_by: str | None) -> bool:
    """A professional's own words about a person (which may name them) are read back by
    the organisation that wrote them only; a note of nobody known, by nobody."""
    return written_by is not None and written_by == viewer.organisation
