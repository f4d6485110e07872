"""The through-RPC half of bench/matching.py: the same generated profiles in a
running matching service (`nameko run`, real RabbitMQ and PostgreSQL, private
vhost and database), timed by the caller over RPC.

The profiles are written into matching's own tables, exactly as its event
handlers store them, and the service is then started: it builds its index from
those rows, which is also how it starts in production after a restart.
"""

from __future__ import annotations

import io
import json
import time

import eventlet
from nameko.exceptions import RpcTimeout

from tests.integration.harness import System, eventually

CANDIDATE_COLUMNS = ("candidate_id", "region", "pc4", "target_groups", "skills", "hours_per_week", "conditions",
                     "cohort", "in_pool", "profile")
VACANCY_COLUMNS = ("vacancy_id", "employer_id", "region", "pc4", "skills_required", "hours_per_week", "openings",
                   "status", "profile")


def _copy(conn, table: str, columns, rows) -> None:
    """COPY in chunks, in PostgreSQL's text format (JSON values escaped for it)."""
    def text(value):
        if value is None:
            return r"\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    buffer, count = io.StringIO(), 0
    with conn.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                buffer.write("\t".join(text(v) for v in row) + "\n")
                count += 1
                if count % 20_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
    conn.commit()


def candidate_row(event: dict) -> tuple:
    return (event["candidate_id"], event["region"], event["pc4"], event["target_groups"], event["skills"],
            event["hours_per_week"], event["conditions"], event.get("cohort"), True, event)


def vacancy_row(event: dict) -> tuple:
    return (event["vacancy_id"], event["employer_id"], event["region"], event["pc4"], event["skills_required"],
            event["hours_per_week"], event["openings"], event.get("status", "open"), event)


def rpc_latencies(candidate_events, vacancy_events, vacancy_ids, limit: int = 10) -> tuple[list[float], float]:
    """Seconds per ``matching.candidates_for_vacancy`` call over RPC, and the service's start-up
    (index built from its database) in seconds."""
    system = System()
    system.create()
    try:
        with system.connect_db("matching") as conn:
            _copy(conn, "indexed_vacancies", VACANCY_COLUMNS, (vacancy_row(v) for v in vacancy_events))
            _copy(conn, "indexed_candidates", CANDIDATE_COLUMNS, (candidate_row(c) for c in candidate_events))
        started = time.perf_counter()
        system.start("matching")
        with system.rpc() as rpc:
            def built():
                # a call waits for the index to be built from the tables, which may outlast its timeout
                try:
                    return rpc.matching.index_size()["candidates"] == len(candidate_events)
                except RpcTimeout:
                    return False

            eventually(built, timeout=600, interval=0.5, what="matching to build its index")
            start_up = time.perf_counter() - started
            for vacancy_id in vacancy_ids[:20]:
                rpc.matching.candidates_for_vacancy(vacancy_id, limit)
            trivial = []
            for _ in range(100):
                began = time.perf_counter()
                rpc.matching.fairness()
                trivial.append(time.perf_counter() - began)
            trivial.sort()
            print(f"rpc: a trivial call (fairness) takes p50 {trivial[50] * 1000:.2f} ms")
            latencies = []
            for vacancy_id in vacancy_ids:
                began = time.perf_counter()
                rpc.matching.candidates_for_vacancy(vacancy_id, limit)
                latencies.append(time.perf_counter() - began)
                eventlet.sleep(0)
        return latencies, start_up
    finally:
        system.destroy()
