"""Board freshness: how long after a placement is recorded the board shows it.

    .venv/bin/python bench/freshness.py            # 200 placements
    .venv/bin/python bench/freshness.py --quick    # 20 placements, under a minute

Every service runs as its own `nameko run` process against RabbitMQ and
PostgreSQL (private vhost and databases, dropped afterwards), as in the
integration tests. Each placement is recorded through matching's RPC; the clock
starts when that call returns (the placement and its placement.recorded event
are committed then) and stops when GET /v1/board, through the gateway over
HTTP, counts it. Like the page, the bench watches GET /v1/board/version (every
5 ms here) and fetches the board while the board it has is older. The page polls the
version every 300 ms, so a person looking at it sees the change up to 300 ms
(plus one fetch) later than this.
The last line holds the headline figures.
"""

from __future__ import annotations

import argparse
import math
import random
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

import requests  # noqa: E402

from bench.import_candidates import cpu_seconds  # noqa: E402
from tests.browser.system import running_system  # noqa: E402
from tests.integration.harness import eventually  # noqa: E402

CREDENTIAL = "dev-gemeente-enschede"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
WARM_UP = 5  # below five the board shows "< 5": these are not measured
POLL_S = 0.005


PLACEMENT_RECORDED = "nl.werkbrug.placement.recorded.v1"
# (service, histogram, labels): mean per stage, from the services' own metrics
STAGES = {
    "placement.recorded: created -> committed in reporting (lag)":
        ("reporting", "werkbrug_event_lag_seconds", {"event_type": PLACEMENT_RECORDED}),
    "reporting: one batch of events handled (store)":
        ("reporting", "werkbrug_request_duration_seconds", {"entrypoint": "store"}),
    "reporting: board_version() RPC":
        ("reporting", "werkbrug_request_duration_seconds", {"entrypoint": "board_version"}),
    "reporting: board() RPC":
        ("reporting", "werkbrug_request_duration_seconds", {"entrypoint": "board"}),
    "gateway: GET /v1/board":
        ("gateway", "werkbrug_request_duration_seconds", {"entrypoint": "board"}),
}


def stage_totals(system, service: str, histogram: str, labels: dict) -> tuple[float, float]:
    return system.metric(service, f"{histogram}_sum", **labels), system.metric(service, f"{histogram}_count", **labels)


def diagnose(system) -> None:
    """Where a placement that never showed is: matching's outbox, reporting's queue, store."""
    unsent = system.sql("matching", "SELECT count(*) FROM outbox WHERE published_at IS NULL")
    print("unsent in matching's outbox:", unsent)
    print("reporting's queue depth:", system.queue_depth("evt-many--reporting.store"))
    print("reporting stored placement.recorded:",
          system.sql("reporting", "SELECT count(*) FROM event_store WHERE type = %s", PLACEMENT_RECORDED))


