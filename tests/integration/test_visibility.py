"""Partners see only what they may: every operation, tried by whoever may not.

Every RPC operation of every service and every gateway route is found from the
service classes' entrypoints, so a new one is tried as soon as it exists: one
this file does not know how to call fails the test until it is added to
``RPC_CALLS`` or ``HTTP_CALLS``. Each is called, with arguments that reach a
hidden vacancy of Twente and a candidate, by an organisation of the same
region, one of another region, and without a credential. Who may see what comes
from the one rule (werkbrug_shared.visibility): the hidden vacancy is for
Twente's professionals and its stewards; a candidate's personal data for the
organisation that registered them. Where a caller may not see an object, none
of its tell-tales (the vacancy's id and title; the candidate's name, e-mail and
BSN) may be in the answer, and a refusal may only repeat what the caller sent
itself; a call naming the hidden vacancy is refused, and where it names the
vacancy, its match or its placement, the refusal must not tell it exists (no
Conflict).
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from nameko.exceptions import RemoteError

from tests.integration.harness import eventually, matching_has
from werkbrug_shared import config, visibility
from werkbrug_shared.entrypoints import Http, Rpc
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from werkbrug_shared.visibility import Viewer

ENSCHEDE = "dev-gemeente-enschede"  # registers the candidate, opens and stewards the hidden vacancy
SOWECO = "dev-soweco"  # coaches the placement
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
REFUSALS = (ValidationError, NotFound, Forbidden, Unauthorized, Conflict)


@dataclass(frozen=True)
class Caller:
    name: str
    credential: str | None
    viewer: Viewer


CALLERS = (
    Caller("same region (Gemeente Hengelo, Twente)", "dev-gemeente-hengelo", Viewer("gemeente-hengelo", "Twente")),
    Caller("another region (Gemeente Utrecht)", "dev-gemeente-utrecht", Viewer("gemeente-utrecht", "Midden-Utrecht")),
    Caller("no credential", None, visibility.ANONYMOUS),
)


def new_bsn() -> str:
    while True:
        head = f"{random.randint(10**7, 10**8 - 1):08d}"
        check = sum(w * int(d) for w, d in zip(range(9, 1, -1), head, strict=True)) % 11
        if check < 10:
            return head + str(check)


def kvk() -> str:
    return f"{uuid.uuid4().int % 10**8:08d}"


@dataclass
class World:
    """What the owners made: Enschede's hidden vacancy and candidate, a match and a placement
    of them, Soweco's coach with the placement's aftercare; and each object's tell-tales."""

    tag: str
    region: str  # the candidate's (and the coach's) own, so no other test's coach takes the plan
    employer_id: str = ""
    vacancy_id: str = ""
    title: str = ""
    candidate_id: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    bsn: str = ""
    match_id: str = ""
    placement_id: str = ""
    start_date: str = ""
    jobcoach_id: str = ""
    plan_id: str = ""
    task_id: str = ""
    trajectory_id: str = ""
    cohort_id: str = ""
    objects: dict = field(default_factory=dict)

    def person(self, **extra) -> dict:
        return {"given_name": f"Ander{self.tag}", "family_name": "Probe", "region": self.region,
                "postcode": "7512 AB", "target_groups": ["bijstand"], "skills": [CLEAN], "hours_per_week": 24,
                **extra}

    def job(self) -> dict:
        return {"employer_id": self.employer_id, "title": "proef", "region": "Twente", "postcode": "7511 JD",
                "must_have": [{"skill": CLEAN, "weight": 1.0}], "hours_per_week": 24, "openings": 1}

    def placement(self) -> dict:
        return {"candidate_id": self.candidate_id, "vacancy_id": self.vacancy_id, "start_date": self.start_date,
                "hours_per_week": 8, "request_id": str(uuid.uuid4())}

    @property
    def end_date(self) -> str:
        return (date.fromisoformat(self.start_date) + timedelta(days=30)).isoformat()


@dataclass(frozen=True)
class Secret:
    """One object, who may see it, and what in an answer would show it."""

    name: str
    may_see: object  # Viewer -> bool
    tell_tales: tuple[str, ...]
    names: tuple[str, ...]  # ids that, in a call, name it or what is of it (a Conflict tells it exists)
    own_id: str | None = None  # a call naming it by its own id is refused, however it answers


