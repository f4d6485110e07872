"""Matching at scale: top-10 candidates for a vacancy with the full scoring
(constraints, transferable skills, breakdown and explanation of the ten served,
near-misses, fairness counts), in process, through RPC, and as the same scoring
in one PostgreSQL query per vacancy, the peer a case-management system would use.

    .venv/bin/python bench/matching.py            # 100,000 and 1,000,000 candidates
    .venv/bin/python bench/matching.py --quick    # 20,000, under a minute
    .venv/bin/python bench/matching.py -n 50000 --pg-queries 20

Candidates are generated from real ESCO occupations' skill sets (weighted to the
occupations people with a distance to the labour market come from), real PC4
areas (uniform over areas: PC4 areas hold similar numbers of addresses, so this
follows where people live), and the target-group and condition mix of
bench/_data.py. PostgreSQL (127.0.0.1:5432, user postgres) gets the same data
in a private database, dropped afterwards; its query computes the same score,
and the top-10 ids are compared with the index's. The last line holds the
headline figures.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import io
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import eventlet  # the RPC client is nameko's, on green threads

eventlet.monkey_patch()

ROOT = Path(__file__).resolve().parents[1]
RPC_UP_TO = 200_000
# run as a script, this file's folder comes first on the path and its name would hide the matching package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from bench._data import CONDITIONS, TARGET_GROUPS  # noqa: E402
from matching import esco, scoring  # noqa: E402
from matching.index import MatchingIndex  # noqa: E402
from matching.modules import CATALOGUE  # noqa: E402
from matching.profiles import CandidateProfile, VacancyProfile  # noqa: E402
from werkbrug_shared import refdata  # noqa: E402

PG_DSN = "host=127.0.0.1 port=5432 user=postgres"
PG_DATABASE = "werkbrug_bench_matching"
TODAY = date(2026, 6, 1)
# where the people in scope come from, by ISCO major group: elementary work, services
# and sales, crafts, machine operators, clerical work first; professionals are rarer
ISCO_WEIGHTS = {"9": 3.0, "5": 2.5, "7": 2.0, "8": 2.0, "4": 1.5, "6": 0.8, "3": 0.7, "2": 0.4, "1": 0.2}
MORE_CONDITIONS = [("workplace_adaptation", 0.05), ("fixed_schedule", 0.05)]
VCA, HACCP, FORKLIFT = (CATALOGUE.skills_of(m) for m in ("VCA Basis", "Hygiënecode / HACCP", "Heftruckcertificaat"))


# --- data ---------------------------------------------------------------------------


class Generator:
    def __init__(self, seed: int = 11):
        self.rng = random.Random(seed)
        k = self.knowledge = esco.knowledge()
        occupations = refdata.occupations()
        by_group: dict[str, list[str]] = {}
        for uri in k.occupations:
            if k.essential_skills(uri):
                by_group.setdefault(occupations[uri].kind[:1], []).append(uri)
        self.occupations, self.occupation_weights = [], []
        for group, weight in ISCO_WEIGHTS.items():
            members = by_group.get(group, [])
            self.occupations += members
            self.occupation_weights += [weight / len(members)] * len(members)
        self.cumulative = list(itertools.accumulate(self.occupation_weights))
        self.areas = list(refdata.postcode_areas().values())
        self.essential = {o: list(k.essential_skills(o)) for o in self.occupations}
        self.optional = {o: list(k.optional_skills(o)) for o in self.occupations}

    def occupation(self) -> str:
        return self.occupations[bisect.bisect(self.cumulative, self.rng.random() * self.cumulative[-1])]

    def candidate(self, i: int) -> dict:
        rng = self.rng
        area = rng.choice(self.areas)
        former = self.occupation()
        pool = self.essential[former] * 2 + self.optional[former]
        skills = set(rng.sample(pool, min(len(pool), rng.randint(3, 12))))
        if rng.random() < 0.3:  # a second line of work
            other = self.occupation()
            skills.update(rng.sample(self.essential[other], min(3, len(self.essential[other]))))
        for certificate, share in ((VCA, 0.15), (HACCP, 0.08), (FORKLIFT, 0.06)):
            if rng.random() < share:
                skills.add(rng.choice(sorted(certificate)))
        skills = sorted(skills)
        groups = [g for g, p in TARGET_GROUPS if rng.random() < p] or ["bijstand"]
        hours = rng.choice([8, 12, 16, 20, 24, 28, 32, 36, 38, 40])
        modes = [m for m, p in (("bicycle", 0.7), ("public_transport", 0.5), ("car", 0.35), ("on_foot", 0.2))
                 if rng.random() < p]
        data = {
            "candidate_id": f"c{i:07d}",
            "region": area.province,
            "pc4": area.pc4,
            "target_groups": groups,
            "skills": skills,
            "skill_evidence": [{"skill": s, "level": rng.choice((1, 2, 2, 3, 3, 4)),
                                "evidence": rng.choice(("diploma", "certificate", "work_experience",
                                                        "practice_day", "informal"))}
                               for s in skills if rng.random() < 0.7],
            "hours_per_week": hours,
            "hours_min": None if rng.random() < 0.4 else max(1, hours - rng.choice((0, 4, 8, 12, 16))),
            "conditions": [c for c, p in CONDITIONS + MORE_CONDITIONS if rng.random() < p],
            "cohort": f"cohort-{rng.randint(1, 40):02d}" if rng.random() < 0.2 else None,
            "banenafspraak": "doelgroepregister" in groups,
            "occupations_wanted": ([former] if rng.random() < 0.6 else []) + (
                [self.occupation()] if rng.random() < 0.3 else []),
            "work_thinking_level": None if rng.random() < 0.3 else rng.choice((1, 2, 2, 3, 3, 4, 5)),
            "dutch_level": (rng.choice(("A1", "A2", "A2", "B1")) if "statushouder" in groups
                            else rng.choice((None, None, "B2", "C1", "C2"))),
            "transport_modes": modes,
            "max_travel_minutes": rng.choice((None, 15, 30, 30, 45, 45, 60, 90)),
            "max_distance_km": rng.choice((5, 10, 20, 30)) if rng.random() < 0.2 else None,
            "available_from": (TODAY + timedelta(days=rng.randint(1, 120))).isoformat()
            if rng.random() < 0.1 else None,
        }
        return data

    def vacancy(self, i: int) -> dict:
        rng = self.rng
        area = rng.choice(self.areas)
        occupation = self.occupation()
        essential, optional = self.essential[occupation], self.optional[occupation]
        must = []
        if rng.random() < 0.4:  # a specific must-have, no module closes it
            must += [{"skill": s, "weight": rng.choice((0.6, 0.8, 1.0))}
                     for s in rng.sample(essential, min(len(essential), rng.randint(1, 2)))]
        if rng.random() < 0.4:  # a certificate the candidate may still get
            must.append({"skill": rng.choice(sorted(rng.choice((VCA, VCA, HACCP, FORKLIFT)))), "weight": 0.5})
        listed = {m["skill"] for m in must}
        nice_pool = [s for s in essential + optional if s not in listed]
        nice = [{"skill": s, "weight": rng.choice((0.3, 0.5, 0.8))}
                for s in rng.sample(nice_pool, min(len(nice_pool), rng.randint(2, 5)))]
        offered = [c for c, p in (("low_stimulus_workplace", 0.15), ("on_the_job_guidance", 0.3),
                                  ("job_carving", 0.15), ("adapted_workplace", 0.1), ("flexible_hours", 0.3),
                                  ("accessible_building", 0.2)) if rng.random() < p]
        return {
            "vacancy_id": f"v{i:06d}",
            "employer_id": f"e{rng.randint(1, 5000):05d}",
            "region": area.province,
            "pc4": area.pc4,
            "skills_required": [m["skill"] for m in must],
            "must_have": must,
            "nice_to_have": nice,
            "occupation": occupation,
            "hours_per_week": rng.choice((16, 20, 24, 32, 36, 38, 40)),
            "openings": rng.randint(1, 3),
            "conditions_offered": offered,
            "work_thinking_level": None if rng.random() < 0.3 else rng.choice((1, 2, 2, 3, 4)),
            "visibility": rng.choice(("public", "public", "internal", "hidden")),
            "is_leerwerkbaan": rng.random() < 0.2,
            "banenafspraak_suitable": rng.random() < 0.2,
            "valid_through": (TODAY + timedelta(days=rng.randint(10, 120))).isoformat(),
        }


def generate_events(n: int, n_vacancies: int, seed: int = 11):
    """The event data (MatchingProfile, VacancyProfile dicts): the vacancies as a list,
    the candidates as an iterator. The same arguments give the same data."""
    gen = Generator(seed)
    vacancies = [gen.vacancy(i) for i in range(n_vacancies)]
    return (gen.candidate(i) for i in range(n)), vacancies


def generate(n: int, n_vacancies: int, seed: int = 11) -> tuple[list[CandidateProfile], list[VacancyProfile]]:
    candidates, vacancies = generate_events(n, n_vacancies, seed)
    return [CandidateProfile.from_event(c) for c in candidates], [VacancyProfile.from_event(v) for v in vacancies]


# --- measuring ----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def in_process_latencies(index: MatchingIndex, vacancy_ids: list[str], limit: int = 10):
    """Seconds per top-10 query, and per vacancy the ids ranked and the eligible pool's size
    (for the agreement check). Only those are kept: a service keeps no results, and thousands
    kept would have the garbage collector walk them during the timed queries."""
    for vid in vacancy_ids[:20]:  # warm caches (similarity rows, distance vectors)
        index.candidates_for_vacancy(vid, limit)
    latencies, rankings = [], {}
    for vid in vacancy_ids:
        started = time.perf_counter()
        ranking = index.candidates_for_vacancy(vid, limit)
        latencies.append(time.perf_counter() - started)
        rankings[vid] = (ranking.ids, ranking.fairness["eligible"])
    return latencies, rankings


def rpc_latencies(candidates, vacancies, vacancy_ids: list[str], limit: int = 10) -> list[float] | None:
    """Through RPC: the same data in a running matching service (``nameko run``, real
    RabbitMQ and PostgreSQL), timed per ``matching.candidates_for_vacancy(vacancy_id, limit)``
    call. The goal is set at 100,000 candidates; larger runs measure in process only."""
    if len(candidates) > RPC_UP_TO:
        return None
    from bench._matching_rpc import rpc_latencies as through_rpc

    events, vacancy_events = generate_events(len(candidates), len(vacancies))
    events = list(events)
    assert [e["candidate_id"] for e in events[:5]] == [c.candidate_id for c in candidates[:5]]
    latencies, start_up = through_rpc(events, vacancy_events, vacancy_ids, limit)
    print(f"rpc: the service built its index of {len(events):,} from its database and answered "
          f"{start_up:.1f} s after it was started")
    return latencies


# --- PostgreSQL ---------------------------------------------------------------------


SCHEMA = """
CREATE TABLE pc4 (pc4 text PRIMARY KEY, lat double precision, lon double precision);
CREATE TABLE candidates (
    id text PRIMARY KEY, pc4 text, in_pool boolean, hours_min int, hours_max int, reach double precision,
    needs int, level int, available_from date, target_groups int);
