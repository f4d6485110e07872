"""The partner change feed on SQLite: positions, who sees what, snapshot, the query's checks."""

from __future__ import annotations

import pytest

from reporting import feed, handlers, projections
from reporting.models import StoredEvent, metadata
from tests.unit.conftest import sqlite_unit_of_work
from tests.unit.reporting.factories import at, event
from werkbrug_shared.errors import Forbidden, ValidationError

ENSCHEDE, UWV, SOWECO = "gemeente-enschede", "uwv-twente", "soweco"


def unit_of_work():
    return sqlite_unit_of_work(metadata, "reporting")


def vacancy(vid: str, minute: int, visibility="public", kind="opened", status="open", stewards=(ENSCHEDE,)):
    return event(f"vacancy.{kind}", {
        "vacancy_id": vid, "employer_id": "e1", "region": "Twente", "pc4": "7511", "skills_required": [],
        "hours_per_week": 24, "openings": 1, "visibility": visibility, "status": status,
        "steward_organisations": list(stewards)}, at(minute))


def registered(cid: str, minute: int, by: str | None = ENSCHEDE):
    data = {"candidate_id": cid, "region": "Twente", "pc4": "7511", "target_groups": ["bijstand"], "skills": [],
            "hours_per_week": 24, "conditions": []}
    if by:
        data["registered_by"] = by
    return event("candidate.registered", data, at(minute))


def status(cid: str, minute: int, to="active"):
    return event("candidate.status_changed",
                 {"candidate_id": cid, "from_status": "registered", "to_status": to, "reason": None}, at(minute))


def placed(pid: str, cid: str, minute: int, credited=(ENSCHEDE,)):
    return event("placement.recorded", {
        "placement_id": pid, "candidate_id": cid, "vacancy_id": "v1", "employer_id": "e1",
        "start_date": "2026-03-02", "hours_per_week": 24, "region": "Twente", "target_groups": ["bijstand"],
        "credited_organisations": list(credited)}, at(minute))


def store(uow, *events):
    handlers.store_events(uow, list(events))
    uow.session.commit()


def types_seen(uow, org, after=0, types=None, limit=1000):
    return [(e["type"].split(".")[2] + "." + e["type"].split(".")[3], e["subject"])
            for e in handlers.feed(uow, org, after, types, limit)["events"]]


def test_positions_are_gap_free_in_commit_order_and_a_rollback_gives_them_back():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, vacancy("v1", 1), registered("c1", 2))
        handlers.store_events(uow, [vacancy("v2", 3)])
        uow.session.rollback()  # the batch failed: its position is given back
        store(uow, status("c1", 4), vacancy("v3", 5))
        store(uow, event("matching.fairness_counted", {
            "instance": "m1", "period_start": "2026-01-01T00:00:00+00:00",
            "period_end": "2026-01-01T00:01:00+00:00", "rankings": 1, "top_total": 0, "eligible_total": 0,
            "groups": []}, at(6)))  # a batch the read models' lock does not take: numbered all the same
        positions = [p for (p,) in uow.session.query(StoredEvent.position).order_by(StoredEvent.position)]
        assert positions == [1, 2, 3, 4, 5]
        assert feed.head(uow.session) == 5
        ids = {e.subject: e.position for e in uow.session.query(StoredEvent)}
        assert ids["v1"] < ids["c1"] < ids["v3"]


def test_public_vacancies_for_everyone_the_rest_for_nobody_and_a_withdrawn_one_as_its_id_alone():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, vacancy("pub", 1), vacancy("hid", 2, "hidden"), vacancy("int", 3, "internal"),
              vacancy("hid", 4, "hidden", "updated"), event("vacancy.closed", {"vacancy_id": "hid", "reason": "x"},
                                                             at(5)),
              event("vacancy.filled", {"vacancy_id": "pub", "openings_filled": 1}, at(6)),
              event("vacancy.filled", {"vacancy_id": "int", "openings_filled": 1}, at(7)),
              vacancy("pub", 8, "internal", "updated"),  # no longer public
              vacancy("pub", 9, "internal", "updated"),  # and still not: nothing
              vacancy("later", 10, "internal"), vacancy("later", 11, "public", "updated"),
              event("vacancy.closed", {"vacancy_id": "later", "reason": "filled elsewhere"}, at(12)))
        for org in (ENSCHEDE, UWV):
            page = handlers.feed(uow, org, 0, None, 100)
            seen = [(e["type"].split(".")[2:4], e["subject"], e["data"]) for e in page["events"]]
            assert [(t, s) for t, s, _ in seen] == [
                (["vacancy", "opened"], "pub"), (["vacancy", "filled"], "pub"), (["vacancy", "updated"], "pub"),
                (["vacancy", "updated"], "later"), (["vacancy", "closed"], "later")]
            assert seen[2][2] == {"vacancy_id": "pub"} and seen[4][2] == {"vacancy_id": "later"}
            assert seen[0][2]["visibility"] == "public"
            assert page["next"] == page["head"] == 12