def make_world(system) -> World:
    tag = uuid.uuid4().hex[:10]
    w = World(tag=tag, region=f"vis-{tag}")
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede, system.rpc(SOWECO, "coordinator") as soweco:
        soweco.aftercare.register_organisation({"name": "Soweco", "coordinator_email": "nazorg@soweco.example"})
        w.jobcoach_id = soweco.aftercare.register_jobcoach({
            "name": "Mark", "email": f"mark.{tag}@soweco.example", "regions": [w.region], "capacity_hours": 36,
        })["id"]
        w.employer_id = enschede.vacancies.register_employer(
            {"name": f"Werkgever {tag}", "kvk_number": kvk(), "region": "Twente", "postcode": "7511 JD"})["id"]
        w.title = f"Verborgen functie {tag}"
        w.vacancy_id = enschede.vacancies.open({**w.job(), "title": w.title, "openings": 3,
                                                "visibility": "hidden"})["id"]
        w.given_name, w.family_name = f"Geheim{tag}", f"Persoon{tag}"
        w.email, w.bsn = f"geheim.{tag}@example.nl", new_bsn()
        w.candidate_id = enschede.candidates.register(w.person(
            given_name=w.given_name, family_name=w.family_name, email=w.email, bsn=w.bsn))["id"]
        trajectory = enschede.candidates.define_trajectory(
            {"name": f"werkfit {tag}", "weeks": 8, "modules": [{"code": "taal", "name": "Taal op de werkvloer"}]})
        w.trajectory_id = trajectory["id"]
        w.cohort_id = enschede.candidates.start_cohort({"trajectory_id": w.trajectory_id, "name": f"cohort {tag}",
                                                        "start_date": "2026-09-01", "region": w.region})["id"]
        eventually(lambda: matching_has(enschede, w.vacancy_id, [w.candidate_id]), what="matching to index both")
        # what professionals write about the person may name them: notes are personal data too
        said = f"{w.given_name} {w.family_name} had een goed gesprek met de teamleider"
        w.match_id = enschede.matching.propose(w.candidate_id, w.vacancy_id)["id"]
        enschede.matching.introduce(w.match_id, said)
        enschede.vacancies.add_candidate(w.vacancy_id, w.candidate_id, said)
        enschede.candidates.add_log_entry(w.candidate_id, {"text": said})
        w.start_date = "2026-12-01"
        w.placement_id = enschede.matching.record_placement({
            "candidate_id": w.candidate_id, "vacancy_id": w.vacancy_id, "match_id": w.match_id,
            "start_date": w.start_date, "hours_per_week": 24})["id"]
        plan = eventually(lambda: _plan(soweco, w.placement_id), what="the placement's aftercare plan")
        w.plan_id = plan["id"]
        w.task_id = soweco.aftercare.tasks(placement_id=w.placement_id)[0]["id"]
    w.objects = {
        "hidden vacancy": Secret(
            "hidden vacancy",
            lambda viewer: visibility.may_see_vacancy(viewer, "hidden", "Twente", ["gemeente-enschede"]),
            (w.vacancy_id, w.title), (w.vacancy_id, w.match_id, w.placement_id), own_id=w.vacancy_id),
        "candidate's personal data": Secret(
            "candidate's personal data",
            lambda viewer: visibility.may_see_personal_data(viewer, "gemeente-enschede"),
            (w.given_name, w.family_name, w.email, w.bsn), ()),
    }
    return w


def _plan(soweco, placement_id):
    try:
        return soweco.aftercare.plan_for_placement(placement_id)
    except NotFound:
        return None


# --- how each operation is called: (args, kwargs) from the world and the caller ----------------
# Every call is valid for a caller who may do it, so that refusals come from who asks, not from
# what was asked. Writes make new things of their own (a unique name, a new request_id).

