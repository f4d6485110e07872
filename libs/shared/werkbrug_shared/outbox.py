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
import time
from collections import Counter
from datetime import timedelta
from typing import NamedTuple

import amqp
import eventlet
from eventlet.queue import Empty, Full, LightQueue
from kombu import Connection
from nameko.extensions import Extension
from sqlalchemy import BigInteger, any_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql

from werkbrug_shared import config, metrics, topology
from werkbrug_shared.events.envelope import BATCH_CONTENT_TYPE, CONTENT_TYPE, utcnow
from werkbrug_shared.faults import crash_point

log = logging.getLogger(__name__)


class Unroutable(Exception):
    """RabbitMQ confirmed but no queue is bound for the event type yet."""


class OutgoingEvent(NamedTuple):
    """One outbox row as the publisher takes it."""

    source_service: str
    event_type: str
    event_id: str
    payload: str  # the CloudEvent as JSON text


class _Sent(NamedTuple):
    """One published message, until the broker confirms or returns it."""

    message_id: str  # its first event's id
    event_type: str
    event_ids: list[str]


class AmqpEventPublisher:
    """Publishes a batch, then waits once for the broker to confirm all of it.

    One confirm round trip per batch instead of per event is what lets the
    relay keep up with batch imports (a confirm per message caps a channel at
    about 1.5k/s here). Consecutive events of one type share a message in
    CloudEvents' JSON batch format, up to ``per_message``; a lone event goes
    as a structured message. Persistent and ``mandatory``: a message no queue
    took comes back as a basic.return and is reported as not published.
    """

    confirm_timeout = 30.0

    def __init__(self, amqp_uri: str, per_message: int = 1):
        self.amqp_uri = amqp_uri
        self.per_message = max(1, per_message)
        self._connection = None
        self._channel = None
        self._declared: set[str] = set()

    def _ensure(self):
        if self._channel is None:
            self._connection = Connection(self.amqp_uri)
            self._channel = self._connection.channel()
            self._channel.confirm_select()
            self._next_tag = 1
            self._declared.clear()
        return self._channel

    def _messages(self, events):
        """Group consecutive events of one source and type, keeping their order.
        ``events``: OutgoingEvents, or tuples of the same four fields."""
        group: list[OutgoingEvent] = []
        for event in map(OutgoingEvent._make, events):
            if group and (len(group) == self.per_message or group[0].event_type != event.event_type
                          or group[0].source_service != event.source_service):
                yield group
                group = []
            group.append(event)
        if group:
            yield group

    def publish_batch(self, events) -> tuple[list[str], list[str]]:
        """``events``: OutgoingEvents (or tuples of their four fields).

        Returns (confirmed event ids, unroutable event types); raises when the
        broker nacks or the connection fails, in which case nothing is
        reported published and the caller tries again later.
        """
        channel = self._ensure()
        acked: set[int] = set()
        nacked: list[int] = []
        returned: set[str] = set()
        state = {"acked_up_to": 0}

        def on_ack(tag, multiple):
            if multiple:
                state["acked_up_to"] = max(state["acked_up_to"], tag)
            else:
                acked.add(tag)

        def on_nack(tag, multiple):
            nacked.append(tag)

        def on_return(_exc, _exchange, _routing_key, message):
            returned.add(message.properties.get("message_id"))

        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(on_nack)
        channel.events["basic_return"].add(on_return)
        try:
            tags: dict[int, _Sent] = {}
            for group in self._messages(events):
                first = group[0]
                exchange = topology.event_exchange(first.source_service)
                if exchange.name not in self._declared:
                    exchange(channel).declare()
                    self._declared.add(exchange.name)
                if len(group) == 1:
                    body, content_type = first.payload, CONTENT_TYPE
                else:
                    body, content_type = "[" + ",".join(e.payload for e in group) + "]", BATCH_CONTENT_TYPE
                channel.basic_publish(
                    amqp.Message(body, content_type=content_type, content_encoding="utf-8",
                                 delivery_mode=2, message_id=first.event_id),
                    exchange=exchange.name, routing_key=first.event_type, mandatory=True,
                )
                tags[self._next_tag] = _Sent(first.event_id, first.event_type, [e.event_id for e in group])
                self._next_tag += 1
            deadline = time.monotonic() + self.confirm_timeout
            last = self._next_tag - 1
            while not (state["acked_up_to"] >= last or all(
                    t <= state["acked_up_to"] or t in acked for t in tags)):
                if nacked:
                    raise ConnectionError("the broker refused (nacked) published events")
                if time.monotonic() > deadline:
                    raise ConnectionError("no publisher confirms from the broker in time")
                with contextlib.suppress(TimeoutError):  # nothing arrived this second; look again
                    self._connection.drain_events(timeout=1)
            if nacked:
                raise ConnectionError("the broker refused (nacked) published events")
        except Exception:
            self.close()
            raise
        finally:
            if self._channel is not None:
                channel.events["basic_ack"].discard(on_ack)
                channel.events["basic_nack"].discard(on_nack)
                channel.events["basic_return"].discard(on_return)
        confirmed = [eid for sent in tags.values() if sent.message_id not in returned for eid in sent.event_ids]
        unroutable = sorted({sent.event_type for sent in tags.values() if sent.message_id in returned})
        return confirmed, unroutable

    def close(self):
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already broken; nothing left to release
                self._connection.release()
        self._connection = self._channel = None