CREATE TABLE candidate_skills (candidate_id text, skill int, strength double precision);
CREATE TABLE candidate_concepts (candidate_id text, concept int);
CREATE TABLE candidate_wanted (candidate_id text, occupation int);
CREATE TABLE vacancies (
    id text PRIMARY KEY, pc4 text, hours_lo int, hours_hi int, offers int, level_required int, valid_through date,
    occupation int, must_total double precision, nice_total double precision, target_norm double precision);
CREATE TABLE vacancy_skills (vacancy_id text, skill int, weight double precision, must boolean, strict boolean);
CREATE TABLE vacancy_target (vacancy_id text, concept int, weight double precision);
CREATE TABLE occupation_similarity (occupation int, wanted int, sim double precision);
"""
INDEXES = """
CREATE INDEX ON candidates (pc4) WHERE in_pool;
CREATE INDEX ON candidate_skills (candidate_id, skill);
CREATE INDEX ON candidate_concepts (candidate_id);
CREATE INDEX ON candidate_wanted (candidate_id);
CREATE INDEX ON vacancy_skills (vacancy_id);
CREATE INDEX ON vacancy_target (vacancy_id, concept);
CREATE INDEX ON occupation_similarity (occupation, wanted);
ANALYZE;
"""
# The same constraints and score as scoring.py: areas within reach of the vacancy first
# (PC4 centroid haversine), then hours, conditions (bit masks), level, availability and
# strict must-haves; then must/nice coverage, occupation fit over the candidates'
# precomputed skill-tree concepts, wishes and distance.
QUERY = """
WITH v AS (SELECT * FROM vacancies WHERE id = %(vacancy)s),
area AS (
    SELECT p.pc4, 2 * 6371.0 * asin(sqrt(least(1.0,
        sin(radians(p.lat - a.lat) / 2) ^ 2
        + cos(radians(a.lat)) * cos(radians(p.lat)) * sin(radians(p.lon - a.lon) / 2) ^ 2))) AS km
    FROM pc4 p, pc4 a, v WHERE a.pc4 = v.pc4),
