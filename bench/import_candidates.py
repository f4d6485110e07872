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
        with system.rpc() as rpc:
            started = time.monotonic()
            report = run_import("candidates", source, "dev-gemeente-enschede", args.batch_size,
                                amqp_uri=system.amqp_uri)
            imported_at = time.monotonic()
            eventually(lambda: rpc.matching.index_size()["candidates"] >= n, timeout=600, interval=0.5,
                       what="matching to index every candidate")
            indexed_at = time.monotonic()
            eventually(lambda: rpc.reporting.outflow()["enrolled"] >= n, timeout=600, interval=0.5,
                       what="reporting to count every candidate")
            counted_at = time.monotonic()
        assert report.imported == n, report
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
