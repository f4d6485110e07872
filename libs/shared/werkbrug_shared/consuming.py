"""The AMQP consumer under every werkbrug entrypoint: it never sits idle on a
connection that lost its consumers, and it watches that it does not.

Why this exists. py-amqp marks a transport disconnected on any socket error,
whichever green thread hits it (a worker acking on the consumer's connection
while the broker goes down). kombu's ``Connection.connection`` property, which
``drain_events()`` and ``heartbeat_check()`` go through, then silently opens a
*new* AMQP connection and raises nothing. kombu's ``ConsumerMixin`` only sets
its consumers up again when an exception reaches it, so it kept draining a
connection with no channel and no ``basic.consume``: messages ready, 0
consumers, until someone restarted the service. (kombu #220, #633; nameko's
QueueConsumer is a ConsumerMixin.)

- :class:`ConsumerConnection` refuses that silent reconnect: once a connection
  it made has dropped, using it raises a recoverable connection error, which
  the consume loop answers by reconnecting and consuming again.
- :class:`WatchedQueueConsumer` adds a watchdog as a second line: every few
  seconds it checks that the connection it drains is the one its consumers'
  channel lives on and that each consumer is registered there. Two failed
  checks in a row make the service not live (``/health/live``) and force the
  loop to reconnect. It also names its connection on the broker
  (``connection_name``: service, kind, host and pid), so an operator sees whose
  connection has no channels.
- A body that cannot be decoded is handed to the entrypoint that owns the
  queue (an RPC answers the caller, an event handler dead-letters it), where
  kombu's default acks it and drops it, and an RPC caller waits for nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from functools import partial

import eventlet
from amqp.exceptions import RecoverableConnectionError
from kombu import Connection
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    DEFAULT_HEARTBEAT,
    DEFAULT_TRANSPORT_OPTIONS,
    HEARTBEAT_CONFIG_KEY,
    LOGIN_METHOD_CONFIG_KEY,
    TRANSPORT_OPTIONS_CONFIG_KEY,
)
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener
from nameko.rpc import RpcProxy as NamekoRpcProxy

from werkbrug_shared import config

log = logging.getLogger(__name__)

WATCHDOG_SECONDS_ENV = "WERKBRUG_WATCHDOG_SECONDS"
MISSES_BEFORE_DEAD = 2
STOP_SECONDS = 15  # at most this long for the consume loop to end once its providers are gone


class ConsumerConnection(Connection):
    """A kombu connection that raises when it dropped, instead of reconnecting.

    The first connect goes through ``ensure_connection`` as usual; afterwards
    a lost connection is the consumer loop's to notice (see module docstring).
    """

    @property
    def connection(self):
        if not self._closed and self._connection is not None and not self.connected:
            raise RecoverableConnectionError("the connection to the broker dropped")
        return super().connection


def connection_name(service: str, kind: str) -> str:
    return f"werkbrug {service} {kind} {socket.gethostname()}:{os.getpid()}"


class WatchedQueueConsumer(QueueConsumer):
    """nameko's QueueConsumer on a :class:`ConsumerConnection`, with a watchdog."""

    kind = "consumer"
    stop_seconds = STOP_SECONDS

    def __init__(self):
        super().__init__()
        self.live = True  # false once the watchdog saw the consumers gone twice
        self._consuming = None  # (connection, channel, consumers) of the current loop
        self._reconnect = False
        self._watchdog = None
        self._stopping = False
        self._removed: set = set()  # providers whose consumer was cancelled for good

    @property
    def connection(self):
        config = self.container.config
        options = dict(config.get(TRANSPORT_OPTIONS_CONFIG_KEY, DEFAULT_TRANSPORT_OPTIONS))
        properties = dict(options.get("client_properties") or {})
        properties.setdefault("connection_name", connection_name(self.container.service_name, self.kind))
        options["client_properties"] = properties
        return ConsumerConnection(
            self.amqp_uri, transport_options=options,
            heartbeat=config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT),
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )

    def start(self):
        super().start()
        if self._watchdog is None:
            self._watchdog = self.container.spawn_managed_thread(self._watch, identifier=f"{self.kind}-watchdog")

    def stop(self):
        """Stop consuming once every provider is gone; bounded, so a SIGTERM always ends.

        The container stops this after its workers finished (their acks went out), so
        nothing is lost by ending a consume loop that does not end by itself: seen, rarely,
        under fault tests, where it kept a consumer for a provider already removed.
        """
        self._stop_watchdog()
        self._stopping = True
        with eventlet.Timeout(self.stop_seconds, False):
            super().stop()
            return
        log.warning("the %s consume loop of %s did not end within %ss (consumers %s, providers %s); ending it",
                    self.kind, self.container.service_name, self.stop_seconds, len(self._consumers),
                    len(self._providers))
        self.should_stop = True
        if self._gt is not None:
            self._gt.kill()
        # an entrypoint stopping meanwhile waits for its consumer's removal, which only the loop
        # says: it is gone, so say it here (a SIGTERM of reporting hung there for good once)
        pending, self._pending_remove_providers = self._pending_remove_providers, {}
        for removed_event in pending.values():
            if not removed_event.ready():
                removed_event.send()

    def unregister_provider(self, provider):
        """nameko's, bounded like :meth:`stop`: an entrypoint's stop waits for the consume loop to
        cancel its consumer, and a loop that does not (reporting's RPC loop, twice under the
        two-instance fault test) kept a SIGTERM from ever ending. Past the bound the provider is
        dropped all the same; a message still delivered to it is unacked and the broker gives it
        to another instance when this one is gone."""
        if self._gt is not None and not self._gt.dead:
            with eventlet.Timeout(self.stop_seconds, False):
                super().unregister_provider(provider)
                return
            log.warning("the %s consume loop of %s did not cancel a consumer within %ss; stopping on",
                        self.kind, self.container.service_name, self.stop_seconds)
        # the consume loop has ended (a stop that timed out), or did not answer: no wait for it
        self._pending_remove_providers.pop(provider, None)
        self._removed.add(provider)
        super(QueueConsumer, self).unregister_provider(provider)

    def kill(self):
        self._stop_watchdog()
        super().kill()

    def _stop_watchdog(self):
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog = None

    # -- the consume loop's callbacks ------------------------------------------------

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self._consuming = (connection, channel, list(consumers))
        self._reconnect = False
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_consume_end(self, connection, channel):
        self._consuming = None
        super().on_consume_end(connection, channel)

    def on_iteration(self):
        """nameko ends the loop, and closes the connection, as soon as its last consumer is
        cancelled: while the container stops its entrypoints, before it waits for the workers
        still running. Their acks then went nowhere and the broker delivered that work again.
        Here the loop (and the connection) lasts until this consumer itself is stopped, which
        the container does after its workers finished."""
        if self._reconnect:
            self._reconnect = False
            self._consuming = None
            raise RecoverableConnectionError("the watchdog found the consumers gone; reconnecting")
        self._cancel_consumers_if_requested()
        if not self._consumers and self._stopping:
            self.should_stop = True

    def _cancel_consumers_if_requested(self):
        """nameko's, made unable to lose a removal: there a ``cancel`` that raised (the
        connection dropping while the service stops) skipped the event its entrypoint
        waits on, and the stop hung for good. The removal is sent whatever happens, the
        provider is never consumed for again, and a connection error still reaches the loop."""
        pending, self._pending_remove_providers = self._pending_remove_providers, {}
        failed = None
        for provider, removed_event in pending.items():
            self._removed.add(provider)
            consumer = self._consumers.pop(provider, None)
            try:
                if consumer is not None:
                    consumer.cancel()
            except Exception as exc:
                failed = exc
            finally:
                removed_event.send()
        if failed is not None:
            raise failed

    def get_consumers(self, consumer_cls, channel):
        # as nameko's, but not for a provider already removed (a reconnect while the service stops)
        self._consumers = {}
        for provider in self._providers:
            if provider in self._removed:
                continue
            consumer = consumer_cls(queues=[provider.queue], callbacks=[partial(self.handle_message, provider)],
                                    accept=self.accept)
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def on_decode_error(self, message, exc):
        provider = self._provider_of(message)
        handle = getattr(provider, "handle_undecodable", None)
        if handle is None:
            super().on_decode_error(message, exc)
            return
        try:
            handle(message, exc)
        except Exception:
            log.exception("could not settle an undecodable message; acking it")
            self.ack_message(message)

    def _provider_of(self, message):
        tag = (message.delivery_info or {}).get("consumer_tag")
        for provider, consumer in self._consumers.items():
            if tag in consumer._active_tags.values():
                return provider
        return None

    # -- the watchdog ------------------------------------------------------------------

    def consuming(self) -> bool:
        """Whether every consumer is registered on the connection being drained."""
        if self._consuming is None:
            return False
        connection, channel, consumers = self._consuming
        amqp_connection = connection._connection
        if amqp_connection is None or not amqp_connection.connected:
            return False
        if channel.connection is not amqp_connection or not channel.is_open:
            return False
        return all(tag in channel.callbacks for consumer in consumers for tag in consumer._active_tags.values())

    def _watch(self):
        interval = float(os.environ.get(WATCHDOG_SECONDS_ENV, "5"))
        misses = 0
        while True:
            eventlet.sleep(interval)
            try:
                if not self._consumers_ready.ready() or self.should_stop or not self._providers:
                    continue  # starting or stopping: readiness speaks for that
                if self.consuming():
                    if not self.live:
                        log.warning("%s of %s consumes again", self.kind, self.container.service_name)
                    misses, self.live = 0, True
                    continue
                misses += 1
                if misses >= MISSES_BEFORE_DEAD:
                    if self.live:
                        log.error("%s of %s has had no consumers on the broker for %s checks; reconnecting",
                                  self.kind, self.container.service_name, misses)
                    self.live = False
                    self._reconnect = True
            except Exception:
                log.exception("the consumer watchdog failed a check")


class RpcQueueConsumer(WatchedQueueConsumer):
    kind = "rpc"


class EventQueueConsumer(WatchedQueueConsumer):
    """The event consumers' own connection, with a prefetch window big enough to
    fill batches (RPC keeps nameko's, sized to the worker pool)."""

    kind = "events"

    @property
    def prefetch_count(self):
        return config.event_prefetch(self.container.config)


class ReplyQueueConsumer(WatchedQueueConsumer):
    kind = "rpc-replies"


class WatchedReplyListener(ReplyListener):
    queue_consumer = ReplyQueueConsumer()


class RpcProxy(NamekoRpcProxy):
    """nameko's ``RpcProxy`` whose replies come in on a watched consumer: a
    reply consumer gone idle would leave every call of the service waiting."""

    rpc_reply_listener = WatchedReplyListener()


def queue_consumers(container) -> list[WatchedQueueConsumer]:
    return [e for e in container.extensions if isinstance(e, WatchedQueueConsumer)]
