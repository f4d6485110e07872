"""The event pipeline against the broker's own speed.

    .venv/bin/python bench/pipeline.py            # 1,000 placements at full speed, 600 at 20/s
    .venv/bin/python bench/pipeline.py --quick    # 200 and 200, under a minute or so

In one run, on one RabbitMQ (a private vhost) and PostgreSQL (private databases),
every service a real ``nameko run`` process (tests/integration/harness.py's System):

(a) raw kombu: persistent publishes, no confirms, of messages the size of a real
    placement.recorded CloudEvent, then ack-consume with prefetch 100: deliveries/s.
(b) the placement chain: ``matching.record_placement`` over RPC -> aftercare makes
    the plan and its tasks (and mails the coach) -> candidates marks the candidate
    placed -> vacancies fills an opening of one of 20 vacancies (matching re-indexes it) ->
    reporting stores and counts every event. First at full speed (several callers),
    then paced at ``--rate`` placements/s.

Chain deliveries are counted exactly: every consumer writes a processed-event marker
(with its time) for each event it handles, so the deliveries are the markers
written, and the chain's time runs from the first call to the last marker.
Latency: from ``record_placement``'s return to the plan and its tasks being
committed in aftercare's database (polled every 2 ms).
The last line holds the headline figures.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")  # psycopg must not block the hub

import eventlet  # noqa: E402

eventlet.monkey_patch()

import psycopg  # noqa: E402
import requests  # noqa: E402
from eventlet.queue import LightQueue  # noqa: E402
from kombu import Connection, Exchange, Queue  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.import_candidates import cpu_seconds  # noqa: E402
from tests.browser.system import start_all  # noqa: E402
from tests.integration.harness import System, eventually, matching_has, register_jobcoaches  # noqa: E402
from werkbrug_shared.events import new_event  # noqa: E402

CREDENTIAL = "dev-gemeente-enschede"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
POLL_S = 0.002
CONSUMING = ("matching", "aftercare", "candidates", "vacancies", "reporting")


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def sample_event() -> str:
    """A real placement.recorded CloudEvent, as matching's outbox holds it."""
    return new_event("nl.werkbrug.placement.recorded.v1", str(uuid.uuid4()), {
        "placement_id": str(uuid.uuid4()), "candidate_id": str(uuid.uuid4()), "vacancy_id": str(uuid.uuid4()),
        "employer_id": str(uuid.uuid4()), "start_date": "2026-12-01", "hours_per_week": 32,
        "region": "Overijssel", "target_groups": ["bijstand", "statushouder"], "cohort": "werkfit-1",
        "match_id": str(uuid.uuid4()), "credited_organisations": ["gemeente-enschede", "soweco"],
        "conditions": ["no_night_shifts"], "dutch_level": "B1",
    }, source_service="matching").to_json()


def broker_pid() -> int | None:
    """The RabbitMQ node listening on 5672 (other nodes may run on this machine)."""
    out = subprocess.run(["ss", "-Hltnp", "sport = :5672"], capture_output=True, text=True).stdout
    found = re.search(r"pid=(\d+)", out)
    return int(found.group(1)) if found else None


def cpu_snapshot(system: System) -> dict[str, float]:
    """CPU seconds so far: each service, PostgreSQL's backends serving this system's databases
    (others may share the cluster), the broker (shared too) and this process."""
    snap = {service: cpu_seconds(proc.pid) for service, proc in system.procs.items()}
    snap["postgres (this system)"] = 0.0
    for pid in subprocess.run(["pgrep", "-f", f"postgres: .*werkbrug_test_{system.tag}_"],
                              capture_output=True, text=True).stdout.split():
        snap["postgres (this system)"] += cpu_seconds(int(pid))
    broker = broker_pid()
    snap["rabbitmq (shared)"] = cpu_seconds(broker) if broker else 0.0
    snap["bench client"] = cpu_seconds(os.getpid())
    return snap


