"""werkbrug's entrypoints: nameko's, with the commit before the answer.

- ``rpc`` and ``http``: the worker's unit of work commits before the reply
  goes out; a failed commit is the caller's error. Validation, not-found and
  conflict errors are expected (logged as warnings, not tracebacks).
- ``event_handler(type)``: the reliable consumer. It validates the CloudEvent
  against the catalogue (an invalid one is dead-lettered at once), skips an
  event id this handler already processed, commits the handler's work
  together with the "processed" marker, and only then acks. A failing handler
  is retried after each configured back-off and then dead-lettered; nameko's
  default (ack and drop on error) is never used.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from datetime import UTC, datetime
from functools import partial

from nameko.amqp.publish import get_producer
from nameko.exceptions import ConfigurationError, ContainerBeingKilled
from nameko.messaging import Consumer
from nameko.rpc import Rpc as NamekoRpc
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from werkbrug_shared import config, metrics, topology
from werkbrug_shared.actor import CREDENTIAL, partner_for
from werkbrug_shared.db import UnitOfWork, databases_of, finish_unit_of_work
from werkbrug_shared.errors import EXPECTED, Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from werkbrug_shared.events import parse_event
from werkbrug_shared.events.catalogue import event_type as catalogued

log = logging.getLogger(__name__)

class _CommitFirst:
    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        if exc_info is not None:
            result = None
        return super().handle_result(message, worker_ctx, result, exc_info)


class Rpc(_CommitFirst, NamekoRpc):
    """nameko's ``@rpc``, committing before the reply, and safe to redeliver.

    RabbitMQ redelivers a request whose ack was lost, e.g. when the service
    was killed after committing. A call that wrote anything records its
    correlation id and reply in the same transaction; a redelivered request
    that finds that record gets the recorded reply and is not run twice.
    """

    def __init__(self, expected_exceptions=(), **kwargs):
        super().__init__(expected_exceptions=tuple(expected_exceptions) + EXPECTED, **kwargs)

    @property
    def consumer_name(self) -> str:
        return f"rpc:{self.container.service_name}.{self.method_name}"

    def handle_message(self, body, message):
        try:
            partner_for(self.unpack_message_headers(message).get(CREDENTIAL))
        except Unauthorized:
            # refused before any work is done; the caller hears why
            self.rpc_consumer.handle_result(message, None, sys.exc_info())
            return
        correlation_id = message.properties.get("correlation_id")
        if correlation_id and message.delivery_info.get("redelivered"):
            for db in databases_of(self.container):
                found, recorded = db.recorded_result(self.consumer_name, correlation_id)
                if found:
                    log.warning("redelivered request for %s answered from its record", self.consumer_name)
                    result = json.loads(recorded) if recorded is not None else None
                    self.rpc_consumer.handle_result(message, result, None)
                    return
        super().handle_message(body, message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        correlation_id = message.properties.get("correlation_id")
        if exc_info is None and correlation_id:
            for db in databases_of(self.container):
                uow = db.unit_of_work(worker_ctx)
                if uow is not None and uow.wrote:
                    uow.mark_processed(self.consumer_name, correlation_id, json.dumps(result, default=str))
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = Rpc.decorator

HTTP_STATUS = {ValidationError: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409}


class Http(_CommitFirst, HttpRequestHandler):
    """nameko's ``@http`` that answers werkbrug's errors as JSON."""

    def __init__(self, method, url, expected_exceptions=(), **kwargs):
        super().__init__(method, url, expected_exceptions=tuple(expected_exceptions) + EXPECTED, **kwargs)

    def response_from_exception(self, exc):
        for exc_type, status in HTTP_STATUS.items():
            if isinstance(exc, exc_type):
                body = {"error": exc_type.__name__, "message": str(exc)}
                if isinstance(exc, ValidationError):
                    body["errors"] = exc.errors
                return Response(json.dumps(body), status=status, mimetype="application/json")
        return Response(
            json.dumps({"error": "InternalError", "message": "internal error"}),
            status=500,
            mimetype="application/json",
        )


http = Http.decorator

DUPLICATE = object()


class ReliableEventHandler(Consumer):
    """Consumes one or more catalogued event types from one durable queue."""

    def __init__(self, *type_names: str, **kwargs):
        if not type_names:
            raise ValueError("name at least one event type")
        self.event_types = [catalogued(name) for name in type_names]
        self.label = self.event_types[0].name if len(self.event_types) == 1 else "many"
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    def setup(self):
        if "cloudevents" not in self.container.accept:
            raise ConfigurationError("werkbrug event handlers need ACCEPT: [json, cloudevents] in the config")
        self.queue = topology.consumer_queue(self.event_types, self.container.service_name, self.method_name)
        self.amqp_uri = config.amqp_uri(self.container.config)
        self.delays_ms = config.retry_delays_ms(self.container.config)
        with get_producer(self.amqp_uri, confirms=True) as producer:
            topology.declare_consumer(producer.channel, self.queue, self.delays_ms)
        super().setup()

    def handle_message(self, body, message):
        try:
            event = parse_event(body)
        except ValidationError as exc:
            log.warning("invalid event on %s: %s", self.queue.name, exc)
            try:
                self._move(message, topology.dead_letter_exchange(), 0, f"invalid: {exc}")
            except Exception:
                log.exception("could not dead-letter an invalid event on %s", self.queue.name)
                self.queue_consumer.requeue_message(message)
                return
            metrics.EVENTS_DEAD_LETTERED.labels(self.container.service_name, self.label, "invalid").inc()
            return
        handle_result = partial(self.handle_result, message)
        try:
            self.container.spawn_worker(
                self, (event,), {},
                context_data=self.unpack_message_headers(message),
                handle_result=handle_result,
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = finish_unit_of_work(worker_ctx, exc_info)
        service = self.container.service_name
        event = worker_ctx.args[0]
        if exc_info is None:
            outcome = "duplicate" if result is DUPLICATE else "processed"
            metrics.EVENTS_HANDLED.labels(service, event.type, outcome).inc()
            lag = (datetime.now(UTC) - event.time).total_seconds()
            metrics.EVENT_LAG.labels(service, event.type).observe(max(lag, 0.0))
            self.queue_consumer.ack_message(message)
            return result, None
        attempt = int((message.headers or {}).get(topology.ATTEMPT_HEADER, 0))
        error = f"{exc_info[0].__name__}: {exc_info[1]}"[:500]
        try:
            if attempt < len(self.delays_ms):
                self._move(message, topology.retry_exchange(self.delays_ms[attempt]), attempt + 1, error)
                metrics.EVENTS_RETRIED.labels(service, event.type).inc()
            else:
                self._move(message, topology.dead_letter_exchange(), attempt, error)
                metrics.EVENTS_DEAD_LETTERED.labels(service, event.type, "failed").inc()
                log.error("event dead-lettered on %s after %s attempts", self.queue.name, attempt + 1)
        except Exception:
            # Could not park it: hand it back so the broker redelivers it.
            log.exception("could not move a failed event on %s; requeueing", self.queue.name)
            self.queue_consumer.requeue_message(message)
        return result, exc_info

    def _move(self, message, exchange, attempt: int, error: str):
        """Copy to the retry or dead-letter exchange (confirmed), then ack."""
        headers = dict(message.headers or {})
        headers.update({
            topology.ATTEMPT_HEADER: attempt,
            topology.ERROR_HEADER: error,
            topology.QUEUE_HEADER: self.queue.name,
        })
        with get_producer(self.amqp_uri, confirms=True) as producer:
            topology.republish(producer, message, exchange, self.queue.name, headers)
        self.queue_consumer.ack_message(message)


def _unit_of_work(service) -> UnitOfWork:
    units = [v for v in vars(service).values() if isinstance(v, UnitOfWork)]
    if len(units) != 1:
        raise ConfigurationError(f"{type(service).__name__}: an event handler needs exactly one Database")
    return units[0]


def event_handler(*type_names: str, **kwargs):
    """Decorate ``method(self, event)`` as a reliable, idempotent consumer of ``type_names``."""

    def decorate(fn):
        @functools.wraps(fn)
        def handle_once(service, event):
            uow = _unit_of_work(service)
            consumer = f"{service.name}.{fn.__name__}"
            if uow.already_processed(consumer, event.id):
                return DUPLICATE
            result = fn(service, event)
            uow.mark_processed(consumer, event.id)
            return result

        return ReliableEventHandler.decorator(*type_names, **kwargs)(handle_once)

    return decorate