def tail(system, walls) -> None:
    """Each placement's path in wall-clock stamps the services wrote themselves: the RPC's return,
    matching's relay marking the event published (after the broker's confirm), reporting's
    handler starting on it and marking it processed (just before its commit), the board
    showing it. Per gap its p50/p99, and the slowest placements stage by stage."""
    ids = [p for p, _, _ in walls]
    published = dict(system.sql(
        "matching", "SELECT subject, published_at FROM (SELECT payload::json->>'subject' AS subject, published_at "
        "FROM outbox WHERE event_type = %s) o WHERE subject = ANY(%s)", PLACEMENT_RECORDED, ids))
    found = system.sql(
        "reporting", "SELECT e.subject, e.received_at, p.processed_at FROM event_store e JOIN processed_events p "
        "ON p.event_id = e.event_id AND p.consumer = 'reporting.store' WHERE e.type = %s AND e.subject = ANY(%s)",
        PLACEMENT_RECORDED, ids)
    stored = {subject: (received, processed) for subject, received, processed in found}
    gaps = {"return -> published by relay": [], "published -> reporting handler starts": [],
            "handler starts -> marked processed": [], "processed -> board shows it": []}
    rows = []
    for placement_id, returned, seen in walls:
        if placement_id not in published or placement_id not in stored:
            continue
        received, processed = stored[placement_id]
        stamps = [returned, published[placement_id], received, processed, seen]
        steps = [(b - a).total_seconds() * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]
        for name, step in zip(gaps, steps, strict=True):
            gaps[name].append(step)
        rows.append(((seen - returned).total_seconds() * 1000, returned, steps))
    print("per stage, from the services' own timestamps (ms; clocks of one machine):")
    for name, values in gaps.items():
        if values:
            print(f"  {name:<42} p50 {percentile(values, 50):7.1f}  p99 {percentile(values, 99):7.1f}  "
                  f"max {max(values):7.1f}")
    print("the slowest placements (total: return->published, ->handler, ->processed, ->board; at):")
    for total, returned, steps in sorted(rows, key=lambda r: r[0], reverse=True)[:8]:
        print(f"  {total:6.0f} ms: " + ", ".join(f"{s:6.0f}" for s in steps) + f"   {returned:%H:%M:%S.%f}")


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 placements, under a minute")
    parser.add_argument("-n", type=int, default=None, help="placements measured (default 200)")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up on one placement after this")
    args = parser.parse_args()
    n = args.n or (20 if args.quick else 200)

    started = time.monotonic()
    with running_system() as system:
        print(f"system up in {time.monotonic() - started:.1f} s")
        print("pids " + " ".join(f"{s}={p.pid}" for s, p in system.procs.items()), flush=True)
        http = requests.Session()
        board_url = f"http://127.0.0.1:{system.http_port}/v1/board"
        version_url = f"{board_url}/version"

        def get(url: str) -> dict:
            response = http.get(url, timeout=10)
            response.raise_for_status()
            return response.json()

        def placed_on_board() -> int | str:
            return get(board_url)["totals"]["placed"]

        with system.rpc(CREDENTIAL, "bench") as rpc:
            region = f"bench-{uuid.uuid4().hex[:8]}"
            employer = rpc.vacancies.register_employer({
                "name": "Bench BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": region,
                "postcode": "7511 JD"})
            vacancy = rpc.vacancies.open({
                "employer_id": employer["id"], "title": "schoonmaker", "region": region, "postcode": "7511 JD",
                "must_have": [{"skill": CLEAN, "weight": 1.0}], "hours_per_week": 32,
                "openings": n + WARM_UP})
            people = [rpc.candidates.register({
                "given_name": "Bench", "family_name": f"Persoon {i}", "region": region, "postcode": "7512 AB",
                "target_groups": ["bijstand"], "skills": [CLEAN], "hours_per_week": 32, "cohort": "bench",
            })["id"] for i in range(n + WARM_UP)]
            eventually(lambda: set(people) <= set(rpc.matching.indexed(people)), timeout=120,
                       what="matching to index the candidates")

            def place(candidate_id: str) -> str:
                return rpc.matching.record_placement({"candidate_id": candidate_id, "vacancy_id": vacancy["id"],
                                                      "start_date": "2026-11-02", "hours_per_week": 32})["id"]

            for candidate_id in people[:WARM_UP]:
                place(candidate_id)
            eventually(lambda: placed_on_board() == WARM_UP, timeout=60, interval=0.05, what="the warm-up")

            before = {name: stage_totals(system, *where) for name, where in STAGES.items()}
            cpu_before = {service: cpu_seconds(proc.pid) for service, proc in system.procs.items()}
            latencies, rpc_times, walls = [], [], []
            for i, candidate_id in enumerate(people[WARM_UP:], start=1):
                expected = WARM_UP + i
                time.sleep(random.uniform(0.05, 0.25))  # let the system go idle, as between real placements
                called = time.monotonic()
                placement_id = place(candidate_id)
                recorded, recorded_wall = time.monotonic(), datetime.now(UTC)
                rpc_times.append(recorded - called)
                # as the page does: watch the cheap version, fetch the board while it is behind it
                board_version = None
                while True:
                    if get(version_url)["version"] != board_version:
                        board = get(board_url)
                        board_version = board["version"]
                        if board["totals"]["placed"] == expected:
                            break
                    if time.monotonic() - recorded > args.timeout:
                        diagnose(system)
                        raise SystemExit(f"placement {i} not on the board after {args.timeout} s: it shows "
                                         f"{board['totals']['placed']} placed at version {board_version}, "
                                         f"the version reads {get(version_url)['version']}")
                    time.sleep(POLL_S)
                latencies.append(time.monotonic() - recorded)
                walls.append((placement_id, recorded_wall, recorded_wall + timedelta(seconds=latencies[-1])))
                if i % 10 == 0 or i == n:
                    print(f"  {i:>4}/{n}  last {latencies[-1] * 1000:6.0f} ms")

            after = {name: stage_totals(system, *where) for name, where in STAGES.items()}
            cpu = {service: cpu_seconds(proc.pid) - cpu_before[service] for service, proc in system.procs.items()}

        ms = [v * 1000 for v in latencies]
        p50, p90, p99 = (percentile(ms, p) for p in (50, 90, 99))
        print(f"record_placement RPC: p50 {percentile([v * 1000 for v in rpc_times], 50):.1f} ms")
        print(f"placement recorded -> GET /v1/board shows it, {n} placements:")
        print(f"  p50 {p50:.0f} ms  p90 {p90:.0f} ms  p99 {p99:.0f} ms  max {max(ms):.0f} ms  "
              f"mean {statistics.fmean(ms):.0f} ms")
        print(f"  goal p99 <= 500 ms: {'met' if p99 <= 500 else 'NOT met'}")
        print("where the time goes (means over the measured placements, from the services' metrics):")
        for name in STAGES:
            (s0, c0), (s1, c1) = before[name], after[name]
            mean = (s1 - s0) / (c1 - c0) * 1000 if c1 > c0 else float("nan")
            print(f"  {name:<58} {mean:7.1f} ms  ({c1 - c0:.0f} samples)")
        tail(system, walls)
        print(f"CPU seconds per service while measured (load average {open('/proc/loadavg').read().strip()}): "
              + ", ".join(f"{service} {seconds:.1f}" for service, seconds in sorted(cpu.items(), key=lambda c: -c[1])))
        print(f"RESULT p50_ms={p50:.0f} p99_ms={p99:.0f} n={n}")


if __name__ == "__main__":
    main()
