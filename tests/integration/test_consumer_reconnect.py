"""A consumer whose connection drops the way py-amqp drops it consumes again.

py-amqp marks a transport disconnected when any green thread's read or write on
it fails (a worker acking while the broker goes down). kombu then reconnected
silently under nameko's consume loop, which went on draining a connection with
no consumers: messages ready, 0 consumers, for good. These tests make exactly
that happen to a real nameko container on a private vhost of the machine's
RabbitMQ, for an event consumer and an RPC consumer, and see each consume again.
"""

from __future__ import annotations

import socket
import subprocess
import uuid

import eventlet
import pytest
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from tests.integration.harness import AMQP_BASE, dumps, eventually, rabbitmqctl
from tests.integration.probe_service import EMPLOYER_REGISTERED, HANDLED, Probe, metadata
from werkbrug_shared import config, topology
from werkbrug_shared.consuming import EventQueueConsumer, RpcQueueConsumer, WatchedQueueConsumer
from werkbrug_shared.metrics import liveness, readiness


def employer_registered() -> dict:
    return {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/werkbrug/vacancies", "type": EMPLOYER_REGISTERED,
        "time": "2026-11-23T10:00:00+00:00", "subject": str(uuid.uuid4()), "datacontenttype": "application/json",
        "data": {"employer_id": str(uuid.uuid4()), "region": "Twente", "sector": None},
    }


@pytest.fixture
def probe(tmp_path):
    vhost = f"werkbrug_test_reconnect_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    uri = f"{AMQP_BASE}/{vhost}"
    url = f"sqlite:///{tmp_path / 'probe.db'}"
    from werkbrug_shared.db import make_engine

    metadata.create_all(make_engine(url))
    container = ServiceContainer(Probe, config.nameko_config(
        AMQP_URI=uri, PROBE_DATABASE_URL=url, PROBE_METRICS_PORT=0, WERKBRUG_RETRY_DELAYS_MS="200"))
    container.start()
    try:
        yield container, uri
    finally:
        container.kill()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


def consumer_of(container, kind) -> WatchedQueueConsumer:
    (found,) = [e for e in container.extensions if isinstance(e, kind)]
    return found


def consumers_on(uri: str, queue: str) -> int:
    with Connection(uri) as conn:
        return conn.default_channel.queue_declare(queue, passive=True)[2]


def drop_like_py_amqp(queue_consumer: WatchedQueueConsumer) -> None:
    """What py-amqp does when another green thread's write fails: the transport
    is marked disconnected. Once the consume loop has gone round (it drains with
    a 1 s timeout), the broker loses the old connection, as in a restart."""
    connection = queue_consumer._consuming[0]._connection
    connection.transport.connected = False
    eventlet.sleep(1.5)
    connection.transport.sock.shutdown(socket.SHUT_RDWR)


def test_an_event_consumer_whose_connection_dropped_consumes_again(probe):
    container, uri = probe
    queue = topology.consumer_queue_name("vacancies", EMPLOYER_REGISTERED, "probe", "on_employer_registered")
    assert consumers_on(uri, queue) == 1
    drop_like_py_amqp(consumer_of(container, EventQueueConsumer))

    eventually(lambda: consumers_on(uri, queue) == 1, timeout=5, interval=0.1, what="the event consumer back")
    event = employer_registered()
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(dumps(event), exchange=topology.event_exchange("vacancies"),
                                routing_key=EMPLOYER_REGISTERED, content_type="application/cloudevents+json",
                                content_encoding="utf-8", delivery_mode=2, mandatory=True, retry=False)
    eventually(lambda: event["id"] in HANDLED, timeout=10, what="the event handled after the drop")
    assert consumer_of(container, EventQueueConsumer).consuming()


def test_an_rpc_consumer_whose_connection_dropped_answers_again(probe):
    container, uri = probe
    assert consumers_on(uri, "rpc-probe") == 1
    drop_like_py_amqp(consumer_of(container, RpcQueueConsumer))

    eventually(lambda: consumers_on(uri, "rpc-probe") == 1, timeout=5, interval=0.1, what="the RPC consumer back")
    with ClusterRpcProxy(config.nameko_config(AMQP_URI=uri), timeout=10) as proxy:
        assert proxy.probe.ping() == "pong"


def test_the_watchdog_reconnects_a_consumer_that_lost_its_consumers_anyway(probe):
    """The second line: were a connection swapped under the loop by some other path,
    the watchdog notices the consumers are not on the connection drained, marks the
    service not live, and makes the loop reconnect."""
    container, uri = probe
    queue_consumer = consumer_of(container, EventQueueConsumer)
    queue = topology.consumer_queue_name("vacancies", EMPLOYER_REGISTERED, "probe", "on_employer_registered")
    _, channel, _ = queue_consumer._consuming
    tag = next(iter(queue_consumer._consumers.values()))._active_tags[queue]

    def cancel_once():
        # on the consume loop's own green thread, as only it may use the channel
        del queue_consumer.on_iteration
        channel.basic_cancel(tag)
        type(queue_consumer).on_iteration(queue_consumer)

    queue_consumer.on_iteration = cancel_once
    eventually(lambda: consumers_on(uri, queue) == 0, timeout=5, interval=0.1, what="the consumer cancelled")
    assert readiness(container)["consumers:events"] is False
    eventually(lambda: not liveness(container)["consumers:events"], timeout=30, interval=0.1,
               what="the watchdog to declare the consumer dead")

    eventually(lambda: queue_consumer.live and queue_consumer.consuming() and consumers_on(uri, queue) == 1,
               timeout=30, interval=0.2,
               what="the watchdog to bring the consumer back")
    assert queue_consumer.live


def test_a_stop_ends_even_when_the_consume_loop_does_not(probe):
    """A SIGTERM must end the service: the consume loop is given a bounded time once its
    workers are done (here it is made never to end by itself)."""
    container, _ = probe
    queue_consumer = consumer_of(container, EventQueueConsumer)
    queue_consumer.stop_seconds = 1
    # takes its consumers away when asked, but never notices it should stop
    queue_consumer.on_iteration = queue_consumer._cancel_consumers_if_requested
    with eventlet.Timeout(30):
        container.stop()
    assert queue_consumer._gt.dead
