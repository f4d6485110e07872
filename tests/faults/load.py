"""Placements as partners record them, a few callers at once, and what must hold afterwards."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import eventlet
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from tests.integration.harness import eventually, register_jobcoaches
from werkbrug_shared import actor, config, refdata
from werkbrug_shared.errors import Conflict, NotFound, ValidationError

PARTNER = "dev-gemeente-enschede"
PLACEMENT_RECORDED = "nl.werkbrug.placement.recorded.v1"
SKILLS = sorted(refdata.skills())
START_DATE = "2026-03-02"  # weeks after the system's fixed date (conftest): plans weigh nothing on coaches yet
PROTOCOL_TASKS = 8  # config.yml AFTERCARE_PROTOCOL


class Scenario:
    """A region of its own: an employer, vacancies with room for every candidate, jobcoaches, candidates."""

    def __init__(self, system, candidates: int, vacancies: int = 10):
        self.system = system
        self.region = f"regio-{uuid.uuid4().hex[:8]}"
        self.cohort = f"fault-{uuid.uuid4().hex[:6]}"
        with system.rpc(PARTNER) as rpc:
            employer = rpc.vacancies.register_employer({
                "name": "Facilitair BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": self.region})
            per_vacancy = -(-candidates // vacancies)
            self.vacancies = [rpc.vacancies.open({
                "employer_id": employer["id"], "title": f"medewerker {i}", "region": self.region,
                "postcode": "7511 JD", "skills_required": [SKILLS[1]], "hours_per_week": 32,
                "openings": min(1000, per_vacancy + 10),
            })["id"] for i in range(vacancies)]
            self.candidates = []
            for start in range(0, candidates, 1000):
                rows = [{"source_ref": f"{self.cohort}-{i}", "given_name": "Kandidaat", "family_name": f"Fout{i}",
                         "region": self.region, "postcode": "7512 AB", "target_groups": ["bijstand"],
                         "skills": [SKILLS[1], SKILLS[10 + i % 50]], "hours_per_week": 32, "cohort": self.cohort}
                        for i in range(start, min(candidates, start + 1000))]
                results = rpc.candidates.register_many(rows)
                assert all("id" in r and not r.get("existing") for r in results), results[:3]
                self.candidates += [r["id"] for r in results]
        self.jobcoaches = register_jobcoaches(system, self.region, 2)
        self.wait_indexed()

    def wait_indexed(self):
        """Until matching's tables hold every candidate and vacancy (what record_placement reads)."""
        def indexed():
            candidates = self.system.sql("matching", "SELECT count(*) FROM indexed_candidates "
                                                     "WHERE candidate_id = ANY(%s)", self.candidates)[0][0]
            vacancies = self.system.sql("matching", "SELECT count(*) FROM indexed_vacancies "
                                                    "WHERE vacancy_id = ANY(%s)", self.vacancies)[0][0]
            return candidates == len(self.candidates) and vacancies == len(self.vacancies)

        eventually(indexed, timeout=120, interval=0.5, what="matching to index the candidates and vacancies")

    def jobs(self):
        """(candidate, vacancy) pairs, the vacancies in turn."""
        return [(c, self.vacancies[i % len(self.vacancies)]) for i, c in enumerate(self.candidates)]


@dataclass
class Outcomes:
    placed: dict = field(default_factory=dict)  # candidate -> placement id, as the caller saw it succeed
    vacancy_of: dict = field(default_factory=dict)  # candidate -> vacancy, for every call made
    unknown: list = field(default_factory=list)  # no answer in the end, or (without request_id) a retry's Conflict
    conflict_on_retry: list = field(default_factory=list)  # with request_id: a retry refused; must never happen
    refused: list = field(default_factory=list)
    retries: Counter = field(default_factory=Counter)  # why a call was sent again
    crash_loop_refusals: list = field(default_factory=list)  # refused as a request that stopped the service twice
    request_id: bool | None = None  # whether matching takes the idempotency key (None: not yet known)
    first_ok: float | None = None
    last_ok: float | None = None


