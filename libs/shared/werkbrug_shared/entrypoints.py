"""werkbrug's entrypoints: nameko's, with the commit before the answer.

- ``rpc`` and ``http``: the worker's unit of work commits before the reply
  goes out; a failed commit is the caller's error. Validation, not-found and
  conflict errors are expected (logged as warnings, not tracebacks). An RPC
  that never opened its database is answered without a publisher confirm.
- ``event_handler(type)``: the reliable consumer. It validates the CloudEvent
  against the catalogue (an invalid one is dead-lettered at once), skips an
  event id this handler already processed, commits the handler's work
  together with the "processed" marker, and only then acks. A failing handler
  is retried after each configured back-off and then dead-lettered; nameko's
  default (ack and drop on error) is never used.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial

import eventlet
import kombu.exceptions
import kombu.serialization
from amqp.exceptions import AMQPError
from eventlet.semaphore import Semaphore
from kombu import Connection, Producer
from nameko.amqp.publish import get_producer
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_RETRY_POLICY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
    PERSISTENT,
)
from nameko.exceptions import (
    ConfigurationError,
    ContainerBeingKilled,
    IncorrectSignature,
    UnknownService,
    UnserializableValueError,
    serialize,
)
from nameko.messaging import Consumer
from nameko.rpc import Rpc as NamekoRpc
from nameko.rpc import RpcConsumer, get_rpc_exchange
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from werkbrug_shared import config, metrics, topology
from werkbrug_shared.actor import CREDENTIAL, PROFESSIONAL, partner_for
from werkbrug_shared.consuming import EventQueueConsumer, RpcQueueConsumer
from werkbrug_shared.db import UnitOfWork, databases_of, finish_unit_of_work
from werkbrug_shared.errors import EXPECTED, Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from werkbrug_shared.events import parse_event
from werkbrug_shared.events.catalogue import event_type as catalogued
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.faults import crash_point
from werkbrug_shared.validation import bad_arguments

log = logging.getLogger(__name__)

TRANSIENT = 1  # AMQP delivery mode: kept in memory only

# What a connection lost mid-way raises: socket errors, py-amqp's own, and
# kombu's re-raised as its OperationalError (a publish retried on a refused connection)
CONNECTION_LOST = (OSError, AMQPError, kombu.exceptions.OperationalError)


@contextmanager
def broker_may_be_gone(what: str):
    """Acks, requeues and replies on a connection that may just have died.

    When the broker restarts, the delivery is redelivered anyway and the
    processed-event and recorded-reply checks make that harmless. Letting the
    error escape instead would make nameko kill the whole service.
    """
    try:
        yield
    except CONNECTION_LOST as exc:
        log.warning("could not %s, the broker connection is gone (%s); it will be redelivered", what, exc)


class _CommitFirst:
    """Commit, then answer; whatever fails on the way is the caller's error.

    nameko treats an exception escaping ``handle_result`` as fatal to the whole
    container, so nothing may escape here: a failure while recording the reply
    or committing (a data error, an integrity error, a serialisation failure,
    a deadlock) rolls back and becomes the error reply, and a reply that cannot
    be sent is logged, never raised.
    """

    def handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is None:
            try:
                self.before_commit(message, worker_ctx, result)
            except Exception:
                exc_info = sys.exc_info()
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        if exc_info is not None:
            result = None
        crash_point("rpc.after_commit")
        try:
            with broker_may_be_gone("reply"):
                return self.answer(message, worker_ctx, result, exc_info)
        except Exception:
            log.exception("could not answer %s", worker_ctx.entrypoint.method_name)
        return result, exc_info

    def before_commit(self, message, worker_ctx, result):
        """Work that commits with the worker's own (recording an RPC's reply)."""

    def answer(self, message, worker_ctx, result, exc_info):
        return super().handle_result(message, worker_ctx, result, exc_info)


class RpcReplies(RpcConsumer):
    """nameko's RPC consumer with a leaner reply. nameko serialises a result twice
    (once to check it can) and publishes every reply through a new publisher,
    waiting for the broker's confirm. Here the reply is serialised once, and a
    call that cannot have written anything is answered without a confirm over a
    connection kept for that: were such a reply lost, the caller's retry after
    its timeout only reads again; for the same reason it is sent transient, which
    spares the broker writing it (rankings are about 14 kB). Calls that may have
    written keep nameko's confirmed, persistent publish, so their reply (and
    record, see ``Rpc``) holds."""

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
        # encoded the way the request was, as nameko does (JSON when that is not a known type)
        serializer = kombu.serialization.registry.type_to_name.get(message.properties.get("content_type"), "json")
        error = None if exc_info is None else serialize(exc_info[1])
        try:
            encoded = kombu.serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:
            # as nameko: an unserialisable result is the caller's error, not the container's death
            exc_info = sys.exc_info()
            encoded = kombu.serialization.dumps(
                {"result": None, "error": serialize(UnserializableValueError(result))}, serializer)
            result = None
        content_type, content_encoding, body = encoded
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


class Rpc(_CommitFirst, NamekoRpc):
    """nameko's ``@rpc``, committing before the reply, and safe to redeliver;
    every call carries a known partner credential, unless ``public``.

    RabbitMQ redelivers a request whose ack was lost, e.g. when the service
    was killed after committing. A call that wrote anything records its
    correlation id and reply in the same transaction; a redelivered request
    that finds that record gets the recorded reply and is not run twice.

    Every call is one organisation's (``werkbrug.credential``): a call without a
    credential, or with an unknown one, is refused before any work is done.
    ``@rpc(public=True)``: aggregates anyone may read (the board), which take none.
    """

    rpc_consumer = RpcReplies()

    def __init__(self, expected_exceptions=(), public: bool = False, **kwargs):
        self.public = public
        super().__init__(expected_exceptions=tuple(expected_exceptions) + EXPECTED, **kwargs)

    @property
    def consumer_name(self) -> str:
        return f"rpc:{self.container.service_name}.{self.method_name}"

    def setup(self):
        super().setup()
        self._signature = inspect.signature(getattr(self.container.service_cls, self.method_name))

    def check_signature(self, args, kwargs):
        # nameko inspects the method anew on every call (inspect.getcallargs); its signature is known
        try:
            self._signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise IncorrectSignature(str(exc)) from None
        # every plain argument once here, as schemas do for payloads: no NUL or unpaired surrogate
        bad_arguments(self._signature, args, kwargs)

    def handle_message(self, body, message):
        try:
            if not (isinstance(body, dict) and isinstance(body.get("args"), list | tuple)
                    and isinstance(body.get("kwargs"), dict)):
                raise ValidationError("a request is an object with a list 'args' and an object 'kwargs'",
                                      {"_schema": ["not a request"]})
            if partner_for(self.unpack_message_headers(message).get(CREDENTIAL)) is None and not self.public:
                raise Unauthorized("this operation needs a partner credential (werkbrug.credential)")
            if message.delivery_info.get("redelivered") and self._answered_again(message):
                return
        except (ValidationError, Unauthorized, Conflict):
            # refused before any work is done; the caller hears why
            self._refuse(message, sys.exc_info())
            return
        except Exception:
            log.exception("could not look up a redelivered request for %s", self.consumer_name)
            self._refuse(message, sys.exc_info())
            return
        super().handle_message(body, message)

    def _refuse(self, message, exc_info):
        with broker_may_be_gone("refuse a call"):
            self.rpc_consumer.handle_result(message, None, exc_info)

    def _answered_again(self, message) -> bool:
        """A request RabbitMQ delivers again: a service (this or another instance) stopped
        or lost its connection before answering it, maybe while it was in work.

        If it committed, its recorded reply answers it, and it is not run twice.
        If not, it runs again, under a marker of its own transaction that is removed once
        it is answered. A delivery that finds the marker still there knows the service died
        while running it after a redelivery, so a request that kills the service stops
        there (Conflict) rather than crash-loop it; one that was merely prefetched, or
        whose answer's ack was lost, never leaves a marker behind.
        """
        correlation_id = message.properties.get("correlation_id")
        databases = databases_of(self.container)
        if not correlation_id or not databases:
            return False
        for db in databases:
            found, recorded = db.recorded_result(self.consumer_name, correlation_id)
            if found:
                log.warning("redelivered request for %s answered from its record", self.consumer_name)
                result = json.loads(recorded) if recorded is not None else None
                with broker_may_be_gone("answer a redelivered call"):
                    self.rpc_consumer.handle_result(message, result, None)
                return True
        if not _record_once(databases[0], self._running_again, correlation_id):
            log.error("a request for %s was delivered again after the service died running it twice; "
                      "refusing it", self.consumer_name)
            raise Conflict("this request stopped the service twice and is refused; nothing was changed")
        return False

    @property
    def _running_again(self) -> str:
        return f"{self.consumer_name}#running-again"

    def handle_result(self, message, worker_ctx, result, exc_info):
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        finally:
            if message.delivery_info.get("redelivered") and message.properties.get("correlation_id"):
                # it ran to its answer: it did not kill the service (see _answered_again)
                for db in databases_of(self.container)[:1]:
                    try:
                        _forget(db, self._running_again, message.properties["correlation_id"])
                    except Exception:
                        log.warning("could not clear the running-again marker of %s", self.consumer_name,
                                    exc_info=True)

    def before_commit(self, message, worker_ctx, result):
        correlation_id = message.properties.get("correlation_id")
        if correlation_id:
            for db in databases_of(self.container):
                uow = db.unit_of_work(worker_ctx)
                if uow is not None and uow.wrote:
                    uow.mark_processed(self.consumer_name, correlation_id, json.dumps(result, default=str))

    def answer(self, message, worker_ctx, result, exc_info):
        # a call that never opened its database wrote nothing: its reply needs no confirm
        units = [db.unit_of_work(worker_ctx) for db in databases_of(self.container)]
        untouched = bool(units) and all(uow is not None and not uow.touched for uow in units)
        return self.rpc_consumer.handle_result(message, result, exc_info, confirm=not untouched)


rpc = Rpc.decorator


def _forget(db, consumer: str, key: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(db.processed.delete().where(db.processed.c.consumer == consumer,
                                                  db.processed.c.event_id == key))


def _record_once(db, consumer: str, key: str) -> bool:
    """Note ``key`` for ``consumer`` in a transaction of its own; False if it was noted before."""
    try:
        with db.engine.begin() as conn:
            conn.execute(db.processed.insert().values(consumer=consumer, event_id=key, processed_at=utcnow()))
        return True
    except IntegrityError:
        return False

HTTP_STATUS = {ValidationError: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409}


class PartnerWebServer(WebServer):
    """Carries the partner's credential from HTTP into the call's context data.

    ``Authorization: Bearer <credential>`` and ``X-Werkbrug-Professional``
    become the same context data an RPC client sends, so every service behind
    the gateway checks the same credential.
    """

    def context_data_from_headers(self, request):
        data = {}
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential.strip():
            data[CREDENTIAL] = credential.strip()
        professional = request.headers.get("X-Werkbrug-Professional")
        if professional:
            data[PROFESSIONAL] = professional.strip()[:64]
        return data


class Http(_CommitFirst, HttpRequestHandler):
    """nameko's ``@http`` that answers werkbrug's errors as JSON."""

    server = PartnerWebServer()

    def __init__(self, method, url, expected_exceptions=(), **kwargs):
        super().__init__(method, url, expected_exceptions=tuple(expected_exceptions) + EXPECTED, **kwargs)

    def response_from_exception(self, exc):
        for exc_type, status in HTTP_STATUS.items():
            if isinstance(exc, exc_type):
                body = {"error": exc_type.__name__, "message": str(exc)}
                if isinstance(exc, ValidationError):
                    body["errors"] = exc.errors
                return Response(json.dumps(body), status=status, mimetype="application/json")
        if isinstance(exc, UnknownService):  # not (yet) running, as while the system starts: worth a retry
            return Response(
                json.dumps({"error": "ServiceUnavailable", "message": f"not running: {exc}"}),
                status=503, headers={"Retry-After": "5"}, mimetype="application/json")
        return Response(
            json.dumps({"error": "InternalError", "message": "internal error"}),
            status=500,
            mimetype="application/json",
        )


http = Http.decorator

class ReliableEventHandler(Consumer):
    """Consumes one or more catalogued event types from one durable queue.

    A delivery that finds no batch in work goes to a worker at once; what
    arrives while one is in work gathers (up to ``EVENT_BATCH_SIZE``) into the
    next, so a quiet hop waits for nothing and batches grow with the load. A
    batch is one worker and one commit: a commit per event caps a consumer at a few hundred events a
    second. Every event is still handled, acked, retried or dead-lettered on
    its own (see :func:`event_handler`).

    One batch per handler is in work at a time; what arrives meanwhile waits
    for the next. So a queue's events are applied in the order they came and
    a handler never races itself for the same rows (a projection seeing a
    candidate's ``registered`` and ``enrolled`` in two concurrent batches
    would insert the same row twice, fail and retry).
    """

    queue_consumer = EventQueueConsumer()

    def __init__(self, *type_names: str, **kwargs):
        if not type_names:
            raise ValueError("name at least one event type")
        self.event_types = [catalogued(name) for name in type_names]
        self.label = self.event_types[0].name if len(self.event_types) == 1 else "many"
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    def setup(self):
        if not {"cloudevents", "cloudevents-batch"} <= set(self.container.accept):
            raise ConfigurationError(
                "werkbrug event handlers need ACCEPT: [json, cloudevents, cloudevents-batch] in the config")
        queue_type = config.queue_type(self.container.config)
        self.queue = topology.consumer_queue(self.event_types, self.container.service_name, self.method_name,
                                             queue_type, config.delivery_limit(self.container.config))
        self.amqp_uri = config.amqp_uri(self.container.config)
        self.delays_ms = config.retry_delays_ms(self.container.config)
        self.batch_size = config.event_batch_size(self.container.config)
        self._batch: list = []
        self._in_flight = False
        with get_producer(self.amqp_uri, confirms=True) as producer:
            topology.declare_consumer(producer.channel, self.queue, self.delays_ms, queue_type)
        super().setup()

    def handle_undecodable(self, message, exc):
        """A body that is not even JSON: dead-lettered with the reason, never retried."""
        log.warning("undecodable message on %s: %s", self.queue.name, type(exc).__name__)
        delivery = Delivery(message, batched=False)
        reason = f"invalid: undecodable body ({type(exc).__name__})"
        if self._move(delivery, None, None, topology.dead_letter_exchange(), 0, reason):
            metrics.EVENTS_DEAD_LETTERED.labels(self.container.service_name, self.label, "invalid").inc()
            self._settle(delivery)
        else:
            self._requeue(delivery)

    def handle_message(self, body, message):
        if isinstance(body, list):  # a CloudEvents batch: each event decided on its own
            delivery = Delivery(message, batched=True)
            items = [(item, item) for item in body]  # the item itself, to park one event alone
        else:
            delivery = Delivery(message, batched=False)
            items = [(body, None)]
        valid = []
        for item, raw in items:
            try:
                valid.append((parse_event(item), raw))
            except ValidationError as exc:
                log.warning("invalid event on %s: %s", self.queue.name, exc)
                event_id = item.get("id") if isinstance(item, dict) else None
                if not self._move(delivery, raw, event_id, topology.dead_letter_exchange(), 0, f"invalid: {exc}"):
                    self._requeue(delivery)  # a copy may already be parked; replay dedups on the id
                    return
                metrics.EVENTS_DEAD_LETTERED.labels(self.container.service_name, self.label, "invalid").inc()
        if not valid:
            self._settle(delivery)
            return
        delivery.pending = len(valid)
        self._batch.extend((event, (delivery, raw)) for event, raw in valid)
        # Nothing in work: hand it over now (a quiet hop waits for no timer); a batch
        # forms from what arrives while one is in work, so batches grow with the load.
        if len(self._batch) >= self.batch_size or not self._in_flight:
            self._flush()
        # Messages already read off the socket are handed over without a pause;
        # let the workers and the metrics endpoint run between two of them.
        eventlet.sleep(0)

    def _flush(self):
        if self._in_flight or not self._batch:
            return  # the batch in work flushes what gathered when it is done
        batch, self._batch = self._batch[:self.batch_size], self._batch[self.batch_size:]
        events = [event for event, _ in batch]
        self._in_flight = True
        try:
            self.container.spawn_worker(
                self, (events,), {}, handle_result=partial(self.handle_result, batch),
            )
        except ContainerBeingKilled:
            self._in_flight = False
            for delivery in {id(d): d for _, (d, _) in batch}.values():
                self._requeue(delivery)

    def stop(self):
        self._flush()  # hand what was gathered to a worker before the consumer goes
        super().stop()

    def handle_result(self, batch, worker_ctx, result, exc_info):
        try:
            return self._settle_batch(batch, worker_ctx, result, exc_info)
        except Exception:
            # never into nameko, which would stop the service: the broker delivers them again
            log.exception("could not settle a batch on %s; handing its messages back", self.queue.name)
            for delivery in {id(d): d for _, (d, _) in batch}.values():
                if not delivery.message.acknowledged:
                    self._requeue(delivery)
            return result, exc_info
        finally:
            self._in_flight = False
            if self._batch:
                self._flush()

    def _settle_batch(self, batch, worker_ctx, result, exc_info):
        crash_point("event.before_commit")
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        crash_point("event.after_commit")
        service = self.container.service_name
        for event, (delivery, raw) in batch:
            outcome = exc_info if exc_info is not None else result[event.id]
            if outcome in (PROCESSED, DUPLICATE):
                metrics.EVENTS_HANDLED.labels(service, event.type, outcome).inc()
                lag = (datetime.now(UTC) - event.time).total_seconds()
                metrics.EVENT_LAG.labels(service, event.type).observe(max(lag, 0.0))
            elif not self._retry_or_dead_letter(event, delivery, raw, outcome):
                delivery.requeue = True
            delivery.pending -= 1
            if delivery.pending == 0:
                self._settle(delivery)
        return result, exc_info

    def _settle(self, delivery):
        """Every event of the message is decided: ack it, or hand it back to be redelivered."""
        if delivery.requeue:
            self._requeue(delivery)
        else:
            with broker_may_be_gone("ack"):
                self.queue_consumer.ack_message(delivery.message)

    def _requeue(self, delivery):
        with broker_may_be_gone("requeue"):
            self.queue_consumer.requeue_message(delivery.message)

    def _retry_or_dead_letter(self, event, delivery, raw, exc_info) -> bool:
        """Park one failed event in a retry queue or, after the last, the dead-letter queue."""
        service = self.container.service_name
        attempt = int((delivery.message.headers or {}).get(topology.ATTEMPT_HEADER, 0))
        error = f"{exc_info[0].__name__}: {exc_info[1]}"[:500]
        log.warning("%s failed on %s (attempt %s): %s", event.type, self.queue.name, attempt + 1, error)
        if attempt < len(self.delays_ms):
            moved = self._move(
                delivery, raw, event.id, topology.retry_exchange(self.delays_ms[attempt]), attempt + 1, error)
            if moved:
                metrics.EVENTS_RETRIED.labels(service, event.type).inc()
        else:
            moved = self._move(delivery, raw, event.id, topology.dead_letter_exchange(), attempt, error)
            if moved:
                metrics.EVENTS_DEAD_LETTERED.labels(service, event.type, "failed").inc()
                log.error("event %s dead-lettered on %s after %s attempts", event.id, self.queue.name, attempt + 1)
        return moved

    def _move(self, delivery, raw, event_id, exchange, attempt: int, error: str) -> bool:
        """Copy one event to the retry or dead-letter exchange, confirmed.

        An event that came alone is copied as it came; one out of a batch goes
        on as a structured message of its own, so only it is retried. The
        message is acked once all its events are decided (see ``_settle``).
        """
        message = delivery.message
        headers = dict(message.headers or {}) if raw is None else {}
        headers.update({
            topology.ATTEMPT_HEADER: attempt,
            topology.ERROR_HEADER: error,
            topology.QUEUE_HEADER: self.queue.name,
        })
        try:
            with get_producer(self.amqp_uri, confirms=True) as producer:
                if raw is None:
                    topology.republish(producer, message, exchange, self.queue.name, headers)
                else:
                    topology.publish_event(producer, json.dumps(raw), event_id, exchange, self.queue.name, headers)
            return True
        except Exception:
            # Could not park it: the message goes back so the broker redelivers it.
            log.exception("could not move an event on %s; requeueing its message", self.queue.name)
            return False


class Delivery:
    """One AMQP message and how many of its events are still undecided."""

    __slots__ = ("message", "batched", "pending", "requeue")

    def __init__(self, message, batched: bool):
        self.message = message
        self.batched = batched
        self.pending = 0
        self.requeue = False


PROCESSED = "processed"
DUPLICATE = "duplicate"


def _unit_of_work(service) -> UnitOfWork:
    units = [v for v in vars(service).values() if isinstance(v, UnitOfWork)]
    if len(units) != 1:
        raise ConfigurationError(f"{type(service).__name__}: an event handler needs exactly one Database")
    return units[0]


def event_handler(*type_names: str, batch: bool = False, **kwargs):
    """Decorate a method as a reliable, idempotent consumer of ``type_names``.

    The method takes one event, or with ``batch=True`` a list of events (so it
    can load what they touch in a few queries instead of a few per event).
    Around it, per delivered batch: event ids this handler already processed
    are skipped; the rest run in one transaction with their "processed"
    markers. Should that fail, the batch runs again with a savepoint per
    event, so only the failing event is retried or dead-lettered and the
    others commit.
    """

    def decorate(fn):
        def call(service, events):
            if batch:
                fn(service, events)
            else:
                for event in events:
                    fn(service, event)

        @functools.wraps(fn)
        def handle_batch(service, events):
            uow = _unit_of_work(service)
            consumer = f"{service.name}.{fn.__name__}"
            outcomes, fresh = {}, []
            seen = uow.processed_among(consumer, [e.id for e in events])
            for event in events:
                if event.id in seen:
                    outcomes[event.id] = DUPLICATE
                else:
                    seen.add(event.id)
                    fresh.append(event)
            if len(fresh) == 1:  # the transaction is this event's alone: no savepoint needed
                (event,) = fresh
                mark = uow.mark()
                try:
                    call(service, fresh)
                    uow.mark_processed(consumer, event.id)
                    outcomes[event.id] = PROCESSED
                except Exception:
                    outcomes[event.id] = sys.exc_info()
                    uow.session.rollback()
                    uow.forget_since(mark)
                return outcomes
            if len(fresh) > 1:
                mark = uow.mark()
                try:
                    with uow.session.begin_nested():
                        call(service, fresh)
                        uow.mark_processed_many(consumer, [e.id for e in fresh])
                    outcomes.update((e.id, PROCESSED) for e in fresh)
                    return outcomes
                except Exception as exc:
                    log.info("%s: a batch of %s failed (%s: %s); taking its events one by one",
                             consumer, len(fresh), type(exc).__name__, str(exc)[:300])
                    uow.forget_since(mark)  # fall back to one savepoint per event
            for event in fresh:
                mark = uow.mark()
                try:
                    with uow.session.begin_nested():
                        call(service, [event])
                        uow.mark_processed(consumer, event.id)
                    outcomes[event.id] = PROCESSED
                except Exception:
                    uow.forget_since(mark)
                    outcomes[event.id] = sys.exc_info()
            return outcomes

        return ReliableEventHandler.decorator(*type_names, **kwargs)(handle_batch)

    return decorate
