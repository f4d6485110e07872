"""Two matching replicas on the same queues and database serve the same rankings (issue 16, §1).

Each replica is a real ``nameko run`` process with a name of its own (``WERKBRUG_INSTANCE``), and
each is asked directly at its own address (``matching@<name>``, matching/replicas.py): whichever
replica took an event or a call, every ranking either one serves reflects the change within the
bound, measured from the change's row in the index change log (written just before its commit).
A replica SIGKILLed and started again serves what was committed while it was away.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from matching.replicas import INSTANCE_ENV
from tests.integration.harness import System, eventually
from werkbrug_shared.errors import NotFound

ENSCHEDE = "dev-gemeente-enschede"
LEERWERK = "dev-leerwerkbedrijf-twente"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
SAFETY = "http://data.europa.eu/esco/skill/86df7af2-f9f3-4c06-a500-7f1fba9e78fe"
PLUMBING = "http://data.europa.eu/esco/skill/8755734c-2919-41a3-9ca6-1e3d1f169213"
BOUND_S = 1.0  # a change committed through one replica shows in every replica's rankings within this
REPLICAS = {"matching": "r1", "matching-2": "r2"}


class Replicas(System):
    """Candidates, vacancies and two matching replicas, each named (``WERKBRUG_INSTANCE``)."""

    def spawn(self, service: str, instance: str | None = None):
        if service == "matching":
            self.extra_env[INSTANCE_ENV] = REPLICAS[instance or service]
        try:
            super().spawn(service, instance)
        finally:
            self.extra_env.pop(INSTANCE_ENV, None)


def warm_up(system: Replicas) -> None:
    """A first vacancy and ranking on each replica, not measured: on a fresh clone the first ones
    compile what numba has not cached yet (seconds, on both replicas at once), which is no lag
    between replicas."""
    with system.rpc(ENSCHEDE, "warm-up") as partner:
        region = Region(system, partner)
        vacancy = region.open([CLEAN])
        region.register([CLEAN])
        eventually(lambda: all(region.ranking(r, vacancy) for r in REPLICAS.values()), timeout=120,
                   what="both replicas to rank a first vacancy")


@pytest.fixture(scope="module")
def replicas():
    from tests.integration.conftest import _require_infrastructure

    _require_infrastructure()
    system = Replicas()
    try:
        system.create()
        for service in ("candidates", "vacancies", "matching"):
            system.spawn(service)
        system.spawn("matching", "matching-2")
        for name in ("candidates", "vacancies", "matching", "matching-2"):
            system.wait_ready(name)
        warm_up(system)
        yield system
    finally:
        system.destroy()


class Region:
    """A region, an employer and what the test made there, with each replica's view of it."""

    def __init__(self, system: Replicas, partner):
        self.system, self.partner = system, partner
        self.name = f"twente-{uuid.uuid4().hex[:8]}"
        self.employer = partner.vacancies.register_employer({
            "name": "Schoonmaak Oost BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}", "region": self.name,
            "postcode": "7511 JD"})
        self.lags: list[tuple[str, str, float]] = []  # (change, replica, seconds from commit to served)

    def open(self, must_have, hours: int = 32) -> str:
        return self.partner.vacancies.open({
            "employer_id": self.employer["id"], "title": "schoonmaker", "region": self.name, "postcode": "7511 JD",
            "must_have": [{"skill": s, "weight": 1.0} for s in must_have], "hours_per_week": hours,
            "openings": 3})["id"]

    def register(self, skills) -> str:
        return self.partner.candidates.register({
            "given_name": "Sanne", "family_name": "de Vries", "region": self.name, "postcode": "7512 AB",
            "target_groups": ["bijstand"], "skills": list(skills), "hours_per_week": 32})["id"]

    def replica(self, name: str):
        return self.partner[f"matching@{name}"]

    def ranking(self, replica: str, vacancy_id: str) -> dict | None:
        """``{candidate_id: result}`` of what this replica ranks for the vacancy; None: it knows no such vacancy."""
        try:
            ranked = self.replica(replica).candidates_for_vacancy(vacancy_id, 100, {"region": self.name})
        except NotFound:
            return None
        return {r["candidate_id"]: r for r in ranked["results"]}

    def last_position(self) -> int:
        return self.system.sql("matching", "SELECT coalesce(max(position), 0) FROM index_changes")[0][0]

    def change(self, what: str, make, served, key: str | None = None) -> None:
        """Make a change through a public operation; then poll both replicas, in turn, until each
        serves it (``served(replica)``), and measure from its row in the log; it must stay served."""
        before = self.last_position()
        key = make() if key is None else (make(), key)[1]
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while len(seen) < len(REPLICAS.values()) and time.monotonic() < deadline:
            for replica in REPLICAS.values():
                if replica not in seen and served(replica):
                    seen[replica] = time.time()
        assert len(seen) == len(REPLICAS), f"{what}: served by {sorted(seen)} only, after 30 s"
        rows = self.system.sql("matching", "SELECT min(changed_at) FROM index_changes WHERE key = %s AND position > %s",
                               key, before)
        committed = rows[0][0].timestamp()
        for replica, at in seen.items():
            self.lags.append((what, replica, at - committed))
        for replica in REPLICAS.values():  # and it stays so: no replica goes back to what was before
            assert served(replica), f"{what}: {replica} served it, then no longer"


