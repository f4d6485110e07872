"""Reporting end to end: people enrolled and placed through the real RPCs move
outflow, durability, the board and the business metrics; the read models
rebuilt by ``werkbrug reporting rebuild`` equal the live ones.

Real processes, real RabbitMQ, real PostgreSQL. Each test has its own region,
trajectory and cohort (the board's totals are shared with the other tests).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from reporting.domain import HIDDEN
from tests.integration.harness import ROOT, dumps, eventually
from tests.integration.test_spine import Region
from werkbrug_shared.errors import ValidationError

LEERWERK = "dev-leerwerkbedrijf-twente"
SUSTAINED = "nl.werkbrug.placement.sustained.v1"
FAIRNESS = "nl.werkbrug.matching.fairness_counted.v1"
READ_MODELS = ("rm_people", "rm_placements", "rm_tasks", "rm_vacancies", "rm_fairness")


def publish(system, source_service: str, type_name: str, subject: str, data: dict) -> None:
    """A CloudEvent as the named service would publish it."""
    system.publish(source_service, type_name, dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": f"/werkbrug/{source_service}", "type": type_name,
        "time": datetime.now(UTC).isoformat(), "subject": subject, "datacontenttype": "application/json",
        "data": data}))


def enrolled_cohort(system, region: Region, people):
    """A trajectory and a cohort of its own, the people enrolled in it (by the leerwerkbedrijf)."""
    tag = uuid.uuid4().hex[:8]
    with system.rpc(LEERWERK, "docent-1") as leerwerk:
        trajectory = leerwerk.candidates.define_trajectory({
            "name": f"werkfit-{tag}", "weeks": 12, "modules": [{"code": "taal", "name": "Nederlandse taal"}]})
        cohort = leerwerk.candidates.start_cohort({"trajectory_id": trajectory["id"], "name": f"werkfit-{tag}-1",
                                                   "start_date": "2026-11-23", "region": region.name})
        for person in people:
            leerwerk.candidates.enrol(person["id"], cohort["id"])
    return trajectory["name"], cohort["name"]


def by(rows, key, value):
    return next((r for r in rows if r[key] == value), None)


def open_tasks(system) -> float:
    return system.metric("reporting", "werkbrug_aftercare_tasks_open")


def test_enrolments_placements_ends_and_checkpoints_move_the_figures(system, rpc, soweco):
    region = Region(rpc, system)
    people = [region.candidate(i, ["doelgroepregister"] if i < 3 else ["bijstand", "50plus"]) for i in range(7)]
    trajectory, cohort = enrolled_cohort(system, region, people)
    eventually(lambda: rpc.reporting.outflow(cohort=cohort, suppress=False)["enrolled"] == 7, what="7 enrolled")
    board = rpc.reporting.board()
    banenafspraak = by(board["targets"], "id", "banenafspraak")["realised"]
    version = rpc.reporting.board_version()["version"]
    assert version >= board["version"]
    tasks_open = open_tasks(system)

    region.wait_indexed(people)
    placements = [region.place(p) for p in people[:5]]  # three in the doelgroepregister, two in bijstand
    outflow = eventually(lambda: (o := rpc.reporting.outflow(cohort=cohort, suppress=False))["placed"] == 5 and o,
                         what="reporting to count 5 placed")
    enrolled_on = datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    days = max(0, (date(2026, 12, 1) - enrolled_on).days)
    assert {k: outflow[k] for k in ("cohort", "trajectory", "enrolled", "placed", "outflow_rate",
                                    "median_days_to_placement", "ended_early")} == {
        "cohort": cohort, "trajectory": None, "enrolled": 7, "placed": 5, "outflow_rate": 0.7143,
        "median_days_to_placement": float(days), "ended_early": 0}
    assert rpc.reporting.outflow(trajectory=trajectory, suppress=False)["placed"] == 5
    per_group = rpc.reporting.outflow(cohort=cohort, group_by="target_group", period="month", suppress=False)
    placed_per_group = {(r["target_group"], r["period"]): r["placed"] for r in per_group["rows"] if r["placed"]}
    assert placed_per_group == {("doelgroepregister", "2026-12"): 3, ("bijstand", "2026-12"): 2,
                                ("50plus", "2026-12"): 2}
    # the same, as anyone sees it: groups under five suppressed
    small = rpc.reporting.outflow(cohort=cohort, target_group="doelgroepregister")
    assert (small["enrolled"], small["placed"], small["outflow_rate"]) == ("< 5", "< 5", None)
    assert rpc.reporting.outflow(cohort=cohort)["placed"] == 5

    # the board moved: its version, the cohort, the targets
    eventually(lambda: rpc.reporting.board_version()["version"] > version, what="a new board version")
    # Other tests' placements share this system: when what the other cohorts' rows leave unshown
    # of the total is under five, the board hides this row's placed count as "x" (and its rates) so
    # that the small rest cannot be worked out (domain.protect_rows). Either way the row moved.
    board = eventually(lambda: (b := rpc.reporting.board()) and by(b["by_cohort"], "cohort", cohort)["placed"]
                       in (5, HIDDEN) and b["version"] > version and b, what="the board to show the placements")
    row = by(board["by_cohort"], "cohort", cohort)
    assert row["enrolled"] == 7
    if row["placed"] == 5:
        assert (row["outflow_rate"], row["median_days_to_placement"]) == (0.7143, float(days))
    else:
        assert (row["outflow_rate"], row["median_days_to_placement"]) == (None, None)
    assert by(board["targets"], "id", "banenafspraak")["realised"] >= banenafspraak + 3
    assert datetime.fromisoformat(board["as_of"]).tzinfo is not None  # the latest event time applied
    assert board["trend"] and by(board["trend"], "period", "2026-12") is not None

    # operators see exact figures with bounded labels
    eventually(lambda: system.metric("reporting", "werkbrug_placements_total", cohort=cohort,
                                     target_group="bijstand") == 2, what="the placements counter")
    assert system.metric("reporting", "werkbrug_placements_total", cohort=cohort,
                         target_group="doelgroepregister", region=region.name) == 3
    assert system.metric("reporting", "werkbrug_outflow_ratio", cohort=cohort, target_group="bijstand",
                         region=region.name) == 0.5
    assert system.metric("reporting", "werkbrug_board_last_update_timestamp_seconds") > 0

    # aftercare: every task of the new plans open, as aftercare itself holds them
    def my_open_tasks():
        return sum(1 for p in placements for t in soweco.aftercare.tasks(placement_id=p["id"]) if t["status"] == "open")

    planned = eventually(my_open_tasks, what="the aftercare plans")
    eventually(lambda: open_tasks(system) == tasks_open + planned, what="reporting to count the open tasks")

    # one ends within six months, one reaches its six-month checkpoint
    rpc.matching.end_placement(placements[0]["id"], "2027-01-15", "resigned")
    publish(system, "aftercare", SUSTAINED, placements[1]["id"],
            {"placement_id": placements[1]["id"], "candidate_id": people[1]["id"], "months": 6})
    durability = eventually(
        lambda: (d := rpc.reporting.durability(cohort=cohort, suppress=False))["decided_6m"] == 2 and d,
        what="the end and the checkpoint")
    assert {k: durability[k] for k in ("placements", "decided_6m", "sustained_6m", "sustained_6m_rate",
                                       "decided_12m", "sustained_12m", "sustained_12m_rate")} == {
        "placements": 5, "decided_6m": 2, "sustained_6m": 1, "sustained_6m_rate": 0.5,
        "decided_12m": 1, "sustained_12m": 0, "sustained_12m_rate": 0.0}
    assert rpc.reporting.outflow(cohort=cohort, suppress=False)["ended_early"] == 1
    assert rpc.reporting.durability(cohort=cohort)["sustained_6m_rate"] is None  # 1 of 2: suppressed
    # the ended placement's open tasks were cancelled in aftercare, and reporting followed
    eventually(lambda: open_tasks(system) == tasks_open + my_open_tasks(), what="the cancelled tasks")


def test_fairness_counts_add_up_on_the_board(system, rpc):
    def sums():
        return dict(system.sql("reporting", "SELECT target_group, top FROM rm_fairness"))

    before = sums()
    publish(system, "matching", FAIRNESS, "matching-test", {
        "instance": "matching-test", "period_start": "2026-11-23T10:00:00+00:00",
        "period_end": "2026-11-23T10:01:00+00:00", "rankings": 3, "top_total": 30, "eligible_total": 400,
        "groups": [{"target_group": "sw", "top": 7, "eligible": 40}, {"target_group": "ww", "top": 9,
                                                                        "eligible": 50}]})
    eventually(lambda: sums().get("sw", 0) >= before.get("sw", 0) + 7, what="the fairness counts")

    def board_agrees():
        # matching sends its own counts too: compare the board with the sums at its version
        board = rpc.reporting.board()
        version, top_total = system.sql("reporting", "SELECT version, fairness_top_total FROM rm_state")[0]
        if board["version"] != version:
            return False
        share = by(board["fairness"], "target_group", "sw")["top_share"]
        return share == round(sums()["sw"] / top_total, 4) and board

    board = eventually(board_agrees, what="fairness on the board")
    for row in board["fairness"]:
        assert row["top_share"] is None or 0 <= row["top_share"] <= 1


def test_bad_queries_are_refused_naming_the_field(system, rpc):
    with pytest.raises(ValidationError) as refused:
        rpc.reporting.outflow(period="week")
    assert "period" in refused.value.errors
    with pytest.raises(ValidationError) as refused:
        rpc.reporting.durability(target_group="martians", group_by="bsn")
    assert {"target_group", "group_by"} <= set(refused.value.errors)


def read_models(system) -> dict:
    out = {}
    for table in READ_MODELS:
        out[table] = system.sql("reporting", f"SELECT t::text FROM {table} t ORDER BY 1")  # noqa: S608
    out["state"] = system.sql("reporting", "SELECT as_of, fairness_top_total, fairness_eligible_total FROM rm_state")
    return out


def test_the_rebuild_command_gives_the_same_read_models_and_board(system, rpc):
    region = Region(rpc, system)
    people = [region.candidate(i, ["ww"]) for i in range(6)]
    _, cohort = enrolled_cohort(system, region, people)
    region.wait_indexed(people)
    for person in people[:4]:
        region.place(person)
    eventually(lambda: rpc.reporting.outflow(cohort=cohort, suppress=False)["placed"] == 4, what="4 placed")
    stored = system.sql("reporting", "SELECT count(*) FROM event_store")[0][0]
    board = rpc.reporting.board()

    system.stop("reporting")  # so nothing else changes the read models meanwhile
    try:
        live = read_models(system)
        (version,) = system.sql("reporting", "SELECT version FROM rm_state")[0]
        done = subprocess.run([sys.executable, "-m", "werkbrug_shared.cli", "reporting", "rebuild", "--batch-size",
                               "50"], env=system.env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "read models rebuilt from" in done.stdout
        assert "events/s" in done.stderr  # the progress bar
        assert read_models(system) == live
        assert system.sql("reporting", "SELECT version FROM rm_state")[0][0] == version + 1
    finally:
        system.start("reporting")

    rebuilt = rpc.reporting.board()
    assert rebuilt["version"] > board["version"]
    if system.sql("reporting", "SELECT count(*) FROM event_store")[0][0] == stored:  # no late event came in
        assert {**rebuilt, "version": 0} == {**board, "version": 0}
    # and the live handler carries on from the rebuilt read models
    region.place(people[4])
    eventually(lambda: rpc.reporting.outflow(cohort=cohort, suppress=False)["placed"] == 5, what="a 5th placed")