eligible AS (
    SELECT c.id, c.hours_max, c.reach, area.km
    FROM v CROSS JOIN area JOIN candidates c ON c.pc4 = area.pc4 AND c.in_pool
    WHERE area.km <= c.reach
      AND c.hours_min <= v.hours_hi AND c.hours_max >= v.hours_lo
      AND (c.needs & ~v.offers) = 0
      AND (v.level_required IS NULL OR c.level IS NULL OR c.level >= v.level_required)
      AND (v.valid_through IS NULL OR c.available_from IS NULL OR c.available_from <= v.valid_through)
      AND NOT EXISTS (
          SELECT 1 FROM vacancy_skills m WHERE m.vacancy_id = v.id AND m.strict
            AND NOT EXISTS (SELECT 1 FROM candidate_skills s WHERE s.candidate_id = c.id AND s.skill = m.skill))),
coverage AS (
    SELECT e.id, sum(CASE WHEN m.must THEN m.weight * s.strength ELSE 0 END) AS must,
                 sum(CASE WHEN m.must THEN 0 ELSE m.weight * s.strength END) AS nice
    FROM eligible e JOIN candidate_skills s ON s.candidate_id = e.id
    JOIN vacancy_skills m ON m.vacancy_id = %(vacancy)s AND m.skill = s.skill
    GROUP BY e.id),
