"""Declare the whole event topology, move queues to another type, and
inspect or replay dead letters.

The topology comes from the service classes themselves (their
``event_handler`` and ``rpc`` entrypoints), so ``werkbrug migrate`` can declare
every queue before any service runs and no early event is unroutable.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging

import amqp
from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection, Queue
from nameko.rpc import RPC_QUEUE_TEMPLATE, get_rpc_exchange

from werkbrug_shared import config, topology

log = logging.getLogger(__name__)

CONFIRMED = {"confirm_publish": True}
HOLDING_SUFFIX = ".moving"


def service_class(service: str):
    module = importlib.import_module(f"{service}.service")
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if getattr(obj, "name", None) == service and obj.__module__ == module.__name__:
            return obj
    raise LookupError(f"no nameko service named {service!r} in {module.__name__}")


def consumer_queues(service: str, queue_type: str = topology.CLASSIC,
                    delivery_limit: int = topology.DEFAULT_DELIVERY_LIMIT):
    from werkbrug_shared.entrypoints import ReliableEventHandler

    cls = service_class(service)
    for method_name, method in inspect.getmembers(cls, inspect.isfunction):
        for ep in getattr(method, "nameko_entrypoints", ()):
            if isinstance(ep, ReliableEventHandler):
                yield topology.consumer_queue(ep.event_types, service, method_name, queue_type, delivery_limit)


def all_consumer_queues(services=config.SERVICES, queue_type: str = topology.CLASSIC,
                        delivery_limit: int = topology.DEFAULT_DELIVERY_LIMIT):
    for service in services:
        yield from consumer_queues(service, queue_type, delivery_limit)


def rpc_queues(services=config.SERVICES, queue_type: str = topology.CLASSIC):
    """nameko's ``rpc-<service>`` queue of every service that answers RPC calls."""
    from werkbrug_shared.entrypoints import Rpc

    for service in services:
        cls = service_class(service)
        if any(isinstance(ep, Rpc) for _, method in inspect.getmembers(cls, inspect.isfunction)
               for ep in getattr(method, "nameko_entrypoints", ())):
            yield topology.rpc_queue(Queue(RPC_QUEUE_TEMPLATE.format(service), exchange=get_rpc_exchange({}),
                                           routing_key=f"{service}.*", durable=True), queue_type)


def declare_topology(amqp_uri: str | None = None, services=config.SERVICES,
                     queue_type: str | None = None) -> dict[str, int]:
    """Declare every durable queue as ``queue_type`` (default: ``config.queue_type()``).

    A queue that exists with another type or other arguments (classic queues of an
    installation moving to quorum queues) is moved with its messages, see
    :func:`ensure_queue`. Returns the messages moved per queue that was moved.
    """
    queue_type = queue_type or config.queue_type()
    delays = config.retry_delays_ms()
    wanted: dict[str, Queue] = {}
    for queue in all_consumer_queues(services, queue_type, config.delivery_limit()):
        for each in topology.consumer_plumbing(queue, delays, queue_type):
            wanted.setdefault(each.name, each)
    for queue in rpc_queues(services, queue_type):
        wanted.setdefault(queue.name, queue)
    moved = {}
    with Connection(amqp_uri or config.amqp_uri(), transport_options=CONFIRMED) as conn:
        for queue in wanted.values():
            count = ensure_queue(conn, queue)
            if count is not None:
                moved[queue.name] = count
    return moved


def ensure_queue(conn, queue: Queue) -> int | None:
    """Declare ``queue``; if it exists with other arguments (another type), move it, keeping
    every message: None when nothing had to move, else how many messages moved.

    RabbitMQ cannot change a queue's type in place. So: a holding queue with the same
    bindings takes everything published meanwhile; the old queue's messages move into it
    (each acked only after the broker confirmed its copy); the old queue is deleted and
    declared anew; the holding queue's messages move back and it goes. A message may be
    copied twice (a crash between a confirm and its ack, or one published to both queues
    while both are bound): consumers skip an event id they handled, so nothing is doubled
    in effect. Run with the consumers stopped; publishers may go on. A move that stopped
    half-way finishes when this runs again (the holding queue is found and emptied).
    """
    holding = Queue(queue.name + HOLDING_SUFFIX, exchange=queue.exchange, routing_key=queue.routing_key,
                    bindings=queue.bindings, durable=True,
                    # the type only: a retry queue's expiry must not fire while its messages wait here
                    queue_arguments={k: v for k, v in (queue.queue_arguments or {}).items() if k == "x-queue-type"})
    try:
        queue(conn.channel()).declare()
    except PreconditionFailed as exc:
        log.warning("queue %s exists with other arguments (%s); moving it and its messages", queue.name, exc)
        holding(conn.channel()).declare()
        moved = _move_messages(conn, queue.name, holding.name)
        conn.channel().queue_delete(queue.name)
        queue(conn.channel()).declare()
    else:
        if not _exists(conn, holding.name):
            return None
        moved = 0  # a move that stopped after the old queue went: its messages wait in the holding queue
    _move_messages(conn, holding.name, queue.name)
    conn.channel().queue_delete(holding.name)
    return moved


def _exists(conn, name: str) -> bool:
    try:
        conn.channel().queue_declare(name, passive=True)
        return True
    except NotFound:
        return False


def _move_messages(conn, source: str, target: str) -> int:
    """Every message of ``source`` into ``target`` with its properties and headers, confirmed."""
    channel = conn.channel()
    moved = 0
    while (message := channel.basic_get(source, no_ack=False)) is not None:
        channel.basic_publish(amqp.Message(message.body, **message.properties), exchange="", routing_key=target,
                              mandatory=True)
        channel.basic_ack(message.delivery_tag)
        moved += 1
    return moved


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
            # a letter the broker parked itself (over a quorum queue's delivery limit) says so in x-death
            death = (headers.get("x-death") or [{}])[0]
            summary.update(
                attempts=headers.get(topology.ATTEMPT_HEADER, headers.get("x-delivery-count")),
                error=headers.get(topology.ERROR_HEADER) or (
                    f"dead-lettered by the broker: {death['reason']}" if death.get("reason") else None),
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
