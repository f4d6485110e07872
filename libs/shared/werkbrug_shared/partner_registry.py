"""The partner registry: which organisation and roles each credential is, until when.

A YAML file (``WERKBRUG_PARTNERS_FILE``) holds partners and, for each, its credentials by
SHA-256 only, with a credential id, roles, an expiry and a revocation:

    partners:
      - id: gemeente-enschede
        name: Gemeente Enschede
        kind: municipality
        region: Twente
        credentials:
          - id: c-1f3a9b0c
            sha256: 63ee84d5...
            roles: [klantmanager, jobhunter]
            created: '2026-12-06T09:00:00Z'
            expires: '2027-07-01T00:00:00Z'   # optional; a date means: through that day (UTC)
            revoked: '2026-12-07T10:00:00Z'    # optional

The first format, one ``credential_sha256`` (and ``roles``) on the partner itself, is read as
one credential whose id is ``h-`` and the first 12 hex digits of its hash.

Every service process watches the file: ``current`` looks at its stat at most once a second
and re-reads it when it changed, so a revoked credential is refused within seconds, without a
restart. ``werkbrug partners`` writes it under a lock, atomically (temporary file, then
``os.replace``), so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from werkbrug_shared import roles as known_roles

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 1.0  # how stale a process's registry may be; partner_for is on every call
DEV_PARTNERS = Path(__file__).with_name("partners.dev.yml")
HEADER = ("# werkbrug's partner registry, written by `werkbrug partners`: only the SHA-256 of each\n"
          "# credential is stored; the credential itself was shown once, when it was issued.\n")


@dataclass(frozen=True)
class Credential:
    id: str
    partner_id: str
    sha256: str
    roles: frozenset[str]
    created: datetime | None = None
    expires: datetime | None = None  # UTC; refused from this instant on
    revoked: datetime | None = None

    def state(self, now: datetime) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class PartnerEntry:
    id: str
    name: str
    kind: str
    region: str
    credentials: tuple[Credential, ...] = ()


@dataclass(frozen=True)
class Registry:
    partners: tuple[PartnerEntry, ...]
    by_sha256: dict = field(default_factory=dict)  # sha256 -> (PartnerEntry, Credential)

    @classmethod
    def of(cls, partners: list[PartnerEntry]) -> Registry:
        return cls(tuple(partners), {c.sha256: (p, c) for p in partners for c in p.credentials})

    def partner(self, partner_id: str) -> PartnerEntry | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def credential(self, credential_id: str) -> tuple[PartnerEntry, Credential] | None:
        return next(((p, c) for p in self.partners for c in p.credentials if c.id == credential_id), None)


# --- reading --------------------------------------------------------------------------------


def instant(value, what: str = "instant") -> datetime | None:
    """A UTC instant from the file or the command line: an ISO timestamp (without an offset:
    UTC), or a date, meaning through that day, so the instant the next day begins in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what}: expected a date (2027-06-30) or an ISO timestamp, not {value!r}") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=1)
    raise ValueError(f"{what}: expected a date or a timestamp, not {type(value).__name__}")


def legacy_id(sha256: str) -> str:
    return f"h-{sha256[:12]}"


