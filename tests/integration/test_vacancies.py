"""The shared vacancy pool on real processes: stewards from several
organisations, hidden vacancies for the region's professionals, openings that
follow placements, filtered and paged lists, and bulk opening."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from tests.integration.harness import dumps, eventually, matching_has
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError

ESCO = "http://data.europa.eu/esco/"
CLEAN_AREAS = ESCO + "skill/1422e57c-a6ad-4ad3-ac72-711fc0d81f34"  # clean particular areas manually
CLEAN_FACADE = ESCO + "skill/0df2b2ab-393f-4fb3-bee0-9c50fd716b57"  # clean building facade
CLEANING_PRODUCTS = ESCO + "skill/192043be-5700-40fd-9e21-52c8f1ba8b2e"  # cleaning products
CONTAINERS = ESCO + "skill/139a8761-e26c-4c19-b446-a2568c9eb578"  # clean industrial containers
BUILDING_CLEANER = ESCO + "occupation/303a1e34-cb16-4054-b323-81e5eec17397"
NO_SUCH_SKILL = ESCO + "skill/00000000-0000-4000-8000-000000000000"

CLOSED = "nl.werkbrug.vacancy.closed.v1"
UPDATED = "nl.werkbrug.vacancy.updated.v1"
FILLED = "nl.werkbrug.vacancy.filled.v1"
PLACEMENT_ENDED = "nl.werkbrug.placement.ended.v1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def kvk() -> str:
    return f"{uuid.uuid4().int % 10**8:08d}"


def employer(rpc, region: str) -> dict:
    return rpc.vacancies.register_employer({"name": "Schoonmaakbedrijf Twente BV", "kvk_number": kvk(),
                                            "region": region, "sbi": "8121", "postcode": "7511 JD"})


def vacancy(employer_id: str, region: str, **fields) -> dict:
    return {"employer_id": employer_id, "title": "Schoonmaker kantoren", "region": region, "postcode": "7511 JD",
            "must_have": [{"skill": CLEAN_AREAS, "weight": 1.0}], "occupation": BUILDING_CLEANER,
            "hours_per_week": 24, "openings": 1, **fields}


def stored(system, event_type: str, subject: str) -> list[dict]:
    rows = system.sql("reporting", "SELECT data FROM event_store WHERE type = %s AND subject = %s ORDER BY time",
                      event_type, subject)
    return [r[0] for r in rows]


def ids(page: dict) -> list[str]:
    return [v["id"] for v in page["items"]]


@pytest.fixture
def partners(system):
    """RPC clients acting as professionals of several partner organisations."""
    who = {
        "enschede": ("dev-gemeente-enschede", "p-enschede-1"),
        "hengelo": ("dev-gemeente-hengelo", "p-hengelo-4"),
        "uwv": ("dev-uwv-twente", "p-uwv-7"),
        "soweco": ("dev-soweco", "p-soweco-2"),
        "leerwerk": ("dev-leerwerkbedrijf-twente", "p-lwb-3"),
        "utrecht": ("dev-gemeente-utrecht", "p-utrecht-9"),
    }
    proxies = {name: system.rpc(credential=c, professional=p) for name, (c, p) in who.items()}
    clients = {name: proxy.start() for name, proxy in proxies.items()}
    try:
        yield clients
    finally:
        for proxy in proxies.values():
            proxy.stop()


# --- stewardship ----------------------------------------------------------------------------


def test_stewards_of_several_organisations_share_a_vacancy(system, rpc, partners):
    enschede, uwv, soweco = partners["enschede"], partners["uwv"], partners["soweco"]
    region = unique("regio")
    e = employer(enschede, region)
    v = enschede.vacancies.open(vacancy(e["id"], region, openings=2))
    assert v["steward_organisations"] == ["gemeente-enschede"]
    assert [(s["organisation"], s["professional"]) for s in enschede.vacancies.stewards(v["id"])] == [
        ("gemeente-enschede", "p-enschede-1")]

    with pytest.raises(Forbidden):  # UWV is not a steward yet
        uwv.vacancies.update(v["id"], {"openings": 3})
    enschede.vacancies.add_steward(v["id"], {"organisation": "uwv-twente", "professional": "p-uwv-7"})
    with pytest.raises(ValidationError) as refused:
        enschede.vacancies.add_steward(v["id"], {"organisation": "no-such-partner", "professional": "x"})
    assert "organisation" in refused.value.errors

    updated = uwv.vacancies.update(v["id"], {"openings": 3, "conditions_offered": ["job_carving"],
                                             "nice_to_have": [{"skill": CLEANING_PRODUCTS, "weight": 0.4}]})
    assert (updated["openings"], updated["conditions_offered"]) == (3, ["job_carving"])
    assert updated["steward_organisations"] == ["gemeente-enschede", "uwv-twente"]
    assert updated["nice_to_have"] == [{"skill": CLEANING_PRODUCTS, "weight": 0.4}]
    uwv.vacancies.add_candidate(v["id"], "cand-42", "Sterk in zelfstandig werken; wil vaste ploeg.")
    assert [e["candidate_id"] for e in enschede.vacancies.shortlist(v["id"])] == ["cand-42"]
    # a steward's note may name the person: its own organisation reads it, the other stewards do not
    assert [e["note"] for e in uwv.vacancies.shortlist(v["id"])] == ["Sterk in zelfstandig werken; wil vaste ploeg."]
    assert [e["note"] for e in enschede.vacancies.shortlist(v["id"])] == [None]

    # a third organisation of the same region sees the vacancy but may not change it
    assert soweco.vacancies.get(v["id"])["openings"] == 3
    for call in (lambda: soweco.vacancies.update(v["id"], {"openings": 1}),
                 lambda: soweco.vacancies.close(v["id"], "withdrawn_by_employer"),
                 lambda: soweco.vacancies.add_steward(v["id"], {"organisation": "soweco", "professional": "p"}),
                 lambda: soweco.vacancies.add_candidate(v["id"], "cand-43"),
                 lambda: soweco.vacancies.shortlist(v["id"])):
        with pytest.raises(Forbidden):
            call()
    with system.rpc(None) as outsider, pytest.raises(Unauthorized):
        outsider.vacancies.update(v["id"], {"openings": 1})

    # closing needs a reason, named in the error
    for reason in (None, "", "Jan heeft de baan"):
        with pytest.raises(ValidationError) as refused:
            uwv.vacancies.close(v["id"], reason)
        assert "reason" in refused.value.errors and "reason" in str(refused.value)
    assert enschede.vacancies.get(v["id"])["status"] == "open"

    closed = uwv.vacancies.close(v["id"], "withdrawn_by_employer", "Werkgever heeft de vacature ingetrokken.")
    assert (closed["status"], closed["closed_reason"]) == ("closed", "withdrawn_by_employer")
    with pytest.raises(Conflict):
        enschede.vacancies.close(v["id"], "expired")
    with pytest.raises(Conflict):
        enschede.vacancies.update(v["id"], {"openings": 4})

    events = eventually(lambda: stored(system, CLOSED, v["id"]), what="vacancy.closed in reporting's event store")
    assert events == [{"vacancy_id": v["id"], "reason": "withdrawn_by_employer"}]
    profiles = eventually(lambda: stored(system, UPDATED, v["id"]), what="vacancy.updated in the event store")
    assert profiles[-1]["steward_organisations"] == ["gemeente-enschede", "uwv-twente"]
    assert profiles[-1]["openings"] == 3 and profiles[-1]["conditions_offered"] == ["job_carving"]
    # stewards' own words stay in vacancies: neither the note nor the employer's name travels
    for text in ("zelfstandig", "ingetrokken", "Schoonmaakbedrijf"):
        assert system.sql("reporting", "SELECT count(*) FROM event_store WHERE data::text LIKE %s",
                          f"%{text}%")[0][0] == 0
        assert system.sql("vacancies", "SELECT count(*) FROM outbox WHERE payload LIKE %s", f"%{text}%")[0][0] == 0


def test_without_a_credential_nothing_is_registered_or_opened(system):
    """Every call is some partner's: the organisation that opens a vacancy is its first steward."""
    with system.rpc(None) as outsider:
        with pytest.raises(Unauthorized):
            outsider.vacancies.register_employer({"name": "Spine BV", "kvk_number": kvk(), "region": "Twente"})
        with pytest.raises(Unauthorized):
            outsider.vacancies.open({"employer_id": "e", "title": "t", "region": "Twente", "postcode": "7511 JD",
                                     "skills_required": [CLEAN_AREAS], "hours_per_week": 32, "openings": 1})


