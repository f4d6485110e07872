"""The board's contract, suppression of small groups, the RPCs' input, targets
from the config and the business metrics."""

from __future__ import annotations

from datetime import date

import pytest

from reporting import business_metrics, queries
from reporting.domain import HIDDEN, SUPPRESSED
from tests.unit.reporting.factories import at, database, event, store
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.validation import load

TOTAL_KEYS = {"enrolled", "placed", "outflow_rate", "median_days_to_placement", "ended_early",
              "sustained_6m_rate", "sustained_12m_rate"}
TARGETS = queries.load_targets([
    {"id": "leerwerkbanen", "label": "1.000 extra leerwerkbanen", "target": 1000, "leerwerkbaan": True,
     "start": date(2026, 1, 1), "end": date(2027, 12, 31)},
    {"id": "banenafspraak", "label": "Banenafspraak: 20 garantiebanen", "target_group": "doelgroepregister",
     "target": 20, "start": "2026-01-01", "end": "2026-12-31"},
])


def registered(cid, cohort, groups, minute=0, region="Twente"):
    return event("candidate.registered", {
        "candidate_id": cid, "region": region, "pc4": "7511", "target_groups": groups, "skills": [],
        "hours_per_week": 24, "conditions": [], "cohort": cohort}, at(minute))


def placed(pid, cid, groups, start, vacancy="v-gewoon", minute=100_000):
    return event("placement.recorded", {
        "placement_id": pid, "candidate_id": cid, "vacancy_id": vacancy, "employer_id": "e",
        "start_date": start, "hours_per_week": 24, "region": "Twente", "target_groups": groups, "cohort": None},
        at(minute))


def scenario():
    """Cohort klein-1: 4 people, 1 placed. Cohort groot-1: 12 people, 8 placed (2 ended early,
    3 sustained 6 months); 3 of them doelgroepregister. Tasks at two organisations."""
    events = [event("vacancy.opened", {"vacancy_id": "v-lwb", "employer_id": "e", "region": "Twente", "pc4": "7511",
                                       "skills_required": [], "hours_per_week": 24, "openings": 3,
                                       "is_leerwerkbaan": True}, at(1))]
    for i in range(4):
        events.append(registered(f"k{i}", "klein-1", ["bijstand"], minute=i))
    events.append(placed("pk0", "k0", ["bijstand"], "2026-02-10"))
    for i in range(12):
        groups = ["doelgroepregister"] if i < 3 else ["bijstand", "50plus"]
        events.append(registered(f"g{i}", "groot-1", groups, minute=60 * 24 * 40 + i))
    for i in range(8):
        groups = ["doelgroepregister"] if i < 3 else ["bijstand", "50plus"]
        events.append(placed(f"pg{i}", f"g{i}", groups, f"2026-03-{i + 1:02d}",
                             vacancy="v-lwb" if i < 2 else "v-gewoon"))
    for i in (0, 1):
        events.append(event("placement.ended", {"placement_id": f"pg{i}", "candidate_id": f"g{i}",
                                                "vacancy_id": "v", "end_date": "2026-05-01", "reason": "resigned"},
                            at(200_000)))
    for i in (2, 3, 4):
        events.append(event("placement.sustained", {"placement_id": f"pg{i}", "candidate_id": f"g{i}", "months": 6},
                            at(400_000)))
    for i in range(7):
        org = "Soweco" if i < 6 else "Larcom"
        events.append(event("aftercare_task.assigned", {
            "task_id": f"t{i}", "plan_id": "pl", "placement_id": "pg5", "jobcoach_id": "j", "kind": "week_1",
            "due": "2026-03-08", "organisation": org}, at(100_100)))
    events.append(event("aftercare_task.overdue", {"task_id": "t0", "placement_id": "pg5", "jobcoach_id": "j",
                                                   "due": "2026-03-08", "organisation": "Soweco"}, at(110_000)))
    events.append(event("aftercare_task.completed", {"task_id": "t1", "placement_id": "pg5",
                                                     "outcome": "going_well"}, at(110_000)))
    events.append(event("matching.fairness_counted", {
        "instance": "m", "period_start": "2026-03-01T10:00:00+00:00", "period_end": "2026-03-01T10:01:00+00:00",
        "rankings": 2, "top_total": 20, "eligible_total": 200,
        "groups": [{"target_group": "bijstand", "top": 12, "eligible": 90},
                   {"target_group": "sw", "top": 3, "eligible": 20}]}, at(120_000)))
    return events


