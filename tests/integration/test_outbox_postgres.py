"""The outbox relay and candidates' batch look-ups on PostgreSQL, in a private database
(no services): the relay claims the oldest unsent rows in order, skips rows another relay
holds, marks only what the broker confirmed, keeps everything unsent when it dies between
confirm and mark, and analyses tables that grew in bulk; candidates' index-probe look-ups
answer exactly what the plain ``IN`` queries answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.orm import Session

from candidates import records
from candidates.models import Candidate, PersonalData
from candidates.models import metadata as candidates_metadata
from tests.integration.harness import private_database
from werkbrug_shared import metrics
from werkbrug_shared.db import service_metadata
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.outbox import OutboxRelay


@pytest.fixture
def database():
    with private_database("outbox") as engine:
        yield engine


class Publisher:
    """Stands in for RabbitMQ: confirms every event but those named ``unconfirmed``."""

    def __init__(self, unconfirmed=()):
        self.unconfirmed = set(unconfirmed)
        self.published: list[list[str]] = []

    def publish_batch(self, events):
        ids = [e[2] for e in events]
        self.published.append(ids)
        return [i for i in ids if i not in self.unconfirmed], []


def relay_for(engine, publisher):
    metadata = service_metadata()
    metadata.create_all(engine)
    relay = OutboxRelay()
    relay.attach(engine, metadata.tables["outbox"], metadata.tables["processed_events"])
    relay.service, relay._publisher = "candidates", publisher
    return relay


def add_events(relay, n, start=0):
    now = utcnow()
    with relay.engine.begin() as conn:
        conn.execute(insert(relay.table), [
            {"event_id": f"e{i:05d}", "event_type": "t", "source_service": "candidates", "payload": "{}",
             "created_at": now} for i in range(start, start + n)])


def unsent(relay) -> list[str]:
    with relay.engine.connect() as conn:
        return list(conn.scalars(select(relay.table.c.event_id).where(relay.table.c.published_at.is_(None))
                                 .order_by(relay.table.c.seq)))


def test_the_relay_sends_the_oldest_rows_in_order_and_marks_only_what_was_confirmed(database):
    publisher = Publisher(unconfirmed={"e00003"})
    relay = relay_for(database, publisher)
    relay.batch_size = 4
    add_events(relay, 6)
    counted = metrics.OUTBOX_PUBLISHED.labels("candidates", "t")._value.get()
    assert relay.relay_once() == 3
    assert metrics.OUTBOX_PUBLISHED.labels("candidates", "t")._value.get() == counted + 3
    assert publisher.published == [["e00000", "e00001", "e00002", "e00003"]]
    assert unsent(relay) == ["e00003", "e00004", "e00005"]
    publisher.unconfirmed.clear()
    assert relay.relay_once() == 3
    assert publisher.published[-1] == ["e00003", "e00004", "e00005"]
    assert unsent(relay) == []
    assert relay.relay_once() == 0


def test_rows_another_relay_holds_are_skipped_not_waited_for(database):
    publisher = Publisher()
    relay = relay_for(database, publisher)
    relay.batch_size = 3
    add_events(relay, 5)
    with database.connect() as other:  # another instance, mid-batch on the two oldest rows
        other.execute(text("SELECT seq FROM outbox ORDER BY seq LIMIT 2 FOR UPDATE"))
        assert relay.relay_once() == 3
        assert publisher.published == [["e00002", "e00003", "e00004"]]
        other.rollback()
    assert relay.relay_once() == 2
    assert publisher.published[-1] == ["e00000", "e00001"]


def test_a_relay_that_dies_between_confirm_and_mark_leaves_every_row_to_send_again(database, monkeypatch):
    import werkbrug_shared.outbox as outbox

    class Died(BaseException):
        pass

    def die(name):
        if name == "relay.after_confirm":
            raise Died(name)

    publisher = Publisher()
    relay = relay_for(database, publisher)
    add_events(relay, 3)
    monkeypatch.setattr(outbox, "crash_point", die)
    with pytest.raises(Died):
        relay.relay_once()
    assert unsent(relay) == ["e00000", "e00001", "e00002"]  # the claim and the mark went with it
    monkeypatch.undo()
    assert relay.relay_once() == 3
    assert publisher.published == [["e00000", "e00001", "e00002"]] * 2  # sent again: consumers skip it
    assert unsent(relay) == []


def test_tables_that_grew_in_bulk_are_analysed_and_quiet_ones_are_left_alone(database):
    relay = relay_for(database, Publisher())
    relay.analyse_after_rows = 100
    with database.begin() as conn:
        conn.execute(text("CREATE TABLE grown (id int PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE quiet (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO grown SELECT generate_series(1, 500)"))
        conn.execute(text("INSERT INTO quiet SELECT generate_series(1, 10)"))

    def stats_flushed():  # a backend reports its counts at the end of a transaction, at most once a second
        with database.connect() as conn:
            conn.execute(text("SELECT pg_stat_force_next_flush()"))

    stats_flushed()
    assert relay.keep_statistics() == ["public.grown"]
    with database.connect() as conn:
        assert conn.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'grown'")) == 500
    assert relay.keep_statistics() == []  # nothing changed since
    with database.begin() as conn:
        conn.execute(text("INSERT INTO grown SELECT generate_series(501, 800)"))  # less than it held
    stats_flushed()
    assert relay.keep_statistics() == []
    with database.begin() as conn:
        conn.execute(text("INSERT INTO grown SELECT generate_series(801, 1400)"))  # now more: doubled
    stats_flushed()
    assert relay.keep_statistics() == ["public.grown"]


def test_keeping_statistics_is_nothing_on_sqlite(tmp_path):
    relay = relay_for(create_engine(f"sqlite:///{tmp_path / 'o.db'}"), Publisher())
    assert relay.keep_statistics() == []


def test_housekeeping_on_postgresql_forgets_only_old_published_rows(database):
    relay = relay_for(database, Publisher())
    add_events(relay, 3)
    assert relay.relay_once() == 3
    with database.begin() as conn:
        conn.execute(text("UPDATE outbox SET published_at = published_at - interval '8 days' "
                          "WHERE event_id = 'e00000'"))
    add_events(relay, 1, start=3)
    relay.housekeeping()
    with database.connect() as conn:
        assert list(conn.scalars(text("SELECT event_id FROM outbox ORDER BY seq"))) == ["e00001", "e00002", "e00003"]


@pytest.fixture
def candidates_db(database):
    candidates_metadata.create_all(database)
    now = utcnow()
    rows = []
    for i, org in enumerate(["gemeente-enschede"] * 30 + ["uwv-twente"] * 10 + [None] * 5):
        rows.append({"id": f"c{i:03d}", "region": "Twente", "pc4": "7511", "banenafspraak": False,
                     "occupations_wanted": [], "work_thinking_level": None, "dutch_level": None,
                     "hours_per_week": 24, "hours_min": None, "available_days": [], "available_from": None,
                     "max_travel_minutes": None, "max_distance_km": None, "transport_modes": [],
                     "conditions": [], "cohort": None, "status": "registered", "registered_by": org,
                     "source_ref": f"legacy:{i % 35}" if i % 7 else None, "registered_at": now - timedelta(i),
                     "updated_at": now, "erased_at": None})
    with database.begin() as conn:
        conn.execute(insert(Candidate.__table__), rows)
        conn.execute(insert(PersonalData.__table__), [
            {"candidate_id": r["id"], "given_name": "A", "family_name": "B", "postcode": "7511 AB",
             "bsn_hash": f"h{i}" if i % 3 else None} for i, r in enumerate(rows)])
    return database


def both_ways(engine, probes, plain, *args):
    """The look-up as PostgreSQL runs it (index probes), and as the plain IN query SQLite runs."""
    with Session(engine) as session:
        fast = probes(session, *args)
    with Session(engine) as session:
        slow = plain(session, *args)
    return fast, slow


def test_candidates_batch_lookups_answer_what_the_plain_queries_answer(candidates_db):
    refs = [f"legacy:{i}" for i in range(0, 40)] + ["legacy:3", "nowhere"]
    for organisation in ("gemeente-enschede", "uwv-twente", "someone-else", None):
        fast, slow = both_ways(candidates_db, records.imported, records.imported_in, organisation, refs)
        assert fast == slow
        if organisation == "gemeente-enschede":
            assert len(fast) == 25
    hashes = [f"h{i}" for i in range(60)] + ["h1", "unknown"]
    fast, slow = both_ways(candidates_db, records.bsn_owners, records.bsn_owners_in, hashes)
    assert fast == slow and len(fast) == 30
    assert records.imported(Session(candidates_db), "gemeente-enschede", []) == {}
    assert records.bsn_owners(Session(candidates_db), []) == {}