def test_every_replica_serves_every_committed_change_within_the_bound(replicas, capsys):
    system = replicas
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede, system.rpc(LEERWERK, "docent-2") as leerwerk:
        region = Region(system, enschede)
        # a must-have no built-in module closes: it excludes whoever lacks it, until a trajectory teaches it
        from matching.modules import CATALOGUE
        from werkbrug_shared import refdata

        rare = next(s for s in sorted(refdata.skills()) if not CATALOGUE.closable(s) and s not in (CLEAN, SAFETY))
        vacancy = {}

        def open_both():
            vacancy["v"], vacancy["w"] = region.open([CLEAN]), region.open([CLEAN, rare])
            return vacancy["w"]

        region.change("vacancies opened", open_both,
                      lambda r: region.ranking(r, vacancy["v"]) is not None and region.ranking(r, vacancy["w"])
                      is not None)
        v, w = vacancy["v"], vacancy["w"]

        people = {}

        def register():
            people["a"], people["b"], people["c"] = region.register([PLUMBING]), region.register([CLEAN]), \
                region.register([CLEAN])
            return people["c"]

        region.change("candidates registered", register,
                      lambda r: {people["b"], people["c"]} <= set(region.ranking(r, v) or ())
                      and len(region.replica(r).indexed(list(people.values()))) == 3)
        a, b, c = people["a"], people["b"], people["c"]
        assert a not in region.ranking("r1", v) and a not in region.ranking("r2", v)

        region.change("profile updated", lambda: enschede.candidates.update(a, {"skills": [CLEAN]}),
                      lambda r: a in (region.ranking(r, v) or ()), key=a)

        placement = {}

        def place():  # through r1: r1 answers it at once (it caught up before replying), r2 within the bound
            placement["p"] = region.replica("r1").record_placement({
                "candidate_id": b, "vacancy_id": v, "start_date": "2026-12-01", "hours_per_week": 32})
            assert b not in region.ranking("r1", v)
            assert region.replica("r1").indexed([b]) == {b: {"in_pool": False}}
            return b

        region.change("placement recorded", place,
                      lambda r: b not in region.ranking(r, v) and region.replica(r).indexed([b])[b]["in_pool"] is False)

        def end():  # through r2
            region.replica("r2").end_placement(placement["p"]["id"], "2027-03-01", "contract_ended")
            assert b in region.ranking("r2", v)
            return b

        region.change("placement ended", end, lambda r: b in region.ranking(r, v))

        region.change("candidate erased", lambda: enschede.candidates.erase(c),
                      lambda r: c not in region.ranking(r, v) and region.replica(r).indexed([c]) == {}, key=c)

        def gap(r, candidate, vacancy_id, skill):
            result = (region.ranking(r, vacancy_id) or {}).get(candidate)
            return result and [g for g in result["skill_gaps"] if g["skill"] == skill]

        region.change("vacancy updated",
                      lambda: enschede.vacancies.update(v, {"must_have": [{"skill": CLEAN, "weight": 1.0},
                                                                          {"skill": SAFETY, "weight": 1.0}]}),
                      lambda r: bool(gap(r, a, v, SAFETY)), key=v)

        module = f"Certificaat {uuid.uuid4().hex[:6]}"
        assert a not in region.ranking("r1", w) and a not in region.ranking("r2", w)
        region.change("module learned", lambda: leerwerk.candidates.define_trajectory({
            "name": f"werkfit {module}", "weeks": 8, "modules": [
                {"code": "taal", "name": "Taal op de werkvloer"},
                {"code": "cert", "name": module, "certificate_skill": rare}]}),
            lambda r: (g := gap(r, a, w, rare)) and g[0]["closable_by"] == [module], key=module)

        def offered(r, vacancy_id):
            return vacancy_id in {x["vacancy_id"] for x in region.replica(r).vacancies_for_candidate(a, 50)["results"]}

        assert offered("r1", w) and offered("r2", w)
        region.change("vacancy closed", lambda: enschede.vacancies.close(w, "other"),
                      lambda r: not offered(r, w), key=w)

        assert region.ranking("r1", v) == region.ranking("r2", v)
        worst = max(lag for _, _, lag in region.lags)
        with capsys.disabled():
            print("\nREPLICA LAGS (s from commit to served): " + ", ".join(
                f"{what}@{replica}={lag:.3f}" for what, replica, lag in region.lags), flush=True)
        assert worst <= BOUND_S, f"a change took {worst:.3f} s to show on every replica: {region.lags}"


