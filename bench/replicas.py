"""Replica lag: from a commit through one matching replica to the other replica serving it.

    .venv/bin/python bench/replicas.py            # 300 measured changes, 200 profile events/s
    .venv/bin/python bench/replicas.py --quick    # 60 measured changes, under a minute

Two matching replicas (`nameko run`, named r1 and r2 by WERKBRUG_INSTANCE) share their queues and
their PostgreSQL database on a private vhost, as on a cluster. A stream of candidate.profile_updated
events (the load: each one is committed by whichever replica takes it, logged, and followed by the
other) runs throughout. Meanwhile placements are recorded and ended in turn, each through one
replica's own address (`matching@r1`, see matching/replicas.py), alternating between the two; the
clock starts at the change's row in the index change log (written just before its commit, so the
commit itself is counted) and stops when the *other* replica's `indexed` answer shows the
candidate's new pool state, asked every 2 ms. The writing replica answers it at once (it catches
up before it replies): only the other one is measured.
The last line holds the headline figures.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import eventlet  # noqa: E402

eventlet.monkey_patch()

from kombu import Connection  # noqa: E402

from tests.integration.harness import System, eventually  # noqa: E402
from werkbrug_shared import topology  # noqa: E402
from werkbrug_shared.events import new_event  # noqa: E402

CREDENTIAL = "dev-gemeente-enschede"
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
SAFETY = "http://data.europa.eu/esco/skill/86df7af2-f9f3-4c06-a500-7f1fba9e78fe"
REPLICAS = {"matching": "r1", "matching-2": "r2"}
REGISTERED, UPDATED = "nl.werkbrug.candidate.registered.v1", "nl.werkbrug.candidate.profile_updated.v1"
POLL_S = 0.002


class Replicas(System):
    """Only what the bench needs: two named matching replicas (events are published here directly)."""

    def spawn(self, service: str, instance: str | None = None):
        self.extra_env["WERKBRUG_INSTANCE"] = REPLICAS[instance or service]
        try:
            super().spawn(service, instance)
        finally:
            self.extra_env.pop("WERKBRUG_INSTANCE", None)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def profile(candidate_id: str, region: str, hours: int = 32, skills=(CLEAN,)) -> dict:
    return {"candidate_id": candidate_id, "region": region, "pc4": "7512", "target_groups": ["bijstand"],
            "skills": list(skills), "hours_per_week": hours, "conditions": []}


class Publisher:
    """Publishes events as the candidates and vacancies services' relays would."""

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.producer = self.connection.Producer()

    def publish(self, source: str, type_name: str, subject: str, data: dict) -> None:
        self.producer.publish(
            new_event(type_name, subject, data, source_service=source).to_json(),
            exchange=topology.event_exchange(source), routing_key=type_name, delivery_mode=2, mandatory=True,
            content_type="application/cloudevents+json", content_encoding="utf-8", retry=True)

    def close(self):
        self.connection.release()


def stream(publisher: Publisher, region: str, people: list[str], rate: float, running: list[bool],
           sent: list[int]) -> None:
    """Profile updates of ``people`` at ``rate`` a second until ``running`` goes false."""
    rng, started = random.Random(3), time.monotonic()
    while running[0]:
        due = started + sent[0] / rate
        if time.monotonic() < due:
            eventlet.sleep(due - time.monotonic())
            continue
        person = rng.choice(people)
        publisher.publish("candidates", UPDATED, person, profile(person, region, hours=rng.choice((24, 32, 36)),
                                                                    skills=rng.choice(((CLEAN,), (CLEAN, SAFETY)))))
        sent[0] += 1
    publisher.close()


