"""Every operation says who may call it: public, or roles (deny by default)."""

from __future__ import annotations

import importlib
import inspect

import pytest
from nameko.containers import ServiceContainer

from werkbrug_shared import config, roles
from werkbrug_shared.entrypoints import Rpc, rpc

SERVICES = [s for s in config.SERVICES if s != "gateway"]


def operations():
    for service in SERVICES:
        module = importlib.import_module(f"{service}.service")
        for cls in [c for _, c in inspect.getmembers(module, inspect.isclass)
                    if getattr(c, "name", None) == service and c.__module__ == module.__name__]:
            for name, member in inspect.getmembers(cls):
                for ep in getattr(member, "nameko_entrypoints", ()):
                    if isinstance(ep, Rpc):
                        yield f"{service}.{name}", ep


def test_every_non_public_operation_declares_known_roles_and_no_public_one_does():
    found = dict(operations())
    assert len(found) >= 59
    undeclared = sorted(op for op, ep in found.items() if not ep.public and not ep.roles)
    assert undeclared == [], "operations without roles: give them @rpc(roles=(...))"
    assert sorted(op for op, ep in found.items() if ep.public and ep.roles) == []
    assert sorted(op for op, ep in found.items() if ep.roles - roles.ALL) == []
    # reporting answers aggregates only, besides a partner's own feed, its webhooks and a person's inzage
    partner_own = {"reporting.feed", "reporting.feed_snapshot", "reporting.subscribe_webhook",
                   "reporting.list_webhooks", "reporting.unsubscribe_webhook", "reporting.webhook_dead_letters",
                   "reporting.replay_webhook", "reporting.inzage"}
    assert all(ep.public for op, ep in found.items() if op.startswith("reporting.") and op not in partner_own)


def test_every_role_is_needed_somewhere():
    used = set().union(*(ep.roles for _, ep in operations()))
    assert used == roles.ALL


class Undeclared:
    name = "undeclared"

    @rpc
    def anything(self):
        return 1


class PublicWithRoles:
    name = "public_with_roles"

    @rpc(public=True, roles=(roles.BOARD,))
    def anything(self):
        return 1


class UnknownRole:
    name = "unknown_role"

    @rpc(roles=("koning",))
    def anything(self):
        return 1


@pytest.mark.parametrize("cls, why", [(Undeclared, "without roles"), (PublicWithRoles, "takes no roles"),
                                      (UnknownRole, "unknown roles koning")])
def test_a_service_that_does_not_say_who_may_call_it_does_not_start(cls, why):
    container = ServiceContainer(cls, {"AMQP_URI": "memory://"})
    (entrypoint,) = container.entrypoints
    with pytest.raises(TypeError, match=why):
        entrypoint.setup()


def test_roles_parse():
    assert roles.parse("klantmanager, board") == {"klantmanager", "board"}
    assert roles.parse(["all"]) == roles.ALL
    with pytest.raises(ValueError):
        roles.parse("koning")
    with pytest.raises(ValueError):
        roles.parse(7)
