"""RpcReplies, the lean reply path, held to nameko's own: for the same request and
outcome it publishes the same bytes to the same place as nameko's RpcConsumer and
Responder; only a reply that needs no confirm differs, and only in going transient
over a connection kept for it."""

from __future__ import annotations

from contextlib import contextmanager

import kombu.serialization
import nameko.amqp.publish
import pytest
from eventlet.semaphore import Semaphore
from nameko.constants import AMQP_URI_CONFIG_KEY, PERSISTENT
from nameko.rpc import RpcConsumer, get_rpc_exchange

from werkbrug_shared.entrypoints import replies
from werkbrug_shared.entrypoints.replies import TRANSIENT, RpcReplies
from werkbrug_shared.errors import NotFound

AMQP_URI = "amqp://unused//"


class Message:
    def __init__(self, content_type="application/json"):
        self.properties = {"content_type": content_type, "reply_to": "rpc.reply-client-1", "correlation_id": "c-1"}


class Acks:
    def __init__(self):
        self.acked = []

    def ack_message(self, message):
        self.acked.append(message)


class Producer:
    def __init__(self, sent, confirms=None):
        self.sent, self.confirms = sent, confirms

    def publish(self, body, **kwargs):
        self.sent.append((self.confirms, body, kwargs))


def producers(sent):
    @contextmanager
    def get_producer(amqp_uri, confirms=True, *args, **kwargs):
        yield Producer(sent, confirms)
    return get_producer


def nameko_reply(monkeypatch, message, result, exc_info):
    """What nameko 2.14.1's RpcConsumer publishes: (confirms, content type, encoding, body, options)."""
    sent = []
    monkeypatch.setattr(nameko.amqp.publish, "get_producer", producers(sent))
    consumer = RpcConsumer()
    consumer.container = type("Container", (), {"config": {AMQP_URI_CONFIG_KEY: AMQP_URI}})()
    consumer.queue_consumer = Acks()
    outcome = consumer.handle_result(message, result, exc_info)
    ((confirms, payload, options),) = sent
    content_type, encoding, body = kombu.serialization.dumps(payload, options.pop("serializer"))
    return outcome, (confirms, content_type, encoding, body, options), consumer.queue_consumer.acked


def lean_replies(monkeypatch, sent):
    monkeypatch.setattr(replies, "get_producer", producers(sent))
    lean = RpcReplies()
    lean.amqp_uri, lean.exchange, lean.ssl, lean.login_method = AMQP_URI, get_rpc_exchange({}), None, None
    lean._unconfirmed, lean._publishing = None, Semaphore()
    lean.queue_consumer = Acks()
    return lean


def lean_reply(monkeypatch, message, result, exc_info):
    sent = []
    lean = lean_replies(monkeypatch, sent)
    outcome = lean.handle_result(message, result, exc_info)
    ((confirms, body, options),) = sent
    return outcome, (confirms, options.pop("content_type"), options.pop("content_encoding"), body, options), \
        lean.queue_consumer.acked


OUTCOMES = {
    "a result": ({"id": "c1", "skills": ["a", "b"], "hours": 24, "score": 0.8125, "none": None}, None),
    "an error": (None, (NotFound, NotFound("no candidate c9"), None)),
    "an unserialisable result": ({"a set is no JSON": {1, 2}}, None),
}


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_confirmed_reply_is_nameko_s_byte_for_byte(monkeypatch, outcome):
    result, exc_info = OUTCOMES[outcome]
    message = Message()
    (n_result, n_exc), nameko_sent, nameko_acked = nameko_reply(monkeypatch, message, result, exc_info)
    (l_result, l_exc), lean_sent, lean_acked = lean_reply(monkeypatch, message, result, exc_info)

    assert lean_sent[:4] == nameko_sent[:4]  # confirms, content type, encoding, body
    for option in ("exchange", "routing_key", "correlation_id", "delivery_mode", "retry", "retry_policy"):
        assert lean_sent[4][option] == nameko_sent[4][option], option
    assert lean_sent[4]["delivery_mode"] == PERSISTENT
    assert (l_result, l_exc is None) == (n_result, n_exc is None)
    if n_exc is not None:
        assert l_exc[0] is n_exc[0]
    assert lean_acked == nameko_acked == [message]


def test_a_reply_needing_no_confirm_goes_transient_over_one_kept_connection(monkeypatch):
    opened, sent = [], []

    class Connection:
        def __init__(self, uri, transport_options, **kwargs):
            opened.append(transport_options["confirm_publish"])

    monkeypatch.setattr(replies, "Connection", Connection)
    monkeypatch.setattr(replies, "Producer", lambda connection: Producer(sent))
    lean = lean_replies(monkeypatch, [])
    result, _ = OUTCOMES["a result"]
    for _ in range(2):
        lean.handle_result(Message(), result, None, confirm=False)

    assert opened == [False]
    _, (_, _, _, confirmed_body, _), _ = lean_reply(monkeypatch, Message(), result, None)
    assert [body for _, body, _ in sent] == [confirmed_body, confirmed_body]
    assert {options["delivery_mode"] for _, _, options in sent} == {TRANSIENT}


def test_the_request_s_own_serializer_answers_it(monkeypatch):
    result, _ = OUTCOMES["a result"]
    _, nameko_sent, _ = nameko_reply(monkeypatch, Message("application/x-python-serialize"), result, None)
    _, lean_sent, _ = lean_reply(monkeypatch, Message("application/x-python-serialize"), result, None)
    assert lean_sent[1:4] == nameko_sent[1:4]
