"""Retention on the running system: a logbook entry, a jobcoach's note, a note on a match and a
shortlist entry last active longer ago than RETENTION_DAYS are removed by each service's own
timer (here a second replica of each, firing every second beside the first), the same records
of someone active lately stay, every removal is in the audit log, and the counts stay."""

from __future__ import annotations

from tests.integration.harness import eventually
from tests.integration.test_inzage import ENSCHEDE, people_with_data_everywhere

SERVICES = ("candidates", "matching", "aftercare", "vacancies")
# RETENTION_DAYS is 730 by default: these records were last active 800 days ago
BACKDATE = {
    "candidates": "UPDATE candidate_log_entries SET recorded_at = recorded_at - interval '800 days' "
                  "WHERE candidate_id = %s",
    "matching": "UPDATE matches SET proposed_at = proposed_at - interval '800 days', "
                "introduced_at = introduced_at - interval '800 days', decided_at = decided_at - interval '800 days' "
                "WHERE id = %s",
    "aftercare": "UPDATE aftercare_tasks SET completed_at = completed_at - interval '800 days' WHERE id = %s",
    "vacancies": "UPDATE shortlist SET added_at = added_at - interval '800 days', "
                 "changed_at = changed_at - interval '800 days' WHERE candidate_id = %s",
}


def execute(system, service: str, query: str, *params) -> None:
    with system.connect_db(service) as conn:
        conn.execute(query, params)


def test_old_notes_logbooks_and_shortlists_go_by_the_timer_and_the_counts_stay(system):
    region, vacancy_id, (old, recent) = people_with_data_everywhere(system, 2)
    for service, key in (("candidates", old.candidate_id), ("matching", old.match_id),
                         ("aftercare", old.task_id), ("vacancies", old.candidate_id)):
        execute(system, service, BACKDATE[service], key)
    tasks_before = system.sql("aftercare", "SELECT count(*) FROM aftercare_tasks WHERE placement_id IN (%s, %s)",
                              old.placement_id, recent.placement_id)[0][0]

    def gone() -> dict:
        return {
            "log": system.sql("candidates", "SELECT count(*) FROM candidate_log_entries WHERE candidate_id = %s",
                              old.candidate_id)[0][0],
            "match note": system.sql("matching", "SELECT count(*) FROM matches WHERE id = %s AND note IS NOT NULL",
                                     old.match_id)[0][0],
            "task note": system.sql("aftercare", "SELECT count(*) FROM aftercare_tasks WHERE id = %s "
                                                 "AND note IS NOT NULL", old.task_id)[0][0],
            "shortlist": system.sql("vacancies", "SELECT count(*) FROM shortlist WHERE candidate_id = %s",
                                    old.candidate_id)[0][0],
        }

    assert gone() == {"log": 1, "match note": 1, "task note": 1, "shortlist": 1}
    system.extra_env["WERKBRUG_RETENTION_SWEEP_SECONDS"] = "1"
    try:
        for service in SERVICES:
            system.spawn(service, f"{service}-retention")
        for service in SERVICES:
            system.wait_ready(f"{service}-retention")
        def all_gone():
            assert gone() == {"log": 0, "match note": 0, "task note": 0, "shortlist": 0}
            return True

        eventually(all_gone, timeout=60, what="the retention timers")
    finally:
        del system.extra_env["WERKBRUG_RETENTION_SWEEP_SECONDS"]
        for service in SERVICES:
            system.stop(f"{service}-retention")

    # the one active lately keeps everything
    assert system.sql("candidates", "SELECT count(*) FROM candidate_log_entries WHERE candidate_id = %s",
                      recent.candidate_id)[0][0] == 1
    assert system.sql("matching", "SELECT note FROM matches WHERE id = %s", recent.match_id)[0][0] == \
        recent.secrets["match"]
    assert system.sql("aftercare", "SELECT note FROM aftercare_tasks WHERE id = %s", recent.task_id)[0][0] == \
        recent.secrets["task"]
    assert system.sql("vacancies", "SELECT note FROM shortlist WHERE candidate_id = %s",
                      recent.candidate_id)[0][0] == recent.secrets["shortlist"]
    # the counts stay: matches, placements, tasks and the board's outflow
    assert system.sql("matching", "SELECT status FROM matches WHERE id = %s", old.match_id)[0][0] == "placed"
    assert system.sql("aftercare", "SELECT count(*) FROM aftercare_tasks WHERE placement_id IN (%s, %s)",
                      old.placement_id, recent.placement_id)[0][0] == tasks_before
    with system.rpc(ENSCHEDE) as rpc:
        eventually(lambda: rpc.reporting.outflow(region=region, suppress=False)["placed"] == 2,
                   what="the board's count")
        for service in SERVICES:
            removed = [e for e in rpc[service].audit_log(old.candidate_id, limit=200)["items"]
                       if e["purpose"] == "retention"]
            assert removed and all(e["organisation"] is None and e["action"] == "remove" for e in removed), service
            assert not [e for e in rpc[service].audit_log(recent.candidate_id, limit=200)["items"]
                        if e["purpose"] == "retention"], service
