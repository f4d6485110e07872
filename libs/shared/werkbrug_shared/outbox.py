"""The outbox relay: publishes committed outbox rows with publisher confirms.

A row is marked published only after RabbitMQ confirmed it *and* routed it to
at least one queue (``mandatory``), so a crash between commit and publish, a
broker restart or a consumer queue not declared yet loses nothing: the row is
simply published again later, and consumers deduplicate on the event id.
On PostgreSQL rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several
instances of a service relay side by side without publishing a row twice.
"""

from __future__ import annotations

import contextlib
import logging

import eventlet
from eventlet.queue import Empty, Full, LightQueue
from kombu import Connection, Producer
from nameko.extensions import Extension
from sqlalchemy import func, select, update

from werkbrug_shared import config, metrics, topology
from werkbrug_shared.events.envelope import CONTENT_TYPE, utcnow

log = logging.getLogger(__name__)


class Unroutable(Exception):
    """RabbitMQ confirmed but no queue is bound for the event type yet."""


class AmqpEventPublisher:
    """One confirmed, persistent, mandatory publish at a time on a kept connection."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self._connection = None
        self._producer = None
        self._declared: set[str] = set()

    def _ensure(self):
        if self._producer is None:
            self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True})
            self._producer = Producer(self._connection.channel())
            self._declared.clear()
        return self._producer

    def publish(self, source_service: str, event_type: str, event_id: str, payload: str, headers=None):
        producer = self._ensure()
        exchange = topology.event_exchange(source_service)
        if exchange.name not in self._declared:
            exchange(producer.channel).declare()
            self._declared.add(exchange.name)
        try:
            producer.publish(
                payload,
                exchange=exchange,
                routing_key=event_type,
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                delivery_mode=2,
                mandatory=True,
                message_id=event_id,
                headers=headers or {},
                retry=False,
            )
        except Exception as exc:
            if "NO_ROUTE" in str(exc):
                raise Unroutable(event_type) from exc
            self.close()
            raise

    def close(self):
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already broken; nothing left to release
                self._connection.release()
        self._connection = self._producer = None


class OutboxRelay(Extension):
    """Relays one service's outbox to RabbitMQ on a managed green thread.

    Woken right after each commit that emitted events, and otherwise polls,
    which is how rows left behind by a crash or a broker outage go out.
    """

    batch_size = 500

    def __init__(self):
        self.engine = None
        self.table = None
        self._wake = None
        self._running = False
        self._thread = None
        self._publisher = None

    def attach(self, engine, table):
        self.engine = engine
        self.table = table

    def start(self):
        if self.engine is None:
            return
        self.service = self.container.service_name
        self.poll_seconds = config.outbox_poll_seconds(self.container.config)
        self._publisher = AmqpEventPublisher(config.amqp_uri(self.container.config))
        self._wake = LightQueue(maxsize=1)
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._run, identifier="outbox-relay")

    def wake(self):
        if self._wake is not None and self._wake.qsize() == 0:
            with contextlib.suppress(Full):  # already woken
                self._wake.put_nowait(True)

    def stop(self):
        if not self._running:
            return
        self._running = False
        self.wake()
        if self._thread is not None:
            with contextlib.suppress(Exception):  # it ended with an error it already logged
                self._thread.wait()
        if self._publisher is not None:
            self._publisher.close()

    def kill(self):
        self._running = False
        if self._thread is not None:
            self._thread.kill()

    def _run(self):
        backoff = 0.1
        while self._running:
            try:
                published = self.relay_once()
                backoff = 0.1
                if published >= self.batch_size:
                    continue
            except Unroutable as exc:
                metrics.OUTBOX_PUBLISH_FAILURES.labels(self.service).inc()
                log.warning("no queue bound for %s yet; keeping it in the outbox", exc)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            except Exception:
                metrics.OUTBOX_PUBLISH_FAILURES.labels(self.service).inc()
                log.warning("outbox relay of %s failed; retrying in %.1fs", self.service, backoff, exc_info=True)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            try:
                self._wake.get(timeout=self.poll_seconds)
            except Empty:
                pass

    def relay_once(self) -> int:
        """Publish one batch; returns how many rows went out."""
        locking = self.engine.dialect.name == "postgresql"
        query = (
            select(self.table.c.seq, self.table.c.event_id, self.table.c.event_type,
                   self.table.c.source_service, self.table.c.payload)
            .where(self.table.c.published_at.is_(None))
            .order_by(self.table.c.seq)
            .limit(self.batch_size)
        )
        if locking:
            with self.engine.begin() as conn:
                rows = conn.execute(query.with_for_update(skip_locked=True)).all()
                done, failure = self._publish(rows)
                self._mark(conn, done)
        else:
            # SQLite: never hold its single connection across network waits.
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            done, failure = self._publish(rows)
            with self.engine.begin() as conn:
                self._mark(conn, done)
        with self.engine.connect() as conn:
            backlog = conn.execute(
                select(func.count()).select_from(self.table).where(self.table.c.published_at.is_(None))
            ).scalar_one()
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        if failure is not None:
            raise failure
        return len(done)

    def _publish(self, rows):
        """Publish in order until the first failure; returns (done, failure)."""
        done = []
        for row in rows:
            try:
                self._publisher.publish(row.source_service, row.event_type, row.event_id, row.payload)
            except Exception as exc:
                return done, exc
            metrics.OUTBOX_PUBLISHED.labels(self.service, row.event_type).inc()
            done.append(row.seq)
        return done, None

    def _mark(self, conn, seqs):
        if seqs:
            conn.execute(update(self.table).where(self.table.c.seq.in_(seqs)).values(published_at=utcnow()))