# Tables of the service's database (that it may analyse) changed since their last ANALYZE
# by more rows than they then held; already quoted for a statement.
_STALE_TABLES = text(
    "SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname) "
    "FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid "
    "WHERE s.n_mod_since_analyze >= :at_least AND s.n_mod_since_analyze > c.reltuples "
    "AND pg_has_role(c.relowner, 'USAGE') ORDER BY s.relname")


class OutboxRelay(Extension):
    """Relays one service's outbox to RabbitMQ on a managed green thread.

    Woken right after each commit that emitted events, and otherwise polls,
    which is how rows left behind by a crash or a broker outage go out. On
    PostgreSQL it also keeps the planner's statistics of tables growing in bulk
    (:meth:`keep_statistics`).
    """

    batch_size = 500
    statistics_check_seconds = 5.0
    analyse_after_rows = 1000
    _next_backlog_count = 0.0

    def __init__(self):
        self.engine = None
        self.table = None
        self._wake = None
        self._running = False
        self._thread = None
        self._publisher = None

    def attach(self, engine, table, processed=None):
        self.engine = engine
        self.table = table
        self.processed = processed

    def start(self):
        if self.engine is None:
            return
        self.service = self.container.service_name
        self.poll_seconds = config.outbox_poll_seconds(self.container.config)
        self._publisher = AmqpEventPublisher(
            config.amqp_uri(self.container.config), config.events_per_message(self.container.config))
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

    def housekeeping(self) -> None:
        """Forget what no longer protects anything: events published long ago,
        recorded RPC replies older than any broker would redeliver (they may hold
        what a caller was told, personal data included), and handled events'
        markers past their retention (else the table grows with every event)."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(self.table).where(
                self.table.c.published_at < now - timedelta(days=config.outbox_retention_days())))
            if self.processed is not None:
                markers = self.processed.c
                conn.execute(delete(self.processed).where(
                    markers.consumer.like("rpc:%"),
                    markers.processed_at < now - timedelta(hours=config.rpc_reply_retention_hours())))
                conn.execute(delete(self.processed).where(
                    markers.consumer.not_like("rpc:%"),
                    markers.processed_at < now - timedelta(days=config.processed_retention_days())))
        self._next_housekeeping = time.monotonic() + 3600

    def keep_statistics(self) -> list[str]:
        """PostgreSQL: analyse the tables that changed by more rows than they held when last
        analysed (and by at least ``analyse_after_rows``); returns their names.

        The planner reads every table as it was when last analysed. Autovacuum analyses a
        table once a tenth of it changed, but looks only once a minute: all through a bulk
        import a table that grew from nothing kept the statistics of an empty one, and the
        lookups a batch makes (a consumer's handled event ids, reporting's rows of the
        people in a batch) were planned as scans of the whole table, each batch slower
        than the one before. Checked every few seconds, a table growing in bulk is analysed
        whenever it doubled: a handful of times per import, a sample of rows each."""
        self._next_statistics_check = time.monotonic() + self.statistics_check_seconds
        if self.engine.dialect.name != "postgresql":
            return []
        with self.engine.connect() as conn:
            stale = conn.execute(_STALE_TABLES, {"at_least": self.analyse_after_rows}).scalars().all()
            conn.rollback()
            for name in stale:
                # SKIP_LOCKED: another instance is analysing it (or a migration holds it) just now
                conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {name}")
                conn.commit()
        return stale

    def _run(self):
        backoff = 0.1
        self._next_housekeeping = time.monotonic() + 60
        self._next_statistics_check = time.monotonic()
        while self._running:
            if time.monotonic() >= self._next_housekeeping:
                try:
                    self.housekeeping()
                except Exception:
                    log.warning("outbox housekeeping of %s failed; trying again later", self.service, exc_info=True)
                    self._next_housekeeping = time.monotonic() + 300
            if time.monotonic() >= self._next_statistics_check:
                try:
                    self.keep_statistics()
                except Exception:
                    log.warning("analysing the tables of %s failed; trying again later", self.service, exc_info=True)
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
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                rows = self._claim(conn)
                done, unroutable = self._publish(rows)
                if done:
                    crash_point("relay.after_confirm")
                self._mark(conn, done)
        else:
            # SQLite: never hold its single connection across network waits.
            c = self.table.c
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(c.seq, c.event_id, c.event_type, c.source_service, c.payload)
                    .where(c.published_at.is_(None)).order_by(c.seq).limit(self.batch_size)
                ).all()
            done, unroutable = self._publish(rows)
            if done:
                crash_point("relay.after_confirm")
            with self.engine.begin() as conn:
                self._mark(conn, done)
        self._report_backlog(len(rows) < self.batch_size and len(done) == len(rows))
        if unroutable:
            raise Unroutable(", ".join(unroutable))
        return len(done)

    def _claim(self, conn) -> list:
        """PostgreSQL: lock the oldest unpublished rows no other relay holds, then read them.

        Two statements, the lock taken on the narrow rows. A bulk write grows the outbox
        faster than autovacuum analyses it, and planned from stale statistics the single
        ``SELECT ... payload ... ORDER BY seq LIMIT n FOR UPDATE`` read and sorted the
        whole backlog, payloads and all (the limit sits above the row locks, so the sort
        is never bounded): megabytes sorted on disk for every batch, a sort that grew
        with the backlog. Sorting sequence numbers stays cheap however the query is planned,
        and the payloads are read by primary key."""
        c = self.table.c
        seqs = conn.execute(
            select(c.seq).where(c.published_at.is_(None)).order_by(c.seq).limit(self.batch_size)
            .with_for_update(skip_locked=True)
        ).scalars().all()
        if not seqs:
            return []
        return conn.execute(
            select(c.seq, c.event_id, c.event_type, c.source_service, c.payload)
            .where(c.seq == any_(bindparam("seqs", seqs, type_=postgresql.ARRAY(BigInteger()))))
            .order_by(c.seq)
        ).all()

    def _report_backlog(self, drained: bool) -> None:
        """The backlog gauge. Counting unpublished rows scans every row published since the
        last vacuum, so while a bulk write streams out it is counted at most every few seconds."""
        now = time.monotonic()
        if drained:
            metrics.OUTBOX_BACKLOG.labels(self.service).set(0)
            return
        if now < self._next_backlog_count:
            return
        self._next_backlog_count = now + 5
        with self.engine.connect() as conn:
            backlog = conn.execute(
                select(func.count()).select_from(self.table).where(self.table.c.published_at.is_(None))
            ).scalar_one()
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)

    def _publish(self, rows) -> tuple[list[int], list[str]]:
        if not rows:
            return [], []
        confirmed, unroutable = self._publisher.publish_batch(
            (r.source_service, r.event_type, r.event_id, r.payload) for r in rows  # OutgoingEvent's fields
        )
        confirmed = set(confirmed)
        sent = [r for r in rows if r.event_id in confirmed]
        for event_type, count in Counter(r.event_type for r in sent).items():  # a label look-up per type, not per row
            metrics.OUTBOX_PUBLISHED.labels(self.service, event_type).inc(count)
        return [r.seq for r in sent], unroutable

    def _mark(self, conn, seqs):
        if not seqs:
            return
        if conn.dialect.name == "postgresql":
            # one short statement with an array parameter: IN with 500 parameters was
            # compiled, sent and parsed anew for every batch the relay marked
            seq_is_one_of = self.table.c.seq == any_(bindparam("seqs", seqs, type_=postgresql.ARRAY(BigInteger())))
        else:
            seq_is_one_of = self.table.c.seq.in_(seqs)
        conn.execute(update(self.table).where(seq_is_one_of).values(published_at=utcnow()))
