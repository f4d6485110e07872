"""Webhooks: a partner's subscription (a URL and event types), delivered from the feed.

Each subscription has a cursor: every position up to it was delivered, or is held by a
delivery record (``pending``: retried later; ``dead``: given up). A timer in every
replica runs :func:`deliver_some`: it claims a subscription with ``FOR UPDATE SKIP
LOCKED`` (so two replicas never deliver one subscription at once), retries its due
pending delivery or reads the feed after its cursor as its organisation sees it, POSTs
each event, and in one transaction advances the cursor with the records of what
happened. Delivery is at least once (a crash after a POST and before the commit sends
it again): the receiver dedupes on the CloudEvents ``id``. Events go in position order:
while a delivery waits for its retry, the subscription's later events wait too; after
``max_attempts`` it is dead-lettered (kept, listed) and the rest follow.

A request is the CloudEvents HTTP binding in structured mode (``application/cloudevents+json``),
signed: ``Webhook-Signature: sha256=<hex>`` is HMAC-SHA256 with the subscription's secret
over ``<Webhook-Timestamp>.<body>`` (the timestamp in Unix seconds, so a receiver can
refuse an old one); ``Webhook-Id`` is the event's id.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from prometheus_client import Counter
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from reporting import feed
from reporting.models import FeedEntry, StoredEvent, WebhookDelivery, WebhookSubscription
from werkbrug_shared.errors import NotFound, ValidationError

log = logging.getLogger(__name__)

PENDING, DEAD, REPLAYED = "pending", "dead", "replayed"
DELIVERIES = Counter("werkbrug_webhook_deliveries_total",
                     "Webhook requests by outcome: delivered (2xx), failed (retried later), dead_lettered "
                     "(given up after the bound)", ["outcome"])
MAX_SUBSCRIPTIONS = 20  # per organisation


@dataclass(frozen=True)
class Settings:
    """From the nameko config (``WEBHOOK_*`` keys; config.yml)."""

    allow_private: bool = False  # loopback, private and link-local addresses: tests and development only
    timeout: float = 5.0  # seconds for one request
    max_attempts: int = 8  # then dead-lettered
    backoff: float = 2.0  # seconds before the first retry, doubling each time
    backoff_max: float = 3600.0
    page: int = 100  # events delivered per claim of a subscription
    budget: float = 2.0  # seconds one timer tick spends delivering

    @classmethod
    def from_config(cls, config: dict) -> Settings:
        def get(key, default, kind):
            raw = config.get(key)
            if raw in (None, ""):
                return default
            if kind is bool:
                return str(raw).strip().lower() in ("1", "true", "yes", "on")
            return kind(raw)
        return cls(allow_private=get("WEBHOOKS_ALLOW_PRIVATE", False, bool),
                   timeout=get("WEBHOOK_TIMEOUT_SECONDS", 5.0, float),
                   max_attempts=get("WEBHOOK_MAX_ATTEMPTS", 8, int),
                   backoff=get("WEBHOOK_BACKOFF_SECONDS", 2.0, float),
                   backoff_max=get("WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0, float))


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return min(settings.backoff_max, settings.backoff * (2 ** max(0, attempts - 1)))


# --- signing ---------------------------------------------------------------------------------

def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, headers, body: bytes, now: float | None = None, tolerance: float = 300) -> bool:
    """What a receiver does (and the tests): the signature matches and the timestamp is recent."""
    try:
        timestamp = int(headers["Webhook-Timestamp"])
    except (KeyError, ValueError, TypeError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), headers.get("Webhook-Signature", ""))


def request_for(event: dict, secret: str, timestamp: int) -> tuple[bytes, dict]:
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    return body, {
        "Content-Type": "application/cloudevents+json; charset=utf-8",
        "Webhook-Id": event["id"],
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature(secret, timestamp, body),
        "User-Agent": "werkbrug-webhooks/1",
    }


# --- where we may send -----------------------------------------------------------------------

def _forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)


def check_url(url, allow_private: bool, resolve=socket.getaddrinfo) -> str:
    """An absolute http(s) URL without credentials, whose host resolves to public addresses only
    (unless ``allow_private``). Raises ValidationError naming ``url``."""
    def refuse(why):
        raise ValidationError.from_fields("webhook", {"url": [why]})
    if not isinstance(url, str) or not url or len(url) > 2000:
        refuse("an http(s) URL of at most 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        refuse("not a URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        refuse("only http and https URLs")
    if parts.username or parts.password:
        refuse("no credentials in the URL")
    if parts.fragment:
        refuse("no fragment")
    if allow_private:
        return url
    try:
        infos = resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        refuse("its host does not resolve")
    if not infos or any(_forbidden_address(info[4][0]) for info in infos):
        refuse("loopback, private, link-local and reserved addresses are refused")
    return url


def _check_types(types) -> list[str]:
    if types is None:
        return []
    if not isinstance(types, list | tuple) or not all(isinstance(t, str) for t in types):
        raise ValidationError.from_fields("webhook", {"types": ["a list of event type names"]})
    unknown = sorted(set(types) - set(feed.FEED_TYPES))
    if unknown:
        raise ValidationError.from_fields("webhook", {"types": [f"not in the feed: {', '.join(unknown)}"]})
    return sorted(set(types))


# --- subscriptions ---------------------------------------------------------------------------

def public_view(sub: WebhookSubscription, dead: int = 0, pending: int = 0) -> dict:
    return {"id": sub.id, "url": sub.url, "types": list(sub.types), "cursor": sub.cursor,
            "created_at": sub.created_at.isoformat(), "delivered": sub.delivered,
            "last_delivered_at": sub.last_delivered_at.isoformat() if sub.last_delivered_at else None,
            "pending": pending, "dead_letters": dead}


def subscribe(session: Session, organisation: str, professional, url, types, after, now: datetime,
              settings: Settings) -> dict:
    url = check_url(url, settings.allow_private)
    types = _check_types(types)
    top = feed.head(session)
    if after is None:
        after = top
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= top:
        raise ValidationError.from_fields("webhook", {"after": [f"a position from 0 to {top}"]})
    count = session.scalar(select(func.count()).select_from(WebhookSubscription).where(
        WebhookSubscription.organisation == organisation, WebhookSubscription.active.is_(True)))
    if count >= MAX_SUBSCRIPTIONS:
        raise ValidationError.from_fields("webhook", {"url": [f"at most {MAX_SUBSCRIPTIONS} webhooks"]})
    sub = WebhookSubscription(id=str(uuid.uuid4()), organisation=organisation, url=url, types=types,
                              secret=secrets.token_urlsafe(32), cursor=after, active=True, created_at=now,
                              created_by=professional, delivered=0, last_delivered_at=None)
    session.add(sub)
    session.flush()
    return {**public_view(sub), "secret": sub.secret}


def own(session: Session, organisation: str, subscription_id, for_update: bool = False) -> WebhookSubscription:
    if not isinstance(subscription_id, str) or not subscription_id:
        raise ValidationError.from_fields("webhook", {"subscription_id": ["a subscription id"]})
    q = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id,
                                          WebhookSubscription.organisation == organisation,
                                          WebhookSubscription.active.is_(True))
    sub = session.scalars(q.with_for_update() if for_update else q).first()
    if sub is None:
        raise NotFound(f"webhook {subscription_id} not found")
    return sub


def list_for(session: Session, organisation: str) -> list[dict]:
    subs = session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.organisation == organisation, WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)).all()
    counts = {}
    if subs:
        counts = {(s, st): n for s, st, n in session.execute(
            select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
            .where(WebhookDelivery.subscription_id.in_([s.id for s in subs]))
            .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status))}
    return [public_view(s, counts.get((s.id, DEAD), 0), counts.get((s.id, PENDING), 0)) for s in subs]


def unsubscribe(session: Session, organisation: str, subscription_id) -> dict:
    sub = own(session, organisation, subscription_id, for_update=True)
    sub.active = False
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id,
                                                  WebhookDelivery.status == PENDING))
    return {"id": sub.id, "active": False}


def delivery_view(d: WebhookDelivery) -> dict:
    return {"id": d.id, "position": d.position, "event_id": d.event_id, "status": d.status,
            "attempts": d.attempts, "last_error": d.last_error, "created_at": d.created_at.isoformat(),
            "updated_at": d.updated_at.isoformat()}


def dead_letters(session: Session, organisation: str, subscription_id, limit: int = 100) -> list[dict]:
    sub = own(session, organisation, subscription_id)
    rows = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == DEAD)
        .order_by(WebhookDelivery.position).limit(limit)).all()
    return [delivery_view(d) for d in rows]


def replay(session: Session, organisation: str, subscription_id, after, now: datetime) -> dict:
    """Deliver again every event after position ``after`` (dead letters among them too)."""
    sub = own(session, organisation, subscription_id, for_update=True)
    top = feed.head(session)
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= top:
        raise ValidationError.from_fields("webhook", {"after": [f"a position from 0 to {top}"]})
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id,
                                                  WebhookDelivery.status == PENDING,
                                                  WebhookDelivery.position > after))
    replayed = session.execute(update(WebhookDelivery).where(
        WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == DEAD,
        WebhookDelivery.position > after).values(status=REPLAYED, updated_at=now)).rowcount
    sub.cursor = after
    return {"id": sub.id, "cursor": after, "dead_letters_replayed": replayed}


# --- delivery --------------------------------------------------------------------------------

class Poster:
    """POSTs with ``requests``: one pooled session, a short timeout, no redirects."""

    def __init__(self, settings: Settings):
        import requests
        self.settings = settings
        self.http = requests.Session()

    def __call__(self, url: str, body: bytes, headers: dict) -> str | None:
        """None when delivered (2xx), else why not."""
        try:
            check_url(url, self.settings.allow_private)  # again: what a name resolves to may change
            response = self.http.post(url, data=body, headers=headers, timeout=self.settings.timeout,
                                      allow_redirects=False)
        except ValidationError as exc:
            return f"refused: {exc.errors.get('url', ['address'])[0]}"[:300]
        except Exception as exc:  # a refused connection, a time-out: retried
            return f"{type(exc).__name__}"[:300]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


def _event_at(session: Session, position: int) -> dict | None:
    row = session.execute(select(*feed._columns()).where(StoredEvent.position == position)).first()
    return None if row is None else row


def _deliver_one(sub, event: dict, post, now_ts: int) -> str | None:
    body, headers = request_for(event, sub.secret, now_ts)
    error = post(sub.url, body, headers)
    DELIVERIES.labels("delivered" if error is None else "failed").inc()
    return error


def step(session: Session, subscription_id: str, post, settings: Settings, now) -> int:
    """One claim of one subscription: deliver what is due, commit. Returns how many events were
    delivered or dead-lettered (0: nothing to do now, or another replica holds it)."""
    sub = session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id, WebhookSubscription.active.is_(True))
        .with_for_update(skip_locked=True)).first()
    if sub is None:
        session.rollback()
        return 0
    moment = now()
    pending = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == PENDING)
        .order_by(WebhookDelivery.position).limit(1)).first()
    done = 0
    if pending is not None:
        if pending.next_attempt_at is not None and _aware(pending.next_attempt_at) > moment:
            session.rollback()
            return 0
        row = _event_at(session, pending.position)
        error = None if row is None else _deliver_one(sub, feed.cloudevent(row, _form(session, sub, row)), post,
                                                      int(time.time()))
        pending.attempts += 1
        pending.updated_at = moment
        if error is None:
            session.delete(pending)
            sub.delivered += 1
            sub.last_delivered_at = moment
        elif pending.attempts >= settings.max_attempts:
            pending.status, pending.last_error, pending.next_attempt_at = DEAD, error, None
            DELIVERIES.labels("dead_lettered").inc()
            log.warning("webhook %s: event at %s dead-lettered after %s attempts (%s)", sub.id, pending.position,
                        pending.attempts, error)
        else:
            pending.last_error = error
            pending.next_attempt_at = moment + timedelta(seconds=backoff(settings, pending.attempts))
            session.commit()
            return 0
        session.commit()
        return 1
    page = feed.read(session, sub.organisation, sub.cursor, sub.types or None, settings.page)
    deadline = time.monotonic() + settings.budget  # a slow receiver holds its claim this long at most
    for event in page["events"]:
        if done and time.monotonic() > deadline:
            break
        error = _deliver_one(sub, event, post, int(time.time()))
        sub.cursor = event["position"]
        done += 1
        if error is None:
            sub.delivered += 1
            sub.last_delivered_at = now()
            continue
        at = now()
        status = DEAD if settings.max_attempts <= 1 else PENDING
        if status == DEAD:
            DELIVERIES.labels("dead_lettered").inc()
        session.add(WebhookDelivery(
            id=str(uuid.uuid4()), subscription_id=sub.id, position=event["position"], event_id=event["id"],
            status=status, attempts=1, last_error=error, created_at=at, updated_at=at,
            next_attempt_at=None if status == DEAD else at + timedelta(seconds=backoff(settings, 1))))
        if status == PENDING:
            done -= 1
            break
    if not page["events"] and page["next"] > sub.cursor:
        sub.cursor = page["next"]  # past what this organisation does not see
    session.commit()
    return done


def _form(session: Session, sub, row) -> int:
    """How the subscriber's organisation sees the event at this position (whole, or id alone)."""
    form = session.scalar(select(FeedEntry.form).where(FeedEntry.position == row.position,
                                                       FeedEntry.audience.in_((feed.EVERYONE, sub.organisation))))
    return feed.WHOLE if form is None else form


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def deliver_some(session: Session, post, settings: Settings, now) -> int:
    """A timer tick: each active subscription, claimed in turn, until nothing is due or the
    tick's budget is spent. Returns how many events were delivered or dead-lettered."""
    started, total = time.monotonic(), 0
    while time.monotonic() - started < settings.budget:
        ids = session.scalars(select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
                              .order_by(WebhookSubscription.id)).all()
        session.rollback()
        progressed = 0
        for sid in ids:
            try:
                progressed += step(session, sid, post, settings, now)
            except Exception:
                session.rollback()
                log.exception("webhook %s: delivery step failed", sid)
            if time.monotonic() - started >= settings.budget:
                break
        total += progressed
        if not progressed:
            break
    return total