def test_candidates_status_changes_go_to_the_registering_organisation_only():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, registered("c1", 1, ENSCHEDE), registered("c2", 2, UWV), registered("c3", 3, None))
        store(uow, status("c1", 4), status("c2", 5), status("c3", 6))
        assert types_seen(uow, ENSCHEDE) == [("candidate.status_changed", "c1")]
        assert types_seen(uow, UWV) == [("candidate.status_changed", "c2")]
        assert types_seen(uow, SOWECO) == []  # and c3's registering organisation is unknown: nobody


def test_placements_and_outcomes_for_their_organisations():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, registered("c1", 1, UWV), placed("p1", "c1", 2, credited=(ENSCHEDE,)))
        store(uow, event("aftercare_plan.created", {"plan_id": "pl", "placement_id": "p1", "candidate_id": "c1",
                                                    "jobcoach_id": "j", "region": "Twente", "task_count": 3,
                                                    "organisation": SOWECO}, at(3)),
              event("aftercare_task.completed", {"task_id": "t1", "placement_id": "p1", "outcome": "at_risk",
                                                 "organisation": SOWECO}, at(4)),
              event("placement.at_risk", {"placement_id": "p1", "candidate_id": "c1", "task_id": "t1"}, at(5)),
              event("placement.sustained", {"placement_id": "p1", "candidate_id": "c1", "months": 6}, at(6)),
              event("placement.ended", {"placement_id": "p1", "candidate_id": "c1", "vacancy_id": "v1",
                                        "end_date": "2026-09-01", "reason": "moved"}, at(7)),
              placed("p2", "c9", 8, credited=("elsewhere",)))
        outcomes = [("aftercare_task.completed", "p1"), ("placement.at_risk", "p1"), ("placement.sustained", "p1"),
                    ("placement.ended", "p1")]
        assert types_seen(uow, ENSCHEDE) == [("placement.recorded", "p1"), *outcomes]  # credited
        assert types_seen(uow, UWV) == [("placement.recorded", "p1"), *outcomes]  # registered the candidate
        assert types_seen(uow, SOWECO) == outcomes  # coaches it, from its plan on
        assert types_seen(uow, "gemeente-hengelo") == []
        assert types_seen(uow, ENSCHEDE, types=["nl.werkbrug.placement.ended.v1"]) == [("placement.ended", "p1")]


def test_pages_next_and_nothing_new_below_a_position_once_read():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, *[vacancy(f"v{i}", i) for i in range(5)])
        store(uow, registered("c1", 10, UWV), status("c1", 11))  # not for Enschede
        first = handlers.feed(uow, ENSCHEDE, 0, None, 2)
        assert [e["position"] for e in first["events"]] == [1, 2] and first["next"] == 2
        rest = handlers.feed(uow, ENSCHEDE, first["next"], None, 10)
        assert [e["position"] for e in rest["events"]] == [3, 4, 5]
        assert rest["next"] == 7  # past what Enschede does not see: the head
        assert handlers.feed(uow, ENSCHEDE, rest["next"], None, 10)["events"] == []
        store(uow, vacancy("v9", 20))
        (new,) = handlers.feed(uow, ENSCHEDE, rest["next"], None, 10)["events"]
        assert new["position"] == 8 and new["subject"] == "v9"
        only = handlers.feed(uow, ENSCHEDE, 0, ["nl.werkbrug.vacancy.opened.v1"], 3)
        assert [e["position"] for e in only["events"]] == [1, 2, 3] and only["next"] == 3
        assert new["specversion"] == "1.0" and new["time"].endswith("Z") and new["source"] == "/werkbrug/vacancies"


