"""Example bodies for the document: each one the service behind its route accepts as it stands
(tests/unit/test_openapi.py loads each with the route's schema). Made-up people and ids."""

from __future__ import annotations

SKILL = "http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"
ID = "3f2c9e1a-7b4d-4c8e-9a61-0d5e2b7f4a10"  # stands for an id the service gave out

CANDIDATE = {
    "given_name": "Sara", "family_name": "Bakker", "postcode": "7511 AB", "region": "Twente",
    "target_groups": ["bijstand"], "hours_per_week": 24, "available_days": ["mon", "tue", "wed"],
    "transport_modes": ["bicycle", "public_transport"], "max_travel_minutes": 45, "dutch_level": "B1",
    "skills": [{"skill": SKILL, "level": 2, "evidence": "work_experience"}],
    "cohort": "werkfit-1",
}
CANDIDATE_CHANGES = {"hours_per_week": 28, "available_days": ["mon", "tue", "wed", "thu"]}
STATUS = {"status": "available", "reason": "intake afgerond"}
LOG_ENTRY = {"text": "Intakegesprek: wil graag in de facilitaire dienstverlening werken.", "date": "2026-11-02"}
PLAN = {"goal": "Binnen zes maanden aan het werk in de schoonmaak", "steps": ["VCA halen", "proefplaatsing"]}
TRAJECTORY = {"name": "werkfit schoonmaak", "weeks": 12,
              "modules": [{"code": "taal", "name": "Taal op de werkvloer"}, {"code": "vca", "name": "VCA basis"}]}
COHORT = {"trajectory_id": ID, "name": "werkfit-2027-1", "start_date": "2027-01-11", "region": "Twente"}
ENROLMENT = {"candidate_id": ID}
MODULE = {"module_code": "taal"}
BATCH = {"candidates": [CANDIDATE]}

EMPLOYER = {"name": "Facilitair BV", "kvk_number": "12345678", "region": "Twente", "postcode": "7511 JD"}
VACANCY = {"employer_id": ID, "title": "allround facilitair medewerker", "region": "Twente", "postcode": "7511 JD",
           "must_have": [{"skill": SKILL, "weight": 1.0}], "hours_per_week": 24, "openings": 2,
           "is_leerwerkbaan": True}
VACANCY_CHANGES = {"openings": 3, "valid_through": "2027-03-31"}
VACANCY_BATCH = {"vacancies": [{**{k: v for k, v in VACANCY.items() if k != "employer_id"},
                                "employer_kvk": "12345678", "employer_name": "Facilitair BV",
                                "employer_region": "Twente"}]}
CLOSURE = {"reason": "filled_elsewhere"}
STEWARD = {"organisation": "uwv-twente", "professional": "werkcoach-7"}
SHORTLIST = {"candidate_id": ID, "note": "Past goed bij het team."}

PROPOSAL = {"candidate_id": ID, "vacancy_id": ID}
INTRODUCTION = {"note": "Kennismaking op 12 januari."}
REJECTION = {"reason": "employer_declined"}
PLACEMENT = {"candidate_id": ID, "vacancy_id": ID, "match_id": ID, "start_date": "2027-02-01", "hours_per_week": 24,
             "request_id": "b6a4f0de-3c51-4a8e-9d0e-71c2a5f3e911"}
PLACEMENT_END = {"end_date": "2027-06-30", "reason": "contract_ended"}
LOOKUP = {"candidate_ids": [ID]}

ORGANISATION = {"name": "Jobcoaching Twente", "coordinator_email": "coordinator@jobcoaching.example"}
JOBCOACH = {"name": "Mark", "email": "mark@jobcoaching.example", "regions": ["Twente"], "capacity_hours": 32,
            "expertise": ["autism"]}
JOBCOACH_CHANGES = {"capacity_hours": 24}
COMPLETION = {"outcome": "going_well", "note": "Eerste week goed verlopen.", "hours_spent": 1.5}
REASSIGNMENT = {"jobcoach_id": ID}
SWEEP = {"today": "2027-02-15"}

# by route (its method's name, the document's operationId)
BODIES = {
    "register_candidate": CANDIDATE, "register_candidates": BATCH, "update_candidate": CANDIDATE_CHANGES,
    "change_candidate_status": STATUS, "add_log_entry": LOG_ENTRY, "set_candidate_plan": PLAN,
    "define_trajectory": TRAJECTORY, "start_cohort": COHORT, "enrol": ENROLMENT, "complete_module": MODULE,
    "register_employer": EMPLOYER, "open_vacancy": VACANCY, "open_vacancies": VACANCY_BATCH,
    "update_vacancy": VACANCY_CHANGES, "close_vacancy": CLOSURE, "add_steward": STEWARD,
    "add_to_shortlist": SHORTLIST, "propose": PROPOSAL, "introduce": INTRODUCTION, "reject": REJECTION,
    "record_placement": PLACEMENT, "end_placement": PLACEMENT_END,
    "end_placement_deprecated": PLACEMENT_END, "index_lookup": LOOKUP,
    "register_coaching_organisation": ORGANISATION, "register_jobcoach": JOBCOACH,
    "update_jobcoach": JOBCOACH_CHANGES, "complete_aftercare_task": COMPLETION,
    "reassign_aftercare_plan": REASSIGNMENT, "aftercare_sweep": SWEEP,
}
