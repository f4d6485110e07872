"""Bad input, as a hostile partner would send it, through the real services.

Every partner operation of every service (README's table) and every gateway
route is called with generated arguments: a third valid, a third almost valid,
a third hostile (see ``generate.py``), as partners of two regions, as the
coaching organisation, without a credential and with credentials that are not
credentials. Asserted:

- no unhandled error: every call answers, with a result or one of the
  documented errors (ValidationError, NotFound, Conflict, Forbidden,
  Unauthorized; over HTTP 400/401/403/404/409); a RemoteError of any other
  kind, a time-out or an HTTP 500 fails the test, naming the operation and
  the payload;
- every ValidationError names its fields;
- a credential that is not one is Unauthorized, whatever its type;
- no service died;
- no partial write: each refused call that may write is sent again on a quiet
  system (every outbox relayed, every queue empty, the timers far off), and the
  row count of every table of the called service is the same after it as
  before. A refusal repeated on a quiet system is the same refusal (validation
  is deterministic), and nothing else writes meanwhile, so a changed count is
  the call's own doing.

``WERKBRUG_FUZZ_CALLS`` sets the number of calls (10,000 by default);
``WERKBRUG_FUZZ_SEED`` the seed; ``WERKBRUG_FUZZ_WRITE_CHECKS`` how many refused
writes are checked again (1,000 by default).
"""

from __future__ import annotations

import collections
import os
import random
import subprocess
import sys
import time
import uuid

import eventlet
import pytest
import requests
from kombu.exceptions import EncodeError
from nameko.exceptions import RemoteError, RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from tests.fuzz.generate import HOSTILE, KINDS, VALID, Gen
from tests.fuzz.operations import SCHEMAS, make_call, make_request, ops, routes
from tests.integration.harness import eventually, matching_has, register_jobcoaches
from werkbrug_shared import config, deadletters
from werkbrug_shared.actor import CREDENTIAL, PROFESSIONAL
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError

CALLS = int(os.environ.get("WERKBRUG_FUZZ_CALLS", "10000"))
SEED = int(os.environ.get("WERKBRUG_FUZZ_SEED", "20261206"))
WRITE_CHECKS = int(os.environ.get("WERKBRUG_FUZZ_WRITE_CHECKS", "1000"))
CALLERS = 16  # concurrent callers, each with its own connections
HTTP_SHARE = 0.15
DOCUMENTED = (ValidationError, NotFound, Conflict, Forbidden, Unauthorized)
# and the web server's own answers to a request line too long (414) or a body too big (413) to read,
# and to a path that names another route (405: an id of ".." leads the client to /v1/candidates);
# the HTTP rules' refusals of a media type (415), an Accept (406) and a rate (429)
HTTP_DOCUMENTED = {200, 201, 204, 400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 429}

ENSCHEDE, UTRECHT, SOWECO = "dev-gemeente-enschede", "dev-gemeente-utrecht", "dev-soweco"
# context data that is not a credential (or not text): each must be refused as Unauthorized
BAD_CREDENTIALS = {"true": True, "a list": [ENSCHEDE], "an object": {"id": ENSCHEDE}, "a number": 1.5,
                   "a surrogate": "\udfff", "a NUL": ENSCHEDE + "\x00", "unknown": "dev-nobody"}
SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"