RPC_CALLS = {
    # candidates
    "candidates.register": lambda w, c: ((w.person(bsn=w.bsn),), {}),  # the same person, another name
    "candidates.register_many": lambda w, c: (([w.person(bsn=w.bsn)],), {}),
    "candidates.get": lambda w, c: ((w.candidate_id,), {}),
    "candidates.update": lambda w, c: ((w.candidate_id, {"hours_per_week": 20}), {}),
    "candidates.list": lambda w, c: (({"region": w.region}, 50, None), {}),
    "candidates.change_status": lambda w, c: ((w.candidate_id, "available", "proef"), {}),
    "candidates.add_log_entry": lambda w, c: ((w.candidate_id, {"text": "proef"}), {}),
    "candidates.log": lambda w, c: ((w.candidate_id,), {}),
    "candidates.set_plan": lambda w, c: ((w.candidate_id, {"goal": "proef"}), {}),
    "candidates.define_trajectory": lambda w, c: (({"name": f"proef {uuid.uuid4().hex}", "weeks": 4,
                                                    "modules": [{"code": "m1", "name": "Module"}]},), {}),
    "candidates.start_cohort": lambda w, c: (({"trajectory_id": w.trajectory_id, "name": uuid.uuid4().hex,
                                               "start_date": "2026-09-01", "region": w.region},), {}),
    "candidates.get_cohort": lambda w, c: ((w.cohort_id,), {}),
    "candidates.enrol": lambda w, c: ((w.candidate_id, w.cohort_id), {}),
    "candidates.complete_module": lambda w, c: ((w.candidate_id, w.cohort_id, "taal"), {}),
    "candidates.erase": lambda w, c: ((w.candidate_id,), {}),
    "candidates.custodian": lambda w, c: ((w.candidate_id,), {}),
    "candidates.audit_log": lambda w, c: ((w.candidate_id,), {}),
    "candidates.inzage": lambda w, c: ((w.candidate_id,), {}),
    # consent: the registering organisation records it (a consent to the caller itself, tried by the caller)
    "candidates.give_consent": lambda w, c: (
        (w.candidate_id, {"purpose": "mediation", "organisation": c.viewer.organisation or "gemeente-utrecht"}), {}),
    "candidates.revoke_consent": lambda w, c: ((w.candidate_id, "matching"), {}),
    "candidates.consents": lambda w, c: ((w.candidate_id,), {}),
    # vacancies
    "vacancies.register_employer": lambda w, c: (({"name": "Proef BV", "kvk_number": kvk(), "region": "Twente"},),
                                                 {}),
    "vacancies.get_employer": lambda w, c: ((w.employer_id,), {}),
    "vacancies.open": lambda w, c: ((w.job(),), {}),
    "vacancies.open_many": lambda w, c: (([w.job()],), {}),
    "vacancies.get": lambda w, c: ((w.vacancy_id,), {}),
    "vacancies.list": lambda w, c: (({"employer_id": w.employer_id}, 200, None), {}),
    "vacancies.list_published": lambda w, c: (({"employer_id": w.employer_id}, 200, None), {}),
    "vacancies.stewards": lambda w, c: ((w.vacancy_id,), {}),
    "vacancies.update": lambda w, c: ((w.vacancy_id, {"openings": 4}), {}),
    "vacancies.close": lambda w, c: ((w.vacancy_id, "withdrawn_by_employer"), {}),
    "vacancies.add_steward": lambda w, c: (
        (w.vacancy_id, {"organisation": c.viewer.organisation or "gemeente-utrecht", "professional": "p"}), {}),
    "vacancies.add_candidate": lambda w, c: ((w.vacancy_id, w.candidate_id, "proef"), {}),
    "vacancies.shortlist": lambda w, c: ((w.vacancy_id,), {}),
    "vacancies.audit_log": lambda w, c: ((w.candidate_id,), {}),
    "vacancies.inzage": lambda w, c: ((w.candidate_id,), {}),
    # matching
    "matching.candidates_for_vacancy": lambda w, c: ((w.vacancy_id, 100, {"region": w.region}), {}),
    "matching.vacancies_for_candidate": lambda w, c: (
        (w.candidate_id, 100, {"region": "Twente", "visibility": "hidden"}), {}),
    "matching.suggest_occupations": lambda w, c: ((w.candidate_id, 5), {}),
    "matching.fairness": lambda w, c: ((), {}),
    "matching.indexed": lambda w, c: (([w.candidate_id],), {}),
    "matching.index_size": lambda w, c: ((), {}),
    "matching.propose": lambda w, c: ((w.candidate_id, w.vacancy_id), {}),
    "matching.introduce": lambda w, c: ((w.match_id, "proef"), {}),
    "matching.reject": lambda w, c: ((w.match_id, "other", "proef"), {}),
    "matching.get_match": lambda w, c: ((w.match_id,), {}),
    "matching.record_placement": lambda w, c: ((w.placement(),), {}),
    "matching.end_placement": lambda w, c: ((w.placement_id, w.end_date, "other"), {}),
    "matching.placements_of": lambda w, c: ((w.candidate_id,), {}),
    "matching.get_placement": lambda w, c: ((w.placement_id,), {}),
    "matching.audit_log": lambda w, c: ((w.candidate_id,), {}),
    "matching.inzage": lambda w, c: ((w.candidate_id,), {}),
    # aftercare
    "aftercare.register_organisation": lambda w, c: (({"name": "Proef", "coordinator_email": "c@proef.example"},),
                                                     {}),
    "aftercare.register_jobcoach": lambda w, c: (({"name": "Proef", "email": f"{uuid.uuid4().hex}@proef.example",
                                                   "regions": [f"proef-{w.tag}"], "capacity_hours": 1},), {}),
    "aftercare.update_jobcoach": lambda w, c: ((w.jobcoach_id, {"capacity_hours": 30}), {}),
    "aftercare.deactivate_jobcoach": lambda w, c: ((w.jobcoach_id,), {}),
    "aftercare.jobcoaches": lambda w, c: ((w.region,), {}),
    "aftercare.reassign": lambda w, c: ((w.plan_id, w.jobcoach_id), {}),
    "aftercare.plan_for_placement": lambda w, c: ((w.placement_id,), {}),
    "aftercare.tasks": lambda w, c: ((), {"placement_id": w.placement_id}),
    "aftercare.workload": lambda w, c: ((), {}),
    "aftercare.complete_task": lambda w, c: ((w.task_id, "going_well"), {}),
    "aftercare.sweep": lambda w, c: ((), {}),
    "aftercare.escalations": lambda w, c: ((), {}),
    "aftercare.audit_log": lambda w, c: ((w.candidate_id,), {}),
    "aftercare.inzage": lambda w, c: ((w.candidate_id,), {}),
    # reporting: aggregates
    "reporting.outflow": lambda w, c: ((), {"region": w.region}),
    "reporting.durability": lambda w, c: ((), {"region": w.region}),
    "reporting.targets": lambda w, c: ((), {}),
    "reporting.board_version": lambda w, c: ((), {}),
    "reporting.board": lambda w, c: ((), {}),
    # reporting: the partner feed, its webhooks (no receiver here: a subscription is refused), inzage
    "reporting.feed": lambda w, c: ((), {"after": 0, "limit": 1000}),
    "reporting.feed_snapshot": lambda w, c: ((), {}),
    "reporting.subscribe_webhook": lambda w, c: (("https://hooks.example.org/werkbrug",), {}),
    "reporting.list_webhooks": lambda w, c: ((), {}),
    "reporting.unsubscribe_webhook": lambda w, c: ((str(uuid.uuid4()),), {}),
    "reporting.webhook_dead_letters": lambda w, c: ((str(uuid.uuid4()),), {}),
    "reporting.replay_webhook": lambda w, c: ((str(uuid.uuid4()), 0), {}),
    "reporting.inzage": lambda w, c: ((w.candidate_id,), {}),
}

