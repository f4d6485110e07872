"""Who is calling: the partner organisation behind a credential, and its professional.

A partner's call carries its credential in nameko context data
(``werkbrug.credential``, propagated as an AMQP header across every hop) and,
optionally, which of its professionals acts (``werkbrug.professional``). The
credential is checked against the partner registry (SHA-256 of each issued
credential, never the credential itself); the organisation, region and the
credential's roles come from the registry, not from the caller. The professional is the organisation's
own word, as in any B2B API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nameko.extensions import DependencyProvider

from werkbrug_shared import partner_registry
from werkbrug_shared.errors import Unauthorized, ValidationError
from werkbrug_shared.validation import text_problem

CREDENTIAL = "werkbrug.credential"
PROFESSIONAL = "werkbrug.professional"
DEV_PARTNERS = partner_registry.DEV_PARTNERS


@dataclass(frozen=True)
class Partner:
    """An organisation; from ``partner_for``, as one of its credentials: with that one's roles."""

    id: str
    name: str
    kind: str
    region: str
    roles: frozenset[str] = field(default=frozenset(), compare=False)
    credential_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Actor:
    """The caller of one worker; ``partner`` is None for an unauthenticated call."""

    partner: Partner | None
    given_professional: object = None  # as the caller sent it (text cut at 64 characters)

    @property
    def professional(self) -> str | None:
        """Which professional acts; refused (naming the field) when it is not valid text, where
        it is about to be written: checked on use, as a dependency may not raise."""
        given = self.given_professional
        if given is not None and not isinstance(given, str):
            raise ValidationError.from_fields("context", {PROFESSIONAL: ["expected text"]})
        if given is not None and (problem := text_problem(given)):
            raise ValidationError.from_fields("context", {PROFESSIONAL: [problem]})
        return given

    @property
    def organisation(self) -> str | None:
        return self.partner.id if self.partner else None

    @property
    def region(self) -> str | None:
        return self.partner.region if self.partner else None

    @property
    def roles(self) -> frozenset[str]:
        return self.partner.roles if self.partner else frozenset()

    def require(self) -> Actor:
        if self.partner is None:
            raise Unauthorized("this operation needs a partner credential (werkbrug.credential)")
        return self


def partners() -> list[Partner]:
    """Every partner in the registry (for naming another organisation, e.g. as steward)."""
    return sorted((Partner(p.id, p.name, p.kind, p.region) for p in partner_registry.current(partners_file()).partners),
                  key=lambda p: p.id)


def partners_file() -> str:
    return os.environ.get("WERKBRUG_PARTNERS_FILE") or str(DEV_PARTNERS)


def partner_for(credential) -> Partner | None:
    """The partner of a credential, with that credential's roles; None without one; Unauthorized
    for one nobody issued, a revoked or an expired one, whatever its type (context data is
    whatever the caller sent). The registry is re-read when its file changes (within a second or
    so), and expiry is checked on every call."""
    if credential is None or credential == "":
        return None
    if not isinstance(credential, str):
        raise Unauthorized("a partner credential is a string")
    registry = partner_registry.current(partners_file())
    # a dict look-up by the SHA-256 of what was sent: its timing tells nothing about a stored hash's preimage
    found = registry.by_sha256.get(partner_registry.sha256_of(credential))
    if found is None:
        raise Unauthorized("unknown partner credential")
    entry, issued = found
    state = issued.state(datetime.now(UTC))
    if state != "active":
        raise Unauthorized(f"this partner credential is {state}")
    return Partner(entry.id, entry.name, entry.kind, entry.region, issued.roles, issued.id)


def context(credential: str, professional: str | None = None) -> dict:
    """Context data for a client: ``ClusterRpcProxy(config, context_data=context(...))``."""
    data = {CREDENTIAL: credential}
    if professional:
        data[PROFESSIONAL] = professional
    return data


class CurrentActor(DependencyProvider):
    """Resolves the worker's caller from the call's context data."""

    def get_dependency(self, worker_ctx):
        # werkbrug's rpc entrypoint has already refused unknown credentials;
        # here an unknown one (e.g. on an event) simply counts as anonymous.
        try:
            partner = partner_for(worker_ctx.data.get(CREDENTIAL))
        except Unauthorized:
            partner = None
        professional = worker_ctx.data.get(PROFESSIONAL)
        if isinstance(professional, str):
            professional = professional[:64]
        return Actor(partner, professional or None)  # not text: refused where it is used
