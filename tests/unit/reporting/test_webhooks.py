"""Webhooks on SQLite: signatures, which URLs, delivery order, retries with back-off, dead letters, replay."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from reporting import handlers, projections, webhooks
from tests.unit.reporting.test_feed import ENSCHEDE, UWV, registered, status, store, unit_of_work, vacancy
from werkbrug_shared.errors import NotFound, ValidationError

SETTINGS = webhooks.Settings(allow_private=True, max_attempts=3, backoff=10, backoff_max=60, page=100)
T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night the Netherlands moves to summer time


class Actor:
    def __init__(self, organisation):
        self.organisation, self.professional = organisation, "p-1"


class Receiver:
    """A fake endpoint: fails while ``failing`` says so, else records what it got (checking the signature)."""

    def __init__(self, secret=None):
        self.secret, self.got, self.failing = secret, [], 0

    def __call__(self, url, body, headers):
        if self.failing:
            self.failing -= 1
            return "HTTP 500"
        assert headers["Content-Type"].startswith("application/cloudevents+json")
        assert webhooks.verify(self.secret, headers, body)
        event = json.loads(body)
        assert headers["Webhook-Id"] == event["id"]
        self.got.append(event)
        return None


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def test_the_signature_covers_timestamp_and_body():
    body, headers = webhooks.request_for({"id": "e1", "data": {}}, "s3cret", 1_800_000_000)
    assert headers["Webhook-Signature"].startswith("sha256=") and len(headers["Webhook-Signature"]) == 71
    assert webhooks.verify("s3cret", headers, body, now=1_800_000_010)
    assert not webhooks.verify("other", headers, body, now=1_800_000_010)
    assert not webhooks.verify("s3cret", headers, body + b" ", now=1_800_000_010)
    assert not webhooks.verify("s3cret", {**headers, "Webhook-Timestamp": "1800000001"}, body, now=1_800_000_010)
    assert not webhooks.verify("s3cret", headers, body, now=1_800_000_000 + 301)  # too old


def fake_resolve(addresses):
    def resolve(host, port, proto=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, proto, "", (a, port)) for a in addresses]
    return resolve


@pytest.mark.parametrize("url", ["ftp://example.org/x", "example.org/x", "http://", "http://u:p@example.org/",
                                 "https://example.org/#frag", 42, "", "http://[::1/"])
def test_only_plain_http_urls(url):
    with pytest.raises(ValidationError) as refused:
        webhooks.check_url(url, allow_private=True)
    assert "url" in refused.value.errors


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.1.1", "172.16.0.5", "169.254.169.254",
                                     "::1", "fc00::1", "0.0.0.0", "::ffff:127.0.0.1"])
def test_private_addresses_are_refused_unless_allowed(address):
    with pytest.raises(ValidationError):
        webhooks.check_url("https://hooks.example.org/in", False, resolve=fake_resolve([address]))
    assert webhooks.check_url("https://hooks.example.org/in", True, resolve=fake_resolve([address]))
    # one private address among public ones is enough to refuse
    with pytest.raises(ValidationError):
        webhooks.check_url("https://hooks.example.org/in", False, resolve=fake_resolve(["93.184.216.34", address]))
    assert webhooks.check_url("https://hooks.example.org/in", False, resolve=fake_resolve(["93.184.216.34"]))


def test_deliveries_in_order_retried_with_backoff_then_dead_lettered_and_replayed():
    clock = Clock()
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, vacancy("v0", 0))
        sub = handlers.subscribe_webhook(uow, Actor(ENSCHEDE), "http://127.0.0.1:9/hook", None, None, clock(),
                                         SETTINGS)
        uow.session.commit()
        assert sub["cursor"] == 1 and sub["secret"]
        assert "secret" not in handlers.list_webhooks(uow, Actor(ENSCHEDE))[0]
        receiver = Receiver(sub["secret"])
        store(uow, vacancy("v1", 1), registered("c1", 2, UWV), status("c1", 3), vacancy("v2", 4))
        assert handlers.deliver_webhooks(uow, receiver, SETTINGS, clock) == 2
        assert [e["subject"] for e in receiver.got] == ["v1", "v2"]  # Enschede's feed: not UWV's candidate
        assert handlers.list_webhooks(uow, Actor(ENSCHEDE))[0]["cursor"] == 5

        store(uow, vacancy("v3", 5), vacancy("v4", 6))
        receiver.failing = 1
        assert handlers.deliver_webhooks(uow, receiver, SETTINGS, clock) == 0  # v3 failed: pending, v4 waits
        (listed,) = handlers.list_webhooks(uow, Actor(ENSCHEDE))
        assert listed["pending"] == 1 and listed["cursor"] == 6
        clock.now += timedelta(seconds=9)
        assert handlers.deliver_webhooks(uow, receiver, SETTINGS, clock) == 0  # not yet: back-off of 10 s
        clock.now += timedelta(seconds=2)
        handlers.deliver_webhooks(uow, receiver, SETTINGS, clock)
        assert [e["subject"] for e in receiver.got] == ["v1", "v2", "v3", "v4"]

        store(uow, vacancy("v5", 7), vacancy("v6", 8))
        receiver.failing = 3  # the bound: three attempts
        handlers.deliver_webhooks(uow, receiver, SETTINGS, clock)
        clock.now += timedelta(seconds=10)
        handlers.deliver_webhooks(uow, receiver, SETTINGS, clock)
        clock.now += timedelta(seconds=19)
        assert handlers.deliver_webhooks(uow, receiver, SETTINGS, clock) == 0  # 20 s after the second failure
        clock.now += timedelta(seconds=1)
        handlers.deliver_webhooks(uow, receiver, SETTINGS, clock)  # third failure: dead; v6 goes on
        assert [e["subject"] for e in receiver.got][-1] == "v6"
        (dead,) = handlers.webhook_dead_letters(uow, Actor(ENSCHEDE), sub["id"], 100)
        assert (dead["status"], dead["attempts"], dead["last_error"], dead["position"]) == ("dead", 3, "HTTP 500", 8)
        assert handlers.list_webhooks(uow, Actor(ENSCHEDE))[0]["dead_letters"] == 1

        replayed = handlers.replay_webhook(uow, Actor(ENSCHEDE), sub["id"], dead["position"] - 1, clock())
        uow.session.commit()
        assert replayed["dead_letters_replayed"] == 1
        handlers.deliver_webhooks(uow, receiver, SETTINGS, clock)
        assert [e["subject"] for e in receiver.got][-2:] == ["v5", "v6"]
        assert handlers.webhook_dead_letters(uow, Actor(ENSCHEDE), sub["id"], 100) == []


def test_subscriptions_are_their_organisations_own():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        sub = handlers.subscribe_webhook(uow, Actor(ENSCHEDE), "http://127.0.0.1:9/hook",
                                         ["nl.werkbrug.vacancy.opened.v1"], 0, T0, SETTINGS)
        for call in (lambda: handlers.unsubscribe_webhook(uow, Actor(UWV), sub["id"]),
                     lambda: handlers.replay_webhook(uow, Actor(UWV), sub["id"], 0, T0),
                     lambda: handlers.webhook_dead_letters(uow, Actor(UWV), sub["id"], 10)):
            with pytest.raises(NotFound):
                call()
        assert handlers.list_webhooks(uow, Actor(UWV)) == []
        with pytest.raises(ValidationError) as refused:
            handlers.subscribe_webhook(uow, Actor(UWV), "http://127.0.0.1:9/", ["nl.werkbrug.candidate.erased.v1"],
                                       None, T0, SETTINGS)
        assert "types" in refused.value.errors
        with pytest.raises(ValidationError) as refused:
            handlers.subscribe_webhook(uow, Actor(UWV), "http://127.0.0.1:9/", None, 5, T0, SETTINGS)
        assert "after" in refused.value.errors
        with pytest.raises(ValidationError):
            handlers.subscribe_webhook(uow, Actor(UWV), "http://127.0.0.1:9/", None, None, T0,
                                       webhooks.Settings(allow_private=False))
        handlers.unsubscribe_webhook(uow, Actor(ENSCHEDE), sub["id"])
        assert handlers.list_webhooks(uow, Actor(ENSCHEDE)) == []


def test_backoff_doubles_up_to_its_bound():
    s = webhooks.Settings(backoff=2, backoff_max=30)
    assert [webhooks.backoff(s, n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert webhooks.Settings.from_config({"WEBHOOKS_ALLOW_PRIVATE": "true", "WEBHOOK_MAX_ATTEMPTS": "4"}) \
        == webhooks.Settings(allow_private=True, max_attempts=4)