# route -> (path, JSON body or None)
HTTP_CALLS = {
    "GET /health": lambda w: ("/health", None),
    "POST /v1/candidates": lambda w: ("/v1/candidates", w.person(bsn=w.bsn)),
    "GET /v1/candidates/<string:candidate_id>": lambda w: (f"/v1/candidates/{w.candidate_id}", None),
    "GET /v1/vacancies/<string:vacancy_id>/candidates": lambda w: (
        f"/v1/vacancies/{w.vacancy_id}/candidates?limit=100&region={w.region}", None),
    "GET /v1/candidates/<string:candidate_id>/vacancies": lambda w: (
        f"/v1/candidates/{w.candidate_id}/vacancies?limit=100&region=Twente&visibility=hidden", None),
    "GET /v1/candidates/<string:candidate_id>/occupations": lambda w: (
        f"/v1/candidates/{w.candidate_id}/occupations?limit=5", None),
    "POST /v1/matches": lambda w: ("/v1/matches", {"candidate_id": w.candidate_id, "vacancy_id": w.vacancy_id}),
    "POST /v1/matches/<string:match_id>/introduction": lambda w: (
        f"/v1/matches/{w.match_id}/introduction", {"note": "proef"}),
    "POST /v1/matches/<string:match_id>/rejection": lambda w: (
        f"/v1/matches/{w.match_id}/rejection", {"reason": "other"}),
    "POST /v1/placements": lambda w: ("/v1/placements", w.placement()),
    "POST /v1/placements/<string:placement_id>/end": lambda w: (
        f"/v1/placements/{w.placement_id}/end", {"end_date": w.end_date, "reason": "other"}),
    "POST /v1/placements/<string:placement_id>/ending": lambda w: (
        f"/v1/placements/{w.placement_id}/ending", {"end_date": w.end_date, "reason": "other"}),
    "GET /v1/matching/fairness": lambda w: ("/v1/matching/fairness", None),
    "GET /v1/jobcoaches/<string:jobcoach_id>/tasks": lambda w: (f"/v1/jobcoaches/{w.jobcoach_id}/tasks", None),
    "GET /v1/jobcoaches/<string:jobcoach_id>/workload": lambda w: (f"/v1/jobcoaches/{w.jobcoach_id}/workload", None),
    "POST /v1/aftercare/tasks/<string:task_id>/completion": lambda w: (
        f"/v1/aftercare/tasks/{w.task_id}/completion", {"outcome": "going_well"}),
    "GET /v1/placements/<string:placement_id>/aftercare": lambda w: (
        f"/v1/placements/{w.placement_id}/aftercare", None),
    "POST /v1/aftercare/plans/<string:plan_id>/reassignment": lambda w: (
        f"/v1/aftercare/plans/{w.plan_id}/reassignment", {"jobcoach_id": w.jobcoach_id}),
    "GET /board": lambda w: ("/board", None),
    "GET /board/static/<path:file>": lambda w: ("/board/static/board.js", None),
    "GET /v1/board": lambda w: ("/v1/board", None),
    "GET /v1/board/version": lambda w: ("/v1/board/version", None),
    "GET /v1/outflow": lambda w: (f"/v1/outflow?region={w.region}", None),
    "GET /v1/durability": lambda w: (f"/v1/durability?region={w.region}", None),
    "GET /v1/targets": lambda w: ("/v1/targets", None),
    # candidates
    "POST /v1/candidate-batches": lambda w: ("/v1/candidate-batches", {"candidates": [w.person(bsn=w.bsn)]}),
    "GET /v1/candidates": lambda w: (f"/v1/candidates?region={w.region}&limit=200", None),
    "PATCH /v1/candidates/<string:candidate_id>": lambda w: (
        f"/v1/candidates/{w.candidate_id}", {"hours_per_week": 20}),
    "DELETE /v1/candidates/<string:candidate_id>": lambda w: (f"/v1/candidates/{w.candidate_id}", None),
    "PUT /v1/candidates/<string:candidate_id>/status": lambda w: (
        f"/v1/candidates/{w.candidate_id}/status", {"status": "available", "reason": "proef"}),
    "POST /v1/candidates/<string:candidate_id>/logbook": lambda w: (
        f"/v1/candidates/{w.candidate_id}/logbook", {"text": "proef"}),
    "GET /v1/candidates/<string:candidate_id>/logbook": lambda w: (f"/v1/candidates/{w.candidate_id}/logbook", None),
    "PUT /v1/candidates/<string:candidate_id>/plan": lambda w: (
        f"/v1/candidates/{w.candidate_id}/plan", {"goal": "proef"}),
    "POST /v1/trajectories": lambda w: ("/v1/trajectories", {"name": f"proef {uuid.uuid4().hex}", "weeks": 4,
                                                             "modules": [{"code": "m1", "name": "Module"}]}),
    "POST /v1/cohorts": lambda w: ("/v1/cohorts", {"trajectory_id": w.trajectory_id, "name": uuid.uuid4().hex,
                                                   "start_date": "2026-09-01", "region": w.region}),
    "GET /v1/cohorts/<string:cohort_id>": lambda w: (f"/v1/cohorts/{w.cohort_id}", None),
    "POST /v1/cohorts/<string:cohort_id>/enrolments": lambda w: (
        f"/v1/cohorts/{w.cohort_id}/enrolments", {"candidate_id": w.candidate_id}),
    "POST /v1/cohorts/<string:cohort_id>/enrolments/<string:candidate_id>/completed-modules": lambda w: (
        f"/v1/cohorts/{w.cohort_id}/enrolments/{w.candidate_id}/completed-modules", {"module_code": "taal"}),
    # vacancies
    "POST /v1/employers": lambda w: ("/v1/employers", {"name": "Proef BV", "kvk_number": kvk(), "region": "Twente"}),
    "GET /v1/employers/<string:employer_id>": lambda w: (f"/v1/employers/{w.employer_id}", None),
    "POST /v1/vacancies": lambda w: ("/v1/vacancies", w.job()),
    "POST /v1/vacancy-batches": lambda w: ("/v1/vacancy-batches", {"vacancies": [w.job()]}),
    "GET /v1/vacancies": lambda w: (f"/v1/vacancies?employer_id={w.employer_id}&limit=200", None),
    "GET /v1/published-vacancies": lambda w: (f"/v1/published-vacancies?employer_id={w.employer_id}&limit=200",
                                              None),
    "GET /v1/vacancies/<string:vacancy_id>": lambda w: (f"/v1/vacancies/{w.vacancy_id}", None),
    "PATCH /v1/vacancies/<string:vacancy_id>": lambda w: (f"/v1/vacancies/{w.vacancy_id}", {"openings": 4}),
    "POST /v1/vacancies/<string:vacancy_id>/closure": lambda w: (
        f"/v1/vacancies/{w.vacancy_id}/closure", {"reason": "withdrawn_by_employer"}),
    "GET /v1/vacancies/<string:vacancy_id>/stewards": lambda w: (f"/v1/vacancies/{w.vacancy_id}/stewards", None),
    "POST /v1/vacancies/<string:vacancy_id>/stewards": lambda w: (
        f"/v1/vacancies/{w.vacancy_id}/stewards", {"organisation": "gemeente-utrecht", "professional": "p"}),
    "GET /v1/vacancies/<string:vacancy_id>/shortlist": lambda w: (f"/v1/vacancies/{w.vacancy_id}/shortlist", None),
    "POST /v1/vacancies/<string:vacancy_id>/shortlist": lambda w: (
        f"/v1/vacancies/{w.vacancy_id}/shortlist", {"candidate_id": w.candidate_id, "note": "proef"}),
    # matching
    "GET /v1/candidates/<string:candidate_id>/placements": lambda w: (
        f"/v1/candidates/{w.candidate_id}/placements", None),
    "GET /v1/matches/<string:match_id>": lambda w: (f"/v1/matches/{w.match_id}", None),
    "GET /v1/placements/<string:placement_id>": lambda w: (f"/v1/placements/{w.placement_id}", None),
    "POST /v1/matching/index-lookups": lambda w: ("/v1/matching/index-lookups", {"candidate_ids": [w.candidate_id]}),
    "GET /v1/matching/index": lambda w: ("/v1/matching/index", None),
    # aftercare
    "POST /v1/aftercare/organisations": lambda w: (
        "/v1/aftercare/organisations", {"name": "Proef", "coordinator_email": "c@proef.example"}),
    "POST /v1/jobcoaches": lambda w: ("/v1/jobcoaches", {
        "name": "Proef", "email": f"{uuid.uuid4().hex}@proef.example", "regions": [f"proef-{w.tag}"],
        "capacity_hours": 1}),
    "GET /v1/jobcoaches": lambda w: (f"/v1/jobcoaches?region={w.region}", None),
    "PATCH /v1/jobcoaches/<string:jobcoach_id>": lambda w: (f"/v1/jobcoaches/{w.jobcoach_id}", {"capacity_hours": 30}),
    "POST /v1/jobcoaches/<string:jobcoach_id>/deactivation": lambda w: (
        f"/v1/jobcoaches/{w.jobcoach_id}/deactivation", None),
    "GET /v1/aftercare/tasks": lambda w: (f"/v1/aftercare/tasks?placement_id={w.placement_id}", None),
    "GET /v1/aftercare/workload": lambda w: ("/v1/aftercare/workload", None),
    "GET /v1/aftercare/escalations": lambda w: ("/v1/aftercare/escalations", None),
    "POST /v1/aftercare/sweeps": lambda w: ("/v1/aftercare/sweeps", {}),
    # reporting: the partner feed, its webhooks, inzage
    "GET /v1/feed": lambda w: ("/v1/feed?after=0&limit=200", None),
    "GET /v1/feed/snapshot": lambda w: ("/v1/feed/snapshot", None),
    "POST /v1/webhooks": lambda w: ("/v1/webhooks", {"url": "https://hooks.example.org/werkbrug"}),
    "GET /v1/webhooks": lambda w: ("/v1/webhooks", None),
    "DELETE /v1/webhooks/<string:subscription_id>": lambda w: (f"/v1/webhooks/{uuid.uuid4()}", None),
    "GET /v1/webhooks/<string:subscription_id>/dead-letters": lambda w: (
        f"/v1/webhooks/{uuid.uuid4()}/dead-letters", None),
    "POST /v1/webhooks/<string:subscription_id>/replay": lambda w: (f"/v1/webhooks/{uuid.uuid4()}/replay",
                                                                     {"after": 0}),
    "GET /v1/candidates/<string:candidate_id>/inzage/reporting": lambda w: (
        f"/v1/candidates/{w.candidate_id}/inzage/reporting", None),
    # accountability: custody, each service's audit log and inzage of one person
    "GET /v1/candidates/<string:candidate_id>/custodian": lambda w: (f"/v1/candidates/{w.candidate_id}/custodian",
                                                                     None),
    **{f"GET /v1/candidates/<string:candidate_id>/{kind}/{service}": (
        lambda w, kind=kind, service=service: (f"/v1/candidates/{w.candidate_id}/{kind}/{service}", None))
       for kind in ("audit-log", "inzage") for service in ("candidates", "vacancies", "matching", "aftercare")},
    # consent
    "GET /v1/candidates/<string:candidate_id>/consents": lambda w: (f"/v1/candidates/{w.candidate_id}/consents", None),
    "POST /v1/candidates/<string:candidate_id>/consents": lambda w: (
        f"/v1/candidates/{w.candidate_id}/consents", {"purpose": "mediation", "organisation": "gemeente-hengelo"}),
    "POST /v1/candidates/<string:candidate_id>/consent-revocations": lambda w: (
        f"/v1/candidates/{w.candidate_id}/consent-revocations", {"purpose": "matching"}),
    # the description
    "GET /v1/openapi.json": lambda w: ("/v1/openapi.json", None),
    "GET /v1/docs": lambda w: ("/v1/docs", None),
    "GET /v1/docs/static/<path:file>": lambda w: ("/v1/docs/static/vendor/redoc.standalone.js", None),
}

