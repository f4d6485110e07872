"""The partner change feed: freshness (commit to feed) and replay of a large store to one partner.

    .venv/bin/python bench/feed.py            # 200 vacancies measured, 1,000,000 events replayed
    .venv/bin/python bench/feed.py --quick    # 20 vacancies, 50,000 events, under a minute
    .venv/bin/python bench/feed.py -n 100 --events 200000

The services on the path run as their own `nameko run` processes (vacancies, reporting and the
gateway; the others have no part in it) against RabbitMQ and PostgreSQL (private vhost and
databases, dropped afterwards), as in the integration tests.

Freshness: a public vacancy is opened through vacancies' RPC; the clock starts when that call
returns (the vacancy and its vacancy.opened event are committed then) and stops when
``GET /v1/feed`` through the gateway, polled every 5 ms with the last ``ETag`` as
``If-None-Match`` (a 304 while nothing is new), answers it.

Replay: the event store is loaded directly in bulk (COPY into reporting's ``event_store`` and
``feed_entries``, positions continuing from the head under the head's lock, as the live
handler numbers them): generated events of which about four in five are for the partner
(public vacancies opened, updated, filled and closed, its placements and their outcomes), the
rest another organisation's. Then the partner reads the feed from the first loaded position
to the end through reporting's RPC, 1,000 events a page, as a partner catching up would:
events/s. The last line holds the headline figures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import eventlet  # noqa: E402

eventlet.monkey_patch()

import psycopg  # noqa: E402
import requests  # noqa: E402

from tests.integration.harness import System  # noqa: E402

CREDENTIAL, ORGANISATION, OTHER = "dev-gemeente-enschede", "gemeente-enschede", "uwv-twente"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
OPENED = "nl.werkbrug.vacancy.opened.v1"
POLL_S = 0.005
PAGE = 1000
SERVICES = ("vacancies", "reporting", "gateway")  # what a vacancy passes through to the feed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def freshness(system, n: int, timeout: float) -> list[float]:
    http = requests.Session()
    url = f"http://127.0.0.1:{system.http_port}/v1/feed?types={OPENED}"
    auth = {"Authorization": f"Bearer {CREDENTIAL}"}
    latencies = []
    with system.rpc(CREDENTIAL, "bench") as rpc:
        employer = rpc.vacancies.register_employer({
            "name": "Feed Bench BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": "Twente",
            "postcode": "7511 JD"})["id"]

        def open_one() -> str:
            return rpc.vacancies.open({
                "employer_id": employer, "title": "magazijnmedewerker", "region": "Twente", "postcode": "7511 JD",
                "must_have": [{"skill": CLEAN, "weight": 1.0}], "hours_per_week": 32, "openings": 1,
                "visibility": "public"})["id"]

        etag = f'"{rpc.reporting.feed_snapshot()["position"]}"'
        for i in range(n + 3):  # three to warm up, not measured
            time.sleep(0.05 + (i % 5) * 0.04)  # let the system go idle, as between real changes
            vacancy_id = open_one()
            committed = time.monotonic()
            while True:
                response = http.get(url, headers={**auth, "If-None-Match": etag}, timeout=10)
                if response.status_code == 200:
                    etag = response.headers["ETag"]
                    if vacancy_id in {e["subject"] for e in response.json()}:
                        break
                elif response.status_code == 304:
                    etag = response.headers.get("ETag", etag)
                else:
                    raise SystemExit(f"GET /v1/feed answered {response.status_code}: {response.text[:300]}")
                if time.monotonic() - committed > timeout:
                    raise SystemExit(f"vacancy {vacancy_id} not in the feed after {timeout} s")
                time.sleep(POLL_S)
            if i >= 3:
                latencies.append(time.monotonic() - committed)
                if (i - 2) % 10 == 0 or i - 2 == n:
                    print(f"  {i - 2:>4}/{n}  last {latencies[-1] * 1000:6.0f} ms", flush=True)
    return latencies


def generated(count: int, first: int):
    """(event_store row, feed_entries row or None) for ``count`` events from position ``first``."""
    base = datetime(2026, 1, 5, 8, tzinfo=UTC)
    vacancies: list[str] = []
    for i in range(count):
        position = first + i
        moment = base + timedelta(seconds=i)
        kind = i % 10
        if kind < 6:  # public vacancies: opened, updated, filled, closed (id alone)
            if kind == 0 or not vacancies:
                vacancies.append(str(uuid.UUID(int=position)))
            vid = vacancies[-1] if kind != 3 else vacancies[len(vacancies) // 2]
            etype = ("vacancy.opened", "vacancy.updated", "vacancy.updated", "vacancy.filled", "vacancy.updated",
                     "vacancy.closed")[kind]
            if etype == "vacancy.filled":
                data = {"vacancy_id": vid, "openings_filled": 1}
            elif etype == "vacancy.closed":
                data = {"vacancy_id": vid, "reason": "expired"}
            else:
                data = {"vacancy_id": vid, "employer_id": "e-bench", "region": "Twente", "pc4": "7511",
                        "skills_required": [CLEAN], "hours_per_week": 32, "openings": 2, "visibility": "public",
                        "status": "open", "steward_organisations": [ORGANISATION]}
            audience, form, subject, candidate = "*", 1 if etype == "vacancy.closed" else 0, vid, None
        else:  # placements and outcomes: the partner's (6-7), another organisation's (8-9)
            pid, candidate = str(uuid.UUID(int=10**12 + position // 10)), str(uuid.UUID(int=10**13 + position // 10))
            etype = ("placement.recorded", "placement.sustained")[kind % 2]
            if etype == "placement.recorded":
                data = {"placement_id": pid, "candidate_id": candidate, "vacancy_id": "v-bench",
                        "employer_id": "e-bench", "start_date": "2026-01-05", "hours_per_week": 24,
                        "region": "Twente", "target_groups": ["bijstand"],
                        "credited_organisations": [ORGANISATION if kind < 8 else OTHER]}
            else:
                data = {"placement_id": pid, "candidate_id": candidate, "months": 6}
            audience, form, subject = ORGANISATION if kind < 8 else OTHER, 0, pid
        name = f"nl.werkbrug.{etype}.v1"
        source = "/werkbrug/vacancies" if etype.startswith("vacancy") else (
            "/werkbrug/aftercare" if etype == "placement.sustained" else "/werkbrug/matching")
        yield ((str(uuid.uuid4()), name, source, subject, moment, json.dumps(data), moment, candidate, position),
               (audience, position, name, form))


def load(system, count: int) -> tuple[int, int, float]:
    """COPY ``count`` generated events into reporting's store; (first position, last, seconds)."""
    started = time.monotonic()
    with psycopg.connect(system.database_url("reporting", driver="postgresql")) as conn:
        head = conn.execute("SELECT position FROM feed_head WHERE id = 1 FOR UPDATE").fetchone()[0]
        first = head + 1
        with conn.cursor() as cur:
            with cur.copy("COPY event_store (event_id, type, source, subject, time, data, received_at, candidate_id, "
                          "position) FROM STDIN") as events_copy:
                entries = []
                for row, entry in generated(count, first):
                    events_copy.write_row(row)
                    entries.append(entry)
            with cur.copy("COPY feed_entries (audience, position, type, form) FROM STDIN") as entries_copy:
                for entry in entries:
                    entries_copy.write_row(entry)
            cur.execute("UPDATE feed_head SET position = %s WHERE id = 1", (head + count,))
        conn.commit()
        conn.execute("ANALYZE event_store")
        conn.execute("ANALYZE feed_entries")
    return first, head + count, time.monotonic() - started