@pytest.fixture
def session():
    with database() as s:
        store(s, scenario())
        yield s


def test_the_board_has_its_contracted_shape(session):
    board = queries.board(session, TARGETS, date(2026, 4, 15))
    assert set(board) == {"version", "as_of", "totals", "by_target_group", "by_cohort", "trend", "targets",
                          "aftercare", "fairness"}
    assert isinstance(board["version"], int) and board["version"] >= 1
    assert board["as_of"] == at(400_000).isoformat()
    assert set(board["totals"]) == TOTAL_KEYS
    assert [r["target_group"] for r in board["by_target_group"]] == [
        "bijstand", "doelgroepregister", "sw", "statushouder", "50plus", "ww"]
    assert all(set(r) == TOTAL_KEYS | {"target_group"} for r in board["by_target_group"])
    assert [r["cohort"] for r in board["by_cohort"]] == ["groot-1", "klein-1"]
    assert all(set(r) == TOTAL_KEYS | {"cohort"} for r in board["by_cohort"])
    assert all(set(r) == {"period", "enrolled", "placed"} for r in board["trend"])
    assert [r["period"] for r in board["trend"]] == sorted(r["period"] for r in board["trend"])
    for target in board["targets"]:
        assert set(target) == {"id", "label", "target", "realised", "share", "start", "end", "trend"}
        assert all(set(p) == {"period", "realised"} for p in target["trend"])
    assert all(set(r) == {"organisation", "open", "overdue"} for r in board["aftercare"])
    assert all(set(r) == {"target_group", "top_share", "pool_share"} for r in board["fairness"])
    import json

    json.dumps(board)  # travels as JSON over RPC


def test_the_board_counts_and_suppresses_groups_under_five(session):
    board = queries.board(session, TARGETS, date(2026, 4, 15))
    # days to placement: 41 (klein-1) and 20..27 (groot-1, enrolled on 9 February in Enschede)
    assert board["totals"] == {"enrolled": 16, "placed": 9, "outflow_rate": 0.5625,
                               "median_days_to_placement": 24.0, "ended_early": SUPPRESSED,
                               "sustained_6m_rate": None, "sustained_12m_rate": None}  # 3 of 5: from a small count
    cohorts = {r["cohort"]: r for r in board["by_cohort"]}
    assert cohorts["klein-1"] == {"cohort": "klein-1", "enrolled": SUPPRESSED, "placed": SUPPRESSED,
                                  "outflow_rate": None, "median_days_to_placement": None, "ended_early": 0,
                                  "sustained_6m_rate": None, "sustained_12m_rate": None}
    # the total less groot-1 would give klein-1's 4 and 1 away: groot-1's counts are hidden too
    assert (cohorts["groot-1"]["enrolled"], cohorts["groot-1"]["placed"]) == (HIDDEN, HIDDEN)
    assert cohorts["groot-1"]["outflow_rate"] is None and cohorts["groot-1"]["median_days_to_placement"] is None
    groups = {r["target_group"]: r for r in board["by_target_group"]}
    assert groups["doelgroepregister"]["enrolled"] == SUPPRESSED and groups["doelgroepregister"]["placed"] == SUPPRESSED
    assert groups["doelgroepregister"]["outflow_rate"] is None
    assert groups["bijstand"]["enrolled"] == 13 and groups["bijstand"]["placed"] == 6
    assert groups["ww"]["enrolled"] == 0 and groups["ww"]["outflow_rate"] is None
    assert board["aftercare"] == [{"organisation": "Larcom", "open": SUPPRESSED, "overdue": 0},
                                  {"organisation": "Soweco", "open": 5, "overdue": SUPPRESSED}]
    assert board["fairness"] == [{"target_group": "bijstand", "top_share": 0.6, "pool_share": 0.45},
                                 {"target_group": "sw", "top_share": None, "pool_share": 0.1}]


