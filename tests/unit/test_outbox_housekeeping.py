"""The relay's housekeeping forgets what no longer protects anything, and only that."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, insert, select

from werkbrug_shared.db import service_metadata
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.outbox import OutboxRelay


def test_old_outbox_rows_replies_and_event_markers_go_and_recent_ones_stay(monkeypatch):
    monkeypatch.setenv("WERKBRUG_OUTBOX_RETENTION_DAYS", "7")
    monkeypatch.setenv("WERKBRUG_RPC_REPLY_RETENTION_HOURS", "24")
    monkeypatch.setenv("WERKBRUG_PROCESSED_RETENTION_DAYS", "90")
    metadata = service_metadata()
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    outbox, processed = metadata.tables["outbox"], metadata.tables["processed_events"]
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(outbox), [
            {"event_id": name, "event_type": "t", "source_service": "s", "payload": "{}", "created_at": at,
             "published_at": at}
            for name, at in (("published-8d", now - timedelta(days=8)), ("published-6d", now - timedelta(days=6)))])
        conn.execute(insert(outbox), [{"event_id": "unpublished-30d", "event_type": "t", "source_service": "s",
                                       "payload": "{}", "created_at": now - timedelta(days=30), "published_at": None}])
        conn.execute(insert(processed), [
            {"consumer": consumer, "event_id": name, "processed_at": at}
            for consumer, name, at in (
                ("rpc:candidates.register", "reply-25h", now - timedelta(hours=25)),
                ("rpc:candidates.register", "reply-23h", now - timedelta(hours=23)),
                ("aftercare.on_placement_recorded", "event-91d", now - timedelta(days=91)),
                ("aftercare.on_placement_recorded", "event-89d", now - timedelta(days=89)),
                ("aftercare.on_placement_recorded", "event-2d", now - timedelta(days=2)))])
    relay = OutboxRelay()
    relay.attach(engine, outbox, processed)
    relay.housekeeping()
    with engine.connect() as conn:
        assert sorted(conn.scalars(select(outbox.c.event_id))) == ["published-6d", "unpublished-30d"]
        assert sorted(conn.scalars(select(processed.c.event_id))) == ["event-2d", "event-89d", "reply-23h"]