def replay(system, after: int, last: int) -> tuple[int, float, int]:
    """The partner reads from ``after`` to ``last``; (events it got, seconds, pages)."""
    got, pages, started = 0, 0, time.monotonic()
    with system.rpc(CREDENTIAL, "bench") as rpc:
        while after < last:
            page = rpc.reporting.feed(after=after, limit=PAGE)
            got += len(page["events"])
            pages += 1
            after = page["next"]
            if pages % 100 == 0:
                print(f"  {after - 0:>9} / {last}  {got / (time.monotonic() - started):8.0f} events/s", flush=True)
    return got, time.monotonic() - started, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 vacancies and 50,000 events, under a minute")
    parser.add_argument("-n", type=int, default=None, help="vacancies measured for freshness (default 200)")
    parser.add_argument("--events", type=int, default=None, help="events loaded and replayed (default 1,000,000)")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    n = args.n or (20 if args.quick else 200)
    count = args.events or (50_000 if args.quick else 1_000_000)

    started = time.monotonic()
    system = System()
    system.create()
    try:
        for service in SERVICES:
            system.spawn(service)
        for service in SERVICES:
            system.wait_ready(service)
        print(f"system up in {time.monotonic() - started:.1f} s", flush=True)
        print(f"freshness: {n} public vacancies, each until GET /v1/feed shows it", flush=True)
        ms = [v * 1000 for v in freshness(system, n, args.timeout)]
        p50, p99 = statistics.median(ms), percentile(ms, 99)
        print(f"commit -> feed: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(ms):.0f} ms (goal p99 <= 1000 ms)")
        print(f"loading {count:,} events into the event store (COPY) ...", flush=True)
        first, last, load_s = load(system, count)
        print(f"  loaded in {load_s:.1f} s ({count / load_s:,.0f} events/s), positions {first}..{last}")
        got, replay_s, pages = replay(system, first - 1, last)
        rate = got / replay_s
        print(f"replay to one partner: {got:,} of {count:,} events visible to it, {pages} pages of up to {PAGE}, "
              f"{replay_s:.1f} s, {rate:,.0f} events/s ({count / replay_s:,.0f} positions/s)")
    finally:
        system.destroy()
    print(f"RESULT feed_p50_ms={p50:.0f} feed_p99_ms={p99:.0f} measured={n} replay_events={got} "
          f"replay_positions={count} replay_s={replay_s:.1f} replay_events_per_s={rate:.0f}")


if __name__ == "__main__":
    main()