# --- hidden vacancies -----------------------------------------------------------------------


def test_a_hidden_vacancy_is_for_the_regions_professionals_only(system, partners, outsider):
    hengelo, enschede, utrecht = partners["hengelo"], partners["enschede"], partners["utrecht"]
    e = employer(hengelo, "Twente")
    hidden = hengelo.vacancies.open(vacancy(e["id"], "Twente", visibility="hidden"))
    internal = hengelo.vacancies.open(vacancy(e["id"], "Twente", visibility="internal"))
    public = hengelo.vacancies.open(vacancy(e["id"], "Twente"))
    mine = {"employer_id": e["id"]}

    # every professional of Twente sees and works it, stewards or not
    assert enschede.vacancies.get(hidden["id"])["visibility"] == "hidden"
    assert set(ids(enschede.vacancies.list(mine))) == {hidden["id"], internal["id"], public["id"]}

    # Midden-Utrecht: as if it did not exist; callers without a credential get nothing at all
    with pytest.raises(NotFound):
        utrecht.vacancies.get(hidden["id"])
    for call in (lambda: outsider.vacancies.get(hidden["id"]), lambda: outsider.vacancies.list(mine)):
        with pytest.raises(Unauthorized):
            call()
    with pytest.raises(NotFound):
        utrecht.vacancies.stewards(hidden["id"])
    with pytest.raises(NotFound):  # not even Forbidden: its existence does not leak
        utrecht.vacancies.update(hidden["id"], {"title": "x"})
    assert set(ids(utrecht.vacancies.list(mine))) == {internal["id"], public["id"]}
    assert set(ids(utrecht.vacancies.list({**mine, "visibility": "hidden"}))) == set()

    # never published, whoever asks
    for caller in (outsider, enschede, utrecht):  # what job sites show: anyone may list it
        published = caller.vacancies.list_published(mine)
        assert ids(published) == [public["id"]]
        assert "steward_organisations" not in published["items"][0]
    with pytest.raises(ValidationError) as refused:
        outsider.vacancies.list_published({"visibility": "hidden"})
    assert "visibility" in refused.value.errors

    # a steward from another region works the vacancy too
    hengelo.vacancies.add_steward(hidden["id"], {"organisation": "gemeente-utrecht", "professional": "p-utrecht-9"})
    assert utrecht.vacancies.get(hidden["id"])["id"] == hidden["id"]
    assert hidden["id"] in ids(utrecht.vacancies.list(mine))
    assert hidden["id"] not in ids(utrecht.vacancies.list_published(mine))


