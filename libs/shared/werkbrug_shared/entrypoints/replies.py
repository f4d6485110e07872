"""The lean reply path: how an RPC's answer goes back to its caller.

nameko serialises a result twice (once to check it can) and publishes every
reply through a new publisher, waiting for the broker's confirm. Here the reply
is serialised once, and a call that cannot have written anything is answered
without a confirm over a connection kept for that: were such a reply lost, the
caller's retry after its timeout only reads again; for the same reason it is
sent transient, which spares the broker writing it (rankings are about 14 kB).
Calls that may have written keep nameko's confirmed, persistent publish, so
their reply (and record, see ``rpc_entrypoint.Rpc``) holds.
"""

from __future__ import annotations

import logging

from eventlet.semaphore import Semaphore
from kombu import Connection, Producer

from werkbrug_shared import config, topology
from werkbrug_shared.consuming import RpcQueueConsumer
from werkbrug_shared.entrypoints.nameko_internals import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
    PERSISTENT,
    RpcConsumer,
    broker_may_be_gone,
    encode_reply,
    get_producer,
    get_rpc_exchange,
)
from werkbrug_shared.errors import ValidationError

log = logging.getLogger(__name__)

TRANSIENT = 1  # AMQP delivery mode: kept in memory only


class RpcReplies(RpcConsumer):
    """nameko's RPC consumer with the lean reply (see the module's docstring)."""

    queue_consumer = RpcQueueConsumer()

    def setup(self):
        super().setup()
        settings = self.container.config
        self.queue = topology.rpc_queue(self.queue, config.queue_type(settings))
        self.amqp_uri = settings[AMQP_URI_CONFIG_KEY]
        self.exchange = get_rpc_exchange(settings)
        self.ssl, self.login_method = settings.get(AMQP_SSL_CONFIG_KEY), settings.get(LOGIN_METHOD_CONFIG_KEY)
        self._unconfirmed = None  # (connection, producer), opened on the first reply
        self._publishing = Semaphore()  # one reply at a time on that channel: frames must not interleave

    def stop(self):
        super().stop()
        self._close()

    def kill(self):
        super().kill()
        self._close()

    def _close(self):
        if self._unconfirmed is not None:
            connection, self._unconfirmed = self._unconfirmed[0], None
            with broker_may_be_gone("close the reply connection"):
                connection.release()

    def handle_undecodable(self, message, exc):
        """A request whose body cannot be read: its caller hears so at once."""
        log.warning("an RPC request could not be decoded (%s: %s)", type(exc).__name__, str(exc)[:200])
        error = ValidationError("the request could not be decoded", {"_schema": ["not a readable payload"]})
        if message.properties.get("reply_to"):
            with broker_may_be_gone("refuse an unreadable call"):
                self.handle_result(message, None, (ValidationError, error, None))
                return
        self.queue_consumer.ack_message(message)

    def handle_result(self, message, result, exc_info, confirm=True):
        content_type, content_encoding, body, result, exc_info = encode_reply(message, result, exc_info)
        # an unconfirmed reply is not written to the broker's disk either: it may be lost all the same
        reply = dict(content_type=content_type, content_encoding=content_encoding, exchange=self.exchange,
                     routing_key=message.properties["reply_to"],
                     correlation_id=message.properties.get("correlation_id"),
                     delivery_mode=PERSISTENT if confirm else TRANSIENT, retry=True, retry_policy=DEFAULT_RETRY_POLICY)
        if confirm:
            with get_producer(self.amqp_uri, True, self.ssl, self.login_method) as producer:
                producer.publish(body, **reply)
        else:
            with self._publishing:
                if self._unconfirmed is None:
                    connection = Connection(self.amqp_uri, ssl=self.ssl, login_method=self.login_method,
                                            transport_options={**DEFAULT_TRANSPORT_OPTIONS, "confirm_publish": False})
                    self._unconfirmed = (connection, Producer(connection))
                try:
                    self._unconfirmed[1].publish(body, **reply)
                except BaseException:
                    self._close()  # the next reply starts on a fresh connection
                    raise
        self.queue_consumer.ack_message(message)
        return result, exc_info