# What must show the hidden vacancy to whoever may see it (the rule hides no more than it should):
# an answer naming it, or (True) an answer at all, where the answer is about it without naming it.
SHOWN_TO_WHO_MAY_SEE = {
    "vacancies.get": False, "vacancies.list": False, "matching.vacancies_for_candidate": False,
    "matching.get_match": False, "matching.get_placement": False, "matching.placements_of": False,
    "GET /v1/candidates/<string:candidate_id>/vacancies": False,
    "vacancies.stewards": True, "matching.candidates_for_vacancy": True,
    "GET /v1/vacancies/<string:vacancy_id>/candidates": True,
    "GET /v1/vacancies/<string:vacancy_id>": False, "GET /v1/vacancies": False,
    "GET /v1/matches/<string:match_id>": False, "GET /v1/placements/<string:placement_id>": False,
    "GET /v1/candidates/<string:candidate_id>/placements": False,
    "GET /v1/vacancies/<string:vacancy_id>/stewards": True,
}


# --- the operations, from the services' own entrypoints ---------------------------------------


def service_class(service: str):
    module = importlib.import_module(f"{service}.service")
    (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass)
              if getattr(c, "name", None) == service and c.__module__ == module.__name__]
    return cls


def entrypoints(cls, kind) -> dict[str, object]:
    return {name: ep for name, member in inspect.getmembers(cls)
            for ep in getattr(member, "nameko_entrypoints", ()) if isinstance(ep, kind)}


