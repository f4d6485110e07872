"""What the HTTP gateway adds to an RPC: the same operations over HTTP and over RPC directly.

    .venv/bin/python bench/gateway.py            # 2,000 calls per operation, transport and concurrency
    .venv/bin/python bench/gateway.py --quick    # 200, under a minute

Every service runs as its own `nameko run` process against RabbitMQ and PostgreSQL
(private vhost and databases, dropped afterwards), as in the integration tests, with
the gateway's rate limit off (it would refuse the bench, as it should). Each operation is
called by 1 and by 10 concurrent clients, each client its own keep-alive HTTP session or
its own RPC proxy (green threads, as nameko's own clients are), after a warm-up:

- a candidate (`GET /v1/candidates/{id}` / `candidates.get`): a read of personal data,
- a ranking (`GET /v1/vacancies/{id}/candidates?limit=10` / `matching.candidates_for_vacancy`),
- the board's version (`GET /v1/board/version` / `reporting.board_version`): public, the lightest.

The gateway's share is the HTTP p50 less the RPC p50 of the same operation; goal: at most
1 ms at p50 (issue 18). Both clients run on this machine, so the figures include their own
CPU (a 2-core machine: with 10 clients the clients compete with the services).
The last line holds the headline figures.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import eventlet  # noqa: E402

eventlet.monkey_patch()

from tests.browser.system import start_all  # noqa: E402
from tests.integration.harness import System, eventually, matching_has  # noqa: E402

CREDENTIAL = "dev-gemeente-enschede"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
CONCURRENCY = (1, 10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def seed(system: System) -> tuple[str, str]:
    """One candidate and one vacancy they fit, indexed by matching."""
    with system.rpc(CREDENTIAL, "bench") as rpc:
        candidate = rpc.candidates.register({
            "given_name": "Bench", "family_name": "Gateway", "region": "Bench", "postcode": "7511 AB",
            "target_groups": ["bijstand"], "hours_per_week": 24, "skills": [CLEAN], "cohort": "bench-1"})
        employer = rpc.vacancies.register_employer({"name": "Bench BV", "kvk_number": "87654321", "region": "Bench"})
        vacancy = rpc.vacancies.open({
            "employer_id": employer["id"], "title": "medewerker", "region": "Bench", "postcode": "7511 JD",
            "skills_required": [CLEAN], "hours_per_week": 24, "openings": 1})
        eventually(lambda: matching_has(rpc, vacancy["id"], [candidate["id"]]), timeout=60,
                   what="matching to index the bench's candidate and vacancy")
    return candidate["id"], vacancy["id"]


def operations(candidate_id: str, vacancy_id: str) -> dict:
    """name -> (HTTP path, RPC call on a proxy)."""
    return {
        "candidate": (f"/v1/candidates/{candidate_id}", lambda rpc: rpc.candidates.get(candidate_id)),
        "ranking": (f"/v1/vacancies/{vacancy_id}/candidates?limit=10",
                    lambda rpc: rpc.matching.candidates_for_vacancy(vacancy_id, 10, {})),
        "board_version": ("/v1/board/version", lambda rpc: rpc.reporting.board_version()),
    }


def over_http(system: System, path: str, calls: int, clients: int, warm_up: int) -> list[float]:
    """A lean keep-alive client (http.client), so the figure is the gateway's and not a client
    library's: `requests` alone takes about half a millisecond a call here."""
    headers = {"Authorization": f"Bearer {CREDENTIAL}", "Accept": "application/json"}
    times: list[float] = []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", system.http_port, timeout=30)
        try:
            for i in range(warm_up + n):
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                answer = conn.getresponse()
                body = answer.read()
                took = time.perf_counter() - started
                if answer.status != 200:
                    raise SystemExit(f"GET {path}: {answer.status} {body[:300]!r}")
                if i >= warm_up:
                    times.append(took)
        finally:
            conn.close()

    run_clients(client, calls, clients)
    return times


def over_rpc(system: System, call, calls: int, clients: int, warm_up: int) -> list[float]:
    times: list[float] = []

    def client(n: int) -> None:
        with system.rpc(CREDENTIAL, "bench") as rpc:
            for i in range(warm_up + n):
                started = time.perf_counter()
                call(rpc)
                took = time.perf_counter() - started
                if i >= warm_up:
                    times.append(took)

    run_clients(client, calls, clients)
    return times


def run_clients(client, calls: int, clients: int) -> None:
    pool = eventlet.GreenPool(clients)
    share = [calls // clients + (1 if i < calls % clients else 0) for i in range(clients)]
    for n in share:
        pool.spawn(client, n)
    pool.waitall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000,
                        help="measured calls per operation, transport and concurrency")
    parser.add_argument("--quick", action="store_true", help="200 calls each: under a minute")
    args = parser.parse_args()
    calls = 200 if args.quick else args.calls
    warm_up = 20

    system = System(extra_env={"WERKBRUG_RATE_LIMIT": "off"})
    system.create()
    try:
        start_all(system)
        candidate_id, vacancy_id = seed(system)
        rows, overheads = [], {}
        for clients in CONCURRENCY:
            for name, (path, call) in operations(candidate_id, vacancy_id).items():
                rpc_ms = [t * 1000 for t in over_rpc(system, call, calls, clients, warm_up)]
                http_ms = [t * 1000 for t in over_http(system, path, calls, clients, warm_up)]
                rpc50, rpc99 = percentile(rpc_ms, 50), percentile(rpc_ms, 99)
                http50, http99 = percentile(http_ms, 50), percentile(http_ms, 99)
                overheads[(name, clients)] = http50 - rpc50
                rows.append((name, clients, rpc50, rpc99, http50, http99))
                print(f"  {name:<14} clients {clients:>2}: RPC p50 {rpc50:6.2f} p99 {rpc99:6.2f} ms | "
                      f"HTTP p50 {http50:6.2f} p99 {http99:6.2f} ms | gateway adds {http50 - rpc50:+.2f} ms at p50")
    finally:
        system.destroy()

    print(f"\n{calls} calls per operation, transport and concurrency (after {warm_up} warm-up calls per client)")
    print(f"{'operation':<14} {'clients':>7} {'RPC p50':>8} {'RPC p99':>8} {'HTTP p50':>9} {'HTTP p99':>9} "
          f"{'added p50':>10}")
    for name, clients, rpc50, rpc99, http50, http99 in rows:
        print(f"{name:<14} {clients:>7} {rpc50:8.2f} {rpc99:8.2f} {http50:9.2f} {http99:9.2f} {http50 - rpc50:+10.2f}")
    single = [overheads[(name, 1)] for name in ("candidate", "ranking", "board_version")]
    worst = max(single)
    print(f"goal: the gateway adds <= 1 ms at p50 (1 client): {'met' if worst <= 1.0 else 'NOT met'} "
          f"(worst {worst:.2f} ms)")
    by = {(name, clients): (rpc50, http50) for name, clients, rpc50, _, http50, _ in rows}
    print("RESULT added_p50_ms={:.2f} added_p50_ms_10_clients={:.2f} candidate_http_p50_ms={:.2f} "
          "candidate_rpc_p50_ms={:.2f} ranking_http_p50_ms={:.2f} ranking_rpc_p50_ms={:.2f} calls={}".format(
              worst, max(overheads[(n, 10)] for n in ("candidate", "ranking", "board_version")),
              by[("candidate", 1)][1], by[("candidate", 1)][0], by[("ranking", 1)][1], by[("ranking", 1)][0], calls))


if __name__ == "__main__":
    main()
