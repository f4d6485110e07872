"""What matching's replicas say to each other, and how a caller reaches one of them.

- :class:`ChangeBroadcast`: after a commit that changed the index's tables, one
  transient message on a fanout exchange wakes every other replica's follower at
  once (``matching.changes``), instead of at its next poll. It is only a wake-up:
  one lost (the broker away, a replica reconnecting) costs the poll interval,
  never a change, which is in the database.
- :class:`ReplicaAddress`: every replica also answers matching's RPCs sent to
  ``matching@<replica>`` (``rpc["matching@r1"].indexed(ids)``), the same entrypoints
  with the same checks, so a test, a bench or an operator can ask one replica
  what it serves instead of whichever took the call.

A replica's name is ``WERKBRUG_INSTANCE`` (on Kubernetes the pod's name), else
host and process id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import uuid

import eventlet
from eventlet.queue import Empty, Full, LightQueue
from kombu import Connection, Consumer, Exchange, Producer, Queue
from nameko.extensions import Extension
from nameko.rpc import Rpc as NamekoRpc
from nameko.rpc import get_rpc_exchange

from werkbrug_shared import config
from werkbrug_shared.consuming import RpcQueueConsumer

log = logging.getLogger(__name__)

INSTANCE_ENV = "WERKBRUG_INSTANCE"
EXCHANGE = Exchange("matching.changes", type="fanout", durable=True)
TRANSIENT = 1


def replica_name() -> str:
    return os.environ.get(INSTANCE_ENV) or f"{socket.gethostname()}-{os.getpid()}"


class ChangeBroadcast(Extension):
    """Announces this replica's commits to the others, and hears theirs (``listen``).

    Two connections of its own, each on its own green thread: kombu's are not
    shared between green threads. Announcements made while one is being sent
    go out as one."""

    def __init__(self):
        self.replica = None
        self._announce = None
        self._threads = []
        self._running = False
        self._heard = None

    def setup(self):
        self.replica = replica_name()
        self.amqp_uri = config.amqp_uri(self.container.config)

    def listen(self, heard) -> None:
        """Start: ``heard()`` is called when another replica committed a change."""
        self._heard, self._running = heard, True
        self._announce = LightQueue(maxsize=1)
        self._threads = [self.container.spawn_managed_thread(self._listen, identifier="index-changes-listener"),
                         self.container.spawn_managed_thread(self._publish, identifier="index-changes-announcer")]

    def announce(self) -> None:
        if self._announce is not None and self._announce.qsize() == 0:
            with contextlib.suppress(Full):  # one is waiting to go: it says the same
                self._announce.put_nowait(True)

    def stop(self):
        self._running = False
        for thread in self._threads:
            thread.kill()
        self._threads = []

    def kill(self):
        self.stop()

    def _publish(self):
        connection = producer = None
        while self._running:
            try:
                self._announce.get(timeout=5)
            except Empty:
                continue
            try:
                if producer is None:
                    connection = Connection(self.amqp_uri, transport_options={"confirm_publish": False})
                    producer = Producer(connection.channel(), exchange=EXCHANGE)
                    EXCHANGE(producer.channel).declare()
                producer.publish(json.dumps({"replica": self.replica}), content_type="application/json",
                                 delivery_mode=TRANSIENT, retry=False)
            except Exception as exc:
                log.warning("could not announce an index change (%s); the others will poll it", exc)
                with contextlib.suppress(Exception):
                    connection.release()
                connection = producer = None
                eventlet.sleep(1)

    def _listen(self):
        while self._running:
            try:
                with Connection(self.amqp_uri, heartbeat=20) as connection:
                    queue = Queue(f"matching.changes.{self.replica}.{uuid.uuid4().hex[:8]}", exchange=EXCHANGE,
                                  durable=False, exclusive=True, auto_delete=True)
                    with Consumer(connection.channel(), [queue], callbacks=[self._on_message], no_ack=True,
                                  accept=["json"]):
                        log.info("hearing the other matching replicas' index changes as %s", self.replica)
                        self._heard()  # what was announced while this was not listening
                        while self._running:
                            try:
                                connection.drain_events(timeout=1)
                            except TimeoutError:
                                connection.heartbeat_check()
            except Exception as exc:
                log.warning("not hearing the other replicas' index changes (%s); polling meanwhile", exc)
                eventlet.sleep(1)

    def _on_message(self, body, _message):
        if not isinstance(body, dict) or body.get("replica") != self.replica:
            self._heard()


class ReplicaAddress(Extension):
    """This replica's own RPC address, ``<service>@<replica>``: an exclusive queue bound on
    nameko's RPC exchange, consumed beside ``rpc-<service>`` by the same consumer, whose
    requests go to the service's own RPC entrypoints (credentials, validation, records)."""

    queue_consumer = RpcQueueConsumer()

    def __init__(self):
        self.queue = None

    def setup(self):
        service = self.container.service_name
        self.address = f"{service}@{replica_name()}"
        # a name of its own per start: a restarted replica never waits for its predecessor's queue to go.
        # Not ``rpc-...``: that is a service's shared queue, which tools may look at from another connection
        # (a passive declare of an exclusive queue is refused there)
        self.queue = Queue(f"{self.address}.rpc.{uuid.uuid4().hex[:8]}", routing_key=f"{self.address}.*",
                           exchange=get_rpc_exchange(self.container.config), durable=False, exclusive=True,
                           auto_delete=True)
        self.queue_consumer.register_provider(self)

    def stop(self):
        self.queue_consumer.unregister_provider(self)

    def _rpc_consumer(self):
        return next(e.rpc_consumer for e in self.container.entrypoints if isinstance(e, NamekoRpc))

    def handle_message(self, body, message):
        rpc_consumer = self._rpc_consumer()
        method = message.delivery_info["routing_key"].rsplit(".", 1)[-1]
        try:
            provider = rpc_consumer.get_provider_for_method(f"{self.container.service_name}.{method}")
            provider.handle_message(body, message)
        except Exception:
            rpc_consumer.handle_result(message, None, sys.exc_info())

    def handle_undecodable(self, message, exc):
        self._rpc_consumer().handle_undecodable(message, exc)