# --- openings follow placements ---------------------------------------------------------------


def _ended(placement: dict, candidate_id: str, vacancy_id: str, event_id: str | None = None) -> str:
    return dumps({
        "specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "/werkbrug/matching",
        "type": PLACEMENT_ENDED, "time": datetime.now(UTC).isoformat(), "subject": placement["id"],
        "datacontenttype": "application/json",
        "data": {"placement_id": placement["id"], "candidate_id": candidate_id, "vacancy_id": vacancy_id,
                 "end_date": "2027-02-01", "reason": "contract_ended"},
    })


def test_openings_go_down_with_placements_and_come_back_when_one_ends(system, rpc, partners):
    enschede = partners["enschede"]
    region = unique("regio")
    e = employer(enschede, region)
    v = enschede.vacancies.open(vacancy(e["id"], region, openings=2))
    candidates = [rpc.candidates.register({
        "given_name": f"Kandidaat{i}", "family_name": "Testpersoon", "region": region, "postcode": "7512 AB",
        "target_groups": ["bijstand"], "skills": [CLEAN_AREAS], "hours_per_week": 24, "conditions": [],
    }) for i in range(2)]

    def indexed():
        return matching_has(rpc, v["id"], [c["id"] for c in candidates])

    eventually(indexed, what="matching to index the vacancy and candidates")
    placements = [rpc.matching.record_placement({"candidate_id": c["id"], "vacancy_id": v["id"],
                                                 "start_date": "2026-12-01", "hours_per_week": 24})
                  for c in candidates]

    filled = eventually(lambda: (g := enschede.vacancies.get(v["id"]))["status"] == "filled" and g,
                        what="the vacancy to be filled")
    assert (filled["openings_filled"], filled["openings_free"]) == (2, 0)
    assert eventually(lambda: stored(system, FILLED, v["id"]), what="vacancy.filled") == [
        {"vacancy_id": v["id"], "openings_filled": 2}]
    assert v["id"] not in ids(rpc.vacancies.list_published({"region": region}))

    # the first placement ends: its opening comes back and the vacancy is open again
    first_end = _ended(placements[0], candidates[0]["id"], v["id"])
    system.publish("matching", PLACEMENT_ENDED, first_end)
    reopened = eventually(lambda: (g := enschede.vacancies.get(v["id"]))["status"] == "open" and g,
                          what="the vacancy to open again")
    assert (reopened["openings_filled"], reopened["openings_free"]) == (1, 1)
    profile = eventually(lambda: [p for p in stored(system, UPDATED, v["id"]) if p["status"] == "open"
                                  and p["openings"] == 1], what="vacancy.updated with status open")[-1]
    assert profile["steward_organisations"] == ["gemeente-enschede"]
    assert ids(rpc.vacancies.list_published({"region": region})) == [v["id"]]

    # the same end again, redelivered or re-sent under a new id, frees nothing more
    def handled(outcome):
        return system.metric("vacancies", "werkbrug_events_handled_total", event_type=PLACEMENT_ENDED,
                             outcome=outcome)

    duplicates, processed = handled("duplicate"), handled("processed")
    system.publish("matching", PLACEMENT_ENDED, first_end)
    system.publish("matching", PLACEMENT_ENDED, _ended(placements[0], candidates[0]["id"], v["id"]))
    eventually(lambda: handled("duplicate") == duplicates + 1 and handled("processed") == processed + 1,
               what="both copies to be handled")
    assert enschede.vacancies.get(v["id"])["openings_filled"] == 1

    # closed stays closed, whatever ends later
    enschede.vacancies.close(v["id"], "filled_elsewhere")
    system.publish("matching", PLACEMENT_ENDED, _ended(placements[1], candidates[1]["id"], v["id"]))
    eventually(lambda: enschede.vacancies.get(v["id"])["openings_filled"] == 0, what="the second end to count")
    assert enschede.vacancies.get(v["id"])["status"] == "closed"


