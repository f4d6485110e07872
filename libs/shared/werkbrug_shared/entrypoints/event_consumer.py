"""The reliable consumer beneath ``@event_handler``: batching, retry, dead-lettering.

Events are validated against the catalogue (an invalid one is dead-lettered at
once), gathered into batches while one is in work, handed to one worker per
batch, and settled one by one after the worker's unit of work committed: a
processed or duplicate event is acked, a failed one goes to a retry queue
after each configured back-off and then to ``<queue>.dlq``. nameko's default
(ack and drop on error) is never used. What runs inside the worker, the
idempotency and savepoints, is ``event_handlers.event_handler``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import partial

import eventlet

from werkbrug_shared import config, metrics, topology
from werkbrug_shared.consuming import EventQueueConsumer
from werkbrug_shared.db import Database, finish_unit_of_work
from werkbrug_shared.entrypoints.nameko_internals import (
    ConfigurationError,
    Consumer,
    ContainerBeingKilled,
    broker_may_be_gone,
    get_producer,
)
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.events import parse_event
from werkbrug_shared.events.catalogue import event_type as catalogued
from werkbrug_shared.faults import crash_point

log = logging.getLogger(__name__)

# what a handler made of each event of its batch (else the exc_info of its failure)
PROCESSED = "processed"
DUPLICATE = "duplicate"


class ReliableEventHandler(Consumer):
    """Consumes one or more catalogued event types from one durable queue.

    A delivery that finds no batch in work goes to a worker at once; what
    arrives while one is in work gathers (up to ``EVENT_BATCH_SIZE``) into the
    next, so a quiet hop waits for nothing and batches grow with the load. A
    batch is one worker and one commit: a commit per event caps a consumer at a few hundred events a
    second. Every event is still handled, acked, retried or dead-lettered on
    its own (see ``event_handlers.event_handler``).

    One batch per handler is in work at a time; what arrives meanwhile waits
    for the next. So a queue's events are applied in the order they came and
    a handler never races itself for the same rows (a projection seeing a
    candidate's ``registered`` and ``enrolled`` in two concurrent batches
    would insert the same row twice, fail and retry).
    """

    queue_consumer = EventQueueConsumer()

    def __init__(self, *type_names: str, unit_of_work: str = "db", **kwargs):
        if not type_names:
            raise ValueError("name at least one event type")
        self.unit_of_work = unit_of_work  # the service's Database attribute the handler works in
        self.event_types = [catalogued(name) for name in type_names]
        self.label = self.event_types[0].name if len(self.event_types) == 1 else "many"
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    def setup(self):
        if not {"cloudevents", "cloudevents-batch"} <= set(self.container.accept):
            raise ConfigurationError(
                "werkbrug event handlers need ACCEPT: [json, cloudevents, cloudevents-batch] in the config")
        service_cls = self.container.service_cls
        if not isinstance(getattr(service_cls, self.unit_of_work, None), Database):
            raise ConfigurationError(
                f"{service_cls.__name__}.{self.method_name}: {service_cls.__name__}.{self.unit_of_work} is not a "
                f"Database; name the one it works in: @event_handler(..., unit_of_work=\"<attribute>\")")
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