def summary(value, limit: int = 160) -> str:
    """What a failure names: the payload, cut short and escaped (no raw NULs or surrogates)."""
    text = ascii(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


# --- a few of everything to call the operations on ---------------------------------------------------


def seed(system) -> dict:
    """Both regions' partners register employers, vacancies, candidates, a trajectory and a
    cohort; matches and placements follow, and with them aftercare's plans and tasks."""
    pools = collections.defaultdict(list)
    register_jobcoaches(system, "Twente", n=3)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede, system.rpc(UTRECHT, "klantmanager-1") as utrecht:
        for rpc, region, postcode in ((enschede, "Twente", "7511 JD"), (utrecht, "Midden-Utrecht", "3511 AB")):
            employer = rpc.vacancies.register_employer({
                "name": f"Werkgever {region}", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": region})
            pools["employer"].append(employer["id"])
            for visibility in ("public", "internal", "hidden"):
                pools["vacancy"].append(rpc.vacancies.open({
                    "employer_id": employer["id"], "title": f"medewerker {visibility}", "region": region,
                    "postcode": postcode, "skills_required": [SKILL], "hours_per_week": 24, "openings": 50,
                    "visibility": visibility})["id"])
            for i in range(6):
                pools["candidate"].append(rpc.candidates.register({
                    "given_name": f"Kandidaat{i}", "family_name": "Fuzz", "region": region, "postcode": postcode,
                    "target_groups": ["bijstand"], "skills": [SKILL], "hours_per_week": 24})["id"])
        trajectory = enschede.candidates.define_trajectory({
            "name": f"werkfit-{uuid.uuid4().hex[:6]}", "weeks": 12,
            "modules": [{"code": "VCA", "name": "VCA basis"}, {"code": "NT2", "name": "Taal"}]})
        pools["trajectory"].append(trajectory["id"])
        pools["trajectory_name"].append(trajectory["name"])
        cohort = enschede.candidates.start_cohort({
            "trajectory_id": trajectory["id"], "name": f"cohort-{uuid.uuid4().hex[:6]}", "start_date": "2027-01-11",
            "region": "Twente"})
        pools["cohort"].append(cohort["id"])
        pools["cohort_name"].append(cohort["name"])
        enschede.candidates.enrol(pools["candidate"][0], cohort["id"])
        twente_vacancy = pools["vacancy"][0]
        eventually(lambda: matching_has(enschede, twente_vacancy, pools["candidate"][:6]), what="matching to index")
        for candidate in pools["candidate"][:3]:
            pools["match"].append(enschede.matching.propose(candidate, twente_vacancy)["id"])
        # the last two start on the first and the last day any date field takes: every service
        # downstream (aftercare's plan, reporting's periods) must take them too
        for candidate, start in zip(pools["candidate"][2:6], ("0001-01-01", "2027-01-04", "2027-01-04", "9999-12-31"),
                                    strict=True):
            pools["placement"].append(enschede.matching.record_placement({
                "candidate_id": candidate, "vacancy_id": twente_vacancy, "start_date": start,
                "hours_per_week": 24})["id"])
    with system.rpc(SOWECO) as soweco:
        pools["jobcoach"] = [c["id"] for c in soweco.aftercare.jobcoaches("Twente")]
        plans = [eventually(lambda p=p: _plan(soweco, p), what="the aftercare plans") for p in pools["placement"]]
    pools["plan"] = [p["id"] for p in plans]
    pools["task"] = [t["id"] for p in plans for t in p["tasks"]]
    pools["asset"] = ["board.js", "board.css", "favicon.svg", "../index.html"]
    return dict(pools)


def _plan(rpc, placement_id):
    try:
        return rpc.aftercare.plan_for_placement(placement_id)
    except NotFound:
        return None


# --- calling ------------------------------------------------------------------------------------------


class Caller:
    """One concurrent caller: its own RPC connections per credential and its own HTTP session."""

    def __init__(self, system):
        self.system, self.proxies, self.http = system, {}, requests.Session()

    def rpc(self, label: str, context: dict | None):
        if label not in self.proxies:
            proxy = ClusterRpcProxy(config.nameko_config(AMQP_URI=self.system.amqp_uri), context_data=context,
                                    timeout=30)
            self.proxies[label] = (proxy, proxy.start())
        return self.proxies[label][1]

    def close(self):
        for proxy, _ in self.proxies.values():
            proxy.stop()
        self.http.close()


def credential_for(op, gen: Gen, kind: str) -> tuple[str, dict | None]:
    rng = gen.rng
    roll = rng.random()
    if kind == HOSTILE and roll < 0.25:
        label = rng.choice(sorted(BAD_CREDENTIALS))
        return f"bad credential: {label}", {CREDENTIAL: BAD_CREDENTIALS[label]}
    if roll < 0.05:
        return "no credential", None
    if roll < 0.2:
        return UTRECHT, {CREDENTIAL: UTRECHT}
    if kind != VALID and roll < 0.25:  # a professional who is not text
        professional = rng.choice(["pro\x00", "\udfff", {"id": "p-1"}, ["p-1"]])
        return f"{op.credential} + bad professional", {CREDENTIAL: op.credential, PROFESSIONAL: professional}
    return op.credential, {CREDENTIAL: op.credential, PROFESSIONAL: "professional-1"}


def call_rpc(caller: Caller, op, label: str, context, args, kwargs) -> tuple[str, str | None]:
    """(outcome, failure or None)."""
    proxy = caller.rpc(label, context)
    try:
        getattr(getattr(proxy, op.service), op.name)(*args, **kwargs)
    except ValidationError as exc:
        if not exc.errors:
            return "ValidationError", "a ValidationError naming no field"
        outcome = "ValidationError"
    except DOCUMENTED as exc:
        outcome = type(exc).__name__
    except RpcTimeout:
        caller.proxies.pop(label, None)  # its reply may still come: a fresh connection for the next call
        return "timeout", "no answer within 30 s"
    except RemoteError as exc:
        return f"RemoteError {exc.exc_type}", f"{exc.exc_type}: {summary(exc.value, 300)}"
    except EncodeError:
        return "unsendable", None  # the client's codec refused it: never reached a service
    else:
        outcome = "ok"
    if label.startswith("bad credential") and outcome != "Unauthorized":
        return outcome, f"a {label} was not refused as Unauthorized"
    return outcome, None


def call_http(caller: Caller, route, gen: Gen, kind: str) -> tuple[str, str | None]:
    path, data, query = make_request(route, gen, kind)
    headers = {"Authorization": gen.rng.choice(["Bearer dev-gemeente-enschede"] * 3 + [
        "Bearer dev-soweco", "Bearer nobody", "Basic x", ""])}
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        response = caller.http.request(route.method, f"http://127.0.0.1:{caller.system.http_port}{path}",
                                       params=query, data=data, headers=headers, timeout=30)
    except requests.Timeout:
        return "HTTP timeout", f"no answer within 30 s to {route.method} {summary(path)}"
    status = response.status_code
    outcome = f"HTTP {status}"
    if status not in HTTP_DOCUMENTED:
        return outcome, f"{route.method} {summary(path)} body {summary(data)}: {status} {summary(response.text, 200)}"
    if status == 400 and response.headers.get("Content-Type", "").startswith(
            ("application/json", "application/problem+json")):
        body = response.json()
        if body.get("error") == "ValidationError" and not body.get("errors"):
            return outcome, f"{route.method} {summary(path)}: a 400 naming no field"
    return outcome, None


# --- quiet: nothing left to do anywhere ------------------------------------------------------------


def queue_backlog(system) -> tuple[int, dict]:
    """(messages waiting or in work on every queue but the dead-letter queues, dead letters per queue)."""
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", system.vhost, "name", "messages"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    busy, dead = 0, {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            continue
        if parts[0].endswith(".dlq"):
            if int(parts[1]):
                dead[parts[0]] = int(parts[1])
        elif not parts[0].startswith("rpc.reply"):
            busy += int(parts[1])
    return busy, dead


def wait_quiet(system, timeout: float = 60) -> dict:
    """Every outbox relayed and every queue empty, twice in a row; returns the dead letters per queue."""
    def quiet():
        unsent = sum(system.sql(s, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
                     for s in config.DATABASE_SERVICES)
        busy, dead = queue_backlog(system)
        return (unsent == 0 and busy == 0) and (dead,)

    eventually(quiet, timeout=timeout, interval=0.5, what="the system to settle")
    time.sleep(0.5)
    return eventually(quiet, timeout=timeout, interval=0.5, what="the system to stay settled")[0]


class RowCounts:
    """Row counts of every table of one service's database, in one query."""

    def __init__(self, system, service: str):
        self.conn = system.connect_db(service)
        self.conn.autocommit = True
        tables = [r[0] for r in self.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        # table names from the catalogue, not from input
        self.query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)  # noqa: S608

    def __call__(self) -> dict:
        return dict(self.conn.execute(self.query).fetchall())


# --- the test -----------------------------------------------------------------------------------------


def alive(system) -> list[str]:
    return [f"{name} exited with {proc.returncode}" for name, proc in system.procs.items() if proc.poll() is not None]


def test_generated_bad_input_is_refused_cleanly_and_writes_nothing(fuzz_system):
    system = fuzz_system
    started = time.monotonic()
    pools = seed(system)
    seeded = time.monotonic()
    rng = random.Random(SEED)
    operations, http_routes = ops(), routes()
    plan = []  # (kind, op or route, is_http), decided up front so the calls are the seed's alone
    for i in range(CALLS):
        kind = KINDS[i % 3]
        if rng.random() < HTTP_SHARE:
            plan.append((kind, rng.choice(http_routes), True, rng.randrange(2**32)))
        else:
            plan.append((kind, operations[i % len(operations)], False, rng.randrange(2**32)))

    outcomes = collections.Counter()
    by_kind = collections.Counter()
    failures = []
    refused_writes = []

    def work(queue):
        caller = Caller(system)
        try:
            while queue:
                kind, target, is_http, call_seed = queue.pop()
                gen = Gen(random.Random(call_seed), pools, region=random.Random(call_seed).choice(
                    ["Twente", "Twente", "Midden-Utrecht"]), schemas=SCHEMAS)
                if is_http:
                    outcome, failure = call_http(caller, target, gen, kind)
                    where = f"HTTP {target.method} {target.path} ({kind})"
                else:
                    label, context = credential_for(target, gen, kind)
                    args, kwargs = make_call(target, gen, kind)
                    outcome, failure = call_rpc(caller, target, label, context, args, kwargs)
                    where = f"{target.service}.{target.name} ({kind}, as {label}) args={summary(args)} " \
                            f"kwargs={summary(kwargs)}"
                    if target.writes and outcome in ("ValidationError", "NotFound", "Conflict", "Forbidden",
                                                     "Unauthorized"):
                        refused_writes.append((target, label, context, args, kwargs, outcome))
                outcomes[outcome] += 1
                by_kind[kind, "refused" if outcome not in ("ok", "HTTP 200", "HTTP 201") else "ok"] += 1
                if failure:
                    failures.append(f"{where}: {failure}")
        finally:
            caller.close()

    queue = list(reversed(plan))
    pool = eventlet.GreenPool(CALLERS)
    for _ in range(CALLERS):
        pool.spawn(work, queue)
    pool.waitall()
    called = time.monotonic()
    died = alive(system)

    # --- no partial write: the refused writes again, one at a time, on a quiet system ---
    dead_letters = wait_quiet(system)
    counters = {s: RowCounts(system, s) for s in config.DATABASE_SERVICES}
    checked = changed_outcome = 0
    partial = []
    caller = Caller(system)
    last = {}  # per service, the counts after its last refused call: the next one's "before"
    try:
        for target, label, context, args, kwargs, first in random.Random(SEED).sample(
                refused_writes, min(WRITE_CHECKS, len(refused_writes))):
            count = counters[target.service]
            before = last.get(target.service) or count()
            outcome, failure = call_rpc(caller, target, label, context, args, kwargs)
            if failure:
                failures.append(f"{target.service}.{target.name} (again, as {label}): {failure}")
            if outcome == "ok":  # the state moved on since (e.g. a vacancy closed): not a refusal now
                changed_outcome += 1
                wait_quiet(system)
                last.clear()  # its events may have written anywhere
                continue
            after = last[target.service] = count()
            if after != before:
                moved = {t: (before.get(t), after.get(t)) for t in after if after.get(t) != before.get(t)}
                partial.append(f"{target.service}.{target.name} ({first}, as {label}) args={summary(args)} "
                               f"kwargs={summary(kwargs)}: {moved}")
            checked += 1
    finally:
        caller.close()
    died += [d for d in alive(system) if d not in died]
    finished = time.monotonic()

    print(f"\nfuzz: {CALLS} calls (seed {SEED}, {CALLERS} callers) in {called - seeded:.1f} s "
          f"({CALLS / max(called - seeded, 1e-9):.0f} calls/s); seeding {seeded - started:.1f} s")
    print("fuzz: by kind:", dict(sorted(by_kind.items())))
    print("fuzz: outcomes:", dict(outcomes.most_common()))
    print(f"fuzz: failures {len(failures)}; services died {len(died)}; dead letters {dead_letters or 0}")
    print(f"fuzz: refused writes {len(refused_writes)}, checked again for partial writes {checked} "
          f"(+{changed_outcome} that succeeded by then) in {finished - called:.1f} s: {len(partial)} partial writes")
    for queue_name in dead_letters or {}:
        for letter in deadletters.peek(queue_name, limit=3, amqp_uri=system.amqp_uri):
            print("  DEAD LETTER", queue_name, summary(letter, 1200))
    for line in failures[:60]:
        print("  FAIL", line)
    for line in partial[:20]:
        print("  PARTIAL", line)
    assert not died, died
    assert not failures, f"{len(failures)} calls failed, e.g.:\n" + "\n".join(failures[:20])
    assert not partial, f"{len(partial)} refused calls wrote, e.g.:\n" + "\n".join(partial[:10])
    assert not dead_letters, f"events of accepted calls were dead-lettered: {dead_letters}"
    assert sum(outcomes.values()) == CALLS


def test_a_payload_nested_1500_deep_is_answered(fuzz_system):
    """Deeper than any JSON reader here reads (orjson stops at 1024 levels): the service answers
    the call with an error, at once, and stays up; the caller does not wait for its time-out."""
    deep = "x"
    for _ in range(1500):
        deep = [deep]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # so that this client's own (standard library) writer can send it
    try:
        with ClusterRpcProxy(config.nameko_config(AMQP_URI=fuzz_system.amqp_uri),
                             context_data={CREDENTIAL: ENSCHEDE}, timeout=10) as rpc:
            started = time.monotonic()
            try:
                rpc.candidates.change_status("c-1", "available", deep)
            except (ValidationError, RemoteError) as exc:
                answered = exc
            else:
                answered = None
            took = time.monotonic() - started
    finally:
        sys.setrecursionlimit(limit)
    print(f"\nnested 1500 deep: answered {type(answered).__name__} {summary(answered, 300)} in {took:.2f} s")
    assert answered is not None and took < 5, (answered, took)
    assert not alive(fuzz_system)
    with fuzz_system.rpc(ENSCHEDE) as rpc:  # and it still answers
        assert rpc.candidates.list(None, 1)["items"] is not None


def test_the_cases_the_issue_found_are_refused_naming_the_field(fuzz_system):
    """Each call that once killed a service, reached PostgreSQL or raised an undocumented error."""
    system = fuzz_system
    with system.rpc(ENSCHEDE) as rpc:
        refusals = {
            "reason": lambda: rpc.candidates.change_status("c-1", "available", "\udfff"),
            "note": lambda: rpc.matching.introduce("m-1", "\udfff"),
            "match_id": lambda: rpc.matching.introduce("7511\x00AB"),
            "candidate_id": lambda: rpc.candidates.get("7511\x00AB"),
            "modules": lambda: rpc.candidates.define_trajectory({"name": "t", "weeks": 4, "modules": [
                {"code": "VCA", "name": "VCA"}, {"code": None, "name": "x"}, {"name": "geen code"}]}),
            "organisation": lambda: rpc.aftercare.escalations({"id": "soweco"}),
        }
        for field, call in refusals.items():
            with pytest.raises(ValidationError) as refused:
                call()
            assert field in refused.value.errors, (field, refused.value.errors)
        with pytest.raises(ValidationError) as refused:
            rpc.candidates.change_status("c-1", "available", "Twente\x00")
        assert "reason" in refused.value.errors
        with pytest.raises(ValidationError):
            rpc.aftercare.escalations(1.5)
    for credential in (True, ["dev-gemeente-enschede"], {"a": 1}):
        with ClusterRpcProxy(config.nameko_config(AMQP_URI=system.amqp_uri),
                             context_data={CREDENTIAL: credential}, timeout=10) as rpc, \
                pytest.raises(Unauthorized):
            rpc.candidates.list()
    response = system.http("POST", "/v1/candidates", data=b"[" * 100_000,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["errors"] == {"body": ["nested too deeply"]}
    response = system.http("GET", "/v1/jobcoaches/%00/workload", headers={"Authorization": "Bearer dev-soweco"})
    assert response.status_code == 400 and "jobcoach_id" in response.json()["errors"], response.text
    assert not alive(system)