def test_a_replica_killed_and_started_again_catches_up(replicas):
    system = replicas
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        region = Region(system, enschede)
        v = region.open([CLEAN])
        first = [region.register([CLEAN]) for _ in range(4)]
        eventually(lambda: all(set(first) <= set(region.ranking(r, v) or ()) for r in ("r1", "r2")),
                   what="both replicas to rank the first candidates")

        # a stream of profiles, with r2 SIGKILLed in the middle of it and changes made while it is away
        stream = []
        for i in range(5):
            stream += [r["id"] for r in enschede.candidates.register_many([
                {"source_ref": f"{region.name}-{i}-{k}", "given_name": "Stroom", "family_name": f"Profiel{k}",
                 "region": region.name, "postcode": "7512 AB", "target_groups": ["ww"], "skills": [CLEAN],
                 "hours_per_week": 32} for k in range(8)])]
            if i == 2:
                system.kill("matching-2")
        placed = region.replica("r1").record_placement(
            {"candidate_id": first[0], "vacancy_id": v, "start_date": "2026-12-01", "hours_per_week": 32})
        enschede.candidates.erase(first[1])
        enschede.candidates.update(first[2], {"skills": [PLUMBING]})
        expected = set(first[3:]) | set(stream)
        eventually(lambda: set(region.ranking("r1", v)) == expected, timeout=60,
                   what="r1 to rank what was committed")

        system.start_instance("matching", "matching-2")
        assert set(region.ranking("r2", v)) == expected, "a restarted replica serves what was committed"
        assert region.ranking("r2", v) == region.ranking("r1", v)
        assert region.replica("r2").indexed([first[0], first[1]]) == {first[0]: {"in_pool": False}}
        assert placed["candidate_id"] == first[0]

        # and it follows from there
        region.change("placement ended after the restart",
                      lambda: region.replica("r1").end_placement(placed["id"], "2027-01-31", "other"),
                      lambda r: first[0] in region.ranking(r, v), key=first[0])
        assert max(lag for _, _, lag in region.lags) <= BOUND_S, region.lags


class Noted:
    """An index that holds nothing and notes which candidates it was told about (each is gone from
    the table here, so applying a change removes it)."""

    def __init__(self):
        self.removed: list[str] = []

    def __contains__(self, key) -> bool:
        return False

    def remove_candidate(self, candidate_id: str) -> bool:
        self.removed.append(candidate_id)
        return False


@pytest.fixture
def change_log():
    """matching's tables in a PostgreSQL database of their own, without any service."""
    import psycopg

    from matching.models import metadata
    from tests.integration.harness import PG_ADMIN
    from werkbrug_shared.db import make_engine

    name = f"werkbrug_test_changes_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}")
    try:
        metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_change_committed_after_a_later_one_is_applied_and_a_rolled_back_one_forgotten(change_log, monkeypatch):
    """PostgreSQL hands out positions when rows are inserted and commits in any order: a follower
    that moved past a position not committed yet applies it once it is (matching/changes.py, Gaps);
    one rolled back is looked for only as long as GAP_PATIENCE. The same at start-up."""
    from sqlalchemy.orm import Session

    from matching import changes
    from matching.changes import CANDIDATE, ChangeFollower, record

    def write(key: str, commit: bool = True) -> Session:
        session = Session(change_log)
        record(session, CANDIDATE, [key])
        if commit:
            session.commit()
        return session

    follower, index = ChangeFollower(change_log), Noted()
    with Session(change_log) as session:
        follower.start(session)
    slow = write("x", commit=False)  # position 1, still in its transaction
    write("y")  # position 2, committed first
    assert follower.catch_up(index) == 1 and index.removed == ["y"]
    assert set(follower.missing) == {1}
    slow.commit()
    assert follower.catch_up(index) == 1 and index.removed == ["y", "x"]
    assert follower.missing == {} and follower.position == 2

    # a follower starting while a transaction holds a position below the last looks for it too
    slow = write("late", commit=False)  # 3
    write("early")  # 4
    starting, at_start = ChangeFollower(change_log), Noted()
    with Session(change_log) as session:
        starting.start(session)
    assert starting.position == 4 and set(starting.missing) == {3}
    slow.commit()
    assert starting.catch_up(at_start) == 1 and at_start.removed == ["late"]

    # one rolled back never comes: forgotten once its patience is over
    monkeypatch.setattr(changes, "GAP_PATIENCE", 0.2)
    gone = write("never", commit=False)  # 5
    write("after")  # 6
    gone.rollback()
    follower.catch_up(index)
    assert set(follower.missing) == {5} and set(index.removed[-3:]) == {"late", "early", "after"}
    time.sleep(0.3)
    assert follower.catch_up(index) == 0 and follower.missing == {}

    # once every change is pruned, a follower starting takes up where the sequence is
    assert changes.prune(change_log, timedelta(0)) == 5
    with Session(change_log) as session:
        starting.start(session)
    assert starting.position == 6
    write("next")
    assert starting.catch_up(at_start) == 1 and at_start.removed[-1] == "next"