def measure(system: Replicas, rpc, vacancy_id: str, people: list[str], samples: int) -> list[tuple[str, float]]:
    """(direction, seconds) per change: commit on one replica -> visible on the other."""
    out, placements, turn = [], {}, 0
    while len(out) < samples:
        person = people[turn % len(people)]
        writer, reader = ("r1", "r2") if turn % 2 == 0 else ("r2", "r1")
        turn += 1
        before = system.sql("matching", "SELECT coalesce(max(position), 0) FROM index_changes")[0][0]
        if person in placements:
            rpc[f"matching@{writer}"].end_placement(placements.pop(person), "2027-03-01", "other")
            wanted = True
        else:
            placements[person] = rpc[f"matching@{writer}"].record_placement({
                "candidate_id": person, "vacancy_id": vacancy_id, "start_date": "2026-12-01",
                "hours_per_week": 24})["id"]
            wanted = False
        other = rpc[f"matching@{reader}"]
        deadline = time.monotonic() + 30
        while other.indexed([person])[person]["in_pool"] is not wanted:
            if time.monotonic() > deadline:
                raise AssertionError(f"{reader} did not follow {writer}'s change of {person} in 30 s")
            eventlet.sleep(POLL_S)
        seen = time.time()
        (committed,) = system.sql("matching", "SELECT min(changed_at) FROM index_changes WHERE key = %s "
                                              "AND position > %s", person, before)[0]
        out.append((f"{writer}->{reader}", seen - committed.timestamp()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 measured changes, under a minute")
    parser.add_argument("--samples", type=int, help="measured changes (default 300, quick 60)")
    parser.add_argument("--rate", type=float, default=200, help="profile events a second in the stream (200)")
    args = parser.parse_args()
    samples = args.samples or (60 if args.quick else 300)
    region = f"bench-{uuid.uuid4().hex[:6]}"
    system = Replicas()
    system.create()
    publisher = None
    running, sent = [True], [0]
    try:
        for name in REPLICAS:
            system.spawn("matching", None if name == "matching" else name)
        for name in REPLICAS:
            system.wait_ready(name)
        publisher = Publisher(system.amqp_uri)
        vacancy_id, employer_id = str(uuid.uuid4()), str(uuid.uuid4())
        publisher.publish("vacancies", "nl.werkbrug.vacancy.opened.v1", vacancy_id, {
            "vacancy_id": vacancy_id, "employer_id": employer_id, "region": region, "pc4": "7511",
            "skills_required": [CLEAN], "hours_per_week": 32, "openings": 1000})
        measured = [str(uuid.uuid4()) for _ in range(20)]
        load = [str(uuid.uuid4()) for _ in range(500)]
        for person in measured + load:
            publisher.publish("candidates", REGISTERED, person, profile(person, region))
        with system.rpc(CREDENTIAL) as rpc:
            everyone = measured + load
            eventually(lambda: all(len(rpc[f"matching@{r}"].indexed(everyone)) == len(everyone)
                                   for r in REPLICAS.values()), timeout=120, interval=0.2,
                       what="both replicas to index every candidate")
            thread = eventlet.spawn(stream, Publisher(system.amqp_uri), region, load, args.rate, running, sent)
            eventlet.sleep(2)  # the stream gets going
            started = time.monotonic()
            lags = measure(system, rpc, vacancy_id, measured, samples)
            took = time.monotonic() - started
            running[0] = False
            thread.wait()
        stream_rate = sent[0] / (took + 2)
        seconds = [lag for _, lag in lags]
        for direction in sorted({d for d, _ in lags}):
            own = [lag for d, lag in lags if d == direction]
            print(f"{direction}: n={len(own)} p50={percentile(own, 50) * 1000:.1f} ms "
                  f"p99={percentile(own, 99) * 1000:.1f} ms max={max(own) * 1000:.1f} ms")
        changes = system.sql("matching", "SELECT count(*) FROM index_changes")[0][0]
        print(f"{len(lags)} changes measured in {took:.1f} s under {stream_rate:.0f} profile events/s "
              f"({sent[0]} sent); {changes} rows in the change log; mean {statistics.mean(seconds) * 1000:.1f} ms")
        print(f"RESULT p50_ms={percentile(seconds, 50) * 1000:.1f} p99_ms={percentile(seconds, 99) * 1000:.1f}")
    finally:
        running[0] = False
        if publisher is not None:
            publisher.close()
        system.destroy()


if __name__ == "__main__":
    main()
