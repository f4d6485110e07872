"""Two instances of every consuming service give the same answers as one (issue 16, §1).

The spine's flow (jobcoaches, an employer and two vacancies, candidates, rankings, a proposal
introduced and one rejected, placements, aftercare plans and tasks, tasks completed, the sweep,
a placement ended, reporting's figures and board, lists a page at a time) runs twice: once on a
system with one instance of every service, once with two of candidates, vacancies, matching,
aftercare and reporting on the same queues and databases. Every RPC answer of the second run must
equal the first's once what legitimately differs is taken out: generated ids (named by how they
came to be: the third candidate registered, placement 2's week_4 task, ...), timestamps, cursors
and the read models' version counter (a count of batches, which two consumers cut differently).

Before each read the system settles (every outbox relayed, every event in reporting's store, every
queue empty and acked, every matching replica at the index change log's last position, every
fairness count reported), checked by polling. Each read is asked three times: matching at each
replica's own address (``matching@r1``, ``matching@r2``) and once at its shared one, the other
services through their shared queue (RabbitMQ hands consecutive calls to both instances; each
instance's request counters show it answered every kind of read); the three answers must agree.
The one-instance run asks as often, so both serve as many rankings (they are counted, for
fairness). ``matching.fairness`` answers for the whole service on every replica (each replica's
reported counts are in matching's database, see matching/fairness_metrics.py): once every replica
reported, each must answer what the one instance did.

Placements are recorded one at a time, each planned before the next: which jobcoach gets a plan
depends on the plans before it, and two aftercare instances may take two placements in either
order (as one instance would take them as they were committed); that order is not what this
test compares.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import uuid
from collections import defaultdict

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from matching.replicas import INSTANCE_ENV
from tests.integration.harness import System, eventually
from werkbrug_shared import config, refdata
from werkbrug_shared.errors import NotFound

ENSCHEDE, SOWECO = "dev-gemeente-enschede", "dev-soweco"
CONSUMING = ("candidates", "vacancies", "matching", "aftercare", "reporting")
ASKS = 3  # each read is asked this many times
REGION, COHORT = "regio-eens", "werkfit-eens"
SKILLS = sorted(refdata.skills())
# a generated id; not the uuid at the end of an ESCO URI (the same in both runs)
UUID = re.compile(r"(?<![/\w-])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![\w-])")
POSTCODES = ("7511 AB", "7512 AB", "7513 AB", "7514 AB", "7521 AB", "7522 AB", "7523 AB", "7524 AB")
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")


class Run(System):
    """The system under one run: every service but the gateway (no HTTP is compared), with
    ``instances`` instances of each consuming service; matching's are named r1, r2."""

    def __init__(self, instances: int):
        super().__init__()
        self.instances = instances
        self.names = {s: [s] + [f"{s}-{i}" for i in range(2, instances + 1)] for s in CONSUMING}

    def spawn(self, service: str, instance: str | None = None):
        if service == "matching":
            self.extra_env[INSTANCE_ENV] = f"r{self.names['matching'].index(instance or service) + 1}"
        try:
            super().spawn(service, instance)
        finally:
            self.extra_env.pop(INSTANCE_ENV, None)

    def up(self):
        self.create()
        for service in CONSUMING:
            for name in self.names[service]:
                self.spawn(service, None if name == service else name)
        for service in CONSUMING:
            for name in self.names[service]:
                self.wait_ready(name)

    def replicas(self) -> list[str]:
        return [f"matching@r{i}" for i in range(1, self.instances + 1)]

    def served(self, name: str) -> dict[tuple[str, str], float]:
        """RPC requests this instance answered, per (kind, entrypoint)."""
        text = requests.get(self.metrics_url(name), timeout=5).text
        out = defaultdict(float)
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "werkbrug_requests_total" and s.labels.get("kind") == "rpc":
                    out[s.labels["entrypoint"]] += s.value
        return out

    def index_position(self, name: str) -> float:
        text = requests.get(self.metrics_url(name), timeout=5).text
        return next((s.value for f in text_string_to_metric_families(text) for s in f.samples
                     if s.name == "werkbrug_matching_index_position"), 0.0)

    def queue_messages(self) -> dict[str, int]:
        """Every queue of the vhost with messages ready or unacknowledged."""
        out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", self.vhost, "--no-table-headers",
                              "name", "messages"], check=True, capture_output=True, text=True, timeout=60).stdout
        rows = (line.split("\t") for line in out.splitlines() if line.strip())
        return {name: int(n) for name, n in rows if int(n)}


