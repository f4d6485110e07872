"""Bulk import, end to end: candidates/s from the first import call until
matching has indexed and reporting has counted every candidate.

    .venv/bin/python bench/import_candidates.py            # 50,000 candidates
    .venv/bin/python bench/import_candidates.py --quick    # 2,000

Every service runs as its own `nameko run` process against RabbitMQ and
PostgreSQL (private vhost and databases, dropped afterwards), exactly as in
the integration tests. The last line holds the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import eventlet  # noqa: E402

eventlet.monkey_patch()

from bench._data import candidates  # noqa: E402
from tests.integration.harness import System, eventually  # noqa: E402
from werkbrug_shared.importer import run_import  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def pids_of(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cpu_snapshot(system) -> dict[str, float]:
    """Each service; PostgreSQL's backends per database of this system (others may use the same
    cluster, and every other helper's work would count), the cluster's own processes (WAL writer,
    checkpointer: shared), RabbitMQ, and this client."""
    snap = {service: cpu_seconds(proc.pid) for service, proc in system.procs.items()}
    for service in system.databases:
        snap[f"postgres: {service}"] = sum(
            cpu_seconds(p) for p in pids_of(f"postgres: .*werkbrug_test_{system.tag}_{service} "))
    snap["postgres: background (shared)"] = sum(
        cpu_seconds(p) for p in pids_of("postgres: .*(walwriter|checkpointer|background writer)"))
    snap["rabbitmq (shared)"] = sum(cpu_seconds(p) for p in pids_of("beam.smp"))
    snap["bench (import client)"] = cpu_seconds(os.getpid())
    return snap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 candidates, under a minute")
    parser.add_argument("-n", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    n = args.n or (2_000 if args.quick else 50_000)

    workdir = Path(tempfile.mkdtemp(prefix="werkbrug-bench-"))
    source = workdir / "legacy_candidates.jsonl"
    with open(source, "w", encoding="utf-8") as f:
        for row in candidates(n):
            f.write(json.dumps(row) + "\n")
    print(f"generated {n:,} candidates in {source}")

    system = System()
    system.create()
    try:
        system.start_all()
        print("pids " + " ".join(f"{s}={p.pid}" for s, p in system.procs.items()), flush=True)
        with system.rpc() as rpc:
            cpu_before = cpu_snapshot(system)
            started = time.monotonic()
            report = run_import("candidates", source, "dev-gemeente-enschede", args.batch_size,
                                amqp_uri=system.amqp_uri)
            imported_at = time.monotonic()
            # Wait on the consumers' own counters (no database work), then
            # confirm once through the RPCs a user would ask; polling those
            # every half second scanned the growing tables and skewed the run.
            registered = "nl.werkbrug.candidate.registered.v1"

            def handled(service):
                return system.metric(service, "werkbrug_events_handled_total", event_type=registered)

            eventually(lambda: handled("matching") >= n, timeout=900, interval=0.2, what="matching")
            indexed_at = time.monotonic()
            eventually(lambda: handled("reporting") >= n, timeout=900, interval=0.2, what="reporting")
            counted_at = time.monotonic()
            assert rpc.matching.index_size()["candidates"] == n
            assert rpc.reporting.outflow()["enrolled"] == n
            cpu_after = cpu_snapshot(system)
        assert report.imported == n, report
        print(f"CPU seconds per process during the run (load average {open('/proc/loadavg').read().strip()}):")
        for name in sorted(cpu_after, key=lambda k: cpu_before[k] - cpu_after[k]):
            print(f"  {name:<30} {cpu_after[name] - cpu_before[name]:6.1f}")
        backends = sum(cpu_after[k] - cpu_before[k] for k in cpu_after if k.startswith("postgres: ")
                       and "background" not in k)
        print(f"  {'postgres: this system, all':<30} {backends:6.1f}")
        total = counted_at - started
        print(f"import RPCs done      {imported_at - started:6.1f} s")
        print(f"matching indexed all  {indexed_at - started:6.1f} s")
        print(f"reporting counted all {counted_at - started:6.1f} s")
        print(f"RESULT candidates={n} seconds={total:.1f} candidates_per_s={n / total:.0f} "
              f"rpc_seconds={imported_at - started:.1f}")
    finally:
        system.destroy()


if __name__ == "__main__":
    main()