# --- lists ----------------------------------------------------------------------------------


def test_list_filters_and_cursor_pages(system, rpc, partners):
    enschede, utrecht = partners["enschede"], partners["utrecht"]
    region = unique("regio")
    e = employer(enschede, region)
    specs = [
        {"is_leerwerkbaan": True},
        {"nice_to_have": [{"skill": CONTAINERS, "weight": 0.5}]},
        {"must_have": [{"skill": CONTAINERS, "weight": 0.9}], "is_leerwerkbaan": True},
        {"visibility": "internal", "banenafspraak_suitable": True},
        {"visibility": "hidden"},  # region is not Twente: only its steward sees it
        {},
        {"valid_through": "2020-01-01"},  # expired: listed, never published
    ]
    opened = [enschede.vacancies.open(vacancy(e["id"], region, **spec)) for spec in specs]
    every = [v["id"] for v in opened]

    first = enschede.vacancies.list({"region": region}, 3)
    # opened while paging: it belongs before the first page, never in a later one
    late = enschede.vacancies.open(vacancy(e["id"], region))
    pages, cursor = [ids(first)], first["next_cursor"]
    while cursor is not None:
        page = enschede.vacancies.list({"region": region}, 3, cursor)
        pages.append(ids(page))
        cursor = page["next_cursor"]
    assert [len(p) for p in pages] == [3, 3, 1]
    listed = [i for p in pages for i in p]
    assert listed == list(reversed(every)), "newest first, no duplicates, none missing"
    assert ids(enschede.vacancies.list({"region": region}, 3))[0] == late["id"]

    def listed_ids(client, filters):
        return set(ids(client.vacancies.list({"region": region, **filters}, 100)))

    assert listed_ids(enschede, {"is_leerwerkbaan": True}) == {every[0], every[2]}
    assert listed_ids(enschede, {"skill": CONTAINERS}) == {every[1], every[2]}  # must-have or nice-to-have
    assert listed_ids(enschede, {"skill": CONTAINERS, "is_leerwerkbaan": True}) == {every[2]}
    assert listed_ids(enschede, {"banenafspraak_suitable": True}) == {every[3]}
    assert listed_ids(enschede, {"visibility": "hidden"}) == {every[4]}
    assert listed_ids(enschede, {"employer_id": "nobody"}) == set()
    assert listed_ids(utrecht, {}) == set(every + [late["id"]]) - {every[4]}

    enschede.vacancies.close(every[5], "duplicate")
    assert listed_ids(enschede, {"status": "closed"}) == {every[5]}
    assert every[5] not in listed_ids(enschede, {"status": "open"})
    published = rpc.vacancies.list_published({"region": region}, 100)
    assert set(ids(published)) == {every[0], every[1], every[2], late["id"]}

    for bad in ({"limit": 0}, {"limit": 500}, {"cursor": "not-a-cursor"}):
        with pytest.raises(ValidationError) as refused:
            enschede.vacancies.list({"region": region}, **bad)
        assert set(bad) <= set(refused.value.errors)
    with pytest.raises(ValidationError) as refused:
        enschede.vacancies.list({"skill": NO_SUCH_SKILL.replace("skill", "skil"), "colour": "red"})
    assert {"skill", "colour"} <= set(refused.value.errors)