class Flow:
    """The spine's flow against one run, recording every answer (``self.answers``, in order) and
    naming every generated id (``self.names``) by how it came to be."""

    def __init__(self, system: Run, enschede, soweco):
        self.system, self.enschede, self.soweco = system, enschede, soweco
        self.answers: list[tuple[str, object]] = []
        self.names: dict[str, str] = {}

    # -- recording -------------------------------------------------------------------------

    def name(self, generated: str, as_: str) -> str:
        assert self.names.setdefault(generated, as_) == as_, (generated, as_)
        return generated

    def write(self, label: str, answer):
        self.answers.append((label, answer))
        return answer

    def read(self, label: str, service: str, method: str, *args, caller=None, **kwargs):
        """Asked ``ASKS`` times (matching: at every replica's address and at the shared one): the
        answers must agree; the first is recorded."""
        proxy = caller or self.enschede
        if service == "matching":
            replicas = self.system.replicas()
            targets = [replicas[i % len(replicas)] for i in range(ASKS - 1)] + ["matching"]
        else:
            targets = [service] * ASKS
        answers = []
        for target in targets:
            try:
                answers.append(getattr(proxy[target], method)(*args, **kwargs))
            except NotFound as exc:
                answers.append({"NotFound": str(exc)})
        assert all(a == answers[0] for a in answers), f"{label}: the instances disagree: {answers}"
        self.answers.append((label, answers[0]))
        return answers[0]

    def tied_by_id(self, by: str = "due"):
        """The last answer, a list ordered by ``by`` then by generated id: ordered by ``by`` then by the ids'
        names (ties went by ids, which differ from run to run)."""
        label, rows = self.answers[-1]
        self.answers[-1] = (label, sorted(rows, key=lambda r: (r[by], self.names.get(r["id"], r["id"]))))

    def settle(self):
        """Until every event was relayed and consumed, and every matching replica and the fairness
        figures caught up."""
        system = self.system

        def quiet():
            unsent = {s: system.sql(s, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
                      for s in config.DATABASE_SERVICES}
            if any(unsent.values()):
                return False
            written = sum(system.sql(s, "SELECT count(*) FROM outbox")[0][0] for s in config.DATABASE_SERVICES)
            stored = system.sql("reporting", "SELECT count(*) FROM event_store")[0][0]
            if stored != written:
                return False
            busy = system.queue_messages()
            assert not [q for q in busy if q.endswith(".dlq")], f"dead letters: {busy}"
            if busy:
                return False
            last = system.sql("matching", "SELECT coalesce(max(position), 0) FROM index_changes")[0][0]
            if any(system.index_position(n) != last for n in system.names["matching"]):
                return False
            # every ranking served is counted in reporting and in matching's fairness_counts (each replica
            # reports its own counts), so every replica's matching.fairness holds every other's
            reported = system.sql("reporting", "SELECT coalesce(max(fairness_top_total), 0) FROM rm_state")[0][0]
            return all(self.enschede[r].fairness()["served_in_top"] == reported for r in system.replicas())

        eventually(quiet, timeout=60, interval=0.2, what="the system to settle")

    # -- the flow ----------------------------------------------------------------------------

    def run(self):
        e, s = self.enschede, self.soweco
        self.write("organisation", s.aftercare.register_organisation({
            "name": "Jobcoaching Soweco", "coordinator_email": "coordinator@soweco.example"}))
        # capacities apart: the coach with most room is never a tie (decided by the ids otherwise)
        for i, hours in enumerate((36, 27.5)):
            coach = self.write(f"jobcoach {i}", s.aftercare.register_jobcoach({
                "name": f"Coach {i}", "email": f"coach{i}@soweco.example", "regions": [REGION],
                "capacity_hours": hours}))
            self.name(coach["id"], f"jobcoach {i}")
        employer = self.write("employer", e.vacancies.register_employer({
            "name": "Facilitair BV", "kvk_number": "12345678", "region": REGION}))
        self.name(employer["id"], "employer")
        vacancies = []
        # places apart: no candidate finds both equally far (ties go by id)
        for i, (title, skills, openings, postcode) in enumerate((
                ("facilitair medewerker", (1, 2, 3), 4, "7511 JD"), ("magazijnmedewerker", (4, 5), 2, "7543 AB"))):
            vacancy = self.write(f"vacancy {i}", e.vacancies.open({
                "employer_id": employer["id"], "title": title, "region": REGION, "postcode": postcode,
                "skills_required": [SKILLS[k] for k in skills], "hours_per_week": 32, "openings": openings}))
            vacancies.append(self.name(vacancy["id"], f"vacancy {i}"))
        groups = (["statushouder"], ["bijstand", "50plus"], ["statushouder", "bijstand"], ["sw"], ["ww"],
                  ["50plus"], ["bijstand"], ["statushouder"])
        people = []
        for i, target_groups in enumerate(groups):
            # skills apart: no two people score the same for a vacancy (ties go by id)
            candidate = self.write(f"candidate {i}", e.candidates.register({
                "given_name": f"Kandidaat{i}", "family_name": "Testpersoon", "region": REGION,
                "postcode": POSTCODES[i % len(POSTCODES)], "target_groups": target_groups,
                "skills": [SKILLS[k] for k in range(1, 1 + (i % 5) + 1)] + [SKILLS[20 + i]],
                "hours_per_week": 24 + i, "conditions": [], "cohort": COHORT}))
            people.append(self.name(candidate["id"], f"candidate {i}"))

        self.settle()
        self.reads(people, vacancies, placements=[])

        match = self.write("propose 0", e.matching.propose(people[0], vacancies[0]))
        self.name(match["id"], "match 0")
        self.write("introduce 0", e.matching.introduce(match["id"], "Voorgesteld bij de werkgever."))
        other = self.write("propose 1", e.matching.propose(people[1], vacancies[1]))
        self.name(other["id"], "match 1")
        self.write("reject 1", e.matching.reject(other["id"], "employer_declined"))

        placements = []
        starts = ("2027-01-04", "2026-11-02", "2027-02-01", "2027-01-18")  # one long begun: overdue tasks
        for i, (person, start) in enumerate(zip(people[:4], starts, strict=True)):
            placement = {"candidate_id": person, "vacancy_id": vacancies[0], "start_date": start,
                         "hours_per_week": 24 + i}
            if i == 0:
                placement["match_id"] = match["id"]
            recorded = self.write(f"placement {i}", e.matching.record_placement(placement))
            placements.append(self.name(recorded["id"], f"placement {i}"))
            plan = eventually(lambda p=recorded["id"]: self._plan(p), what=f"placement {i}'s plan")
            self.name(plan["id"], f"plan {i}")
            for task in s.aftercare.tasks(placement_id=recorded["id"]):
                self.name(task["id"], f"placement {i}'s {task['kind']}")

        self.settle()
        self.reads(people, vacancies, placements)

        first, second = s.aftercare.tasks(placement_id=placements[0])[:2]
        self.write("complete going_well", s.aftercare.complete_task(first["id"], "going_well", "Goed begonnen."))
        self.write("complete at_risk", s.aftercare.complete_task(second["id"], "at_risk", "Spanning.", 2.5))
        for task in s.aftercare.tasks(placement_id=placements[0]):
            if task["kind"] == "check_in":
                self.name(task["id"], "placement 0's check_in")
        self.write("sweep", s.aftercare.sweep())
        self.write("end placement 2", e.matching.end_placement(placements[2], "2027-03-01", "resigned"))

        self.settle()
        self.reads(people, vacancies, placements)

    def _plan(self, placement_id: str):
        try:
            return self.soweco.aftercare.plan_for_placement(placement_id)
        except NotFound:
            return None

    def reads(self, people, vacancies, placements):
        e, s, read = self.enschede, self.soweco, self.read
        for i, person in enumerate(people):
            read(f"candidate {i}", "candidates", "get", person)
        page = read("candidates page 1", "candidates", "list", {"region": REGION}, 3)
        read("candidates page 2", "candidates", "list", {"region": REGION}, 3, page["next_cursor"])
        read("candidates in bijstand", "candidates", "list", {"target_group": "bijstand"})
        read("candidates placed", "candidates", "list", {"status": "placed"})
        read("candidate 0's log", "candidates", "log", people[0])
        for i, vacancy in enumerate(vacancies):
            read(f"vacancy {i}", "vacancies", "get", vacancy)
            read(f"ranking {i}", "matching", "candidates_for_vacancy", vacancy, 10)
        read("vacancies", "vacancies", "list", {"region": REGION})
        read("published", "vacancies", "list_published", {"region": REGION})
        read("employer", "vacancies", "get_employer", self._id("employer"))
        for i in (0, 4):
            read(f"vacancies for candidate {i}", "matching", "vacancies_for_candidate", people[i], 5)
        read("occupations for candidate 0", "matching", "suggest_occupations", people[0], 3)
        read("indexed", "matching", "indexed", people)
        read("index size", "matching", "index_size")
        for i, placement in enumerate(placements):
            read(f"get placement {i}", "matching", "get_placement", placement)
            read(f"placements of candidate {i}", "matching", "placements_of", people[i])
            read(f"plan {i}", "aftercare", "plan_for_placement", placement, caller=s)
            read(f"tasks of placement {i}", "aftercare", "tasks", placement_id=placement, caller=s)
            self.tied_by_id("due")
        read("jobcoaches", "aftercare", "jobcoaches", REGION)
        read("workload", "aftercare", "workload", caller=s)
        read("open tasks", "aftercare", "tasks", status="open", caller=s)
        self.tied_by_id("due")
        for escalation in read("escalations", "aftercare", "escalations", "soweco", caller=s):
            about = self.names[escalation["task_id"] or escalation["plan_id"]]
            self.name(escalation["id"], f"escalation {escalation['kind']} of {about}")
        self.tied_by_id("created_at")
        self.settle()  # the rankings just served are counted in reporting's fairness figures
        for query in ({"cohort": COHORT}, {"cohort": COHORT, "suppress": False, "group_by": "target_group"},
                      {"region": REGION, "suppress": False, "period": "month"}):
            read(f"outflow {query}", "reporting", "outflow", **query)
            read(f"durability {query}", "reporting", "durability", **query)
        read("targets", "reporting", "targets")
        version = read("board version", "reporting", "board_version")["version"]
        # a board may lag the version by up to BoardCache.max_wait, on one instance as on two
        eventually(lambda: all(e.reporting.board()["version"] == version for _ in range(ASKS)), timeout=10,
                   interval=0.05, what="every instance's board at the settled version")
        read("board", "reporting", "board")
        fairness = [e[r].fairness() for r in self.system.replicas()]
        assert all(f == fairness[0] for f in fairness), f"the replicas' fairness differs: {fairness}"
        self.answers.append(("fairness, each replica's", fairness[0]))

    def _id(self, name: str) -> str:
        return next(k for k, v in self.names.items() if v == name)


def normalised(answer, names: dict[str, str]):
    """Generated ids by their names, moments, cursors and version counters as placeholders."""
    if isinstance(answer, dict):
        out = {}
        for key, value in answer.items():
            if key == "version" and isinstance(value, int):
                value = "<version>"
            elif key == "next_cursor" and value is not None:
                value = "<cursor of " + normalised(json.dumps(json.loads(base64.urlsafe_b64decode(value))[1:]),
                                                   names) + ">"
            out[normalised(key, names)] = normalised(value, names)  # ids as keys too
        return out
    if isinstance(answer, list):
        return [normalised(v, names) for v in answer]
    if isinstance(answer, str):
        if MOMENT.match(answer):
            return "<moment>"
        return UUID.sub(lambda m: f"<{names.get(m.group(0), 'unnamed id')}>", answer)
    return answer


@pytest.fixture(scope="module")
def runs():
    from tests.integration.conftest import _require_infrastructure

    _require_infrastructure()
    out = {}
    for instances in (1, 2):
        system = Run(instances)
        try:
            system.up()
            with system.rpc(ENSCHEDE) as enschede, system.rpc(SOWECO) as soweco:
                flow = Flow(system, enschede, soweco)
                flow.run()
                out[instances] = (flow, {n: system.served(n) for names in system.names.values() for n in names})
        finally:
            system.destroy()
    return out


def test_two_instances_of_every_service_answer_as_one_does(runs):
    one, _ = runs[1]
    two, served = runs[2]
    assert [label for label, _ in two.answers] == [label for label, _ in one.answers]
    for flow in (one, two):
        unnamed = [(label, sorted(set(UUID.findall(json.dumps(a))) - set(flow.names))) for label, a in flow.answers]
        assert not [u for u in unnamed if u[1]], f"ids the flow did not name: {[u for u in unnamed if u[1]]}"
    differ = []
    for (label, a), (_, b) in zip(one.answers, two.answers, strict=True):
        a, b = normalised(a, one.names), normalised(b, two.names)
        if a != b:
            differ.append(f"{label}:\n  one instance:  {json.dumps(a, sort_keys=True)}\n"
                          f"  two instances: {json.dumps(b, sort_keys=True)}")
    assert not differ, f"{len(differ)} of {len(one.answers)} answers differ:\n" + "\n".join(differ)
    print(f"{len(one.answers)} answers compared, all equal")

    # and both instances of every service answered every kind of read asked through the shared queue
    asked = {"candidates": ("get", "list", "log"), "vacancies": ("get", "list", "list_published", "get_employer"),
             "aftercare": ("plan_for_placement", "tasks", "jobcoaches", "workload", "escalations"),
             "reporting": ("outflow", "durability", "targets", "board_version", "board"),
             "matching": ("candidates_for_vacancy", "vacancies_for_candidate", "indexed", "fairness")}
    missing = [f"{service}-{i}.{method}" for service, methods in asked.items() for i, name in
               enumerate((service, f"{service}-2"), start=1) for method in methods if not served[name].get(method)]
    assert not missing, f"instances that never answered a kind of read: {missing}"


def test_the_flow_names_its_ids_the_same_way_in_both_runs(runs):
    assert sorted(runs[1][0].names.values()) == sorted(runs[2][0].names.values())


def test_generated_ids_are_told_from_esco_uris():
    made = str(uuid.uuid4())
    assert UUID.findall(f"{made} {SKILLS[0]}") == [made]
    named = normalised({made: [made, SKILLS[0]]}, {made: "candidate 0"})
    assert named == {"<candidate 0>": ["<candidate 0>", SKILLS[0]]}