class Load:
    """``callers`` partners recording placements over RPC, each with its own client.

    A call that times out or whose connection fails is sent again with the same
    ``request_id``: matching must answer it with the same placement, never make a
    second one. ``done()`` says when to stop taking new work (at least ``minimum``).
    """

    def __init__(self, system, jobs, callers: int = 4, minimum: int = 1000, done=lambda: True,
                 timeout: float = 20, pace_after_minimum: float = 0.0):
        self.system, self.minimum, self.done, self.timeout = system, minimum, done, timeout
        self.pace = pace_after_minimum  # once ``minimum`` is reached, each caller waits this long between calls
        self.jobs = iter(jobs)
        self.callers = callers
        self.out = Outcomes()
        self.in_flight = 0
        self._threads = []
        self.stopped = False

    def _proxy(self):
        cfg = config.nameko_config(AMQP_URI=self.system.amqp_uri)
        return ClusterRpcProxy(cfg, context_data=actor.context(PARTNER), timeout=self.timeout)

    def start(self):
        self._threads = [eventlet.spawn(self._caller) for _ in range(self.callers)]
        return self

    def wait(self, timeout: float):
        """Until the callers are done, or ``timeout``: then no new work is taken and what is in
        flight is waited for (a call being retried has its own deadline)."""
        deadline = time.monotonic() + timeout
        while any(not t.dead for t in self._threads) and time.monotonic() < deadline:
            eventlet.sleep(0.5)
        self.stopped = True
        for thread in self._threads:
            thread.wait()
        return self.out

    def stop(self):
        self.stopped = True

    def enough(self) -> bool:
        return self.stopped or (len(self.out.placed) >= self.minimum and self.done())

    def _caller(self):
        proxy_cm, proxy = None, None
        try:
            while not self.enough():
                if self.pace and len(self.out.placed) >= self.minimum:
                    eventlet.sleep(self.pace)
                job = next(self.jobs, None)
                if job is None:
                    return
                if proxy is None:
                    proxy_cm = self._proxy()
                    proxy = proxy_cm.start()
                self.in_flight += 1
                try:
                    proxy = self._place(proxy_cm, proxy, *job)
                    if proxy is None:
                        proxy_cm = None
                finally:
                    self.in_flight -= 1
        finally:
            if proxy_cm is not None:
                _quietly_stop(proxy_cm)

    def _place(self, proxy_cm, proxy, candidate, vacancy):
        """Record one placement, sending it again until it has an answer; returns the proxy to go on with."""
        out = self.out
        out.vacancy_of[candidate] = vacancy
        request_id = str(uuid.uuid4())
        retried = False
        deadline = time.monotonic() + 300
        while True:
            payload = {"candidate_id": candidate, "vacancy_id": vacancy, "start_date": START_DATE,
                       "hours_per_week": 32}
            if out.request_id is not False:
                payload["request_id"] = request_id
            try:
                if proxy is None:
                    proxy_cm = self._proxy()
                    proxy = proxy_cm.start()
                placement = proxy.matching.record_placement(payload)
            except ValidationError as exc:
                if "request_id" in exc.errors and out.request_id is None:
                    out.request_id = False  # not (yet) part of the contract: go on without it
                    continue
                out.refused.append((candidate, str(exc)))
                return proxy
            except Conflict as exc:
                if "stopped the service twice" in str(exc):
                    # the crash-loop guard: this delivery was in an instance's hands at two of its deaths
                    # (nothing changed, it says); a caller sends it again, with the same request_id
                    out.retries["refused as crash-looping"] += 1
                    out.crash_loop_refusals.append(candidate)
                    retried = True
                    eventlet.sleep(0.5)
                    continue
                if retried and out.request_id:
                    out.conflict_on_retry.append((candidate, str(exc)))
                elif retried:
                    out.unknown.append((candidate, f"retry refused: {exc}"))  # placed by the lost call, or not
                else:
                    out.refused.append((candidate, str(exc)))
                return proxy
            except (RpcTimeout, RemoteError, UnknownService, OSError, ConnectionError, Exception) as exc:
                if isinstance(exc, NotFound):
                    out.refused.append((candidate, str(exc)))
                    return proxy
                # no answer, or the service failed: the same request again, on a fresh connection
                out.retries[type(exc).__name__] += 1
                retried = True
                if proxy_cm is not None:
                    _quietly_stop(proxy_cm)
                proxy_cm, proxy = None, None
                if time.monotonic() > deadline:
                    out.unknown.append((candidate, f"gave up: {type(exc).__name__}: {exc}"))
                    return None
                eventlet.sleep(0.5)
                continue
            if out.request_id is None:
                out.request_id = "request_id" in payload
            out.placed[candidate] = placement["id"]
            now = time.monotonic()
            out.first_ok = out.first_ok or now
            out.last_ok = now
            return proxy