def worker_times(system: System) -> dict[tuple[str, str], tuple[float, float]]:
    """(service, entrypoint) -> (seconds, calls) so far, from the services' own histograms."""
    out = {}
    for service in CONSUMING:
        text = requests.get(system.metrics_url(service), timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in ("werkbrug_request_duration_seconds_sum", "werkbrug_request_duration_seconds_count"):
                    key = (service, sample.labels.get("entrypoint"))
                    seconds, calls = out.get(key, (0.0, 0.0))
                    if sample.name.endswith("_sum"):
                        seconds += sample.value
                    else:
                        calls += sample.value
                    out[key] = (seconds, calls)
    return out


def print_worker_times(before: dict, after: dict) -> None:
    rows = []
    for key, (seconds, calls) in after.items():
        s0, c0 = before.get(key, (0.0, 0.0))
        if calls > c0:
            rows.append((seconds - s0, calls - c0, key))
    print("  workers (the services' request durations): total s, runs, mean ms")
    for seconds, calls, (service, entrypoint) in sorted(rows, reverse=True)[:14]:
        print(f"    {service + '.' + entrypoint:<44} {seconds:6.1f} s {calls:6.0f} {seconds / calls * 1000:8.1f} ms")


# --- (a) raw kombu ------------------------------------------------------------------------

def raw_kombu(amqp_uri: str, body: str, n: int) -> tuple[float, float]:
    """Persistent publish (no confirms) of ``n`` messages, then ack-consume (prefetch 100):
    (publishes/s, deliveries/s)."""
    exchange = Exchange("bench.raw", type="direct", durable=True)
    queue = Queue(f"bench.raw.{uuid.uuid4().hex[:6]}", exchange, routing_key="raw", durable=True)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue(channel).declare()
        producer = conn.Producer(channel)
        started = time.perf_counter()
        for _ in range(n):
            producer.publish(body, exchange=exchange, routing_key="raw", delivery_mode=2,
                             content_type="application/cloudevents+json", content_encoding="utf-8", retry=False)
        published = time.perf_counter() - started
        eventually(lambda: queue(channel).queue_declare(passive=True).message_count >= n, timeout=60,
                   interval=0.05, what="the raw messages to be queued")
        got = [0]

        def on_message(_body, message):
            message.ack()
            got[0] += 1

        consume_channel = conn.channel()
        consume_channel.basic_qos(0, 100, False)
        with conn.Consumer(queue(consume_channel), callbacks=[on_message], accept=["application/cloudevents+json"]):
            started = time.perf_counter()
            while got[0] < n:
                conn.drain_events(timeout=10)
            consumed = time.perf_counter() - started
        queue(channel).delete()
    return n / published, n / consumed


# --- (b) the placement chain ----------------------------------------------------------------

class Chain:
    def __init__(self, system: System, candidates: list[str], vacancies: list[str], start_date: str):
        self.system, self.candidates, self.start_date = system, candidates, start_date
        self.vacancy_of = dict(zip(candidates, vacancies, strict=True))
        self.db = {s: psycopg.connect(system.database_url(s, "postgresql"), autocommit=True) for s in CONSUMING}
        self.placed = 0  # candidates used so far

    def sql(self, service: str, query: str, *params):
        return self.db[service].execute(query, params).fetchall()

    def markers(self, since: datetime) -> tuple[int, datetime | None]:
        """Events handled since ``since`` by every consumer (their processed markers) and the last one's time."""
        total, last = 0, None
        for service in CONSUMING:
            count, latest = self.sql(service, "SELECT count(*), max(processed_at) FROM processed_events "
                                              "WHERE consumer NOT LIKE 'rpc:%%' AND processed_at >= %s", since)[0]
            total += count
            if latest is not None and (last is None or latest > last):
                last = latest
        return total, last

    def settled(self, expected: int) -> bool:
        """Every placement so far all the way through, and nothing left in any outbox."""
        checks = (
            ("aftercare", "SELECT count(*) FROM aftercare_plans"),
            ("candidates", "SELECT count(*) FROM candidates WHERE status = 'placed'"),
            ("vacancies", "SELECT coalesce(sum(openings_filled), 0) FROM vacancies"),
            ("reporting", "SELECT count(*) FROM rm_placements"),
        )
        if any(self.sql(s, q)[0][0] < expected for s, q in checks):
            return False
        return all(self.sql(s, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0] == 0
                   for s in CONSUMING)

    def wait_quiet(self, since: datetime, expected: int, timeout: float = 300) -> tuple[int, datetime]:
        """Until the chain settled and no consumer handled anything for a second."""
        eventually(lambda: self.settled(expected), timeout=timeout, interval=0.2, what="the chain to settle")
        previous = None
        while True:
            now = self.markers(since)
            if now == previous:
                return now
            previous = now
            time.sleep(1.0)

    def run(self, n: int, callers: int, rate: float | None) -> dict:
        """``n`` placements by ``callers`` RPC clients, as fast as they go or ``rate`` a second."""
        todo = LightQueue()
        for candidate_id in self.candidates[self.placed:self.placed + n]:
            todo.put(candidate_id)
        self.placed += n
        returned: dict[str, float] = {}
        visible: dict[str, float] = {}
        rpc_ms: list[float] = []
        done = {"calls": 0, "polling": True}

        def poll():
            conn = psycopg.connect(self.system.database_url("aftercare", "postgresql"), autocommit=True)
            while done["polling"] or len(visible) < len(returned):
                waiting = [p for p in returned if p not in visible]
                if waiting:
                    found = conn.execute("SELECT placement_id FROM aftercare_plans WHERE placement_id = ANY(%s)",
                                         (waiting,)).fetchall()
                    seen_at = time.monotonic()
                    for (placement_id,) in found:
                        visible[placement_id] = seen_at
                eventlet.sleep(POLL_S)
            conn.close()

        started_wall = datetime.now(UTC)
        started = time.monotonic()

        def caller(k: int):
            with self.system.rpc(CREDENTIAL, f"bench-{k}") as rpc:
                i = k
                while not todo.empty():
                    candidate_id = todo.get()
                    if rate:
                        eventlet.sleep(max(0.0, started + i / rate - time.monotonic()))
                        i += callers
                    called = time.monotonic()
                    placement = rpc.matching.record_placement({
                        "candidate_id": candidate_id, "vacancy_id": self.vacancy_of[candidate_id],
                        "start_date": self.start_date, "hours_per_week": 32})
                    back = time.monotonic()
                    returned[placement["id"]] = back
                    rpc_ms.append((back - called) * 1000)
                    done["calls"] += 1

        poller = eventlet.spawn(poll)
        # paced: caller k makes the calls due at started + i/rate for i = k, k + callers, ...
        threads = [eventlet.spawn(caller, k) for k in range(callers)]
        for t in threads:
            t.wait()
        calls_done = time.monotonic()
        done["polling"] = False
        poller.wait()
        deliveries, last = self.wait_quiet(started_wall, self.placed)
        chain_seconds = (last - started_wall).total_seconds()
        latencies = [(visible[p] - returned[p]) * 1000 for p in returned]
        return {"hops": self.hops(list(returned)),
            "placements": n, "calls_seconds": calls_done - started, "chain_seconds": chain_seconds,
            "deliveries": deliveries, "rpc_p50": percentile(rpc_ms, 50), "rpc_p99": percentile(rpc_ms, 99),
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies),
            "mean": statistics.fmean(latencies),
        }


    def hops(self, placement_ids: list[str]) -> dict[str, list[float]]:
        """Where a placement's time goes, from the databases' own clocks (ms): matching's
        transaction from its event's emit to its commit and the relay's confirm (the event row's
        ``created_at`` to ``published_at``), then the broker and aftercare's intake up to its
        handler's marker (``processed_at``, taken in aftercare's transaction before its commit)."""
        rows = self.sql("matching", "SELECT event_id, created_at, published_at FROM outbox "
                                    "WHERE event_type = 'nl.werkbrug.placement.recorded.v1' "
                                    "AND payload::jsonb ->> 'subject' = ANY(%s)", placement_ids)
        sent = {event_id: (created, published) for event_id, created, published in rows}
        handled = dict(self.sql("aftercare", "SELECT event_id, processed_at FROM processed_events "
                                             "WHERE consumer = 'aftercare.on_placement_recorded' "
                                             "AND event_id = ANY(%s)", list(sent)))
        out: dict[str, list[float]] = {"emit -> published": [], "published -> aftercare's handler": []}
        for event_id, (created, published) in sent.items():
            if published is None:
                continue
            out["emit -> published"].append((published - created).total_seconds() * 1000)
            if event_id in handled:
                out["published -> aftercare's handler"].append((handled[event_id] - published).total_seconds() * 1000)
        return out


