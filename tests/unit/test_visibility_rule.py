"""The one visibility rule (werkbrug_shared.visibility): its decision table, the
sets SQL and the matching index test columns against, and the services that
must agree with it."""

from __future__ import annotations

import itertools

import pytest

from werkbrug_shared import visibility
from werkbrug_shared.visibility import ANONYMOUS, VISIBILITIES, Viewer

TWENTE, UTRECHT = "Twente", "Midden-Utrecht"
ENSCHEDE = Viewer("gemeente-enschede", TWENTE)
HENGELO = Viewer("gemeente-hengelo", TWENTE)
UTRECHT_CITY = Viewer("gemeente-utrecht", UTRECHT)

VACANCY_TABLE = [
    # visibility, viewer, stewards of the Twente vacancy, may see
    ("public", ANONYMOUS, (), True),
    ("public", UTRECHT_CITY, (), True),
    ("public", HENGELO, (), True),
    ("internal", ANONYMOUS, (), False),
    ("internal", UTRECHT_CITY, (), True),
    ("internal", HENGELO, (), True),
    ("hidden", ANONYMOUS, (), False),
    ("hidden", ANONYMOUS, ("gemeente-enschede",), False),
    ("hidden", UTRECHT_CITY, ("gemeente-enschede",), False),
    ("hidden", HENGELO, ("gemeente-enschede",), True),  # every professional of the region
    ("hidden", ENSCHEDE, ("gemeente-enschede",), True),
    ("hidden", UTRECHT_CITY, ("gemeente-enschede", "gemeente-utrecht"), True),  # a steward from elsewhere
    ("secret", HENGELO, ("gemeente-hengelo",), False),  # what the rule does not know, nobody sees
]


@pytest.mark.parametrize(("kind", "viewer", "stewards", "expected"), VACANCY_TABLE)
def test_who_may_see_a_vacancy_of_twente(kind, viewer, stewards, expected):
    assert visibility.may_see_vacancy(viewer, kind, TWENTE, stewards) is expected


def test_a_viewer_without_a_region_is_never_in_the_vacancys_region():
    assert not visibility.may_see_vacancy(Viewer("somebody", None), "hidden", None)


VIEWERS = (ANONYMOUS, ENSCHEDE, HENGELO, UTRECHT_CITY)
STEWARDINGS = ((), ("gemeente-enschede",), ("gemeente-utrecht",), ("gemeente-enschede", "gemeente-utrecht"))


@pytest.mark.parametrize("viewer", VIEWERS)
def test_reach_states_the_rule_whole(viewer):
    """What SQL (vacancies.queries) and the index (matching) test is what may_see_vacancy decides."""
    seen = visibility.reach(viewer)
    for kind, region, stewards in itertools.product((*VISIBILITIES, "secret"), (TWENTE, UTRECHT, None),
                                                    STEWARDINGS):
        by_sets = (kind in seen.anywhere
                   or (region is not None and region == seen.region and kind in seen.own_region)
                   or (seen.organisation in stewards and kind in seen.stewarded))
        assert by_sets is visibility.may_see_vacancy(viewer, kind, region, stewards), (kind, region, stewards)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_the_rule_only_grows_with_region_and_stewardship(viewer):
    """reach() relies on it: seeing more in one's region or as a steward, never less."""
    base = visibility.visibilities_seen(viewer, same_region=False, steward=False)
    region = visibility.visibilities_seen(viewer, same_region=True, steward=False)
    steward = visibility.visibilities_seen(viewer, same_region=False, steward=True)
    both = visibility.visibilities_seen(viewer, same_region=True, steward=True)
    assert base <= region and base <= steward and both == region | steward


def test_personal_data_is_for_the_registering_organisation():
    assert visibility.may_see_personal_data(ENSCHEDE, "gemeente-enschede")
    assert not visibility.may_see_personal_data(HENGELO, "gemeente-enschede"), "same region is not enough"
    assert not visibility.may_see_personal_data(UTRECHT_CITY, "gemeente-enschede")
    assert not visibility.may_see_personal_data(ANONYMOUS, "gemeente-enschede")
    assert visibility.may_see_personal_data(UTRECHT_CITY, None), "registered without a credential"


def test_a_note_is_read_back_by_the_organisation_that_wrote_it():
    assert visibility.may_read_note(ENSCHEDE, "gemeente-enschede")
    assert not visibility.may_read_note(HENGELO, "gemeente-enschede")
    assert not visibility.may_read_note(ANONYMOUS, None) and not visibility.may_read_note(ENSCHEDE, None)


def test_vacancy_events_carry_only_the_visibilities_the_rule_knows():
    from marshmallow import ValidationError as SchemaError

    from werkbrug_shared.events.catalogue import schema_for

    schema = schema_for("nl.werkbrug.vacancy.opened.v1")
    opened = {"vacancy_id": "v1", "employer_id": "e1", "region": TWENTE, "pc4": "7511", "skills_required": [],
              "hours_per_week": 24, "openings": 1}
    for kind in VISIBILITIES:
        assert schema.load({**opened, "visibility": kind})["visibility"] == kind
    assert schema.load(opened)["visibility"] == "public"  # unsaid: published
    with pytest.raises(SchemaError):
        schema.load({**opened, "visibility": "secret"})
