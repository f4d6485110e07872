"""Reporting's handlers on a SQLite unit of work with a fixed date: what the entrypoints call,
without a broker."""

from __future__ import annotations

from datetime import date

from reporting import handlers, projections, queries
from reporting.models import StoredEvent, metadata
from tests.unit.conftest import sqlite_unit_of_work
from tests.unit.reporting.factories import at, event
from werkbrug_shared.events import CATALOGUE, Event
from werkbrug_shared.events.catalogue import schema_for
from werkbrug_shared.validation import load

TODAY = date(2026, 4, 15)
TARGETS = queries.load_targets([{"id": "zorg", "label": "20 in de zorg", "target": 20,
                                 "start": "2026-01-01", "end": "2026-12-31"}])


def registered(cid: str, minute: int):
    return event("candidate.registered", {
        "candidate_id": cid, "region": "Twente", "pc4": "7511", "target_groups": ["bijstand"], "skills": [],
        "hours_per_week": 24, "conditions": [], "cohort": "zorg-1"}, at(minute))


def placed(pid: str, cid: str, start: str):
    return event("placement.recorded", {
        "placement_id": pid, "candidate_id": cid, "vacancy_id": "v", "employer_id": "e", "start_date": start,
        "hours_per_week": 24, "region": "Twente", "target_groups": ["bijstand"], "cohort": "zorg-1"},
        at(100_000))


def unit_of_work():
    return sqlite_unit_of_work(metadata, "reporting")


def test_stored_events_move_the_figures_and_the_version():
    with unit_of_work() as uow:
        projections.lock_state(uow.session)  # the row the migration makes
        before = handlers.board_version(uow)["version"]
        handlers.store_events(uow, [registered(f"c{i}", i) for i in range(6)]
                              + [placed(f"p{i}", f"c{i}", "2026-03-02") for i in range(5)])
        uow.session.commit()
        assert handlers.board_version(uow)["version"] > before
        figures = handlers.outflow(uow, load(queries.FigureQuery(), {"cohort": "zorg-1"}, "q"))
        assert (figures["enrolled"], figures["placed"]) == (6, 5)
        (target,) = handlers.targets(uow, TARGETS, TODAY)
        assert (target["realised"], target["trend"][-1]) == (5, {"period": "2026-04", "realised": 5})


def test_an_event_made_in_process_is_stored_as_its_schema_dumps_it():
    """An event without its wire form (built here, not received) is stored in JSON values."""
    data = placed("p1", "c1", "2026-03-02").data
    name = "nl.werkbrug.placement.recorded.v1"
    loaded = schema_for(name).load(data)
    assert loaded["start_date"] == date(2026, 3, 2)
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        handlers.store_events(uow, [Event(type=name, source=CATALOGUE[name].source, subject="p1", data=loaded)])
        uow.session.commit()
        stored = uow.session.query(StoredEvent.data).scalar()
        assert stored["start_date"] == "2026-03-02" and stored == {**schema_for(name).dump(loaded), **data}


def test_the_board_is_computed_again_only_when_the_read_models_moved():
    cache = handlers.BoardCache(min_interval=0.0, share=0.0)
    with unit_of_work() as uow:
        projections.lock_state(uow.session)
        handlers.store_events(uow, [registered("c1", 0)])
        uow.session.commit()
        first = handlers.board(uow, cache, TARGETS, TODAY)
        assert handlers.board(uow, cache, TARGETS, TODAY) is first  # unchanged: the cached board
        handlers.store_events(uow, [registered("c2", 1)])
        uow.session.commit()
        second = handlers.board(uow, cache, TARGETS, TODAY)
        assert second is not first and second["version"] > first["version"]
        assert handlers.board(uow, cache, TARGETS, date(2026, 4, 16)) is not second  # a new day, a new board