fit AS (
    SELECT e.id, sum(t.weight) AS covered
    FROM eligible e JOIN candidate_concepts cc ON cc.candidate_id = e.id
    JOIN vacancy_target t ON t.vacancy_id = %(vacancy)s AND t.concept = cc.concept
    GROUP BY e.id),
wish AS (
    SELECT e.id, max(CASE WHEN w.occupation = v.occupation THEN 1.0 ELSE coalesce(o.sim, 0) END) AS sim
    FROM eligible e JOIN candidate_wanted w ON w.candidate_id = e.id CROSS JOIN v
    LEFT JOIN occupation_similarity o ON o.occupation = v.occupation AND o.wanted = w.occupation
    GROUP BY e.id),
scored AS (
    SELECT e.id,
        0.30 * CASE WHEN v.must_total > 0 THEN coalesce(cv.must, 0) / v.must_total ELSE 1.0 END
      + 0.15 * CASE WHEN v.nice_total > 0 THEN coalesce(cv.nice, 0) / v.nice_total ELSE 0.5 END
      + 0.30 * CASE WHEN v.target_norm > 0 THEN coalesce(f.covered, 0) / v.target_norm ELSE 0.5 END
      + 0.10 * (0.5 * CASE WHEN v.occupation IS NULL OR w.id IS NULL THEN 0.5 ELSE w.sim END
                + 0.5 * least(v.hours_hi, e.hours_max)::double precision / e.hours_max)
      + 0.15 * CASE WHEN e.reach = 'Infinity' THEN 1.0 WHEN e.reach > 0 THEN greatest(0.0, 1.0 - e.km / e.reach)
                    WHEN e.km = 0 THEN 1.0 ELSE 0.0 END AS score
    FROM eligible e CROSS JOIN v
    LEFT JOIN coverage cv ON cv.id = e.id LEFT JOIN fit f ON f.id = e.id LEFT JOIN wish w ON w.id = e.id)
