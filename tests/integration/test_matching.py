"""Matching as partners use it: ranked and explained, proposals, placements, fairness."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.harness import eventually, matching_has
from werkbrug_shared.errors import Conflict, NotFound, ValidationError

ENSCHEDE, SOWECO, JOBHUNTERS = "dev-gemeente-enschede", "dev-soweco", "dev-jobhunters-twente"
# real ESCO skills: cleaning, and health and safety (what VCA proves)
CLEAN = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
SAFETY = "http://data.europa.eu/esco/skill/86df7af2-f9f3-4c06-a500-7f1fba9e78fe"
PLUMBING = "http://data.europa.eu/esco/skill/8755734c-2919-41a3-9ca6-1e3d1f169213"


class Twente:
    """A region of its own per test, an employer and a vacancy stewarded by two organisations."""

    def __init__(self, system, hours: int = 32, must_have=(CLEAN,)):
        self.system = system
        self.name = f"twente-{uuid.uuid4().hex[:8]}"
        with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
            kvk = f"{uuid.uuid4().int % 10**8:08d}"
            self.employer = enschede.vacancies.register_employer(
                {"name": "Schoonmaak Oost BV", "kvk_number": kvk, "region": self.name, "postcode": "7511 JD"})
            self.vacancy = self.open(enschede, hours, must_have)
            enschede.vacancies.add_steward(self.vacancy["id"], {"organisation": "soweco", "professional": "wsp-7"})

    def open(self, rpc, hours: int, must_have=(CLEAN,)) -> dict:
        return rpc.vacancies.open({
            "employer_id": self.employer["id"], "title": "schoonmaker", "region": self.name, "postcode": "7511 JD",
            "must_have": [{"skill": s, "weight": 1.0} for s in must_have], "hours_per_week": hours, "openings": 3,
        })

    def ranked(self, rpc, limit: int = 10) -> dict:
        """Candidates for the vacancy among this region's (other tests' people live nearby too)."""
        return rpc.matching.candidates_for_vacancy(self.vacancy["id"], limit, {"region": self.name})

    def candidate(self, rpc, skills=(CLEAN,), hours: int = 32, groups=("bijstand",)) -> dict:
        return rpc.candidates.register({
            "given_name": "Sanne", "family_name": "de Vries", "region": self.name, "postcode": "7512 AB",
            "target_groups": list(groups), "skills": list(skills), "hours_per_week": hours,
        })


def ids(ranking) -> list[str]:
    return [r["candidate_id"] for r in ranking["results"]]


def test_propose_introduce_place_shares_the_credit_and_an_ended_placement_returns_the_candidate(system):
    twente = Twente(system)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede, system.rpc(JOBHUNTERS, "jh-3") as jobhunters:
        candidate = twente.candidate(enschede)
        eventually(lambda: matching_has(jobhunters, twente.vacancy["id"], [candidate["id"]]), what="indexing")
        eventually(lambda: "soweco" in jobhunters.vacancies.get(twente.vacancy["id"])["steward_organisations"],
                   what="the second steward")

        ranking = twente.ranked(jobhunters)
        (result,) = [r for r in ranking["results"] if r["candidate_id"] == candidate["id"]]
        assert {c["component"] for c in result["breakdown"]} >= {"must_have", "occupation_fit", "distance"}
        assert result["explanation"]

        match = jobhunters.matching.propose(candidate["id"], twente.vacancy["id"])
        assert match["status"] == "proposed" and match["proposed_by"] == "jobhunters-twente"
        assert match["breakdown"], "the match keeps the score it was proposed on"
        with pytest.raises(Conflict):
            jobhunters.matching.propose(candidate["id"], twente.vacancy["id"])
        introduced = jobhunters.matching.introduce(match["id"], "Sanne had een goed gesprek met de teamleider")
        assert introduced["status"] == "introduced" and introduced["note"] is None, "a reply kept keeps no note"
        # the note may name the person: the organisation that wrote it reads it back, nobody else
        assert jobhunters.matching.get_match(match["id"])["note"].startswith("Sanne")
        assert enschede.matching.get_match(match["id"])["note"] is None
        eventually(lambda: enschede.candidates.get(candidate["id"])["status"] == "introduced",
                   what="candidates to follow the introduction")

        placement = enschede.matching.record_placement({
            "candidate_id": candidate["id"], "vacancy_id": twente.vacancy["id"], "match_id": match["id"],
            "start_date": "2026-12-01", "hours_per_week": 32})
        # every steward organisation of the vacancy, and the organisation that proposed the match
        assert placement["credited_organisations"] == ["gemeente-enschede", "jobhunters-twente", "soweco"]
        assert jobhunters.matching.get_match(match["id"])["status"] == "placed"
        assert jobhunters.matching.indexed([candidate["id"]]) == {candidate["id"]: {"in_pool": False}}
        assert candidate["id"] not in ids(twente.ranked(jobhunters))
        eventually(lambda: enschede.candidates.get(candidate["id"])["status"] == "placed", what="placed")

        with pytest.raises(ValidationError) as refused:
            enschede.matching.end_placement(placement["id"], "2027-03-01", "he was late")
        assert "reason" in refused.value.errors
        ended = enschede.matching.end_placement(placement["id"], "2027-03-01", "contract_ended")
        assert ended["status"] == "ended" and ended["end_reason"] == "contract_ended"
        with pytest.raises(Conflict):
            enschede.matching.end_placement(placement["id"], "2027-03-02", "other")
        assert jobhunters.matching.indexed([candidate["id"]]) == {candidate["id"]: {"in_pool": True}}
        eventually(lambda: enschede.candidates.get(candidate["id"])["status"] == "available",
                   what="candidates to put them back in the pool")
        eventually(lambda: enschede.vacancies.get(twente.vacancy["id"])["openings_filled"] == 0,
                   what="the opening to come back")


def test_a_rejected_match_is_final_and_its_reason_is_a_code(system):
    twente = Twente(system)
    with system.rpc(JOBHUNTERS, "jh-3") as jobhunters:
        candidate = twente.candidate(jobhunters)
        eventually(lambda: matching_has(jobhunters, twente.vacancy["id"], [candidate["id"]]), what="indexing")
        match = jobhunters.matching.propose(candidate["id"], twente.vacancy["id"])
        with pytest.raises(ValidationError) as refused:
            jobhunters.matching.reject(match["id"], "ze was te laat")
        assert "reason" in refused.value.errors
        assert jobhunters.matching.get_match(match["id"])["status"] == "proposed", "nothing written"
        rejected = jobhunters.matching.reject(match["id"], "employer_declined", "werkgever koos een ander")
        assert rejected["status"] == "rejected" and rejected["rejected_reason"] == "employer_declined"
        with pytest.raises(Conflict):
            jobhunters.matching.introduce(match["id"])
        with pytest.raises(Conflict):
            jobhunters.matching.record_placement({
                "candidate_id": candidate["id"], "vacancy_id": twente.vacancy["id"], "match_id": match["id"],
                "start_date": "2026-12-01", "hours_per_week": 32})
        # a new proposal after a rejection is allowed
        assert jobhunters.matching.propose(candidate["id"], twente.vacancy["id"])["status"] == "proposed"


def test_proposals_need_a_partner_credential(system, outsider):
    twente = Twente(system)
    with system.rpc(ENSCHEDE) as enschede:
        candidate = twente.candidate(enschede)
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [candidate["id"]]), what="indexing")
    from werkbrug_shared.errors import Unauthorized

    for call in (lambda: outsider.matching.propose(candidate["id"], twente.vacancy["id"]),
                 lambda: outsider.matching.candidates_for_vacancy(twente.vacancy["id"])):
        with pytest.raises(Unauthorized):
            call()
    assert "rankings" in outsider.matching.fairness()  # shares, no one in them: public


def test_two_full_time_placements_never_coexist_but_part_time_ones_that_fit_do(system):
    twente = Twente(system, hours=36)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        second_job = twente.open(enschede, 36)
        part_time = [twente.open(enschede, 16), twente.open(enschede, 16)]
        full, half = twente.candidate(enschede, hours=40), twente.candidate(enschede, hours=32)
        eventually(lambda: all(matching_has(enschede, v["id"], [full["id"], half["id"]])
                               for v in (twente.vacancy, second_job, *part_time)), what="indexing")

        def place(candidate, vacancy, hours):
            return enschede.matching.record_placement({
                "candidate_id": candidate["id"], "vacancy_id": vacancy["id"], "start_date": "2026-12-01",
                "hours_per_week": hours})

        place(full, twente.vacancy, 36)
        with pytest.raises(Conflict) as refused:
            place(full, second_job, 36)
        assert "36 hours" in str(refused.value)
        place(half, part_time[0], 16)
        place(half, part_time[1], 16)
        assert len(enschede.matching.placements_of(half["id"])) == 2


def test_a_new_profile_moves_the_ranking_after_one_event(system):
    twente = Twente(system, must_have=(CLEAN, SAFETY))
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        candidate = twente.candidate(enschede, skills=(PLUMBING,))
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [candidate["id"]]), what="indexing")
        ranking = twente.ranked(enschede)
        assert candidate["id"] not in ids(ranking)

        enschede.candidates.update(candidate["id"], {"skills": [CLEAN, SAFETY]})
        ranked = eventually(lambda: candidate["id"] in ids(
            r := twente.ranked(enschede)) and r, what="the new profile")
        (result,) = [r for r in ranked["results"] if r["candidate_id"] == candidate["id"]]
        assert result["skill_gaps"] == []


def test_fairness_counts_every_ranking_served(system):
    twente = Twente(system)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        people = [twente.candidate(enschede, groups=("50plus",) if i % 2 else ("statushouder",)) for i in range(4)]
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [p["id"] for p in people]), what="indexing")
        before = enschede.matching.fairness()
        rankings = before["rankings"]
        ranking = twente.ranked(enschede)
        assert ranking["fairness"]["eligible"] >= 4
        after = enschede.matching.fairness()
        assert after["rankings"] == rankings + 1
        groups = after["groups"]
        assert groups["50plus"]["in_pool"] >= before["groups"].get("50plus", {}).get("in_pool", 0) + 2
        assert 0 < groups["statushouder"]["pool_share"] <= 1
    assert system.metric("matching", "werkbrug_matching_rankings_total") >= rankings + 1
    assert system.metric("matching", "werkbrug_matching_top10_candidates_total", target_group="50plus") >= 2


def test_the_index_is_rebuilt_from_matchings_database_when_it_starts(system):
    twente = Twente(system)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        placed, waiting = twente.candidate(enschede), twente.candidate(enschede)
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [placed["id"], waiting["id"]]),
                   what="indexing")
        enschede.matching.record_placement({"candidate_id": placed["id"], "vacancy_id": twente.vacancy["id"],
                                            "start_date": "2026-12-01", "hours_per_week": 32})
    system.stop("matching")
    system.start("matching")
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        assert enschede.matching.indexed([placed["id"], waiting["id"]]) == {
            placed["id"]: {"in_pool": False}, waiting["id"]: {"in_pool": True}}
        assert waiting["id"] in ids(twente.ranked(enschede))


def test_partners_match_over_http(system):
    twente = Twente(system)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        candidate = twente.candidate(enschede)
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [candidate["id"]]), what="indexing")
    auth = {"Authorization": "Bearer dev-jobhunters-twente", "X-Werkbrug-Professional": "jh-3"}
    vacancy_id = twente.vacancy["id"]

    ranked = system.http("GET", f"/v1/vacancies/{vacancy_id}/candidates?limit=5&target_group=bijstand"
                                f"&region={twente.name}", headers=auth)
    assert ranked.status_code == 200 and candidate["id"] in [r["candidate_id"] for r in ranked.json()["results"]]
    refused = system.http("GET", f"/v1/vacancies/{vacancy_id}/candidates?limit=lots", headers=auth)
    assert refused.status_code == 400 and "limit" in refused.json()["errors"]
    unknown = system.http("GET", f"/v1/vacancies/{vacancy_id}/candidates?colour=red&limit=5", headers=auth)
    assert unknown.status_code == 200, "unknown query parameters are no filters"
    assert system.http("GET", "/v1/vacancies/nope/candidates", headers=auth).status_code == 404
    offered = system.http("GET", f"/v1/candidates/{candidate['id']}/vacancies?region={twente.name}",
                          headers=auth).json()
    assert vacancy_id in [r["vacancy_id"] for r in offered["results"]]
    assert system.http("GET", f"/v1/candidates/{candidate['id']}/occupations?limit=3", headers=auth).status_code == 200

    match = system.http("POST", "/v1/matches", json={"candidate_id": candidate["id"], "vacancy_id": vacancy_id},
                        headers=auth)
    assert match.status_code == 201, match.text
    assert system.http("POST", "/v1/matches", json={"candidate_id": candidate["id"], "vacancy_id": vacancy_id},
                       headers=auth).status_code == 409
    match_id = match.json()["id"]
    assert system.http("POST", f"/v1/matches/{match_id}/introduction", json={"note": "gesprek dinsdag"},
                       headers=auth).json()["status"] == "introduced"
    placement = system.http("POST", "/v1/placements", headers=auth, json={
        "candidate_id": candidate["id"], "vacancy_id": vacancy_id, "match_id": match_id,
        "start_date": "2026-12-01", "hours_per_week": 32})
    assert placement.status_code == 201, placement.text
    ended = system.http("POST", f"/v1/placements/{placement.json()['id']}/end", headers=auth,
                        json={"end_date": "2027-01-31", "reason": "better_job"})
    assert ended.json()["status"] == "ended"
    assert system.http("GET", "/v1/matching/fairness", headers=auth).json()["rankings"] >= 1


def test_a_trajectorys_certificate_module_closes_that_skill_gap_also_after_a_restart(system):
    # a skill no built-in module closes: a must-have of it excludes whoever lacks it, until a
    # partner's trajectory offers a certificate module for it
    from matching.modules import CATALOGUE
    from werkbrug_shared import refdata

    skill = next(s for s in sorted(refdata.skills()) if not CATALOGUE.closable(s) and s not in (CLEAN, SAFETY))
    module = f"Certificaat {uuid.uuid4().hex[:6]}"
    twente = Twente(system, must_have=(skill,))
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        candidate = twente.candidate(enschede, skills=(CLEAN,))
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [candidate["id"]]), what="indexing")
        ranking = twente.ranked(enschede)
        assert candidate["id"] not in ids(ranking) + [r["candidate_id"] for r in ranking["near_misses"]]

        with system.rpc("dev-leerwerkbedrijf-twente", "docent-2") as leerwerk:
            leerwerk.candidates.define_trajectory({"name": f"werkfit {module}", "weeks": 8, "modules": [
                {"code": "taal", "name": "Taal op de werkvloer"},
                {"code": "cert", "name": module, "certificate_skill": skill}]})
        ranked = eventually(lambda: candidate["id"] in ids(r := twente.ranked(enschede)) and r,
                            what="the module to close the gap")
        (result,) = [r for r in ranked["results"] if r["candidate_id"] == candidate["id"]]
        assert [(g["skill"], g["closable_by"]) for g in result["skill_gaps"]] == [(skill, [module])]

    system.stop("matching")
    system.start("matching")
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        (result,) = [r for r in twente.ranked(enschede)["results"] if r["candidate_id"] == candidate["id"]]
        assert result["skill_gaps"][0]["closable_by"] == [module]


# --- partners see only what they may (werkbrug_shared.visibility) ----------------------------

HENGELO, UTRECHT = "dev-gemeente-hengelo", "dev-gemeente-utrecht"


def test_a_hidden_vacancy_of_twente_is_ranked_offered_and_placed_only_by_whoever_may_see_it(system):
    region = f"twente-{uuid.uuid4().hex[:8]}"  # the candidate's; the vacancy is Twente's own, hidden
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        kvk = f"{uuid.uuid4().int % 10**8:08d}"
        employer = enschede.vacancies.register_employer(
            {"name": "Verborgen BV", "kvk_number": kvk, "region": "Twente", "postcode": "7511 JD"})
        hidden = enschede.vacancies.open({
            "employer_id": employer["id"], "title": "verborgen schoonmaker", "region": "Twente",
            "postcode": "7511 JD", "must_have": [{"skill": CLEAN, "weight": 1.0}], "hours_per_week": 32,
            "openings": 2, "visibility": "hidden"})
        candidate = enschede.candidates.register({
            "given_name": "Sanne", "family_name": "de Vries", "region": region, "postcode": "7512 AB",
            "target_groups": ["bijstand"], "skills": [CLEAN], "hours_per_week": 32})
        eventually(lambda: matching_has(enschede, hidden["id"], [candidate["id"]]), what="indexing")
        match = enschede.matching.propose(candidate["id"], hidden["id"])
    offered_only = {"region": "Twente", "visibility": "hidden"}

    def offered(rpc) -> list[str]:
        ranking = rpc.matching.vacancies_for_candidate(candidate["id"], 100, offered_only)
        return [r["vacancy_id"] for r in ranking["results"] + ranking["near_misses"]]

    with system.rpc(UTRECHT, "p-utrecht-9") as utrecht:
        assert hidden["id"] not in offered(utrecht)
        for call in (lambda: utrecht.matching.candidates_for_vacancy(hidden["id"]),
                     lambda: utrecht.matching.propose(candidate["id"], hidden["id"]),
                     lambda: utrecht.matching.get_match(match["id"]),
                     lambda: utrecht.matching.introduce(match["id"]),
                     lambda: utrecht.matching.reject(match["id"], "other"),
                     lambda: utrecht.matching.record_placement({
                         "candidate_id": candidate["id"], "vacancy_id": hidden["id"], "start_date": "2026-12-01",
                         "hours_per_week": 32})):
            with pytest.raises(NotFound):  # as if it did not exist, not even Forbidden
                call()
    with system.rpc(HENGELO, "p-hengelo-4") as hengelo:  # every professional of Twente
        assert hidden["id"] in offered(hengelo)
        assert candidate["id"] in ids(hengelo.matching.candidates_for_vacancy(hidden["id"], 10, {"region": region}))
        assert hengelo.matching.get_match(match["id"])["vacancy_id"] == hidden["id"]
        placement = hengelo.matching.record_placement({
            "candidate_id": candidate["id"], "vacancy_id": hidden["id"], "match_id": match["id"],
            "start_date": "2026-12-01", "hours_per_week": 32})
    with system.rpc(UTRECHT, "p-utrecht-9") as utrecht:
        assert utrecht.matching.placements_of(candidate["id"]) == []
        for call in (lambda: utrecht.matching.get_placement(placement["id"]),
                     lambda: utrecht.matching.end_placement(placement["id"], "2027-01-31", "other")):
            with pytest.raises(NotFound):
                call()

    # a steward from another region works it too, once vacancies says so
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede:
        enschede.vacancies.add_steward(hidden["id"], {"organisation": "gemeente-utrecht", "professional": "p-9"})
    with system.rpc(UTRECHT, "p-utrecht-9") as utrecht:
        eventually(lambda: utrecht.matching.placements_of(candidate["id"]), what="matching to learn the steward")
        assert utrecht.matching.get_placement(placement["id"])["vacancy_id"] == hidden["id"]
        assert hidden["id"] in offered(utrecht)


def test_a_filter_of_the_wrong_kind_is_refused_naming_it(system):
    twente = Twente(system)
    with system.rpc(ENSCHEDE) as enschede:
        with pytest.raises(ValidationError) as refused:
            enschede.matching.candidates_for_vacancy(twente.vacancy["id"], 10, {"target_group": {"ww": True}})
        assert list(refused.value.errors) == ["filters"] and "target_group" in refused.value.errors["filters"]


# --- a retried record_placement (request_id) ---------------------------------------------------


def test_a_retried_placement_answers_the_placement_it_made_and_records_nothing_new(system):
    twente = Twente(system)
    with system.rpc(ENSCHEDE, "jobhunter-anna") as enschede, system.rpc(JOBHUNTERS, "jh-3") as jobhunters:
        candidate = twente.candidate(enschede)
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [candidate["id"]]), what="indexing")
        request = {"candidate_id": candidate["id"], "vacancy_id": twente.vacancy["id"], "start_date": "2026-12-01",
                   "hours_per_week": 32, "request_id": str(uuid.uuid4())}
        placement = enschede.matching.record_placement(request)
        assert placement["request_id"] == request["request_id"]
        # the reply was lost, the caller sends the same request again: the same placement, nothing new
        assert enschede.matching.record_placement(dict(request)) == placement
        assert system.http("POST", "/v1/placements", json=request).json() == placement
        assert [p["id"] for p in enschede.matching.placements_of(candidate["id"])] == [placement["id"]]

        # without the key (or with a new one) it is what it is: a conflict
        with pytest.raises(Conflict) as refused:
            enschede.matching.record_placement({**request, "request_id": str(uuid.uuid4())})
        assert "active placement" in str(refused.value)
        # the same key with other content is a conflict naming request_id
        with pytest.raises(Conflict) as refused:
            enschede.matching.record_placement({**request, "hours_per_week": 16})
        assert "request_id" in str(refused.value) and "hours_per_week" in str(refused.value)
        # a key is the organisation's own: another organisation's same key is its own request
        with pytest.raises(Conflict) as refused:
            jobhunters.matching.record_placement(dict(request))
        assert "active placement" in str(refused.value)

    recorded = system.sql("matching", "SELECT count(*) FROM outbox WHERE event_type = %s AND payload LIKE %s",
                          "nl.werkbrug.placement.recorded.v1", f"%{placement['id']}%")
    assert recorded == [(1,)], "one placement.recorded, however often it was asked"
    eventually(lambda: system.sql("aftercare", "SELECT count(*) FROM aftercare_plans WHERE placement_id = %s",
                                  placement["id"]) == [(1,)], what="one aftercare plan")


def test_the_same_request_at_the_same_moment_makes_one_placement(system):
    """A retry may overtake a first call still at work (its caller timed out early)."""
    import eventlet

    twente = Twente(system)
    with system.rpc(ENSCHEDE) as enschede:
        people = [twente.candidate(enschede) for _ in range(3)]
        eventually(lambda: matching_has(enschede, twente.vacancy["id"], [p["id"] for p in people]), what="indexing")

    def record(request):
        with system.rpc(ENSCHEDE) as rpc:
            try:
                return rpc.matching.record_placement(request)
            except Conflict as exc:
                return exc

    request = {"candidate_id": people[0]["id"], "vacancy_id": twente.vacancy["id"], "start_date": "2026-12-01",
               "hours_per_week": 32, "request_id": str(uuid.uuid4())}
    answers = list(eventlet.GreenPool().imap(record, [dict(request) for _ in range(4)]))
    assert all(isinstance(a, dict) for a in answers), answers
    assert len({a["id"] for a in answers}) == 1

    # the same key for two people at once: one placement, the other call a conflict naming request_id
    key = str(uuid.uuid4())
    answers = list(eventlet.GreenPool().imap(record, [
        {**request, "candidate_id": p["id"], "request_id": key} for p in people[1:]]))
    placed = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, Conflict)]
    assert len(placed) == 1 and len(refused) == 1 and "request_id" in str(refused[0]), answers
