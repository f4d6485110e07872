"""Declare the whole event topology, and inspect or replay dead letters.

The topology comes from the service classes themselves (their
``event_handler`` entrypoints), so ``werkbrug migrate`` can declare every
consumer queue before any service runs and no early event is unroutable.
"""

from __future__ import annotations

import importlib
import inspect
import json

from kombu import Connection

from werkbrug_shared import config, topology

CONFIRMED = {"confirm_publish": True}


def service_class(service: str):
    module = importlib.import_module(f"{service}.service")
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if getattr(obj, "name", None) == service and obj.__module__ == module.__name__:
            return obj
    raise LookupError(f"no nameko service named {service!r} in {module.__name__}")


def consumer_queues(service: str):
    from werkbrug_shared.entrypoints import ReliableEventHandler

    cls = service_class(service)
    for method_name, method in inspect.getmembers(cls, inspect.isfunction):
        for ep in getattr(method, "nameko_entrypoints", ()):
            if isinstance(ep, ReliableEventHandler):
                yield topology.consumer_queue(ep.event_types, service, method_name)


def all_consumer_queues(services=config.SERVICES):
    for service in services:
        yield from consumer_queues(service)


def declare_topology(amqp_uri: str | None = None, services=config.SERVICES) -> int:
    delays = config.retry_delays_ms()
    count = 0
    with Connection(amqp_uri or config.amqp_uri()) as conn:
        channel = conn.default_channel
        for queue in all_consumer_queues(services):
            topology.declare_consumer(channel, queue, delays)
            count += 1
    return count


def dead_letter_counts(amqp_uri: str | None = None, services=config.SERVICES) -> dict[str, int]:
    counts = {}
    with Connection(amqp_uri or config.amqp_uri()) as conn:
        for queue in all_consumer_queues(services):
            dlq = topology.dead_letter_queue(queue.name)
            _, messages, _ = dlq(conn.channel()).queue_declare(passive=True)
            counts[dlq.name] = messages
    return counts


def peek(dlq_name: str, limit: int = 20, amqp_uri: str | None = None) -> list[dict]:
    """Read dead letters without removing them (they are requeued)."""
    out = []
    with Connection(amqp_uri or config.amqp_uri()) as conn:
        channel = conn.channel()
        fetched = []
        for _ in range(limit):
            msg = channel.basic_get(dlq_name, no_ack=False)
            if msg is None:
                break
            fetched.append(msg)
            headers = msg.headers or {}
            try:
                envelope = json.loads(msg.body)
                summary = {k: envelope.get(k) for k in ("id", "type", "subject", "time")}
            except ValueError:
                summary = {"body": "not JSON"}
            summary.update(
                attempts=headers.get(topology.ATTEMPT_HEADER),
                error=headers.get(topology.ERROR_HEADER),
            )
            out.append(summary)
        for msg in fetched:
            channel.basic_reject(msg.delivery_tag, requeue=True)
    return out


def replay(dlq_name: str, limit: int | None = None, amqp_uri: str | None = None) -> int:
    """Move dead letters back to their consumer queue with a fresh retry budget."""
    if not dlq_name.endswith(".dlq"):
        raise ValueError("name a dead-letter queue (ends in .dlq)")
    target = dlq_name[: -len(".dlq")]
    moved = 0
    with Connection(amqp_uri or config.amqp_uri(), transport_options=CONFIRMED) as conn:
        channel = conn.channel()
        producer = conn.Producer(channel)
        # only what is parked now: a letter that fails again at once (still invalid)
        # comes back behind us and must not be replayed in a loop
        _, waiting, _ = channel.queue_declare(dlq_name, passive=True)
        limit = waiting if limit is None else min(limit, waiting)
        while moved < limit:
            msg = channel.basic_get(dlq_name, no_ack=False)
            if msg is None:
                break
            headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("x-werkbrug-")}
            topology.republish(producer, msg, "", target, headers)
            channel.basic_ack(msg.delivery_tag)
            moved += 1
    return moved