SELECT id, score FROM scored ORDER BY round(score::numeric, 9) DESC, id
LIMIT %(limit)s
"""


class Postgres:
    """The same data and scoring in a private PostgreSQL database."""

    def __init__(self):
        import psycopg

        self.psycopg = psycopg
        with psycopg.connect(PG_DSN + " dbname=postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
            admin.execute(f"CREATE DATABASE {PG_DATABASE}")
        self.conn = psycopg.connect(PG_DSN + f" dbname={PG_DATABASE}", autocommit=True)

    def drop(self) -> None:
        self.conn.close()
        with self.psycopg.connect(PG_DSN + " dbname=postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE}")

    def _copy(self, table: str, rows) -> None:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(r"\N" if v is None else str(v) for v in row))
            buffer.write("\n")
            if buffer.tell() > 32 << 20:
                self._flush(table, buffer)
                buffer = io.StringIO()
        self._flush(table, buffer)

    def _flush(self, table: str, buffer: io.StringIO) -> None:
        with self.conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            copy.write(buffer.getvalue())

    def load(self, index: MatchingIndex, candidates, vacancies) -> None:
        """The index's own derived facts (reach, strengths, concepts) go in, so both sides
        score the same numbers; the ESCO work is shared, the query is PostgreSQL's."""
        k = index.knowledge
        self.conn.execute(SCHEMA)
        self._copy("pc4", ((a.pc4, a.lat, a.lon) for a in refdata.postcode_areas().values()))
        from matching.index import GROUP_BITS, NEED_BITS, offer_bits

        skill_code, occupation_code = index.store.skills.code, index.store.occupations.code

        def facts():
            for profile in candidates:
                yield scoring.candidate_facts(profile, k)

        cands, skills, concepts, wanted = [], [], [], []

        def flush():
            self._copy("candidates", cands)
            self._copy("candidate_skills", skills)
            self._copy("candidate_concepts", concepts)
            self._copy("candidate_wanted", wanted)
            for rows in (cands, skills, concepts, wanted):
                rows.clear()

        for cf in facts():
            cands.append((cf.id, cf.pc4, index.in_pool(cf.id), cf.hours[0], cf.hours[1],
                          "Infinity" if math.isinf(cf.reach_km) else repr(cf.reach_km),
                          sum(NEED_BITS[n] for n in cf.needs), cf.level, cf.available_from,
                          sum(GROUP_BITS[g] for g in cf.target_groups)))
            skills.extend((cf.id, skill_code(s), repr(scoring.STRENGTH[code])) for s, code in cf.held.items())
            concepts.extend((cf.id, c) for c in cf.concepts)
            wanted.extend((cf.id, occupation_code(o)) for o in cf.wanted)
            if len(cands) >= 50_000:
                flush()
        flush()
        sims, rows, skill_rows, target_rows = [], [], [], []
        for vf in (index.vacancy_profile_facts(v.vacancy_id) for v in vacancies):
            rows.append((
                vf.id, vf.pc4, vf.hours[0], vf.hours[1], offer_bits(vf), vf.level_required, vf.valid_through,
                None if vf.occupation is None else occupation_code(vf.occupation),
                repr(vf.must_total), repr(vf.nice_total), repr(vf.target_norm)))
            skill_rows += [(vf.id, skill_code(s), repr(w), True, not CATALOGUE.closable(s)) for s, w in vf.must]
            skill_rows += [(vf.id, skill_code(s), repr(w), False, False) for s, w in vf.nice]
            target_rows += [(vf.id, c, repr(w)) for c, w in vf.target.items()]
            if vf.occupation in k.occupation_index:
                sims.append(vf.occupation)
        self._copy("vacancies", rows)
        self._copy("vacancy_skills", skill_rows)
        self._copy("vacancy_target", target_rows)
        occ_rows = []
        for occupation in sorted(set(sims)):
            row = k.similarities_to(occupation)
            code = occupation_code(occupation)
            occ_rows += [(code, j, repr(float(row[j]))) for j in row.nonzero()[0].tolist()]
        self._copy("occupation_similarity", occ_rows)
        self.conn.execute(INDEXES)

    def top(self, vacancy_id: str, limit: int = 10) -> list[str]:
        return [r[0] for r in self.conn.execute(QUERY, {"vacancy": vacancy_id, "limit": limit}).fetchall()]


