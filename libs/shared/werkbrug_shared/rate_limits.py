"""Rate limits at the gateway: a token bucket per organisation, one per address for anonymous callers.

A bucket holds up to ``burst`` tokens and refills at ``rate`` a second; each request
takes one, and a request finding less than one is refused with how long until there
is one (``Retry-After``). Each check is a dict look-up and a little arithmetic: the
cost does not grow with routes or partners.

Several gateway replicas: each keeps its own buckets (no shared store on the hot path)
and enforces ``limit / WERKBRUG_GATEWAY_REPLICAS``. Behind a balancer spreading requests
evenly an organisation gets about its limit in total; an uneven spread refuses early,
never later.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from prometheus_client import Counter

from werkbrug_shared import actor
from werkbrug_shared.errors import Unauthorized

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"  # the metric's label for callers without a known credential (never their address)
MAX_KEYS = 10_000  # buckets kept; idle (full) ones are dropped first

REFUSED = Counter(
    "werkbrug_http_rate_limited_total",
    "HTTP requests refused (429) by an organisation's rate limit.",
    ["service", "organisation"],
)


class TokenBuckets:
    """``check(key, limit)``: None when the request may go, else seconds until it may."""

    def __init__(self, clock=time.monotonic, max_keys: int = MAX_KEYS):
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens, when counted)

    def check(self, key: str, limit: tuple[float, float]) -> float | None:
        rate, burst = limit
        now = self.clock()
        held = self._buckets.get(key)
        tokens = burst if held is None else min(burst, held[0] + (now - held[1]) * rate)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return None
        self._store(key, tokens, now)
        return (1 - tokens) / rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._prune(now)
        self._buckets[key] = (tokens, now)

    def _prune(self, now: float) -> None:
        # rare (at max_keys new keys): a bucket idle for a minute is full again for any sane limit;
        # if that frees nothing, start afresh rather than grow without bound
        idle = [k for k, (_, at) in self._buckets.items() if now - at > 60]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


class Organisations:
    """The organisation of a bearer credential, remembered a few seconds.

    Only for bucketing: the services behind the gateway check the credential on every
    call, so a credential revoked meanwhile is still refused there. Keyed by the
    credential's digest, never the credential itself.
    """

    def __init__(self, ttl: float = 5.0, clock=time.monotonic, max_keys: int = MAX_KEYS):
        self.ttl, self.clock, self.max_keys = ttl, clock, max_keys
        self._known: dict[bytes, tuple[str | None, float]] = {}

    def of(self, credential: str | None) -> str | None:
        if not credential:
            return None
        key = hashlib.sha256(credential.encode("utf-8", "surrogatepass")).digest()
        now = self.clock()
        known = self._known.get(key)
        if known is not None and known[1] > now:
            return known[0]
        try:
            partner = actor.partner_for(credential)
            organisation = partner.id if partner else None
        except Unauthorized:
            organisation = None  # nobody's: limited by address, refused by the service
        except Exception:  # the registry unreadable for a moment: limit by address meanwhile
            log.warning("could not look up a credential's organisation for its rate limit", exc_info=True)
            organisation = None
        if len(self._known) >= self.max_keys:
            self._known.clear()
        self._known[key] = (organisation, now + self.ttl)
        return organisation


class RateLimits:
    """Each organisation's bucket (its own limit or the default), anonymous callers' by address."""

    def __init__(self, service: str, default: tuple[float, float] | None,
                 per_organisation: dict[str, tuple[float, float] | None] | None = None, replicas: int = 1,
                 clock=time.monotonic):
        self.service = service
        self.default = _share(default, replicas)
        self.per_organisation = {org: _share(limit, replicas) for org, limit in (per_organisation or {}).items()}
        self.buckets = TokenBuckets(clock)
        self.organisations = Organisations(clock=clock)
        self.active = self.default is not None or any(v is not None for v in self.per_organisation.values())

    def refused(self, credential: str | None, address: str | None) -> int | None:
        """Seconds to wait (``Retry-After``, whole and at least 1) when this request is over its
        limit, else None."""
        if not self.active:
            return None
        organisation = self.organisations.of(credential)
        if organisation is None:
            key, limit, label = f"address:{address}", self.default, ANONYMOUS
        else:
            key, limit, label = organisation, self.per_organisation.get(organisation, self.default), organisation
        if limit is None:
            return None
        wait = self.buckets.check(key, limit)
        if wait is None:
            return None
        REFUSED.labels(self.service, label).inc()  # organisation ids are no personal data; addresses are
        return max(1, math.ceil(wait))


def _share(limit: tuple[float, float] | None, replicas: int) -> tuple[float, float] | None:
    """One replica's part of a limit over all of them."""
    if limit is None:
        return None
    rate, burst = limit
    return rate / replicas, max(1.0, burst / replicas)
