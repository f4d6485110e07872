"""Candidates end to end: the werkprofiel, BSN, who sees what, the lifecycle driven by
other services' events, trajectories and cohorts, lists, bulk registration and erasure.

Real processes, real RabbitMQ, real PostgreSQL. Each test has its own region,
cohort and trajectory names, and its own BSNs.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from tests.integration.harness import dumps, eventually, matching_has
from werkbrug_shared import topology
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError

SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
PLUMBING = "http://data.europa.eu/esco/skill/8755734c-2919-41a3-9ca6-1e3d1f169213"
HEATING = "http://data.europa.eu/esco/skill/592188c6-7212-47bb-ba58-f9361026addc"
SAFETY = "http://data.europa.eu/esco/skill/86df7af2-f9f3-4c06-a500-7f1fba9e78fe"  # what VCA proves
INSTALLER = "http://data.europa.eu/esco/occupation/79f435d0-9bc6-4d25-a26a-acbe16569ebb"
MADE_UP_SKILL = "http://data.europa.eu/esco/skill/00000000-0000-4000-8000-000000000000"

ENSCHEDE, HENGELO, UWV, LEERWERK = (
    "dev-gemeente-enschede", "dev-gemeente-hengelo", "dev-uwv-twente", "dev-leerwerkbedrijf-twente")


def new_bsn() -> str:
    """A random number that passes the elfproef."""
    while True:
        head = f"{random.randint(10**7, 10**8 - 1):08d}"
        check = sum(w * int(d) for w, d in zip(range(9, 1, -1), head, strict=True)) % 11
        if check < 10:
            return head + str(check)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def person(region: str, **extra) -> dict:
    return {"given_name": "Fatima", "family_name": "El Amrani", "region": region, "postcode": "7512 AB",
            "target_groups": ["statushouder"], "skills": [SKILL], "hours_per_week": 24, **extra}


def publish_event(system, source_service: str, type_name: str, subject: str, data: dict) -> str:
    """A well-formed CloudEvent, as the named service would publish it."""
    event_id = str(uuid.uuid4())
    system.publish(source_service, type_name, dumps({
        "specversion": "1.0", "id": event_id, "source": f"/werkbrug/{source_service}", "type": type_name,
        "time": datetime.now(UTC).isoformat(), "subject": subject, "datacontenttype": "application/json",
        "data": data,
    }))
    return event_id


def candidate_tables(system) -> list[str]:
    return [t for (t,) in system.sql(
        "candidates", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]


def found_anywhere(system, needles) -> list[tuple[str, str]]:
    """Every (table, needle) where a needle appears in some row of a candidates table,
    in any column (each row as text; bytea as raw bytes too)."""
    hits = []
    for table in candidate_tables(system):
        rows = system.sql("candidates", f'SELECT t::text FROM "{table}" t')  # noqa: S608 (names from the catalog)
        binary = [c for (c,) in system.sql(
            "candidates", "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND data_type = 'bytea'", table)]
        blobs = [v for c in binary for (v,) in system.sql("candidates", f'SELECT "{c}" FROM "{table}"')  # noqa: S608
                 if v is not None]
        for needle in needles:
            if any(needle in r for (r,) in rows) or any(needle.encode() in bytes(b) for b in blobs):
                hits.append((table, needle))
    return hits


def stored_events(system, type_name: str, subject: str) -> list[dict]:
    return [d for (d,) in system.sql("reporting", "SELECT data FROM event_store WHERE type = %s AND subject = %s",
                                     type_name, subject)]


def status_of(rpc, candidate_id: str) -> str:
    return rpc.candidates.get(candidate_id)["status"]


# --- register once ----------------------------------------------------------------------------


def test_a_bsn_registers_once_across_partners_and_is_never_in_clear(system):
    region = unique("regio")
    bsn = new_bsn()
    with system.rpc(ENSCHEDE, "p-1") as enschede, system.rpc(UWV, "p-7") as uwv, system.rpc(None) as anonymous:
        first = enschede.candidates.register(person(region, bsn=bsn))
        assert first["registered_by"] == "gemeente-enschede" and "bsn" not in first

        def written():
            return (system.sql("candidates", "SELECT count(*) FROM candidates WHERE region = %s", region)[0][0],
                    system.sql("candidates", "SELECT count(*) FROM candidate_personal_data")[0][0],
                    system.sql("candidates", "SELECT count(*) FROM outbox WHERE payload LIKE %s", f"%{region}%")[0][0])

        before = written()
        assert before[0] == 1
        spaced = f"{bsn[:4]} {bsn[4:6]} {bsn[6:]}"
        with pytest.raises(Conflict) as refused:
            uwv.candidates.register(person(region, given_name="Fatma", bsn=spaced))
        assert first["id"] in str(refused.value)
        with pytest.raises(Conflict):  # the first partner too: register once
            enschede.candidates.register(person(region, bsn=bsn))
        with pytest.raises(Unauthorized):
            anonymous.candidates.register(person(region, bsn=new_bsn()))
        with pytest.raises(ValidationError) as invalid:
            uwv.candidates.register(person(region, bsn="123456789"))
        assert "bsn" in invalid.value.errors
        assert written() == before

    assert found_anywhere(system, [bsn]) == []
    hashes = system.sql("candidates", "SELECT bsn_hash, bsn_ciphertext FROM candidate_personal_data "
                        "WHERE candidate_id = %s", first["id"])
    assert len(hashes[0][0]) == 64 and hashes[0][1] is not None
    assert bsn not in system.log_tail("candidates", lines=100_000)


# --- who sees what --------------------------------------------------------------------------------


def test_personal_data_only_for_the_registering_organisation_and_every_read_audited(system):
    region = unique("regio")
    details = {"phone": "+31 6 11223344", "email": "fatima@example.org", "birth_date": "1991-02-03",
               "address": {"street": "Oldenzaalsestraat", "house_number": "7", "city": "Enschede"},
               "condition_notes": "Liever geen drukke kantine.", "conditions": ["low_stimulus_workplace"]}
    with system.rpc(ENSCHEDE, "klantmanager-3") as enschede, system.rpc(HENGELO, "p-9") as hengelo, \
            system.rpc(None) as anonymous:
        candidate = enschede.candidates.register(person(region, bsn=new_bsn(), **details))
        assert "given_name" not in candidate, "registering answers with the profile only"

        own = enschede.candidates.get(candidate["id"])
        assert own["given_name"] == "Fatima" and own["postcode"] == "7512AB" and own["phone"] == details["phone"]
        assert own["address"] == details["address"] and own["condition_notes"] == details["condition_notes"]
        assert own["has_bsn"] is True and "bsn" not in own
        assert own["pc4"] == "7512" and own["skills"] == [SKILL] and own["status"] == "registered"

        seen = hengelo.candidates.get(candidate["id"])
        assert seen["skills"] == [SKILL] and seen["conditions"] == ["low_stimulus_workplace"]
        personal = {"given_name", "family_name", "postcode", "phone", "email", "address", "birth_date",
                    "condition_notes", "has_bsn", "plan"}
        assert not personal & set(seen), seen
        with pytest.raises(Unauthorized):  # every call is some partner's
            anonymous.candidates.get(candidate["id"])

        audit = system.sql("candidates", "SELECT organisation, professional, operation FROM personal_data_reads "
                           "WHERE candidate_id = %s", candidate["id"])
        assert audit == [("gemeente-enschede", "klantmanager-3", "get")]
        enschede.candidates.get(candidate["id"])
        assert system.sql("candidates", "SELECT count(*) FROM personal_data_reads WHERE candidate_id = %s",
                          candidate["id"])[0][0] == 2

        with pytest.raises(Forbidden):
            hengelo.candidates.update(candidate["id"], {"hours_per_week": 32})
        updated = enschede.candidates.update(candidate["id"], {"hours_per_week": 32, "hours_min": 16,
                                                               "phone": "+31 6 99887766"})
        assert updated["hours_per_week"] == 32 and updated["hours_min"] == 16
        with pytest.raises(ValidationError) as refused:
            enschede.candidates.update(candidate["id"], {"hours_per_week": 12})
        assert "hours_min" in refused.value.errors
        assert enschede.candidates.get(candidate["id"])["phone"] == "+31 6 99887766"

    profile = eventually(lambda: stored_events(system, "nl.werkbrug.candidate.profile_updated.v1", candidate["id"]),
                         what="the profile update in reporting's store")
    assert profile[0]["hours_min"] == 16
    # what was returned to the partner is not kept anywhere in clear beyond the person's own row
    assert found_anywhere(system, ["fatima@example.org", "Oldenzaalsestraat"]) == [
        ("candidate_personal_data", "fatima@example.org"), ("candidate_personal_data", "Oldenzaalsestraat")]


# --- the lifecycle -------------------------------------------------------------------------------


def test_a_refused_transition_changes_nothing(system):
    region = unique("regio")
    with system.rpc(ENSCHEDE, "p-1") as enschede, system.rpc(None) as anonymous:
        candidate = enschede.candidates.register(person(region))
        assert enschede.candidates.change_status(candidate["id"], "intake")["status"] == "intake"
        with pytest.raises(Conflict) as refused:
            enschede.candidates.change_status(candidate["id"], "intake")
        assert "intake" in str(refused.value)
        with pytest.raises(ValidationError) as refused:
            enschede.candidates.change_status(candidate["id"], "placed")  # placements come from matching
        assert "status" in refused.value.errors
        with pytest.raises(Unauthorized):
            anonymous.candidates.change_status(candidate["id"], "available")
        assert status_of(enschede, candidate["id"]) == "intake"

        moved = enschede.candidates.change_status(candidate["id"], "available", "Intake afgerond, klaar voor werk.")
        assert moved["status"] == "available"
        assert [e["text"] for e in enschede.candidates.log(candidate["id"])] == [
            "status available: Intake afgerond, klaar voor werk."]

    changes = eventually(lambda: len(s := stored_events(system, "nl.werkbrug.candidate.status_changed.v1",
                                                        candidate["id"])) == 2 and s, what="two status changes")
    assert sorted((c["from_status"], c["to_status"]) for c in changes) == [
        ("intake", "available"), ("registered", "intake")]
    assert not [c for c in changes if "klaar" in (c.get("reason") or "")], "free text stays out of events"


def test_status_follows_placement_recorded_ended_and_sustained(system, rpc):
    region = unique("regio")
    kvk = f"{uuid.uuid4().int % 10**8:08d}"
    employer = rpc.vacancies.register_employer({"name": "Installatie BV", "kvk_number": kvk, "region": region})
    vacancy = rpc.vacancies.open({"employer_id": employer["id"], "title": "monteur", "region": region,
                                  "postcode": "7511 JD", "skills_required": [PLUMBING], "hours_per_week": 32,
                                  "openings": 2})
    with system.rpc(ENSCHEDE, "p-1") as enschede:
        candidate = enschede.candidates.register(person(region, skills=[PLUMBING]))
    cid = candidate["id"]

    eventually(lambda: matching_has(rpc, vacancy["id"], [cid]), what="matching to index the vacancy and the candidate")
    placement = rpc.matching.record_placement({"candidate_id": cid, "vacancy_id": vacancy["id"],
                                               "start_date": "2026-12-01", "hours_per_week": 32})
    eventually(lambda: status_of(rpc, cid) == "placed", what="placement.recorded to make the candidate placed")

    publish_event(system, "aftercare", "nl.werkbrug.placement.sustained.v1", placement["id"],
                  {"placement_id": placement["id"], "candidate_id": cid, "months": 6})
    eventually(lambda: status_of(rpc, cid) == "sustained", what="placement.sustained")
    publish_event(system, "matching", "nl.werkbrug.placement.ended.v1", placement["id"],
                  {"placement_id": placement["id"], "candidate_id": cid, "vacancy_id": vacancy["id"],
                   "end_date": "2027-08-01", "reason": "contract_ended"})
    eventually(lambda: status_of(rpc, cid) == "available", what="placement.ended to put the candidate back")

    # a late sustained checkpoint of the ended placement does not move anyone
    handled = system.metric("candidates", "werkbrug_events_handled_total",
                            event_type="nl.werkbrug.placement.sustained.v1", outcome="processed")
    publish_event(system, "aftercare", "nl.werkbrug.placement.sustained.v1", placement["id"],
                  {"placement_id": placement["id"], "candidate_id": cid, "months": 12})
    eventually(lambda: system.metric("candidates", "werkbrug_events_handled_total",
                                     event_type="nl.werkbrug.placement.sustained.v1", outcome="processed")
               == handled + 1, what="the late checkpoint to be handled")
    assert status_of(rpc, cid) == "available"
    steps = eventually(lambda: len(s := stored_events(system, "nl.werkbrug.candidate.status_changed.v1", cid)) == 3
                       and s, what="three status changes in reporting")
    assert sorted((s["from_status"], s["to_status"]) for s in steps) == [
        ("placed", "sustained"), ("registered", "placed"), ("sustained", "available")]


def test_an_event_about_an_unknown_candidate_is_retried_then_dead_lettered(system):
    dlq = topology.consumer_queue_name("matching", "nl.werkbrug.placement.ended.v1", "candidates",
                                       "on_placement_ended") + ".dlq"
    depth = system.queue_depth(dlq)
    publish_event(system, "matching", "nl.werkbrug.placement.ended.v1", "p-nobody",
                  {"placement_id": "p-nobody", "candidate_id": "nobody", "vacancy_id": "v",
                   "end_date": "2027-01-01", "reason": "other"})
    eventually(lambda: system.queue_depth(dlq) == depth + 1, what="the dead letter")


# --- trajectories and cohorts ------------------------------------------------------------------


def test_a_cohort_runs_a_trajectory_and_vca_adds_the_skill(system):
    region, cohort_name = unique("regio"), unique("werkfit-installatie")
    modules = [{"code": "taal", "name": "Nederlandse taal"}, {"code": "werkcultuur", "name": "Werkcultuur"},
               {"code": "vakjargon", "name": "Vakjargon"},
               {"code": "vca", "name": "VCA basis", "certificate_skill": SAFETY},
               {"code": "meeloopdagen", "name": "Meeloopdagen"}]
    with system.rpc(ENSCHEDE, "p-1") as enschede, system.rpc(LEERWERK, "docent-2") as leerwerk, \
            system.rpc(None) as anonymous:
        with pytest.raises(Unauthorized):
            anonymous.candidates.define_trajectory({"name": "x", "weeks": 12, "modules": modules})
        trajectory = leerwerk.candidates.define_trajectory(
            {"name": unique("werkfit installatietechniek"), "weeks": 12, "modules": modules})
        assert [m["code"] for m in trajectory["modules"]] == [m["code"] for m in modules]
        with pytest.raises(Conflict):
            leerwerk.candidates.define_trajectory({"name": trajectory["name"], "weeks": 8, "modules": modules})
        cohort = leerwerk.candidates.start_cohort({"trajectory_id": trajectory["id"], "name": cohort_name,
                                                   "start_date": "2027-01-11", "region": region})
        students = [enschede.candidates.register(person(region, target_groups=["statushouder", "bijstand"]))
                    for _ in range(2)]
        for student in students:
            enrolled = leerwerk.candidates.enrol(student["id"], cohort["id"])
            assert enrolled["status"] == "in_trajectory" and enrolled["trajectory"] == trajectory["name"]
        leerwerk.candidates.enrol(students[0]["id"], cohort["id"])  # again: nothing new

        done = leerwerk.candidates.complete_module(students[0]["id"], cohort["id"], "vca")
        assert done["skill"] == SAFETY
        leerwerk.candidates.complete_module(students[0]["id"], cohort["id"], "taal")
        with pytest.raises(ValidationError) as refused:
            leerwerk.candidates.complete_module(students[0]["id"], cohort["id"], "lassen")
        assert "module_code" in refused.value.errors
        outsider = enschede.candidates.register(person(region))
        with pytest.raises(NotFound):
            leerwerk.candidates.complete_module(outsider["id"], cohort["id"], "vca")

        profile = leerwerk.candidates.get(students[0]["id"])
        assert {"skill": SAFETY, "level": 2, "evidence": "certificate"} in profile["skill_evidence"]
        assert SAFETY in profile["skills"] and profile["cohort"] == cohort_name
        assert SAFETY not in leerwerk.candidates.get(students[1]["id"])["skills"]
        summary = leerwerk.candidates.get_cohort(cohort["id"])
        assert summary["enrolled"] == 2 and summary["completed"] == {
            "taal": 1, "werkcultuur": 0, "vakjargon": 0, "vca": 1, "meeloopdagen": 0}

    first = students[0]["id"]
    enrolments = eventually(lambda: stored_events(system, "nl.werkbrug.candidate.enrolled.v1", first),
                            what="candidate.enrolled in reporting's store")
    assert len(enrolments) == 1
    assert enrolments[0]["cohort"] == cohort_name and enrolments[0]["trajectory"] == trajectory["name"]
    completed = eventually(lambda: len(c := stored_events(system, "nl.werkbrug.candidate.module_completed.v1",
                                                          first)) == 2 and c, what="two completed modules")
    assert {(c["module"], c["skill"]) for c in completed} == {("vca", SAFETY), ("taal", None)}
    eventually(lambda: any(SAFETY in e["skills"] for e in stored_events(
        system, "nl.werkbrug.candidate.profile_updated.v1", first)), what="the certificate in the profile event")
    with system.rpc(None) as anonymous:
        eventually(lambda: anonymous.reporting.outflow(cohort=cohort_name, suppress=False)["enrolled"] == 2,
                   what="reporting to count the cohort")


# --- lists -----------------------------------------------------------------------------------------


def test_list_filters_and_walks_every_page_once(system):
    region = unique("regio")
    rows = [person(region, target_groups=["ww"] if i % 3 == 0 else ["bijstand"],
                   skills=[HEATING] if i % 2 else [SKILL], source_ref=f"lst-{i}") for i in range(11)]
    with system.rpc(ENSCHEDE, "p-1") as enschede, system.rpc(HENGELO, "p-9") as other:
        written = [r["id"] for r in enschede.candidates.register_many(rows)]
        enschede.candidates.change_status(written[0], "intake")
        elsewhere = enschede.candidates.register(person(unique("regio")))

        seen, cursor, pages = [], None, 0
        while True:
            page = other.candidates.list({"region": region}, limit=4, cursor=cursor)
            seen += [c["id"] for c in page["items"]]
            pages += 1
            assert all("given_name" not in c and "postcode" not in c for c in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and len(seen) == len(set(seen)) == 11
        assert set(seen) == set(written) and elsewhere["id"] not in seen

        def ids(**filters):
            return {c["id"] for c in other.candidates.list({"region": region, **filters}, limit=50)["items"]}

        assert ids(target_group="ww") == {written[i] for i in range(11) if i % 3 == 0}
        assert ids(skill=HEATING) == {written[i] for i in range(11) if i % 2}
        assert ids(status="intake") == {written[0]}
        assert ids(target_group="ww", skill=HEATING) == {written[3], written[9]}

        trajectory = enschede.candidates.define_trajectory(
            {"name": unique("taaltraject"), "weeks": 8, "modules": [{"code": "taal", "name": "Taal"}]})
        cohort = enschede.candidates.start_cohort({"trajectory_id": trajectory["id"], "name": unique("taal"),
                                                   "start_date": "2027-02-01", "region": region})
        enschede.candidates.enrol(written[5], cohort["id"])
        assert {c["id"] for c in other.candidates.list({"cohort": cohort["name"]})["items"]} == {written[5]}

        with pytest.raises(ValidationError) as refused:
            other.candidates.list({"target_group": "werkloos", "colour": "blue"})
        assert {"target_group", "colour"} <= set(refused.value.errors)
        with pytest.raises(ValidationError) as refused:
            other.candidates.list({"region": region}, limit=4, cursor="not-a-cursor")
        assert "cursor" in refused.value.errors


# --- bulk ------------------------------------------------------------------------------------------


def test_register_many_reports_each_row_and_a_rerun_writes_nothing_twice(system):
    region = unique("regio")
    known_bsn, twice_bsn = new_bsn(), new_bsn()
    with system.rpc(UWV, "import") as uwv, system.rpc(ENSCHEDE, "import") as enschede, system.rpc(None) as anonymous:
        known = uwv.candidates.register(person(region, bsn=known_bsn))
        batch = [
            person(region, source_ref="legacy-1", bsn=new_bsn()),
            person(region, source_ref="legacy-2", skills=[MADE_UP_SKILL]),
            person(region, source_ref="legacy-3", bsn=known_bsn),
            {**person(region, source_ref="legacy-4"), "family_name": None},
            person(region, source_ref="legacy-5", bsn=twice_bsn, cohort=unique("import-cohort")),
            person(region, source_ref="legacy-6", bsn=twice_bsn),
            person(region, source_ref="legacy-7", target_groups=["doelgroepregister"], banenafspraak=True),
        ]
        first = enschede.candidates.register_many(batch)
        assert [r["index"] for r in first] == list(range(7))
        assert set(first[0]) == {"index", "id"} and set(first[6]) == {"index", "id"}
        assert "skills" in first[1]["errors"] and "family_name" in first[3]["errors"]
        assert first[2] == {"index": 2, "conflict": known["id"]}
        assert first[5] == {"index": 5, "conflict": first[4]["id"]}, "a second row with one BSN meets the first"

        def in_region():
            return system.sql("candidates", "SELECT count(*) FROM candidates WHERE region = %s", region)[0][0]

        assert in_region() == 1 + 3
        again = enschede.candidates.register_many(batch)
        for before, after in zip(first, again, strict=True):
            if "id" in before:
                assert after == {**before, "existing": True}
            else:
                assert after == before
        assert in_region() == 1 + 3
        single = enschede.candidates.register(batch[0])  # the single call knows its source_ref too
        assert single["existing"] is True and single["id"] == first[0]["id"]
        # a source_ref is the registering organisation's key: another partner's legacy-7 is someone else
        other = uwv.candidates.register_many([person(region, source_ref="legacy-7")])
        assert set(other[0]) == {"index", "id"} and other[0]["id"] != first[6]["id"]

        with pytest.raises(Unauthorized):
            anonymous.candidates.register_many([person(region)])
        with pytest.raises(ValidationError) as refused:
            enschede.candidates.register_many([])
        assert "candidates" in refused.value.errors
        assert enschede.candidates.get(first[0]["id"])["has_bsn"] is True

    eventually(lambda: stored_events(system, "nl.werkbrug.candidate.registered.v1", first[6]["id"]),
               what="bulk registrations to reach reporting")
    assert stored_events(system, "nl.werkbrug.candidate.registered.v1", first[6]["id"])[0]["banenafspraak"] is True


# --- erasure ---------------------------------------------------------------------------------------


def test_erase_removes_the_person_and_keeps_an_anonymous_count(system, rpc):
    region = unique("regio")
    bsn = new_bsn()
    secrets = {"given_name": "Wubbo", "family_name": "Zuidhoek-Tjallema", "phone": "+31 6 55443322",
               "email": "wubbo.zt@example.org", "condition_notes": "Mantelzorg voor moeder op dinsdag."}
    log_text, goal = "Intakegesprek: wil graag buiten werken.", "Binnen zes maanden aan het werk als hovenier."
    with system.rpc(ENSCHEDE, "p-1") as enschede, system.rpc(HENGELO, "p-2") as hengelo:
        candidate = enschede.candidates.register(person(
            region, postcode="7511 JK", bsn=bsn, cohort=unique("erase-cohort"),
            address={"street": "Brinkstraat", "house_number": "88", "city": "Enschede"}, **secrets))
        cid = candidate["id"]
        enschede.candidates.add_log_entry(cid, {"text": log_text, "date": "2026-11-20"})
        hengelo.candidates.add_log_entry(cid, {"text": "Gesprek over woon-werkverkeer."})
        enschede.candidates.set_plan(cid, {"goal": goal, "steps": ["VCA halen", "meeloopdag hovenier"]})
        own = enschede.candidates.get(cid)
        assert own["plan"]["goal"] == goal
        assert [e["text"] for e in hengelo.candidates.log(cid)] == ["Gesprek over woon-werkverkeer."]
        assert len(enschede.candidates.log(cid)) == 2

        with pytest.raises(Forbidden):
            hengelo.candidates.erase(cid)
        assert enschede.candidates.erase(cid) == {"id": cid, "status": "erased"}
        assert enschede.candidates.erase(cid) == {"id": cid, "status": "erased"}, "erasing twice is harmless"

        left = enschede.candidates.get(cid)
        assert left["status"] == "erased" and "given_name" not in left and left["pc4"] is None
        assert left["skills"] == [] and left["target_groups"] == ["statushouder"] and left["region"] == region
        with pytest.raises(Conflict):
            enschede.candidates.update(cid, {"hours_per_week": 8})
        with pytest.raises(Conflict):
            enschede.candidates.add_log_entry(cid, {"text": "nog iets"})
        assert cid not in {c["id"] for c in rpc.candidates.list({"region": region})["items"]}
        assert [c["id"] for c in rpc.candidates.list({"region": region, "status": "erased"})["items"]] == [cid]

    needles = [*secrets.values(), bsn, "7511JK", "7511 JK", "Brinkstraat", log_text, goal, "VCA halen",
               "woon-werkverkeer"]
    assert found_anywhere(system, needles) == []
    assert system.sql("candidates", "SELECT count(*) FROM personal_data_reads WHERE candidate_id = %s", cid)[0][0] >= 2
    eventually(lambda: stored_events(system, "nl.werkbrug.candidate.erased.v1", cid), what="candidate.erased")

    # a placement event for the erased candidate is ignored, not retried
    handled = system.metric("candidates", "werkbrug_events_handled_total",
                            event_type="nl.werkbrug.placement.recorded.v1", outcome="processed")
    publish_event(system, "matching", "nl.werkbrug.placement.recorded.v1", "p-erased", {
        "placement_id": "p-erased", "candidate_id": cid, "vacancy_id": "v-1", "employer_id": "e-1",
        "start_date": "2026-12-01", "hours_per_week": 24, "region": region, "target_groups": ["statushouder"]})
    eventually(lambda: system.metric("candidates", "werkbrug_events_handled_total",
                                     event_type="nl.werkbrug.placement.recorded.v1", outcome="processed")
               == handled + 1, what="the placement event to be handled")
    assert status_of(rpc, cid) == "erased"
    for secret in (*secrets.values(), bsn, log_text, goal):
        assert secret not in system.log_tail("candidates", lines=100_000)
