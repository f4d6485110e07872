"""Mass assignment (OWASP API3): a field the caller may not set is refused, naming it.

Every create and update payload schema of every service is tried with each field the
services set themselves: ids, the owning organisation, statuses, stored hashes and the
moments rows were written (every such column of every service's models, so a new one is
tried too). Each must be a validation error naming the field, never silently dropped
or stored. A new schema must be classified here (create/update, or not a payload).
"""

from __future__ import annotations

import inspect

import pytest
from marshmallow import Schema

from aftercare import schemas as aftercare_schemas
from candidates import schemas as candidates_schemas
from matching import schemas as matching_schemas
from vacancies import schemas as vacancies_schemas
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.validation import load

MODULES = (aftercare_schemas, candidates_schemas, matching_schemas, vacancies_schemas)

# every create and update payload, as its service builds the schema
WRITES = {
    "aftercare.RegisterOrganisation": aftercare_schemas.RegisterOrganisation,
    "aftercare.RegisterJobcoach": aftercare_schemas.RegisterJobcoach,
    "aftercare.UpdateJobcoach": aftercare_schemas.UpdateJobcoach,
    "aftercare.CompleteTask": aftercare_schemas.CompleteTask,
    "aftercare.Reassign": aftercare_schemas.Reassign,
    "candidates.register": candidates_schemas.candidate_schema,
    "candidates.update": lambda: candidates_schemas.candidate_schema(update=True),
    "candidates.RegisterBatch": candidates_schemas.RegisterBatch,
    "candidates.Address": candidates_schemas.Address,
    "candidates.SkillClaim": candidates_schemas.SkillClaim,
    "candidates.ChangeStatus": candidates_schemas.ChangeStatus,
    "candidates.LogEntryInput": candidates_schemas.LogEntryInput,
    "candidates.PlanInput": candidates_schemas.PlanInput,
    "candidates.ModuleInput": candidates_schemas.ModuleInput,
    "candidates.DefineTrajectory": candidates_schemas.DefineTrajectory,
    "candidates.StartCohort": candidates_schemas.StartCohort,
    "candidates.ConsentInput": candidates_schemas.ConsentInput,
    "candidates.RevokeConsent": candidates_schemas.RevokeConsent,
    "matching.RecordPlacement": matching_schemas.RecordPlacement,
    "matching.EndPlacement": matching_schemas.EndPlacement,
    "matching.Propose": matching_schemas.Propose,
    "matching.Introduce": matching_schemas.Introduce,
    "matching.Reject": matching_schemas.Reject,
    "vacancies.RegisterEmployer": vacancies_schemas.RegisterEmployer,
    "vacancies.WeightedSkill": vacancies_schemas.WeightedSkill,
    "vacancies.OpenVacancy": vacancies_schemas.OpenVacancy,
    "vacancies.UpdateVacancy": vacancies_schemas.UpdateVacancy,
    "vacancies.BulkVacancy": vacancies_schemas.BulkVacancy,
    "vacancies.AddSteward": vacancies_schemas.AddSteward,
    "vacancies.CloseVacancy": vacancies_schemas.CloseVacancy,
    "vacancies.AddCandidate": vacancies_schemas.AddCandidate,
}
# what a payload schema sets on purpose, and why that is not mass assignment
OWN_FIELDS = {
    ("candidates.ChangeStatus", "status"): "changing the status is the operation (a manual status only)",
    ("vacancies.AddSteward", "organisation"): "names the organisation made steward, not the caller's own",
    ("candidates.ConsentInput", "organisation"): "names the organisation the candidate consents to, not the caller's",
    ("candidates.RevokeConsent", "organisation"): "names the organisation whose consent ends, not the caller's",
}
# schemas that read a query or a job's arguments, never a stored row's fields
NOT_PAYLOADS = {"TaskQuery", "Sweep", "ListFilters", "_Query", "CandidateQuery", "VacancyQuery", "CheckedCandidate",
                "RegisterCandidate"}  # the last two: through candidate_schema (register, update)


def stored_by_services() -> set[str]:
    """Columns the services set themselves: ids, organisations, statuses, hashes, moments written."""
    from aftercare import models as a
    from candidates import models as c
    from matching import models as m
    from vacancies import models as v

    names = {"id", "organisation", "status", "bsn_hash"}
    for module in (a, c, m, v):
        for table in module.Base.metadata.tables.values():
            for column in table.columns:
                if column.name.endswith(("_at", "_hash")) or column.name in ("organisation", "source_organisation"):
                    names.add(column.name)
    return names


FORBIDDEN = sorted(stored_by_services())


def test_every_schema_is_classified():
    found = {f"{module.__name__.split('.')[0]}.{name}"
             for module in MODULES for name, obj in vars(module).items()
             if inspect.isclass(obj) and issubclass(obj, Schema) and obj.__module__ == module.__name__}
    known = set(WRITES) | {f"{m.__name__.split('.')[0]}.{n}" for m in MODULES for n in NOT_PAYLOADS}
    assert found - known == set(), "classify the new schema: a create/update payload (WRITES) or not (NOT_PAYLOADS)"
    assert {"id", "organisation", "status", "bsn_hash", "registered_at", "created_at"} <= set(FORBIDDEN)


@pytest.mark.parametrize("schema", sorted(WRITES))
def test_a_field_the_service_sets_is_refused_naming_it(schema):
    for field in FORBIDDEN:
        if (schema, field) in OWN_FIELDS:
            continue
        with pytest.raises(ValidationError) as refused:
            load(WRITES[schema](), {field: "x"}, "payload")
        assert field in refused.value.errors, f"{schema} accepted {field}"
