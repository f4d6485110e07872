"""Whatever fails after a worker ran — at commit, recording the reply, encoding it,
decoding the request — is the caller's error, and the service lives on.

nameko treats an exception escaping an entrypoint's ``handle_result`` as fatal to
the whole container: a NUL byte reaching PostgreSQL at commit, or a reply that
could not be encoded, used to stop the service, and the unacked request killed
it again after every restart. A real probe service, on a private vhost and a
private PostgreSQL database, in process and as ``nameko run``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from nameko.containers import ServiceContainer
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from tests.integration.harness import ROOT, dumps, eventually
from tests.integration.probe_service import EMPLOYER_REGISTERED, HANDLED, Probe, ProbeWorld
from werkbrug_shared import topology
from werkbrug_shared.errors import Conflict, ValidationError


@pytest.fixture
def world():
    world = ProbeWorld().create()
    try:
        yield world
    finally:
        world.destroy()


@pytest.fixture
def probe(world):
    container = ServiceContainer(Probe, world.config(WERKBRUG_RETRY_DELAYS_MS="200"))
    container.start()
    try:
        yield container
    finally:
        container.kill()


def client(world, timeout=10):
    return ClusterRpcProxy(world.config(), timeout=timeout)


def test_a_value_the_database_refuses_at_commit_is_an_error_reply_and_nothing_is_written(world, probe):
    with client(world) as rpc:
        with pytest.raises(RemoteError) as refused:
            rpc.probe.write_note("n1", "7511AB" * 50)  # longer than the column: DataError at commit
        assert refused.value.exc_type == "DataError"
        assert "7511AB" not in str(refused.value), "bound values never reach an error"
        assert rpc.probe.count_notes() == 0
        assert rpc.probe.write_note("n2", "fine") == {"id": "n2"}, "the service lives on"
        assert rpc.probe.count_notes() == 1


def test_a_reply_that_cannot_be_encoded_is_an_error_reply(world, probe):
    with client(world) as rpc:
        with pytest.raises(RemoteError) as refused:
            rpc.probe.unanswerable()
        assert refused.value.exc_type == "UnserializableValueError"
        assert rpc.probe.ping() == "pong"


def call_raw(world, body: bytes, content_type: str = "application/json") -> dict:
    """An RPC request as bytes, the way a broken client would send it; returns the decoded reply."""
    rpc_exchange = Exchange("nameko-rpc", type="topic", durable=True)
    name = f"probe-reply-{uuid.uuid4().hex[:8]}"
    reply_queue = Queue(name, exchange=rpc_exchange, routing_key=name, exclusive=True, auto_delete=True)
    with Connection(world.amqp_uri) as conn:
        channel = conn.channel()
        reply_queue(channel).declare()
        conn.Producer(channel).publish(
            body, exchange=rpc_exchange, routing_key="probe.ping",
            content_type=content_type, content_encoding="utf-8", reply_to=reply_queue.name,
            correlation_id=str(uuid.uuid4()), retry=False)
        replies = []
        with conn.Consumer(reply_queue, callbacks=[lambda body, message: replies.append(message)], accept=None):
            deadline = 100
            while not replies and deadline:
                try:
                    conn.drain_events(timeout=0.1)
                except TimeoutError:
                    deadline -= 1
        assert replies, "no reply: the caller would wait for its time-out"
        return json.loads(replies[0].body)


@pytest.mark.parametrize("body", [b"{not json", b"[" * 1500 + b"]" * 1500, b"\xff\xfe\x00"])
def test_a_request_that_cannot_be_decoded_is_answered_at_once(world, probe, body):
    reply = call_raw(world, body)
    assert reply["result"] is None
    assert reply["error"]["exc_type"] == "ValidationError"
    with client(world) as rpc:
        assert rpc.probe.ping() == "pong"


def test_an_event_that_cannot_be_decoded_is_dead_lettered_with_its_reason_and_blocks_nothing(world, probe):
    queue = topology.consumer_queue_name("vacancies", EMPLOYER_REGISTERED, "probe", "on_employer_registered")
    good = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/werkbrug/vacancies",
            "type": EMPLOYER_REGISTERED, "time": "2026-11-23T10:00:00+00:00", "subject": "e1",
            "datacontenttype": "application/json", "data": {"employer_id": str(uuid.uuid4()), "region": "Twente"}}
    with Connection(world.amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for body in (b"{broken", dumps(good).encode()):
            producer.publish(body, exchange=topology.event_exchange("vacancies"), routing_key=EMPLOYER_REGISTERED,
                             content_type="application/cloudevents+json", content_encoding="utf-8",
                             delivery_mode=2, mandatory=True, retry=False)
    eventually(lambda: good["id"] in HANDLED, timeout=15, what="the good event behind the broken one")
    with Connection(world.amqp_uri) as conn:
        message = eventually(lambda: conn.default_channel.basic_get(queue + ".dlq"), timeout=10,
                             what="the broken one in the dead-letter queue")
        assert message.body in (b"{broken", "{broken")
        assert message.headers[topology.ERROR_HEADER].startswith("invalid: undecodable")


def test_a_request_that_stops_the_service_twice_is_refused_the_third_time(world):
    """A request that kills the process is redelivered when it starts again: without a bound,
    one call is a crash loop. The third delivery is refused (Conflict) and acked."""
    env = world.env(WERKBRUG_CRASH_AT="rpc.after_commit:1")  # every answer dies before it is sent
    command = [sys.executable, "-m", "nameko", "run", "--config", str(ROOT / "config.yml"),
               "tests.integration.probe_service"]
    with Connection(world.amqp_uri) as conn:  # the service's queue, as nameko declares it, before it first starts
        Queue("rpc-probe", Exchange("nameko-rpc", type="topic", durable=True), routing_key="probe.*",
              durable=True)(conn.default_channel).declare()
    deaths, procs = 0, []
    with client(world, timeout=90) as rpc:
        reply = rpc.probe.ping.call_async()
        try:
            while True:  # start it again whenever it died, until the caller has an answer
                if not procs or procs[-1].poll() is not None:
                    deaths += bool(procs)
                    assert deaths <= 3, "a crash loop"
                    procs.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
                try:
                    with eventlet.Timeout(0.2):
                        reply.result()
                except eventlet.Timeout:
                    continue
                except Conflict:
                    break
                raise AssertionError("the request was answered although every answer dies")
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    assert deaths == 2, "run once, run again once, then refused"


def test_validation_errors_still_name_their_fields_over_the_raw_path(world, probe):
    reply = call_raw(world, b"{not json")
    error = ValidationError(*reply["error"]["exc_args"]) if reply["error"]["exc_args"] else None
    assert error is not None and error.errors == {"_schema": ["not a readable payload"]}


@pytest.mark.parametrize("body", [b'"abc"', b'{"args": 1, "kwargs": {}}', b'[1, 2]'])
def test_a_body_that_is_no_request_is_refused_as_such(world, probe, body):
    reply = call_raw(world, body)
    assert reply["error"]["exc_type"] == "ValidationError"


def test_a_plain_argument_with_a_nul_is_refused_naming_it_before_any_work(world, probe):
    with client(world) as rpc:
        with pytest.raises(ValidationError) as refused:
            rpc.probe.write_note("n\x00", "body")
        assert "note_id" in refused.value.errors
        assert rpc.probe.count_notes() == 0
