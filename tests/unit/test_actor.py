"""Who is calling: any credential that is not one a partner was issued is Unauthorized."""

from __future__ import annotations

import pytest

from werkbrug_shared.actor import PROFESSIONAL, Actor, Partner, partner_for
from werkbrug_shared.errors import Unauthorized, ValidationError


def test_a_known_credential_is_its_partner():
    assert partner_for("dev-gemeente-enschede").id == "gemeente-enschede"
    assert partner_for(None) is None and partner_for("") is None


def test_a_credential_brings_its_own_roles_to_its_partner():
    full, board = partner_for("dev-gemeente-enschede"), partner_for("dev-gemeente-enschede-board")
    assert full == board and board.id == "gemeente-enschede" and board.region == "Twente"  # one organisation
    assert board.roles == {"board"} and len(full.roles) == 6 and board.credential_id == "gemeente-enschede-board"
    assert Actor(board).roles == {"board"} and Actor(None).roles == frozenset()
    assert Partner("p", "P", "uwv", "Twente").roles == frozenset()  # made by hand: no roles


@pytest.mark.parametrize("credential", [True, False, 0, 1.5, ["dev-gemeente-enschede"], {"a": 1}, [],
                                        "\udfff", "dev-gemeente-enschede\x00", "x" * 100_000])
def test_anything_else_is_unauthorized(credential):
    with pytest.raises(Unauthorized):
        partner_for(credential)


def test_a_professional_that_is_not_valid_text_is_refused_where_it_would_be_written():
    actor = Actor(None, "jobhunter\x00")
    assert actor.organisation is None  # reading who calls still works
    with pytest.raises(ValidationError) as refused:
        actor.professional  # noqa: B018
    assert set(refused.value.errors) == {PROFESSIONAL}
    assert Actor(None, "jobhunter-anna").professional == "jobhunter-anna"


@pytest.mark.parametrize("professional", [{"a": [1]}, ["p"], 7, True])
def test_a_professional_that_is_not_text_is_refused_too(professional):
    with pytest.raises(ValidationError) as refused:
        Actor(None, professional).professional  # noqa: B018
    assert set(refused.value.errors) == {PROFESSIONAL}