# --- bulk -----------------------------------------------------------------------------------


def test_open_many_reports_per_row_and_can_be_run_again(system, rpc, partners):
    leerwerk = partners["leerwerk"]
    region = unique("regio")
    tag = unique("ats")
    known = employer(leerwerk, region)
    new_kvk = kvk()

    def row(i, **fields):
        return {**vacancy(known["id"], region), "title": f"Leerwerkbaan {i}", "is_leerwerkbaan": True,
                "source_ref": f"{tag}-{i}", **fields}

    by_kvk = {"employer_kvk": new_kvk, "employer_name": "Nieuw Groen BV", "employer_region": region,
              "employer_sbi": "8130", "employer_postcode": "7511 JD"}
    rows = [
        row(0),
        row(1, postcode="1000 AA", hours_per_week=99),
        {k: v for k, v in row(2, **by_kvk).items() if k != "employer_id"},
        {k: v for k, v in row(3, employer_kvk=new_kvk).items() if k != "employer_id"},  # the same new employer
        row(4, must_have=[{"skill": NO_SUCH_SKILL, "weight": 1.0}]),
        {k: v for k, v in row(5, employer_kvk=kvk()).items() if k != "employer_id"},  # new, but no name
        "not a vacancy",
        row(7, employer_id="no-such-employer"),
        row(0),  # the same source_ref twice in one call
    ]

    def counts():
        return (
            system.sql("vacancies", "SELECT count(*) FROM vacancies WHERE source_ref LIKE %s", f"{tag}-%")[0][0],
            system.sql("vacancies", "SELECT count(*) FROM employers WHERE kvk_number = %s", new_kvk)[0][0],
            system.sql("vacancies", "SELECT count(*) FROM outbox WHERE event_type = %s AND payload LIKE %s",
                       "nl.werkbrug.vacancy.opened.v1", f"%{region}%")[0][0],
        )

    with system.rpc(None) as outsider, pytest.raises(Unauthorized):
        outsider.vacancies.open_many(rows)
    first = leerwerk.vacancies.open_many(rows)
    assert [r["index"] for r in first] == list(range(len(rows)))
    made = {r["index"]: r["id"] for r in first if "id" in r and not r.get("existing")}
    assert set(made) == {0, 2, 3}
    errors = {r["index"]: r["errors"] for r in first if "errors" in r}
    assert set(errors) == {1, 4, 5, 6, 7}
    assert set(errors[1]) == {"postcode", "hours_per_week"}
    assert set(errors[4]) == {"must_have"} and "unknown ESCO skill" in str(errors[4])
    assert set(errors[5]) == {"employer_name"}
    assert set(errors[6]) == {"_schema"}
    assert set(errors[7]) == {"employer_id"}
    assert first[8] == {"index": 8, "id": made[0], "existing": True}
    assert counts() == (3, 1, 3)

    two, three = leerwerk.vacancies.get(made[2]), leerwerk.vacancies.get(made[3])
    assert two["employer_id"] == three["employer_id"] != known["id"]
    assert leerwerk.vacancies.get_employer(two["employer_id"])["sbi"] == "8130"
    assert two["steward_organisations"] == ["leerwerkbedrijf-twente"] and two["is_leerwerkbaan"]
    registered = eventually(lambda: stored(system, "nl.werkbrug.employer.registered.v1", two["employer_id"]),
                            what="employer.registered")
    assert registered == [{"employer_id": two["employer_id"], "region": region, "sbi": "8130"}]

    # an interrupted import is simply run again: what exists is answered, nothing doubles
    again = leerwerk.vacancies.open_many(rows)
    assert {r["index"]: r["id"] for r in again if r.get("existing")} == {0: made[0], 2: made[2], 3: made[3],
                                                                         8: made[0]}
    assert {r["index"] for r in again if "errors" in r} == set(errors)
    assert counts() == (3, 1, 3)
    # another organisation's rows with the same refs are its own
    other = partners["uwv"].vacancies.open_many([row(0)])
    assert "existing" not in other[0] and other[0]["id"] != made[0]


def test_open_many_opens_a_thousand_rows_in_one_call(system, partners):
    leerwerk = partners["leerwerk"]
    region = unique("regio")
    tag = unique("bulk")
    known = employer(leerwerk, region)
    rows = [{**vacancy(known["id"], region), "title": f"Vacature {i}", "source_ref": f"{tag}-{i}",
             "nice_to_have": [{"skill": CLEANING_PRODUCTS, "weight": 0.3}]} for i in range(1000)]
    started = time.perf_counter()
    results = leerwerk.vacancies.open_many(rows)
    elapsed = time.perf_counter() - started
    assert len({r["id"] for r in results if "id" in r and not r.get("existing")}) == 1000, results[:3]
    print(f"open_many: 1,000 rows in {elapsed:.2f}s")
    assert system.sql("vacancies", "SELECT count(*) FROM vacancy_skills s JOIN vacancies v ON v.id = s.vacancy_id "
                      "WHERE v.region = %s", region)[0][0] == 2000
    page = leerwerk.vacancies.list({"region": region}, 200)
    assert len(page["items"]) == 200 and page["next_cursor"]
