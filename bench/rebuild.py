"""Rebuilding reporting's read models from its event store: events/s of
``werkbrug reporting rebuild``.

    .venv/bin/python bench/rebuild.py            # 1,000,000 events (goal: within 120 s)
    .venv/bin/python bench/rebuild.py --quick    # 50,000 events, under a minute
    .venv/bin/python bench/rebuild.py -n 200000

A private PostgreSQL database (127.0.0.1:5432, user postgres; dropped at the
end) is migrated and its event store filled by COPY with generated events of
a werkbedrijf over almost three years: registrations, enrolments in cohorts of
a trajectory, profile updates and status changes, vacancies (some
leerwerkbanen), placements with their aftercare plan and five protocol tasks
(some reassigned, most completed, some overdue, the open ones cancelled when a
placement ends), ends and 6/12/18-month sustained checkpoints, and matching's
fairness counts. Every event is a valid catalogue event, stored in time order
as the live service would have received them; no names or other personal data.

Then the very command an operator runs, ``werkbrug reporting rebuild``, is
timed as a process of its own. The last line holds the headline figures:
``events`` is the store's size, ``replayed`` the events of the types the read
models use (the others are skipped by the query).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from werkbrug_shared.clock import add_months  # noqa: E402
from werkbrug_shared.events import CATALOGUE  # noqa: E402

PG_ADMIN = os.environ.get("WERKBRUG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BEGIN = datetime(2024, 1, 1, 8, tzinfo=UTC)
NOW = datetime(2026, 11, 1, 17, tzinfo=UTC)
REGIONS = ["Twente", "Rijnmond", "Groot Amsterdam", "Midden-Utrecht", "Haaglanden", "Zuid-Limburg",
           "Groningen", "Drechtsteden", "Food Valley", "Achterhoek"]
TRAJECTORIES = ["werkfit", "leerwerk installatietechniek", "zorg instroom", "taal en werk", "logistiek"]
TARGET_GROUPS = [("bijstand", 0.45), ("doelgroepregister", 0.20), ("ww", 0.15), ("statushouder", 0.10),
                 ("50plus", 0.15), ("sw", 0.05)]
ORGANISATIONS = ["Gemeente Enschede", "UWV Twente", "Soweco", "Larcom", "Werkplein Rijnmond", "Stichting Werkfit",
                 "Leerwerkbedrijf Midden", "Jobhunters Haaglanden"]
SKILLS = [f"http://data.europa.eu/esco/skill/{uuid.UUID(int=i * 7919 + 17)}" for i in range(60)]
TASKS = [("first_working_day", 0), ("week_1", 7), ("week_4", 28), ("month_3", 91), ("month_6", 182)]
END_REASONS = ["contract_ended", "dismissed", "resigned", "health", "better_job", "moved"]


def at(day: date, rng: random.Random) -> datetime:
    return datetime(day.year, day.month, day.day, rng.randint(7, 18), rng.randint(0, 59), rng.randint(0, 59),
                    rng.randint(0, 999_999), tzinfo=UTC)


class Generator:
    """Events of one werkbedrijf, person by person; collected, then stored in time order."""

    def __init__(self, seed: int = 5):
        self.rng = random.Random(seed)
        self.events: list[tuple] = []  # (time, type, subject, data, candidate_id)
        self.vacancies: list[str] = []
        self.people = self.placements = 0

    def add(self, moment: datetime, short: str, subject: str, data: dict):
        if moment <= NOW:
            self.events.append((moment, f"nl.werkbrug.{short}.v1", subject, data, data.get("candidate_id")))

    def vacancy(self, moment: datetime) -> str:
        rng = self.rng
        vacancy_id = str(uuid.uuid4())
        self.vacancies.append(vacancy_id)
        self.add(moment, "vacancy.opened", vacancy_id, {
            "vacancy_id": vacancy_id, "employer_id": str(uuid.uuid4()), "region": rng.choice(REGIONS),
            "pc4": str(rng.randint(1000, 9999)), "skills_required": rng.sample(SKILLS, 3),
            "hours_per_week": rng.choice([16, 24, 32, 36]), "openings": rng.randint(1, 4),
            "is_leerwerkbaan": rng.random() < 0.2, "visibility": rng.choice(["public", "internal", "hidden"]),
            "steward_organisations": rng.sample(ORGANISATIONS, 2)})
        return vacancy_id

    def person(self):
        rng = self.rng
        self.people += 1
        cid = str(uuid.uuid4())
        region = rng.choice(REGIONS)
        groups = [g for g, p in TARGET_GROUPS if rng.random() < p] or ["bijstand"]
        registered = BEGIN + timedelta(seconds=rng.uniform(0, (NOW - BEGIN).total_seconds()))
        cohort = trajectory = None
        self.add(registered, "candidate.registered", cid, {
            "candidate_id": cid, "region": region, "pc4": str(rng.randint(1000, 9999)), "target_groups": groups,
            "skills": rng.sample(SKILLS, 4), "hours_per_week": rng.choice([16, 24, 32, 36]), "conditions": [],
            "cohort": None})
        self.add(registered + timedelta(minutes=5), "candidate.status_changed", cid, {
            "candidate_id": cid, "from_status": "registered", "to_status": "intake", "reason": None})
        moment = registered
        if rng.random() < 0.6:
            trajectory = rng.choice(TRAJECTORIES)
            moment = registered + timedelta(days=rng.randint(3, 60))
            quarter = (moment.month - 1) // 3 + 1
            cohort = f"{trajectory.split()[0]}-{region.split()[-1].lower()}-{moment.year}q{quarter}"
            self.add(moment, "candidate.enrolled", cid, {
                "candidate_id": cid, "cohort": cohort, "trajectory": trajectory, "region": region,
                "target_groups": groups})
            self.add(moment + timedelta(seconds=1), "candidate.status_changed", cid, {
                "candidate_id": cid, "from_status": "intake", "to_status": "in_trajectory", "reason": None})
        if rng.random() < 0.3:
            if rng.random() < 0.2:
                groups = sorted(set(groups) | {"50plus"})
            self.add(moment + timedelta(days=rng.randint(1, 40)), "candidate.profile_updated", cid, {
                "candidate_id": cid, "region": region, "pc4": str(rng.randint(1000, 9999)), "target_groups": groups,
                "skills": rng.sample(SKILLS, 5), "hours_per_week": 24, "conditions": [], "cohort": cohort})
        if rng.random() < 0.55:
            self.placement(cid, region, groups, cohort, moment)

    def placement(self, cid, region, groups, cohort, after: datetime):
        rng = self.rng
        self.placements += 1
        pid = str(uuid.uuid4())
        recorded = after + timedelta(days=rng.randint(14, 300))
        start = (recorded + timedelta(days=rng.randint(0, 30))).date()
        vacancy_id = rng.choice(self.vacancies) if self.vacancies and rng.random() < 0.9 else self.vacancy(recorded)
        self.add(recorded, "placement.recorded", pid, {
            "placement_id": pid, "candidate_id": cid, "vacancy_id": vacancy_id, "employer_id": str(uuid.uuid4()),
            "start_date": start.isoformat(), "hours_per_week": rng.choice([16, 24, 32]), "region": region,
            "target_groups": groups, "cohort": cohort, "match_id": None,
            "credited_organisations": rng.sample(ORGANISATIONS, 2)})
        self.add(recorded + timedelta(seconds=1), "candidate.status_changed", cid, {
            "candidate_id": cid, "from_status": "available", "to_status": "placed", "reason": None})
        organisation = rng.choice(ORGANISATIONS)
        plan_id = str(uuid.uuid4())
        self.add(recorded + timedelta(seconds=2), "aftercare_plan.created", plan_id, {
            "plan_id": plan_id, "placement_id": pid, "candidate_id": cid, "jobcoach_id": str(uuid.uuid4()),
            "region": region, "task_count": len(TASKS), "organisation": organisation})
        ended = None
        if rng.random() < 0.3:
            ended = start + timedelta(days=int(rng.expovariate(1 / 200)) + 1)
            self.add(at(ended, rng), "placement.ended", pid, {
                "placement_id": pid, "candidate_id": cid, "vacancy_id": vacancy_id, "end_date": ended.isoformat(),
                "reason": rng.choice(END_REASONS)})
        for months in (6, 12, 18):
            mark = add_months(start, months)
            if ended is None or ended >= mark:
                self.add(at(mark, rng), "placement.sustained", pid,
                         {"placement_id": pid, "candidate_id": cid, "months": months})
        for kind, days in TASKS:
            task_id = str(uuid.uuid4())
            due = start + timedelta(days=days)
            assigned = {"task_id": task_id, "plan_id": plan_id, "placement_id": pid, "jobcoach_id": str(uuid.uuid4()),
                        "kind": kind, "due": due.isoformat(), "organisation": organisation}
            self.add(recorded + timedelta(seconds=3), "aftercare_task.assigned", task_id, assigned)
            if rng.random() < 0.07:  # the jobcoach left: reassigned, perhaps to another organisation
                self.add(recorded + timedelta(days=rng.randint(1, 60)), "aftercare_task.assigned", task_id,
                         {**assigned, "jobcoach_id": str(uuid.uuid4()), "organisation": rng.choice(ORGANISATIONS)})
            if ended is not None and due > ended:
                self.add(at(ended, rng) + timedelta(minutes=1), "aftercare_task.cancelled", task_id,
                         {"task_id": task_id, "placement_id": pid, "organisation": organisation})
                continue
            late = rng.random() < 0.12
            if late:
                self.add(at(due + timedelta(days=3), rng), "aftercare_task.overdue", task_id, {
                    "task_id": task_id, "placement_id": pid, "jobcoach_id": assigned["jobcoach_id"],
                    "due": due.isoformat(), "organisation": organisation})
            if rng.random() < 0.92:
                done = due + timedelta(days=rng.randint(4, 20) if late else rng.randint(-2, 2))
                self.add(at(done, rng), "aftercare_task.completed", task_id, {
                    "task_id": task_id, "placement_id": pid, "organisation": organisation, "kind": kind,
                    "outcome": rng.choices(["going_well", "at_risk"], [0.85, 0.15])[0]})

    def fairness(self, every: timedelta = timedelta(hours=4)):
        rng, moment = self.rng, BEGIN
        while moment <= NOW:
            rankings = rng.randint(5, 200)
            groups, top_total, eligible_total = [], rankings * 10, rankings * rng.randint(50, 400)
            for group, share in TARGET_GROUPS:
                groups.append({"target_group": group, "top": int(top_total * share * rng.uniform(0.7, 1.2)),
                               "eligible": int(eligible_total * share)})
            end = moment + every
            self.add(end, "matching.fairness_counted", "matching-1", {
                "instance": "matching-1", "period_start": moment.isoformat(), "period_end": end.isoformat(),
                "rankings": rankings, "top_total": top_total, "eligible_total": eligible_total, "groups": groups})
            moment = end

    def generate(self, n: int) -> list[tuple]:
        for _ in range(max(50, n // 400)):
            self.vacancy(BEGIN + timedelta(days=self.rng.randint(0, 900)))
        self.fairness(timedelta(hours=4) if n >= 500_000 else timedelta(days=3))
        while len(self.events) < n:
            self.person()
        self.events.sort(key=lambda e: e[0])
        return self.events[:n]


def fill(conn, events) -> None:
    """COPY the events into the store, as the live handler stores them."""
    sources = {name: t.source for name, t in CATALOGUE.items()}
    with conn.cursor() as cursor, cursor.copy(
            "COPY event_store (event_id, type, source, subject, time, data, received_at, candidate_id) "
            "FROM STDIN") as copy:
        for moment, event_type, subject, data, candidate_id in events:
            copy.write_row((str(uuid.uuid4()), event_type, sources[event_type], subject, moment,
                            json.dumps(data, separators=(",", ":")), moment + timedelta(milliseconds=40),
                            candidate_id))
    conn.execute("ANALYZE event_store")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 events, under a minute")
    parser.add_argument("-n", type=int, default=None, help="events in the store (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    n = args.n or (50_000 if args.quick else 1_000_000)

    database = f"werkbrug_bench_rebuild_{uuid.uuid4().hex[:8]}"
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{database}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        from werkbrug_shared.migrations import upgrade

        upgrade("reporting", url)
        started = time.monotonic()
        generator = Generator()
        events = generator.generate(n)
        generated = time.monotonic() - started
        with psycopg.connect(f"{base}/{database}", autocommit=True) as conn:
            fill(conn, events)
            kinds = dict(conn.execute("SELECT type, count(*) FROM event_store GROUP BY type").fetchall())
        from reporting.domain import PROJECTIONS

        replayed = sum(c for t, c in kinds.items() if t in PROJECTIONS)
        print(f"{n:,} events of {generator.people:,} people ({generator.placements:,} placements) generated in "
              f"{generated:.1f} s and stored in {time.monotonic() - started - generated:.1f} s; "
              f"{replayed:,} of them of the types the read models use")
        for event_type, count in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"  {count:>9,}  {event_type}")
        del events

        env = {**os.environ, "REPORTING_DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
        command = [str(Path(sys.executable).with_name("werkbrug")), "reporting", "rebuild",
                   "--batch-size", str(args.batch_size)]
        if not Path(command[0]).exists():
            command = [sys.executable, "-m", "werkbrug_shared.cli", *command[1:]]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(command, env=env, cwd=ROOT, check=True)
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

        with psycopg.connect(f"{base}/{database}", autocommit=True) as conn:
            people, placed = conn.execute("SELECT count(*), count(first_start) FROM rm_people").fetchone()
            placements, decided, durable = conn.execute(
                "SELECT count(*), sum(decided_6), sum(durable_6) FROM rm_placements").fetchone()
            open_tasks, overdue = conn.execute("SELECT sum(is_open), sum(is_overdue) FROM rm_tasks").fetchone()
        print(f"read models: {people:,} people in scope, {placed:,} placed ({placed / max(people, 1):.1%}); "
              f"{placements:,} placements, durable at 6 months {durable:,} of {decided:,} decided; "
              f"aftercare tasks open {open_tasks:,}, overdue {overdue:,}")
        rate = n / seconds
        print(f"rebuild: {n:,} events in {seconds:.1f} s, {rate:,.0f} events/s (1,000,000 at this rate: "
              f"{1_000_000 / rate:.0f} s, goal 120 s); the rebuild process used {cpu:.1f} CPU s, "
              f"at most {after.ru_maxrss / 1024:.0f} MB; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")
        print(f"RESULT events={n} replayed={replayed} seconds={seconds:.1f} events_per_s={rate:.0f} "
              f"cpu_seconds={cpu:.1f}")
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