def parse(data) -> Registry:
    """The registry in ``data`` (loaded YAML), in either format; ValueError naming what is wrong."""
    entries = (data or {}).get("partners") or []
    if not isinstance(entries, list):
        raise ValueError("'partners' is a list")
    partners, ids, credential_ids, hashes = [], set(), set(), set()
    for n, e in enumerate(entries):
        where = f"partner {n} ({e.get('id') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected a mapping")
        missing = [k for k in ("id", "name", "kind", "region") if not e.get(k)]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if e["id"] in ids:
            raise ValueError(f"{where}: a second partner with this id")
        ids.add(e["id"])
        raw = list(e.get("credentials") or [])
        if e.get("credential_sha256"):  # the first format: one credential on the partner itself
            raw.insert(0, {"id": legacy_id(str(e["credential_sha256"])), "sha256": e["credential_sha256"],
                           "roles": e.get("roles") or [], "expires": e.get("expires")})
        credentials = []
        for c in raw:
            if not isinstance(c, dict) or not c.get("id") or not c.get("sha256"):
                raise ValueError(f"{where}: a credential needs an id and a sha256")
            if c["id"] in credential_ids:
                raise ValueError(f"{where}: credential id {c['id']} is used twice")
            credential_ids.add(c["id"])
            sha = str(c["sha256"]).lower()
            if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
                raise ValueError(f"{where}, credential {c['id']}: sha256 is 64 hex digits")
            if sha in hashes:  # one credential is one partner's, with one set of roles
                raise ValueError(f"{where}, credential {c['id']}: the same sha256 as another credential")
            hashes.add(sha)
            try:
                credentials.append(Credential(
                    str(c["id"]), str(e["id"]), sha, known_roles.parse(c.get("roles") or []),
                    instant(c.get("created"), "created"), instant(c.get("expires"), "expires"),
                    instant(c.get("revoked"), "revoked")))
            except ValueError as exc:
                raise ValueError(f"{where}, credential {c['id']}: {exc}") from None
        partners.append(PartnerEntry(str(e["id"]), str(e["name"]), str(e["kind"]), str(e["region"]),
                                     tuple(credentials)))
    return Registry.of(partners)


def load(path: str | os.PathLike) -> Registry:
    with open(path, encoding="utf-8") as f:
        return parse(yaml.safe_load(f))


class _Watched:
    """One file's registry in this process, re-read when its stat changes (looked at once a second)."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()
        self.signature = self._stat()
        self.registry = load(path)  # the first read fails loudly: a service without its registry is broken
        self.checked = time.monotonic()

    def _stat(self):
        st = os.stat(self.path)  # follows symlinks: a Kubernetes Secret's update swaps one
        return st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns

    def get(self) -> Registry:
        now = time.monotonic()
        if now - self.checked < CHECK_EVERY_SECONDS:
            return self.registry
        with self.lock:
            if now - self.checked < CHECK_EVERY_SECONDS:
                return self.registry
            self.checked = now
            try:
                signature = self._stat()
                if signature != self.signature:
                    self.registry, self.signature = load(self.path), signature
                    log.info("partner registry re-read: %d credentials", len(self.registry.by_sha256))
            except (OSError, ValueError, yaml.YAMLError) as exc:
                # keep the last good registry (refusing every partner would stop the region), say so,
                # and try again next second
                log.error("partner registry %s unreadable, keeping the one read before: %s", self.path, exc)
        return self.registry


_watched: dict[str, _Watched] = {}
_watched_lock = threading.Lock()


def current(path: str) -> Registry:
    """This process's registry of ``path``, at most about a second behind the file."""
    watched = _watched.get(path)
    if watched is None:
        with _watched_lock:
            watched = _watched.get(path) or _Watched(path)
            _watched[path] = watched
    return watched.get()


# --- writing --------------------------------------------------------------------------------