def run(n: int, n_queries: int, pg_queries: int, suffix: str, use_pg: bool, rankings_out: dict | None = None) -> dict:
    print(f"\n== {n:,} candidates ==")
    started = time.perf_counter()
    n_vacancies = max(2000, n_queries)
    candidates, vacancies = generate(n, n_vacancies)
    print(f"generated {n:,} candidates and {len(vacancies):,} vacancies in {time.perf_counter() - started:.1f} s")
    gc.collect()
    rss_before = rss_bytes()
    index = MatchingIndex()
    started = time.perf_counter()
    index.load(candidates, vacancies)
    build = time.perf_counter() - started
    gc.collect()
    rss_growth = rss_bytes() - rss_before
    memory = index.memory_bytes()
    print(f"index built in {build:.1f} s; memory {memory / 2**20:.0f} MB "
          f"(process RSS grew {rss_growth / 2**20:.0f} MB)")

    rng = random.Random(3)
    vacancy_ids = [v.vacancy_id for v in rng.sample(vacancies, n_queries)]
    # as the service does after its build (live_index.py): what lives as long as the index is
    # left out of the collector's walks (here also the generated profiles, which the service drops)
    gc.freeze()
    try:
        latencies, rankings = in_process_latencies(index, vacancy_ids)
    finally:
        gc.unfreeze()
    eligible = [n for _, n in rankings.values()]
    if rankings_out is not None:
        rankings_out[str(n)] = {vid: ids for vid, (ids, _) in rankings.items()}
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(f"in process: {len(latencies)} queries, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {max(latencies) * 1000:.2f} ms (eligible pool per vacancy: "
          f"median {statistics.median(eligible):,.0f}, max {max(eligible):,})")
    out = {f"n{suffix}": n, f"p50_ms{suffix}": round(p50, 2), f"p99_ms{suffix}": round(p99, 2),
           f"memory_mb{suffix}": round(memory / 2**20), f"build_s{suffix}": round(build, 1)}

    rpc = rpc_latencies(candidates, vacancies, vacancy_ids)
    if rpc:
        r50, r99 = percentile(rpc, 50) * 1000, percentile(rpc, 99) * 1000
        print(f"rpc: {len(rpc)} calls, p50 {r50:.2f} ms, p99 {r99:.2f} ms")
        out.update({f"rpc_p50_ms{suffix}": round(r50, 2), f"rpc_p99_ms{suffix}": round(r99, 2)})
    else:
        print("rpc: not measured")

    if use_pg and pg_queries:
        pg = Postgres()
        try:
            started = time.perf_counter()
            pg.load(index, candidates, vacancies)
            print(f"postgresql loaded in {time.perf_counter() - started:.1f} s")
            pg_ids = vacancy_ids[:pg_queries]
            for vid in pg_ids[:2]:
                pg.top(vid)
            pg_latencies, same, overlap = [], 0, 0.0
            for vid in pg_ids:
                started = time.perf_counter()
                top = pg.top(vid)
                pg_latencies.append(time.perf_counter() - started)
                mine = rankings[vid][0]
                same += top == mine
                overlap += len(set(top) & set(mine)) / len(mine) if mine else float(not top)
            g50, g99 = percentile(pg_latencies, 50) * 1000, percentile(pg_latencies, 99) * 1000
            print(f"postgresql: {len(pg_latencies)} queries, p50 {g50:.1f} ms, p99 {g99:.1f} ms; "
                  f"top-10 identical to the index for {same}/{len(pg_ids)} vacancies "
                  f"(mean overlap {overlap / len(pg_ids):.1%})")
            print(f"ratio (postgresql / in process): p50 {g50 / p50:.0f}x, p99 {g99 / p99:.0f}x")
            out.update({f"pg_p50_ms{suffix}": round(g50, 1), f"pg_p99_ms{suffix}": round(g99, 1),
                        f"ratio_p50{suffix}": round(g50 / p50), f"ratio_p99{suffix}": round(g99 / p99),
                        f"pg_agree{suffix}": f"{same}/{len(pg_ids)}"})
        finally:
            pg.drop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 candidates, under a minute")
    parser.add_argument("-n", type=int, action="append", help="candidates (repeatable); default 100,000 and 1,000,000")
    parser.add_argument("--queries", type=int, default=None, help="vacancies queried in process")
    parser.add_argument("--pg-queries", type=int, default=None, help="vacancies queried in PostgreSQL")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--rankings", metavar="FILE",
                        help="write each size's top 10 per vacancy queried in process as JSON, to compare two runs")
    args = parser.parse_args()
    sizes = args.n or ([20_000] if args.quick else [100_000, 1_000_000])
    result, rankings = {}, {}
    for i, n in enumerate(sizes):
        queries = args.queries or (200 if args.quick else 1000)
        pg_queries = args.pg_queries if args.pg_queries is not None else (
            20 if args.quick else (100 if n <= 200_000 else 20))
        suffix = "" if i == 0 else "_" + (f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k")
        result.update(run(n, queries, pg_queries, suffix, not args.no_pg, rankings))
        gc.collect()
    if args.rankings:
        Path(args.rankings).write_text(json.dumps(rankings, sort_keys=True))
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
