"""RabbitMQ names and declarations for events, retries and dead letters.

Events go to each source service's topic exchange ``<service>.events`` with
the CloudEvents type as routing key, exactly as nameko's own events do.
Every consumer has its own durable queue. A failing delivery waits in a
per-delay queue whose TTL expires it back into the consumer's queue through
the default exchange (routing key = the consumer queue's name); after the last
retry it goes to the consumer's dead-letter queue ``<queue>.dlq``, from which
an operator can inspect and replay it.

Queues are classic by default (one node). With ``queue_type="quorum"`` (see
``config.queue_type``) every durable queue is a quorum queue, replicated over
the cluster's nodes; a consumer queue then also has a delivery limit, and
whatever the broker itself dead-letters (an expired retry going back, a message
over its delivery limit) moves at least once: it leaves its queue only once the
target confirmed it (``at-least-once``, which needs ``overflow: reject-publish``).
Classic queues keep the arguments they always had, so an existing installation
declares them unchanged.
"""

from __future__ import annotations

from kombu import Exchange, Queue, binding

DEAD_LETTER_EXCHANGE = "werkbrug.dead-letter"
RETRY_EXCHANGE_PREFIX = "werkbrug.retry"
ATTEMPT_HEADER = "x-werkbrug-attempt"
ERROR_HEADER = "x-werkbrug-error"
QUEUE_HEADER = "x-werkbrug-queue"
CLASSIC, QUORUM = "classic", "quorum"
DEFAULT_DELIVERY_LIMIT = 20


def quorum_arguments(dead_letters_to: tuple[str, str | None] | None = None, **arguments) -> dict:
    """A quorum queue's arguments; ``dead_letters_to`` (exchange, routing key or None to keep the
    message's own) makes what the broker dead-letters move at least once."""
    out = {"x-queue-type": QUORUM, **arguments}
    if dead_letters_to is not None:
        exchange, routing_key = dead_letters_to
        out.update({"x-dead-letter-exchange": exchange, "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish"})
        if routing_key is not None:
            out["x-dead-letter-routing-key"] = routing_key
    return out


def event_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", type="topic", durable=True)


def consumer_queue_name(source_service: str, event_type: str, service: str, method: str) -> str:
    # nameko's own SERVICE_POOL naming, so tooling that knows nameko reads it.
    return f"evt-{source_service}-{event_type}--{service}.{method}"


def dead_letter_exchange() -> Exchange:
    return Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)


def dead_letter_queue(consumer_queue: str, queue_type: str = CLASSIC) -> Queue:
    return Queue(
        f"{consumer_queue}.dlq",
        exchange=dead_letter_exchange(),
        routing_key=consumer_queue,
        durable=True,
        queue_arguments=quorum_arguments() if queue_type == QUORUM else None,
    )


def retry_exchange(delay_ms: int) -> Exchange:
    # fanout: the routing key (the consumer queue) passes through untouched,
    # so dead-lettering on expiry delivers straight back to that queue.
    return Exchange(f"{RETRY_EXCHANGE_PREFIX}.{delay_ms}ms", type="fanout", durable=True)


def retry_queue(delay_ms: int, queue_type: str = CLASSIC) -> Queue:
    expiry = {"x-message-ttl": int(delay_ms)}
    return Queue(
        f"{RETRY_EXCHANGE_PREFIX}.{delay_ms}ms",
        exchange=retry_exchange(delay_ms),
        durable=True,
        queue_arguments=(quorum_arguments(("", None), **expiry) if queue_type == QUORUM
                         else {**expiry, "x-dead-letter-exchange": ""}),
    )


def consumer_queue(event_types, service: str, method: str, queue_type: str = CLASSIC,
                   delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> Queue:
    """The durable queue of one handler, bound to each catalogued type it takes.

    ``event_types`` are catalogue entries (name and source service).
    """
    event_types = list(event_types)
    if len(event_types) == 1:
        (etype,) = event_types
        name = consumer_queue_name(etype.source_service, etype.name, service, method)
        where = {"exchange": event_exchange(etype.source_service), "routing_key": etype.name}
    else:
        name = f"evt-many--{service}.{method}"
        where = {"bindings": [binding(event_exchange(t.source_service), routing_key=t.name) for t in event_types]}
    arguments = None
    if queue_type == QUORUM:
        # over the limit, the broker parks it where the handler's own dead letters go
        arguments = quorum_arguments((DEAD_LETTER_EXCHANGE, name), **{"x-delivery-limit": int(delivery_limit)})
    return Queue(name, durable=True, queue_arguments=arguments, **where)


def rpc_queue(queue: Queue, queue_type: str = CLASSIC) -> Queue:
    """nameko's durable ``rpc-<service>`` queue, as a quorum queue when asked for. No delivery
    limit of werkbrug's own: a request that kills its service twice is refused by the service
    (see ``Rpc``) long before RabbitMQ 4's default limit of 20 deliveries would drop it."""
    if queue_type != QUORUM:
        return queue
    return Queue(queue.name, exchange=queue.exchange, routing_key=queue.routing_key, durable=True,
                 queue_arguments=quorum_arguments())


def consumer_plumbing(queue: Queue, delays_ms, queue_type: str = CLASSIC) -> list[Queue]:
    """A consumer queue with its dead-letter queue and the retry queues it uses."""
    return [queue, dead_letter_queue(queue.name, queue_type),
            *(retry_queue(delay, queue_type) for delay in delays_ms)]


def declare_consumer(channel, queue: Queue, delays_ms, queue_type: str = CLASSIC) -> None:
    """Declare a consumer queue with its retry and dead-letter plumbing.

    Idempotent; run by each consumer at start-up and by ``werkbrug migrate``
    before any service starts, so no event is published into a void.
    """
    for each in consumer_plumbing(queue, delays_ms, queue_type):
        each(channel).declare()


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
