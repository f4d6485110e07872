"""RabbitMQ names and declarations for events, retries and dead letters.

Events go to each source service's topic exchange ``<service>.events`` with
the CloudEvents type as routing key, exactly as nameko's own events do.
Every consumer has its own durable queue. A failing delivery waits in a
per-delay queue whose TTL expires it back into the consumer's queue through
the default exchange (routing key = the consumer queue's name); after the last
retry it goes to the consumer's dead-letter queue ``<queue>.dlq``, from which
an operator can inspect and replay it.
"""

from __future__ import annotations

from kombu import Exchange, Queue, binding

DEAD_LETTER_EXCHANGE = "werkbrug.dead-letter"
RETRY_EXCHANGE_PREFIX = "werkbrug.retry"
ATTEMPT_HEADER = "x-werkbrug-attempt"
ERROR_HEADER = "x-werkbrug-error"
QUEUE_HEADER = "x-werkbrug-queue"


def event_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", type="topic", durable=True)


def consumer_queue_name(source_service: str, event_type: str, service: str, method: str) -> str:
    # nameko's own SERVICE_POOL naming, so tooling that knows nameko reads it.
    return f"evt-{source_service}-{event_type}--{service}.{method}"


def dead_letter_exchange() -> Exchange:
    return Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)


def dead_letter_queue(consumer_queue: str) -> Queue:
    return Queue(
        f"{consumer_queue}.dlq",
        exchange=dead_letter_exchange(),
        routing_key=consumer_queue,
        durable=True,
    )


def retry_exchange(delay_ms: int) -> Exchange:
    # fanout: the routing key (the consumer queue) passes through untouched,
    # so dead-lettering on expiry delivers straight back to that queue.
    return Exchange(f"{RETRY_EXCHANGE_PREFIX}.{delay_ms}ms", type="fanout", durable=True)


def retry_queue(delay_ms: int) -> Queue:
    return Queue(
        f"{RETRY_EXCHANGE_PREFIX}.{delay_ms}ms",
        exchange=retry_exchange(delay_ms),
        durable=True,
        queue_arguments={"x-message-ttl": int(delay_ms), "x-dead-letter-exchange": ""},
    )


def consumer_queue(event_types, service: str, method: str) -> Queue:
    """The durable queue of one handler, bound to each catalogued type it takes.

    ``event_types`` are catalogue entries (name and source service).
    """
    event_types = list(event_types)
    if len(event_types) == 1:
        (etype,) = event_types
        return Queue(
            consumer_queue_name(etype.source_service, etype.name, service, method),
            exchange=event_exchange(etype.source_service),
            routing_key=etype.name,
            durable=True,
        )
    return Queue(
        f"evt-many--{service}.{method}",
        bindings=[binding(event_exchange(t.source_service), routing_key=t.name) for t in event_types],
        durable=True,
    )


def declare_consumer(channel, queue: Queue, delays_ms) -> None:
    """Declare a consumer queue with its retry and dead-letter plumbing.

    Idempotent; run by each consumer at start-up and by ``werkbrug migrate``
    before any service starts, so no event is published into a void.
    """
    queue(channel).declare()
    dead_letter_queue(queue.name)(channel).declare()
    for delay in delays_ms:
        retry_queue(delay)(channel).declare()


def republish(producer, message, exchange, routing_key: str, headers: dict) -> None:
    """Copy a received message elsewhere, confirmed and persistent.

    ``mandatory`` makes a missing target queue an error rather than a silent
    drop, so the caller acks the original only when the copy is safe.
    """
    producer.publish(
        message.body,
        exchange=exchange,
        routing_key=routing_key,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=2,
        mandatory=True,
        message_id=message.properties.get("message_id"),
        retry=False,
    )


def publish_event(producer, body: str, event_id, exchange, routing_key: str, headers: dict) -> None:
    """Publish one structured CloudEvent (taken out of a batch), confirmed and persistent."""
    producer.publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        headers=headers,
        content_type="application/cloudevents+json",
        content_encoding="utf-8",
        delivery_mode=2,
        mandatory=True,
        message_id=event_id,
        retry=False,
    )
