"""The read models against a brute-force recount over random event histories:
delivered in any order and any batches (as the live handler gets them),
and rebuilt from the store (as ``werkbrug reporting rebuild`` does)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting import queries, rebuild
from tests.unit.reporting.factories import BASE, GROUPS, Recount, at, database, event, read_models, store

CANDIDATES = [f"c{i}" for i in range(7)]
PLACEMENTS = [f"p{i}" for i in range(8)]
TASKS = [f"t{i}" for i in range(6)]
VACANCIES = ["v0", "v1", "v2"]
COHORTS = [None, "werkfit-1", "zorg-2"]
TRAJECTORIES = [None, "werkfit", "zorg instroom"]
REGIONS = ["Twente", "Rijnmond"]
ORGANISATIONS = [None, "Gemeente Enschede", "Soweco"]
DAY0 = BASE.date()


def owner(placement_id: str) -> str:
    return CANDIDATES[int(placement_id[1:]) * 3 % len(CANDIDATES)]


groups = st.lists(st.sampled_from(GROUPS), max_size=3, unique=True)
day = st.integers(0, 500).map(lambda d: (DAY0 + timedelta(days=d)).isoformat())


def profile(cid, draw):
    return {"candidate_id": cid, "region": draw(st.sampled_from(REGIONS)), "pc4": "7511",
            "target_groups": draw(groups), "skills": [], "hours_per_week": 24, "conditions": [],
            "cohort": draw(st.sampled_from(COHORTS))}


@st.composite
def one_event(draw):
    kind = draw(st.sampled_from([
        "candidate.registered", "candidate.registered", "candidate.profile_updated", "candidate.enrolled",
        "candidate.enrolled", "placement.recorded", "placement.recorded", "placement.ended",
        "placement.sustained", "aftercare_task.assigned", "aftercare_task.assigned", "aftercare_task.completed",
        "aftercare_task.cancelled", "aftercare_task.overdue", "vacancy.opened", "vacancy.updated",
        "matching.fairness_counted", "candidate.status_changed", "candidate.erased"]))
    cid = draw(st.sampled_from(CANDIDATES))
    pid = draw(st.sampled_from(PLACEMENTS))
    tid = draw(st.sampled_from(TASKS))
    vid = draw(st.sampled_from(VACANCIES))
    if kind in ("candidate.registered", "candidate.profile_updated"):
        data = profile(cid, draw)
    elif kind == "candidate.enrolled":
        data = {"candidate_id": cid, "cohort": draw(st.sampled_from(COHORTS[1:])),
                "trajectory": draw(st.sampled_from(TRAJECTORIES)), "region": draw(st.sampled_from(REGIONS)),
                "target_groups": draw(groups)}
    elif kind == "placement.recorded":
        data = {"placement_id": pid, "candidate_id": owner(pid), "vacancy_id": vid, "employer_id": "emp-1",
                "start_date": draw(day), "hours_per_week": 24, "region": draw(st.sampled_from(REGIONS)),
                "target_groups": draw(groups), "cohort": draw(st.sampled_from(COHORTS)), "match_id": None,
                "credited_organisations": ["Soweco"]}
    elif kind == "placement.ended":
        data = {"placement_id": pid, "candidate_id": owner(pid), "vacancy_id": vid, "end_date": draw(day),
                "reason": "resigned"}
    elif kind == "placement.sustained":
        data = {"placement_id": pid, "candidate_id": owner(pid), "months": draw(st.sampled_from([6, 12, 18]))}
    elif kind == "aftercare_task.assigned":
        data = {"task_id": tid, "plan_id": "plan", "placement_id": pid, "jobcoach_id": "j", "kind": "week_1",
                "due": draw(day), "organisation": draw(st.sampled_from(ORGANISATIONS)), "hours": 1.0}
    elif kind == "aftercare_task.completed":
        data = {"task_id": tid, "placement_id": pid, "outcome": "going_well",
                "organisation": draw(st.sampled_from(ORGANISATIONS)), "kind": "week_1"}
    elif kind == "aftercare_task.cancelled":
        data = {"task_id": tid, "placement_id": pid, "organisation": None}
    elif kind == "aftercare_task.overdue":
        data = {"task_id": tid, "placement_id": pid, "jobcoach_id": None, "due": draw(day), "organisation": None}
    elif kind.startswith("vacancy."):
        data = {"vacancy_id": vid, "employer_id": "emp-1", "region": "Twente", "pc4": "7511", "skills_required": [],
                "hours_per_week": 24, "openings": 1, "is_leerwerkbaan": draw(st.booleans())}
    elif kind == "matching.fairness_counted":
        counts = [{"target_group": g, "top": draw(st.integers(0, 9)), "eligible": draw(st.integers(0, 50))}
                  for g in draw(groups)]
        data = {"instance": "m-1", "period_start": "2026-01-01T10:00:00+00:00",
                "period_end": "2026-01-01T10:01:00+00:00", "rankings": 1,
                "top_total": sum(c["top"] for c in counts) + 1,
                "eligible_total": sum(c["eligible"] for c in counts) + 3,
                "groups": counts}
    elif kind == "candidate.status_changed":
        data = {"candidate_id": cid, "from_status": "registered", "to_status": "intake", "reason": None}
    else:
        data = {"candidate_id": cid}
    # few distinct times, so ties (decided by the event id) happen too
    minute = draw(st.one_of(st.integers(0, 4), st.integers(0, 60 * 24 * 400)))
    return kind, data, minute


@st.composite
def histories(draw, max_size=45):
    drawn = draw(st.lists(one_event(), min_size=1, max_size=max_size))
    events = [event(kind, data, at(minute), f"e{i:03d}") for i, (kind, data, minute) in enumerate(drawn)]
    arrival = draw(st.permutations(events))
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(events) - 1)), max_size=5))))
    batches, start = [], 0
    for cut in [*cuts, len(arrival)]:
        if cut > start:
            batches.append(arrival[start:cut])
            start = cut
    return events, batches


queries_ = st.fixed_dictionaries({
    "group_by": st.sampled_from([None, "cohort", "trajectory", "region", "target_group"]),
    "period": st.sampled_from([None, "month", "quarter", "year"]),
    "cohort": st.sampled_from([None, None, "werkfit-1"]),
    "trajectory": st.sampled_from([None, None, "werkfit"]),
    "region": st.sampled_from([None, None, "Twente"]),
    "target_group": st.sampled_from([None, None, "bijstand"]),
})

targets_ = st.fixed_dictionaries({
    "id": st.just("t"), "label": st.just("doel"), "target": st.integers(1, 20),
    "start": st.integers(0, 250).map(lambda d: DAY0 + timedelta(days=d)),
    "end": st.integers(250, 600).map(lambda d: DAY0 + timedelta(days=d)),
    "target_group": st.sampled_from([None, "bijstand", "doelgroepregister"]),
    "trajectory": st.sampled_from([None, "werkfit"]),
    "leerwerkbaan": st.sampled_from([None, True, False]),
})

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rows_by_key(result: dict, group_by) -> dict:
    out = {}
    for row in result["rows"]:
        row = dict(row)
        key = (row.pop(group_by) if group_by else None, row.pop("period"))
        out[key] = row
    return out


@SETTINGS
@given(histories(), queries_, targets_)
def test_live_read_models_equal_a_recount_and_a_rebuild(history, query, target):
    events, batches = history
    recount = Recount(events)
    with database() as session:
        for batch in batches:
            store(session, batch)
        live = read_models(session)

        # outflow and durability, per group and period, against the recount
        query = {**query, "suppress": False}
        expected = recount.figures(query)
        outflow = queries.outflow(session, query)
        durability = queries.durability(session, query)
        total = recount.figures({**query, "group_by": None, "period": None}).get((None, None))
        empty = Recount([]).figures({})
        zero = {"enrolled": 0, "placed": 0, "days": [], "placements": 0, "ended_early": 0, "decided_6": 0,
                "durable_6": 0, "decided_12": 0, "durable_12": 0}
        assert empty == {}
        assert {k: outflow[k] for k in Recount.outflow_row(zero)} == Recount.outflow_row(total or zero)
        assert {k: durability[k] for k in Recount.durability_row(zero)} == Recount.durability_row(total or zero)
        if query["group_by"] or query["period"]:
            assert _rows_by_key(outflow, query["group_by"]) == {k: Recount.outflow_row(f) for k, f in expected.items()}
            assert _rows_by_key(durability, query["group_by"]) == {
                k: Recount.durability_row(f) for k, f in expected.items() if f["placements"]}

        # aftercare, fairness, targets
        assert queries.aftercare(session) == recount.aftercare()
        fairness = {r["target_group"]: [r["top"], r["eligible"]] for r in live["rm_fairness"]}
        assert fairness == {g: v for g, v in recount.fairness.items()}
        assert [live["state"]["fairness_top_total"], live["state"]["fairness_eligible_total"]] == \
            recount.fairness_totals
        (progress,) = queries.targets(session, [target], date(2027, 1, 1))
        assert progress["realised"] == recount.realised(target)
        assert progress["trend"][-1]["realised"] == progress["realised"]
        board = queries.board(session, [target], date(2027, 1, 1))

        # the rebuild replays the store (in time order) into the same rows
        rebuild.rebuild(session)
        session.commit()
        assert read_models(session) == live
        rebuilt = queries.board(session, [target], date(2027, 1, 1))
        assert rebuilt.pop("version") > board.pop("version")
        assert rebuilt == board


@settings(max_examples=50, deadline=None)
@given(histories(max_size=30), st.data())
def test_any_arrival_order_and_batching_gives_the_same_rows(history, data):
    events, batches = history
    other = data.draw(st.permutations(events))
    with database() as first, database() as second:
        for batch in batches:
            store(first, batch)
        for e in other:  # one by one, in another order
            store(second, [e])
        assert read_models(first) == read_models(second)


def test_a_placement_applied_again_changes_nothing():
    """The consumer skips an event id it processed; should a placement come through the rules
    twice anyway, the person is still placed once, with the same dates."""
    registered = event("candidate.registered", {
        "candidate_id": "c1", "region": "Twente", "pc4": "7511", "target_groups": ["ww"], "skills": [],
        "hours_per_week": 24, "conditions": [], "cohort": "werkfit-1"}, at(5))
    placed = event("placement.recorded", {
        "placement_id": "p1", "candidate_id": "c1", "vacancy_id": "v", "employer_id": "e",
        "start_date": "2026-02-01", "hours_per_week": 24, "region": "Twente", "target_groups": ["ww"],
        "cohort": "werkfit-1"}, at(60))
    with database() as session:
        store(session, [registered, placed])
        before = read_models(session)
        from reporting import projections

        projections.apply(session, placed.type, placed.wire_data, placed.time, placed.id)
        session.commit()
        assert read_models(session) == before


def test_the_rebuild_shows_progress_and_holds_a_bounded_number_of_rows(capsys):
    import io

    events = []
    for i in range(40):
        events.append(event("candidate.registered", {
            "candidate_id": f"c{i}", "region": "Twente", "pc4": "7511", "target_groups": ["bijstand"], "skills": [],
            "hours_per_week": 24, "conditions": [], "cohort": "werkfit-1"}, at(i)))
        if i % 2:
            events.append(event("placement.recorded", {
                "placement_id": f"p{i}", "candidate_id": f"c{i}", "vacancy_id": "v", "employer_id": "e",
                "start_date": "2026-03-01", "hours_per_week": 24, "region": "Twente",
                "target_groups": ["bijstand"], "cohort": "werkfit-1"}, at(1000 + i)))
    with database() as session:
        store(session, events)
        live = read_models(session)
        stream = io.StringIO()
        result = rebuild.rebuild(session, batch_size=7, held_rows=5,
                                 progress=lambda total: rebuild.Progress(total, stream, every=0))
        session.commit()
        assert result["events"] == 60
        assert read_models(session) == live
        assert "60/60 events" in stream.getvalue()
