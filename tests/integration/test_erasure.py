"""AVG erasure across the whole system: after candidates.erase, no table in any
service's database holds anything personal about the person, and the counts stay."""

from __future__ import annotations

import uuid

from psycopg import sql

from tests.integration.harness import eventually, matching_has, register_jobcoaches
from tests.integration.test_spine import SKILL, plans_for
from werkbrug_shared import config

ENSCHEDE = "dev-gemeente-enschede"


def every_row_as_text(system, service: str) -> list[tuple[str, str]]:
    tables = system.sql(service, "SELECT table_name FROM information_schema.tables "
                                 "WHERE table_schema = 'public' AND table_name <> 'alembic_version'")
    rows = []
    for (table,) in tables:
        query = sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
        rows += [(table, text) for (text,) in system.sql(service, query)]
    return rows


def test_erasure_leaves_nothing_personal_anywhere_and_keeps_the_counts(system, soweco):
    tag = uuid.uuid4().hex[:6]
    region, cohort = f"regio-{tag}", f"werkfit-{tag}"
    secrets = {
        "given_name": f"Hendrikje{tag}", "family_name": f"Zoutelande{tag}", "bsn": "111222333",
        "postcode": "9991 XQ", "condition_notes": f"alleen ochtenden {tag}",
    }
    log_text = f"Intakegesprek met Hendrikje {tag}: wil graag in de zorg werken."
    task_note = f"Hendrikje {tag} voelt zich op haar plek."
    shortlist_note = f"Hendrikje {tag} past goed bij dit team."
    with system.rpc(ENSCHEDE, "p-intake") as rpc:
        employer = rpc.vacancies.register_employer({"name": "Zorg BV", "kvk_number": f"{uuid.uuid4().int % 10**8:08d}",
                                                    "region": region})
        vacancy = rpc.vacancies.open({"employer_id": employer["id"], "title": "woonbegeleider", "region": region,
                                      "postcode": "7511 JD", "skills_required": [SKILL(1)], "hours_per_week": 24,
                                      "openings": 1})
        register_jobcoaches(system, region, 1)
        candidate = rpc.candidates.register({
            **{k: v for k, v in secrets.items()}, "region": region, "target_groups": ["bijstand"],
            "skills": [SKILL(1)], "hours_per_week": 24, "conditions": ["no_night_shifts"], "cohort": cohort,
        })
        rpc.candidates.add_log_entry(candidate["id"], {"text": log_text})
        rpc.vacancies.add_candidate(vacancy["id"], candidate["id"], shortlist_note)
        eventually(lambda: matching_has(rpc, vacancy["id"], [candidate["id"]]), what="indexing")
        placement = rpc.matching.record_placement({"candidate_id": candidate["id"], "vacancy_id": vacancy["id"],
                                                   "start_date": "2026-12-01", "hours_per_week": 24})
        eventually(lambda: plans_for(system, placement["id"]) == 1, what="the plan")
        first = soweco.aftercare.tasks(placement_id=placement["id"])[0]
        soweco.aftercare.complete_task(first["id"], "going_well", task_note)
        eventually(lambda: rpc.reporting.outflow(cohort=cohort, suppress=False)["placed"] == 1, what="reporting")

        # before: the personal data really is there to be erased
        everywhere = [(s, t, row) for s in config.DATABASE_SERVICES for t, row in every_row_as_text(system, s)]
        assert any(secrets["family_name"] in row for _, _, row in everywhere)
        assert any(task_note in row for _, _, row in everywhere)

        rpc.candidates.erase(candidate["id"])

    def traces():
        found = []
        for service in config.DATABASE_SERVICES:
            for table, row in every_row_as_text(system, service):
                for name, value in [*secrets.items(), ("log", log_text), ("task note", task_note),
                                    ("shortlist", shortlist_note), ("postcode", "9991XQ")]:
                    if value in row:
                        found.append((service, table, name))
        return found

    def forgotten():
        found = traces()
        assert not found, f"still personal data in {found}"
        return True

    eventually(forgotten, timeout=30, what="every service to forget the person")
    assert system.sql("matching", "SELECT count(*) FROM indexed_candidates WHERE candidate_id = %s",
                      candidate["id"])[0][0] == 0
    # the counts stay
    with system.rpc() as rpc:
        counts = rpc.reporting.outflow(cohort=cohort, suppress=False)
        assert {k: counts[k] for k in ("cohort", "target_group", "enrolled", "placed", "outflow_rate")} == {
            "cohort": cohort, "target_group": None, "enrolled": 1, "placed": 1, "outflow_rate": 1.0}