def rpc_operations() -> list[str]:
    return sorted(f"{service}.{name}" for service in config.SERVICES if service != "gateway"
                  for name in entrypoints(service_class(service), Rpc))


def http_routes() -> list[str]:
    return sorted(f"{ep.method} {ep.url}" for ep in entrypoints(service_class("gateway"), Http).values())


def test_every_operation_and_route_is_in_the_table():
    """A new operation is not tried until it is classified here: that is a failure, not a gap."""
    operations, routes = rpc_operations(), http_routes()
    assert len(operations) >= 59 and len(routes) >= 68, (operations, routes)
    assert sorted(set(operations) - set(RPC_CALLS)) == [], "RPC operations this test does not know how to call"
    assert sorted(set(RPC_CALLS) - set(operations)) == [], "calls of operations that no longer exist"
    assert sorted(set(routes) - set(HTTP_CALLS)) == [], "gateway routes this test does not know how to call"
    assert sorted(set(HTTP_CALLS) - set(routes)) == [], "calls of routes that no longer exist"
    assert set(SHOWN_TO_WHO_MAY_SEE) <= set(operations) | set(routes)


# --- one cell: an operation, a caller, an object ------------------------------------------------


@dataclass
class Answer:
    ok: bool
    text: str
    conflict: bool = False
    kind: str = ""