def print_hops(hops: dict[str, list[float]]) -> None:
    for name, values in hops.items():
        if values:
            print(f"  {name:<34} p50 {percentile(values, 50):6.0f} ms  p99 {percentile(values, 99):6.0f} ms"
                  f"  (n={len(values)})")


VACANCIES = 20


def setup(system: System, total: int) -> tuple[list[str], list[str]]:
    """An employer, ``VACANCIES`` vacancies sharing ``total`` openings, ``total`` candidates
    (indexed by matching) and enough jobcoaches (Soweco) in the region for every plan.
    Candidate i is placed on vacancy i mod ``VACANCIES``."""
    region = "Overijssel"
    with system.rpc(CREDENTIAL, "bench") as rpc:
        employer = rpc.vacancies.register_employer({
            "name": "Bench BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": region,
            "postcode": "7511 JD"})
        vacancies = [rpc.vacancies.open({
            "employer_id": employer["id"], "title": f"schoonmaker {k}", "region": region, "postcode": "7511 JD",
            "must_have": [{"skill": CLEAN, "weight": 1.0}], "hours_per_week": 32,
            "openings": math.ceil(total / VACANCIES)})["id"] for k in range(VACANCIES)]
        people: list[str] = []
        for start in range(0, total, 500):
            results = rpc.candidates.register_many([{
                "given_name": "Bench", "family_name": f"Persoon {i}", "region": region, "postcode": "7512 AB",
                "target_groups": ["bijstand"], "skills": [CLEAN], "hours_per_week": 32, "cohort": "bench",
            } for i in range(start, min(total, start + 500))])
            people.extend(r["id"] for r in results)
        eventually(lambda: all(matching_has(rpc, v, people[:1]) for v in vacancies)
                   and all(matching_has(rpc, vacancies[0], people[i:i + 1000]) for i in range(0, total, 1000)),
                   timeout=300, what="matching to index the candidates and the vacancies")
    # about 50 plans fill a coach (60 h a week); placements start a month out
    register_jobcoaches(system, region, n=max(2, total // 40 + 1), capacity_hours=60)
    return people, [vacancies[i % VACANCIES] for i in range(total)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 placements each way, under a minute or so")
    parser.add_argument("-n", type=int, default=None, help="placements at full speed (1,000)")
    parser.add_argument("--paced", type=int, default=None, help="placements at --rate (600)")
    parser.add_argument("--rate", type=float, default=20.0, help="placements/s of the paced run")
    parser.add_argument("--callers", type=int, default=8, help="concurrent RPC callers at full speed")
    parser.add_argument("--raw", type=int, default=None, help="raw kombu messages (20,000)")
    parser.add_argument("--hold", action="store_true", help="wait for Enter before each run (to attach py-spy)")
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 1000)
    paced = args.paced or (200 if args.quick else 600)
    raw_n = args.raw or (5_000 if args.quick else 20_000)

    print(f"load average at start: {open('/proc/loadavg').read().strip()}")
    body = sample_event()
    started = time.monotonic()
    # fairness reports every second in the tests' environment: not part of the chain
    system = System(extra_env={"WERKBRUG_MATCHING_FAIRNESS_REPORT_SECONDS": "3600"})
    system.create()
    try:
        start_all(system)
        print(f"system up in {time.monotonic() - started:.1f} s; pids "
              + ", ".join(f"{s}={p.pid}" for s, p in system.procs.items()))

        rounds = [raw_kombu(system.amqp_uri, body, raw_n) for _ in range(1 if args.quick else 3)]
        raw_pub = statistics.median(r[0] for r in rounds)
        raw_del = statistics.median(r[1] for r in rounds)
        print(f"(a) raw kombu, {len(body)}-byte persistent messages, {raw_n:,} per round, "
              f"median of {len(rounds)}: publish {raw_pub:,.0f}/s, ack-consume {raw_del:,.0f} deliveries/s")

        people, vacancies = setup(system, n + paced + 10)
        start_date = (date.today() + timedelta(days=30)).isoformat()
        chain = Chain(system, people, vacancies, start_date)
        warm = chain.run(10, 2, None)  # first calls open connections and fill caches
        print(f"warm-up: {warm['placements']} placements, {warm['deliveries']} deliveries")

        if args.hold:
            input("full speed next: attach a profiler, then Enter ")
        cpu_before, workers_before = cpu_snapshot(system), worker_times(system)
        full = chain.run(n, args.callers, None)
        cpu_after, workers_after = cpu_snapshot(system), worker_times(system)
        load_full = open("/proc/loadavg").read().strip()
        per_placement = full["deliveries"] / n
        chain_rate = full["deliveries"] / full["chain_seconds"]
        share = chain_rate / raw_del
        print(f"(b) full speed, {n} placements by {args.callers} callers (load average {load_full}):")
        print(f"  calls done in {full['calls_seconds']:.1f} s, chain settled in {full['chain_seconds']:.1f} s: "
              f"{n / full['chain_seconds']:.1f} placements/s")
        print(f"  {full['deliveries']:,} event deliveries ({per_placement:.1f} a placement): "
              f"{chain_rate:,.0f} deliveries/s = {share:.2f} of raw (goal >= 0.30)")
        print(f"  record_placement RPC p50 {full['rpc_p50']:.1f} ms p99 {full['rpc_p99']:.1f} ms; "
              f"return -> tasks visible p50 {full['p50']:.0f} ms p99 {full['p99']:.0f} ms")
        print("  CPU seconds per process:")
        for name in sorted(cpu_after, key=lambda k: cpu_before[k] - cpu_after[k]):
            print(f"    {name:<22} {cpu_after[name] - cpu_before[name]:6.1f}")
        print_worker_times(workers_before, workers_after)

        if args.hold:
            input(f"{args.rate:g}/s next: Enter ")
        workers_before = worker_times(system)
        slow = chain.run(paced, 4, args.rate)
        workers_after = worker_times(system)
        load_paced = open("/proc/loadavg").read().strip()
        print(f"(c) paced at {args.rate:g}/s, {paced} placements (load average {load_paced}):")
        print(f"  calls took {slow['calls_seconds']:.1f} s ({paced / slow['calls_seconds']:.1f}/s); "
              f"record_placement RPC p50 {slow['rpc_p50']:.1f} ms p99 {slow['rpc_p99']:.1f} ms")
        print(f"  return -> tasks visible: p50 {slow['p50']:.0f} ms  p99 {slow['p99']:.0f} ms  "
              f"max {slow['max']:.0f} ms  mean {slow['mean']:.0f} ms (goal p99 <= 100 ms)")
        print_hops(slow["hops"])
        print_worker_times(workers_before, workers_after)
        print(f"RESULT share_of_raw={share:.2f} p99_ms={slow['p99']:.0f} p50_ms={slow['p50']:.0f} "
              f"raw_deliveries_per_s={raw_del:.0f} chain_deliveries_per_s={chain_rate:.0f} "
              f"placements_per_s={n / full['chain_seconds']:.1f} n={n} paced={paced} rate={args.rate:g}")
    finally:
        system.destroy()


if __name__ == "__main__":
    main()