def _quietly_stop(proxy_cm):
    try:
        with eventlet.Timeout(5):
            proxy_cm.stop()
    except BaseException:  # noqa: S110 (a client on a dead connection: nothing to close cleanly)
        pass


# --- what must hold once the system settled -------------------------------------------------------------


def state(system, scenario, outcomes: Outcomes) -> dict:
    """Every figure the guarantees speak of, read from each service's own database."""
    candidates = scenario.candidates
    placements = system.sql("matching", "SELECT id, candidate_id, vacancy_id FROM placements "
                                        "WHERE candidate_id = ANY(%s)", candidates)
    per_candidate = Counter(c for _, c, _ in placements)
    ids = {p for p, _, _ in placements}
    seen = outcomes.placed
    lost = sorted(c for c, p in seen.items() if p not in ids)
    doubled = sorted(c for c, n in per_candidate.items() if n > 1)
    plans = system.sql("aftercare", "SELECT p.placement_id, count(t.id) FROM aftercare_plans p "
                                    "LEFT JOIN aftercare_tasks t ON t.plan_id = p.id WHERE p.region = %s "
                                    "GROUP BY p.id, p.placement_id", scenario.region)
    plans_per_placement = Counter(p for p, _ in plans)
    tasks = {p: n for p, n in plans}
    statuses = dict(system.sql("candidates", "SELECT id, status FROM candidates WHERE id = ANY(%s)", candidates))
    filled = dict(system.sql("vacancies", "SELECT id, openings_filled FROM vacancies WHERE id = ANY(%s)",
                             scenario.vacancies))
    per_vacancy = Counter(v for _, _, v in placements)
    stored = system.sql("reporting", "SELECT count(*), count(DISTINCT subject) FROM event_store "
                                     "WHERE type = %s AND subject = ANY(%s)", PLACEMENT_RECORDED, sorted(ids))[0]
    with system.rpc(PARTNER) as rpc:
        outflow = rpc.reporting.outflow(cohort=scenario.cohort, suppress=False)
    placed_candidates = set(per_candidate)
    return {
        "placements": len(placements),
        "seen_ok": len(seen),
        "lost": lost,
        "doubled": doubled,
        "plans_missing": sorted(ids - set(plans_per_placement)),
        "plans_doubled": sorted(p for p, n in plans_per_placement.items() if n > 1),
        "plans_wrong_tasks": sorted(p for p, n in tasks.items() if n != PROTOCOL_TASKS),
        "plans_without_placement": sorted(set(plans_per_placement) - ids),
        "tasks": sum(tasks.values()),
        "status_wrong": sorted(c for c in candidates if (statuses.get(c) == "placed") != (c in placed_candidates)),
        "filled_wrong": sorted(v for v in scenario.vacancies if filled.get(v) != per_vacancy.get(v, 0)),
        "reporting_placed": outflow["placed"],
        "reporting_stored": stored,
        "outbox_unsent": unsent_outbox(system),
    }


def unsent_outbox(system) -> dict:
    return {s: n for s in config.DATABASE_SERVICES
            if (n := system.sql(s, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0])}


def problems(st: dict) -> dict:
    """What in ``state`` breaks a guarantee (empty when all holds)."""
    bad = {k: v for k, v in st.items() if isinstance(v, list | dict) and v}
    n = st["placements"]
    if st["reporting_placed"] != n:
        bad["reporting_placed"] = (st["reporting_placed"], n)
    if tuple(st["reporting_stored"]) != (n, n):
        bad["reporting_stored"] = (st["reporting_stored"], n)
    if st["tasks"] != n * PROTOCOL_TASKS:
        bad["tasks"] = (st["tasks"], n * PROTOCOL_TASKS)
    return bad


def short(value, n: int = 5):
    if isinstance(value, list) and len(value) > n:
        return [*value[:n], f"... {len(value)} in all"]
    return value


def summarise(bad: dict) -> dict:
    return {k: short(v) for k, v in bad.items()}


def chunks(seq, n):
    it = iter(seq)
    while batch := list(itertools.islice(it, n)):
        yield batch