def rpc_answer(proxy, operation: str, args, kwargs) -> Answer:
    service, name = operation.split(".")
    try:
        result = getattr(getattr(proxy, service), name)(*args, **kwargs)
    except REFUSALS as exc:
        return Answer(False, f"{exc} {json.dumps(getattr(exc, 'errors', None), default=str)}",
                      isinstance(exc, Conflict), type(exc).__name__)
    except RemoteError as exc:  # not a documented refusal; what it says is checked all the same
        return Answer(False, str(exc), kind=f"RemoteError {exc.exc_type}")
    return Answer(True, json.dumps(result, default=str), kind="ok")


def http_answer(system, route: str, caller: Caller, path: str, body) -> Answer:
    method = route.split(" ", 1)[0]
    headers = {"Authorization": f"Bearer {caller.credential}"} if caller.credential else {}
    response = system.http(method, path, anonymous=caller.credential is None, headers=headers,
                           **({"json": body} if body is not None else {}))
    return Answer(response.status_code < 400, response.text, response.status_code == 409,
                  str(response.status_code))


def check(cell: str, secret: Secret, caller: Caller, sent: str, answer: Answer) -> list[str]:
    """What the answer shows of an object the caller may not see ([] when nothing)."""
    if secret.may_see(caller.viewer):
        return []
    # a refusal may repeat what the caller itself sent (an id it asked about), never more
    shown = [t for t in secret.tell_tales if t in answer.text and (answer.ok or t not in sent)]
    problems = [f"{cell}: shows {t!r} ({answer.kind}): {answer.text[:300]}" for t in shown]
    if answer.conflict and any(name in sent for name in secret.names):
        problems.append(f"{cell}: a Conflict tells that what it names exists: {answer.text[:300]}")
    if answer.ok and secret.own_id is not None and secret.own_id in sent:
        problems.append(f"{cell}: answers a call about it, as if the caller may see it: {answer.text[:300]}")
    return problems


