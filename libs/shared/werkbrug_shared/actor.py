"""Who is calling: the partner organisation behind a credential, and its professional.

A partner's call carries its credential in nameko context data
(``werkbrug.credential``, propagated as an AMQP header across every hop) and,
optionally, which of its professionals acts (``werkbrug.professional``). The
credential is checked against the partner registry (SHA-256 of each issued
credential, never the credential itself); the organisation and region come
from the registry, not from the caller. The professional is the organisation's
own word, as in any B2B API.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from nameko.extensions import DependencyProvider

from werkbrug_shared.errors import Unauthorized, ValidationError
from werkbrug_shared.validation import text_problem

CREDENTIAL = "werkbrug.credential"
PROFESSIONAL = "werkbrug.professional"
DEV_PARTNERS = Path(__file__).with_name("partners.dev.yml")


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    kind: str
    region: str


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

    def require(self) -> Actor:
        if self.partner is None:
            raise Unauthorized("this operation needs a partner credential (werkbrug.credential)")
        return self


@cache  # per process, read once: every replica reads the same file (a ConfigMap on Kubernetes); a changed
# registry counts in each replica from its restart, so roll them all (a rollout does)
def _registry(path: str) -> dict[str, Partner]:
    with open(path, encoding="utf-8") as f:
        entries = (yaml.safe_load(f) or {}).get("partners", [])
    return {
        e["credential_sha256"]: Partner(e["id"], e["name"], e["kind"], e["region"])
        for e in entries
    }


def partners() -> list[Partner]:
    """Every partner in the registry (for naming another organisation, e.g. as steward)."""
    return sorted(_registry(partners_file()).values(), key=lambda p: p.id)


def partners_file() -> str:
    return os.environ.get("WERKBRUG_PARTNERS_FILE") or str(DEV_PARTNERS)


def partner_for(credential) -> Partner | None:
    """The partner of a credential; None without one; Unauthorized for one nobody issued,
    whatever its type (context data is whatever the caller sent)."""
    if credential is None or credential == "":
        return None
    if not isinstance(credential, str):
        raise Unauthorized("a partner credential is a string")
    # surrogatepass: text that is not valid Unicode hashes too, and matches nothing
    digest = hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()
    for known, partner in _registry(partners_file()).items():
        if hmac.compare_digest(known, digest):
            return partner
    raise Unauthorized("unknown partner credential")


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