def test_targets_on_the_board(session):
    board = queries.board(session, TARGETS, date(2026, 4, 15))
    leerwerk, banen = board["targets"]
    assert (leerwerk["label"], leerwerk["realised"], leerwerk["target"], leerwerk["share"]) == (
        "1.000 extra leerwerkbanen", 2, 1000, 0.002)
    assert (banen["realised"], banen["share"]) == (3, 0.15)
    assert banen["trend"] == [{"period": "2026-01", "realised": 0}, {"period": "2026-02", "realised": 0},
                              {"period": "2026-03", "realised": 3}, {"period": "2026-04", "realised": 3}]


def test_outflow_keeps_its_old_answer_and_adds_rows(session):
    query = load(queries.FigureQuery(), {"cohort": "groot-1"}, "q")
    result = queries.outflow(session, query)
    assert {k: result[k] for k in ("cohort", "target_group", "enrolled", "placed", "outflow_rate")} == {
        "cohort": "groot-1", "target_group": None, "enrolled": 12, "placed": 8, "outflow_rate": 0.6667}
    assert result["rows"] == [{"period": None, "enrolled": 12, "placed": 8, "outflow_rate": 0.6667,
                               "median_days_to_placement": 23.5, "ended_early": SUPPRESSED}]
    small = queries.outflow(session, load(queries.FigureQuery(), {"cohort": "klein-1"}, "q"))
    assert (small["enrolled"], small["placed"], small["outflow_rate"]) == (SUPPRESSED, SUPPRESSED, None)
    exact = queries.outflow(session, load(queries.FigureQuery(), {"cohort": "klein-1", "suppress": False}, "q"))
    assert (exact["enrolled"], exact["placed"], exact["outflow_rate"]) == (4, 1, 0.25)
    by_month = queries.outflow(session, load(queries.FigureQuery(), {"period": "month", "group_by": "cohort"}, "q"))
    assert [(r["cohort"], r["period"], r["enrolled"], r["placed"]) for r in by_month["rows"]] == [
        ("groot-1", "2026-02", HIDDEN, 0), ("groot-1", "2026-03", 0, HIDDEN),  # else the total less these tells
        ("klein-1", "2025-12", SUPPRESSED, 0), ("klein-1", "2026-02", 0, SUPPRESSED)]  # 23:30 on 31 December
    exact = queries.outflow(session, load(queries.FigureQuery(), {"period": "month", "group_by": "cohort",
                                                                  "suppress": False}, "q"))
    assert [(r["enrolled"], r["placed"]) for r in exact["rows"]] == [(12, 0), (0, 8), (4, 0), (0, 1)]


def test_durability_answer(session):
    result = queries.durability(session, load(queries.FigureQuery(), {"suppress": False}, "q"))
    assert {k: result[k] for k in ("placements", "decided_6m", "sustained_6m", "sustained_6m_rate")} == {
        "placements": 9, "decided_6m": 5, "sustained_6m": 3, "sustained_6m_rate": 0.6}
    by_quarter = queries.durability(session, load(queries.FigureQuery(), {"period": "quarter"}, "q"))
    assert [r["period"] for r in by_quarter["rows"]] == ["2026-Q1"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"target_group": "martians"}, "target_group"),
    ({"period": "week"}, "period"),
    ({"group_by": "person"}, "group_by"),
    ({"suppress": "misschien"}, "suppress"),
    ({"cohort": ""}, "cohort"),
])
def test_bad_queries_name_the_field(payload, field):
    with pytest.raises(ValidationError) as refused:
        load(queries.FigureQuery(), payload, "outflow query")
    assert field in refused.value.errors and field in str(refused.value)


def test_bad_targets_name_the_entry_and_field():
    with pytest.raises(ValidationError) as refused:
        queries.load_targets([
            {"id": "ok", "label": "Goed", "target": 5, "start": "2026-01-01", "end": "2026-12-31"},
            {"id": "x", "label": "Fout", "target": "veel", "start": "2026-01-01", "end": "2025-12-31",
             "target_group": "martians"},
        ])
    errors = refused.value.errors
    assert {"REPORTING_TARGETS[1].target", "REPORTING_TARGETS[1].target_group"} <= set(errors)
    with pytest.raises(ValidationError) as refused:
        queries.load_targets([{"id": "x", "label": "Fout", "target": 5, "start": "2026-02-01", "end": "2026-01-01"}])
    assert "REPORTING_TARGETS[0].end" in refused.value.errors
    assert queries.load_targets(None) == []