def utc_text(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def dump(registry: Registry) -> str:
    """The registry as YAML, in the current format (the first one is read, never written)."""
    partners = []
    for p in registry.partners:
        credentials = []
        for c in p.credentials:
            entry = {"id": c.id, "sha256": c.sha256, "roles": sorted(c.roles)}
            for key in ("created", "expires", "revoked"):
                if getattr(c, key) is not None:
                    entry[key] = utc_text(getattr(c, key))
            credentials.append(entry)
        partners.append({"id": p.id, "name": p.name, "kind": p.kind, "region": p.region,
                         "credentials": credentials})
    return HEADER + yaml.safe_dump({"partners": partners}, sort_keys=False, allow_unicode=True)


class PackagedFile(Exception):
    """The development registry in the package is never written."""


@contextlib.contextmanager
def editing(path: str | os.PathLike):
    """Read the registry under an exclusive lock (``<file>.lock``), let the caller change it, write
    it back atomically. Yields a one-item list: put the changed registry in it. A file that does not
    exist yet starts empty."""
    path = Path(path)
    if path.resolve() == DEV_PARTNERS.resolve():
        raise PackagedFile(f"{path} is the public development registry in the package: set "
                           "WERKBRUG_PARTNERS_FILE (or --file) to the region's own registry")
    with open(f"{path}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            before = load(path) if path.exists() else Registry.of([])
            holder = [before]
            yield holder
            if holder[0] is not before:
                _write_atomically(path, dump(holder[0]))
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o640  # hashes only, yet nobody else's business
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --- changes (pure: a registry in, a new one out) ----------------------------------------------


def sha256_of(credential: str) -> str:
    # surrogatepass: text that is not valid Unicode hashes too, and matches nothing
    return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    """A new credential: 256 random bits; the prefix lets secret scanners recognise a leaked one."""
    return "wb_" + secrets.token_urlsafe(32)


def _new_id(registry: Registry) -> str:
    while True:
        candidate = f"c-{secrets.token_hex(4)}"
        if registry.credential(candidate) is None:
            return candidate


def _replace_partner(registry: Registry, partner: PartnerEntry) -> Registry:
    others = [p for p in registry.partners if p.id != partner.id]
    return Registry.of(sorted([*others, partner], key=lambda p: p.id))


def issue(registry: Registry, partner_id: str, roles: frozenset[str], expires: datetime | None, now: datetime,
          name: str | None = None, kind: str | None = None, region: str | None = None,
          ) -> tuple[Registry, Credential, str]:
    """A new credential for the partner (made with name, kind and region if it is new): the new
    registry, the credential's entry, and the credential itself, which is stored nowhere."""
    if not roles:
        raise ValueError("a credential needs at least one role")
    partner = registry.partner(partner_id)
    if partner is None:
        missing = [k for k, v in (("--name", name), ("--kind", kind), ("--region", region)) if not v]
        if missing:
            raise ValueError(f"{partner_id} is a new partner: give {', '.join(missing)}")
        partner = PartnerEntry(partner_id, name, kind, region)
    else:
        differing = [k for k, given, known in (("name", name, partner.name), ("kind", kind, partner.kind),
                                                ("region", region, partner.region)) if given and given != known]
        if differing:
            raise ValueError(f"{partner_id} exists with another {', '.join(differing)}; leave it out, or add "
                             "another partner")
    secret = new_secret()
    credential = Credential(_new_id(registry), partner_id, sha256_of(secret), frozenset(roles), now, expires)
    partner = replace(partner, credentials=(*partner.credentials, credential))
    return _replace_partner(registry, partner), credential, secret


def _found(registry: Registry, credential_id: str) -> tuple[PartnerEntry, Credential]:
    found = registry.credential(credential_id)
    if found is None:
        raise LookupError(f"no credential {credential_id} in the registry")
    return found


def _with(registry: Registry, partner: PartnerEntry, changed: Credential) -> Registry:
    credentials = tuple(changed if c.id == changed.id else c for c in partner.credentials)
    return _replace_partner(registry, replace(partner, credentials=credentials))


def revoke(registry: Registry, credential_id: str, now: datetime) -> Registry:
    partner, credential = _found(registry, credential_id)
    if credential.revoked is not None:
        raise ValueError(f"{credential_id} was revoked at {utc_text(credential.revoked)}")
    return _with(registry, partner, replace(credential, revoked=now))


def rotate(registry: Registry, credential_id: str, now: datetime, expires: datetime | None = None,
           grace: timedelta | None = None) -> tuple[Registry, Credential, str]:
    """A new credential of the same partner and roles; the old one revoked now, or, with ``grace``,
    expiring then (if it would not expire sooner). ``expires``: the new one's, by default the old one's."""
    partner, old = _found(registry, credential_id)
    if old.revoked is not None:
        raise ValueError(f"{credential_id} was revoked at {utc_text(old.revoked)}: add a new credential instead")
    expires = expires or old.expires
    if expires is None or expires <= now:
        raise ValueError(f"{credential_id} has {'no expiry' if old.expires is None else 'expired'}: "
                         "give the new credential's with --expires or --days")
    if grace:
        ending = now + grace
        registry = _with(registry, partner, replace(
            old, expires=ending if old.expires is None else min(old.expires, ending)))
    else:
        registry = revoke(registry, credential_id, now)
    return issue(registry, partner.id, old.roles, expires, now)