def test_nobody_sees_what_they_may_not_in_any_operation_or_route(system):
    world = make_world(system)
    operations, routes = rpc_operations(), http_routes()
    cells, problems, outcomes = 0, [], {}
    # who may see nothing goes first; the same region may see the vacancy, and may change
    # what it may see, so it goes last, what must show the vacancy first
    order = sorted(CALLERS, key=lambda c: any(s.may_see(c.viewer) for s in world.objects.values()))
    for caller in order:
        todo = sorted([*operations, *routes], key=lambda op: op not in SHOWN_TO_WHO_MAY_SEE)
        with system.rpc(caller.credential, "p-proef") as proxy:
            for operation in todo:
                if operation in RPC_CALLS:
                    args, kwargs = RPC_CALLS[operation](world, caller)
                    sent = json.dumps([args, kwargs], default=str)
                    answer = rpc_answer(proxy, operation, args, kwargs)
                else:
                    path, body = HTTP_CALLS[operation](world)
                    sent = json.dumps([path, body], default=str)
                    answer = http_answer(system, operation, caller, path, body)
                outcomes[answer.kind] = outcomes.get(answer.kind, 0) + 1
                for secret in world.objects.values():
                    cells += 1
                    cell = f"{operation} as {caller.name}, {secret.name}"
                    problems += check(cell, secret, caller, sent, answer)
                    if secret.name == "hidden vacancy" and secret.may_see(caller.viewer) and \
                            operation in SHOWN_TO_WHO_MAY_SEE and not (answer.ok and (
                                SHOWN_TO_WHO_MAY_SEE[operation] or world.vacancy_id in answer.text)):
                        problems.append(f"{cell}: may see it, but is not shown it ({answer.kind}): "
                                        f"{answer.text[:300]}")
    print(f"\nvisibility table: {len(operations)} RPC operations + {len(routes)} gateway routes, "
          f"{len(CALLERS)} callers, {len(world.objects)} objects = {cells} cells; answers {outcomes}")
    assert cells == (len(operations) + len(routes)) * len(CALLERS) * len(world.objects)
    assert problems == [], "\n".join(problems)


def test_the_tell_tales_are_real_the_owner_is_shown_them(system):
    """The strings the table looks for are what an answer holds when its caller may see it."""
    world = make_world(system)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        assert enschede.vacancies.get(world.vacancy_id)["title"] == world.title
        person = enschede.candidates.get(world.candidate_id)
        assert (person["given_name"], person["family_name"], person["email"]) == (
            world.given_name, world.family_name, world.email)
        for notes in (enschede.matching.get_match(world.match_id)["note"],
                      enschede.vacancies.shortlist(world.vacancy_id)[0]["note"],
                      enschede.candidates.log(world.candidate_id)[0]["text"]):
            assert world.family_name in notes
    response = system.http("GET", f"/v1/candidates/{world.candidate_id}")
    assert world.family_name in response.text