def test_business_metrics_are_exact_and_bounded(session):
    figures = business_metrics.read_figures(session)
    # labels are the person's groupings, as on the board
    assert figures["placements"] == {("bijstand", "klein-1", "Twente"): 1, ("bijstand", "groot-1", "Twente"): 5,
                                     ("50plus", "groot-1", "Twente"): 5, ("doelgroepregister", "groot-1", "Twente"): 3}
    assert figures["outflow"][("doelgroepregister", "groot-1", "Twente")] == 1.0  # 3 of 3: not suppressed here
    assert figures["outflow"][("bijstand", "klein-1", "Twente")] == 0.25
    assert figures["sustained"] == {("6", "bijstand"): 1.0, ("6", "50plus"): 1.0, ("6", "doelgroepregister"): 0.3333,
                                    ("12", "doelgroepregister"): 0.0}  # the two that ended are decided at 12 too
    assert figures["aftercare"] == {"Larcom": (1, 0), "Soweco": (5, 1)}
    assert figures["last_update"] is not None
    labels = {v for key in figures["placements"] for v in key} | {v for key in figures["outflow"] for v in key}
    assert not {label for label in labels if label.startswith(("k", "g", "p")) and label[1:].isdigit()}


def test_the_collector_yields_the_families():
    from prometheus_client import CollectorRegistry, generate_latest
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from reporting import projections
    from reporting.models import metadata

    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as s:
        projections.lock_state(s)
        store(s, scenario())
    registry = CollectorRegistry()
    registry.register(business_metrics.ReadModelCollector(engine))
    text = generate_latest(registry).decode()
    engine.dispose()
    for name in ("werkbrug_placements_total{", "werkbrug_outflow_ratio{", "werkbrug_sustained_ratio{",
                 "werkbrug_aftercare_tasks_open{", "werkbrug_aftercare_tasks_overdue{",
                 "werkbrug_board_last_update_timestamp_seconds "):
        assert name in text, name
    assert 'werkbrug_placements_total{cohort="groot-1",region="Twente",target_group="doelgroepregister"} 3.0' in text


def test_the_board_cache_recomputes_on_change_but_not_too_often(monkeypatch):
    from reporting import handlers

    clock = [100.0]
    monkeypatch.setattr(handlers.time, "monotonic", lambda: clock[0])
    cache = handlers.BoardCache(min_interval=0.1, share=5.0)
    today = date(2026, 11, 23)
    assert not cache.fresh(1, today)

    def make():
        clock[0] += 0.2  # a board that takes 0.2 s
        return {"version": 1}

    cache.compute(make, today)
    assert cache.fresh(1, today)
    assert cache.fresh(2, today)  # changed, but computed just now: at most 1/5 of the time on boards
    clock[0] += 1.01
    assert not cache.fresh(2, today)
    assert not cache.fresh(1, date(2026, 11, 24))  # a new day: the targets' months move


def test_one_slow_board_does_not_hold_the_next_back_long(monkeypatch):
    from reporting import handlers

    clock = [100.0]
    monkeypatch.setattr(handlers.time, "monotonic", lambda: clock[0])
    cache = handlers.BoardCache(min_interval=0.05, share=2.0, max_wait=0.2)
    today = date(2026, 11, 23)

    def taking(seconds, version):
        def make():
            clock[0] += seconds
            return {"version": version}
        return make

    for version in (1, 2, 3):
        cache.compute(taking(0.03, version), today)
        clock[0] += 0.1
    cache.compute(taking(0.6, 4), today)  # one board slowed down by a busy machine
    clock[0] += 0.15
    assert cache.fresh(5, today)  # the wait is about twice the boards' usual time, smoothed ...
    clock[0] += 0.06
    assert not cache.fresh(5, today)  # ... and never more than max_wait, not twice the slow one


def test_while_a_board_is_computed_the_last_one_answers(monkeypatch):
    from reporting import handlers

    cache = handlers.BoardCache(min_interval=0.0, share=0.0)
    today = date(2026, 11, 23)
    cache.compute(lambda: {"version": 1}, today)
    seen = []

    def make():
        seen.append(cache.fresh(3, today))  # a second caller meanwhile: the last board
        return {"version": 2}

    cache.compute(make, today)
    assert seen == [True] and cache.board == {"version": 2}
    assert not cache.fresh(3, today)