def test_the_snapshot_and_the_feed_after_it_give_the_published_vacancies():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, vacancy("a", 1), vacancy("b", 2), vacancy("c", 3, "hidden"), vacancy("a", 4, kind="updated"),
              event("vacancy.closed", {"vacancy_id": "b", "reason": "x"}, at(5)))
        snap = handlers.feed_snapshot(uow)
        assert snap["position"] == 5
        assert [(v["subject"], v["type"].split(".")[3]) for v in snap["vacancies"]] == [("a", "updated")]
        store(uow, vacancy("d", 6), vacancy("a", 7, "internal", "updated"))
        after = handlers.feed(uow, ENSCHEDE, snap["position"], None, 100)["events"]
        assert [(e["subject"], e["data"] == {"vacancy_id": "a"}) for e in after] == [("d", False), ("a", True)]
        assert [v["subject"] for v in handlers.feed_snapshot(uow)["vacancies"]] == ["d"]


def test_an_erased_persons_events_are_stripped_in_the_feed_too():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, registered("c1", 1, ENSCHEDE), status("c1", 2))
        store(uow, event("candidate.erased", {"candidate_id": "c1"}, at(3)))
        (changed,) = handlers.feed(uow, ENSCHEDE, 0, None, 10)["events"]
        assert changed["data"] == {"candidate_id": "c1", "from_status": "registered", "to_status": "active"}


@pytest.mark.parametrize("after, types, limit, field", [
    (-1, None, 10, "after"), ("x", None, 10, "after"), (True, None, 10, "after"),
    (0, ["nl.werkbrug.candidate.registered.v1"], 10, "types"), (0, "nope", 10, "types"), (0, [1], 10, "types"),
    (0, None, 0, "limit"), (0, None, 1001, "limit"), (0, None, "ten", "limit"),
])
def test_the_query_is_checked_naming_the_argument(after, types, limit, field):
    with pytest.raises(ValidationError) as refused:
        feed.check_query(after, types, limit)
    assert field in refused.value.errors


def test_inzage_for_the_registering_organisation_only():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, registered("c1", 1, ENSCHEDE), status("c1", 2), registered("c2", 3, ENSCHEDE),
              registered("c3", 4, None))
        got = handlers.inzage(uow, type("A", (), {"organisation": ENSCHEDE})(), "c1", lambda _c: None)
        assert got["service"] == "reporting"
        assert [e["type"] for e in got["records"]["events"]] == [
            "nl.werkbrug.candidate.registered.v1", "nl.werkbrug.candidate.status_changed.v1"]
        with pytest.raises(Forbidden):
            handlers.inzage(uow, type("A", (), {"organisation": UWV})(), "c1", lambda _c: None)
        # not known from the events: who registered them is asked
        assert handlers.inzage(uow, type("A", (), {"organisation": UWV})(), "c3", lambda _c: UWV)["records"]
        with pytest.raises(Forbidden):
            handlers.inzage(uow, type("A", (), {"organisation": UWV})(), "c3", lambda _c: None)


def test_events_stored_before_the_feed_are_numbered_in_the_order_received():
    """What the migration does with an event store that predates positions."""
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        store(uow, vacancy("v1", 1))  # position 1, numbered live
        table = StoredEvent.__table__
        old = [registered("c1", 5, ENSCHEDE), vacancy("v2", 3), status("c1", 9), vacancy("v3", 2, "hidden")]
        for i, e in enumerate(old):  # as an older release stored them: no position, received one by one
            uow.session.execute(table.insert().values(
                event_id=e.id, type=e.type, source=e.source, subject=e.subject, time=e.time, data=e.data,
                received_at=at(100 + i), candidate_id=e.data.get("candidate_id"), position=None))
        assert feed.number_unnumbered(uow.session) == 4
        assert feed.number_unnumbered(uow.session) == 0
        uow.session.commit()
        order = [s for (s,) in uow.session.query(StoredEvent.subject).order_by(StoredEvent.position)]
        assert order == ["v1", "c1", "v2", "c1", "v3"] and feed.head(uow.session) == 5
        assert types_seen(uow, ENSCHEDE) == [("vacancy.opened", "v1"), ("vacancy.opened", "v2"),
                                             ("candidate.status_changed", "c1")]
        store(uow, vacancy("v4", 20))
        assert uow.session.query(StoredEvent.position).filter(StoredEvent.subject == "v4").scalar() == 6
