"""The event catalogue: one marshmallow schema per versioned event type.

Producers validate strictly (an unknown field is refused, which is what keeps
names, BSNs and contact details out of events); consumers ignore fields added
later within the same version. Events carry ids and the anonymous matching
profile only: a four-digit postcode area (PC4), never a full address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError

from werkbrug_shared.errors import ValidationError, describe_fields
from werkbrug_shared.events import fastschema
from werkbrug_shared.events.envelope import Event, load_envelope
from werkbrug_shared.visibility import PUBLIC, VISIBILITIES
from werkbrug_shared.visibility import PURPOSES as CONSENT_PURPOSES

TARGET_GROUPS = ("bijstand", "doelgroepregister", "sw", "statushouder", "50plus", "ww")
TASK_OUTCOMES = ("going_well", "at_risk", "ended")
TASK_ASSIGNMENTS = ("plan", "reassigned", "check_in")
ESCO_SKILL = r"^http://data\.europa\.eu/esco/skill/[0-9a-f-]{36}\Z"
ESCO_OCCUPATION = r"^http://data\.europa\.eu/esco/occupation/[0-9a-f-]{36}\Z"
# VUM-aligned vocabularies shared by producers and consumers
EVIDENCE = ("diploma", "certificate", "work_experience", "practice_day", "informal")
SKILL_LEVELS = (1, 2, 3, 4)  # 1 basic, 2 independent, 3 experienced, 4 expert
LANGUAGE_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TRANSPORT_MODES = ("car", "bicycle", "public_transport", "on_foot")
VACANCY_STATUSES = ("open", "filled", "closed")
# codes, never free text: a reason travels in events, a professional's own words stay in matching's note
MATCH_REJECT_REASONS = (
    "employer_declined", "candidate_declined", "not_suitable", "vacancy_filled", "vacancy_closed", "other",
)
PLACEMENT_END_REASONS = (
    "contract_ended", "dismissed", "resigned", "health", "better_job", "moved", "employer_closed", "other",
)


def _id(**kw):
    return fields.String(validate=validate.Length(min=1, max=64), **kw)


def _target_groups(**kw):
    return fields.List(fields.String(validate=validate.OneOf(TARGET_GROUPS)), **kw)


class EventData(Schema):
    class Meta:
        unknown = RAISE


def _skill(**kw):
    return fields.String(validate=validate.Regexp(ESCO_SKILL), **kw)


class SkillClaim(EventData):
    """A skill with how well, and how we know (the werkprofiel, not a CV line)."""

    skill = _skill(required=True)
    level = fields.Integer(required=True, validate=validate.OneOf(SKILL_LEVELS))
    evidence = fields.String(required=True, validate=validate.OneOf(EVIDENCE))


class WeightedSkill(EventData):
    skill = _skill(required=True)
    weight = fields.Float(required=True, validate=validate.Range(min=0.0, max=1.0, min_inclusive=False))


class MatchingProfile(EventData):
    """The anonymous profile matching may hold: no name, no address, no notes.

    ``hours_per_week`` is the most someone wants to work; ``skills`` the plain
    URIs of ``skill_evidence``. Fields after ``cohort`` came with the full
    werkprofiel and default for events that predate it.
    """

    candidate_id = _id(required=True)
    region = fields.String(required=True)
    pc4 = fields.String(required=True, validate=validate.Regexp(r"^[1-9][0-9]{3}\Z"))
    target_groups = _target_groups(required=True)
    skills = fields.List(_skill(), required=True)
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
    conditions = fields.List(fields.String(), required=True)
    cohort = fields.String(load_default=None, allow_none=True)
    banenafspraak = fields.Boolean(load_default=False)
    skill_evidence = fields.List(fields.Nested(SkillClaim), load_default=list)
    occupations_wanted = fields.List(
        fields.String(validate=validate.Regexp(ESCO_OCCUPATION)), load_default=list)
    work_thinking_level = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=7))
    dutch_level = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGE_LEVELS))
    hours_min = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=60))
    available_days = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), load_default=list)
    available_from = fields.Date(load_default=None, allow_none=True)
    max_travel_minutes = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=300))
    max_distance_km = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=300))
    transport_modes = fields.List(fields.String(validate=validate.OneOf(TRANSPORT_MODES)), load_default=list)
    # candidate.registered only: the organisation that registered the person (an organisation's id,
    # no personal data), so reporting's partner feed can show it that person's changes
    registered_by = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=80))


class CandidateStatusChanged(EventData):
    candidate_id = _id(required=True)
    from_status = fields.String(required=True)
    to_status = fields.String(required=True)
    reason = fields.String(load_default=None, allow_none=True)


class CandidateEnrolled(EventData):
    candidate_id = _id(required=True)
    cohort = fields.String(required=True)
    trajectory = fields.String(load_default=None, allow_none=True)
    region = fields.String(required=True)
    target_groups = _target_groups(required=True)


class CandidateModuleCompleted(EventData):
    candidate_id = _id(required=True)
    cohort = fields.String(required=True)
    module = fields.String(required=True)
    trajectory = fields.String(load_default=None, allow_none=True)
    # set when the module is a certificate (e.g. VCA) that adds a skill
    skill = _skill(load_default=None, allow_none=True)


class TrajectoryModule(EventData):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    # set when the module is a certificate (e.g. VCA) that adds a skill: it closes that skill gap
    skill = _skill(load_default=None, allow_none=True)


class TrajectoryDefined(EventData):
    """A trajectory a partner offers and its modules: matching learns which skill gaps they close."""

    trajectory_id = _id(required=True)
    trajectory = fields.String(required=True, validate=validate.Length(min=1, max=120))
    modules = fields.List(fields.Nested(TrajectoryModule), required=True)


class CandidateErased(EventData):
    candidate_id = _id(required=True)


class CandidateConsentChanged(EventData):
    """A candidate gave or withdrew a consent (werkbrug_shared.visibility.PURPOSES): ids only.
    ``organisation`` is who it names (None for matching, which is every partner's)."""

    candidate_id = _id(required=True)
    purpose = fields.String(required=True, validate=validate.OneOf(CONSENT_PURPOSES))
    organisation = _id(load_default=None, allow_none=True)
    given = fields.Boolean(required=True)


class EmployerRegistered(EventData):
    employer_id = _id(required=True)
    region = fields.String(required=True)
    sbi = fields.String(load_default=None, allow_none=True)


class VacancyProfile(EventData):
    """What matching needs of a vacancy. ``skills_required`` are the must-haves'
    URIs; ``openings`` the openings still free. Fields after ``openings`` came
    with the shared pool and default for older events. ``visibility``, ``region``
    and ``steward_organisations`` say who may see it: a consumer that returns or
    explains the vacancy applies :mod:`werkbrug_shared.visibility` to them."""

    vacancy_id = _id(required=True)
    employer_id = _id(required=True)
    region = fields.String(required=True)
    pc4 = fields.String(required=True, validate=validate.Regexp(r"^[1-9][0-9]{3}\Z"))
    skills_required = fields.List(_skill(), required=True)
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
    openings = fields.Integer(required=True, validate=validate.Range(min=0))
    occupation = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(ESCO_OCCUPATION))
    must_have = fields.List(fields.Nested(WeightedSkill), load_default=list)
    nice_to_have = fields.List(fields.Nested(WeightedSkill), load_default=list)
    conditions_offered = fields.List(fields.String(), load_default=list)
    work_thinking_level = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=7))
    visibility = fields.String(load_default=PUBLIC, validate=validate.OneOf(VISIBILITIES))
    is_leerwerkbaan = fields.Boolean(load_default=False)
    banenafspraak_suitable = fields.Boolean(load_default=False)
    valid_through = fields.Date(load_default=None, allow_none=True)
    status = fields.String(load_default="open", validate=validate.OneOf(VACANCY_STATUSES))
    steward_organisations = fields.List(fields.String(), load_default=list)


class VacancyFilled(EventData):
    vacancy_id = _id(required=True)
    openings_filled = fields.Integer(required=True)


class VacancyClosed(EventData):
    vacancy_id = _id(required=True)
    reason = fields.String(required=True)


class MatchProposed(EventData):
    match_id = _id(required=True)
    candidate_id = _id(required=True)
    vacancy_id = _id(required=True)
    score = fields.Float(required=True)
    # the partner organisation whose professional proposed it (shares the placement credit)
    proposed_by = fields.String(load_default=None, allow_none=True)


class FairnessCount(EventData):
    target_group = fields.String(required=True, validate=validate.OneOf(TARGET_GROUPS))
    top = fields.Integer(required=True, validate=validate.Range(min=0))  # places held in top-10s served
    eligible = fields.Integer(required=True, validate=validate.Range(min=0))  # places in the eligible pools


class MatchingFairnessCounted(EventData):
    """What one matching instance served since its last count (sent each minute when it served any):
    per target group its places in the top 10 against its places in the eligible pools. Counts only."""

    instance = fields.String(required=True)
    period_start = fields.DateTime(required=True)
    period_end = fields.DateTime(required=True)
    rankings = fields.Integer(required=True, validate=validate.Range(min=1))
    top_total = fields.Integer(required=True, validate=validate.Range(min=0))
    eligible_total = fields.Integer(required=True, validate=validate.Range(min=0))
    groups = fields.List(fields.Nested(FairnessCount), required=True)


class MatchRejected(EventData):
    match_id = _id(required=True)
    candidate_id = _id(required=True)
    vacancy_id = _id(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(MATCH_REJECT_REASONS))


class MatchIntroduced(EventData):
    match_id = _id(required=True)
    # added so consumers need not remember every proposal; absent in older events
    candidate_id = _id(load_default=None, allow_none=True)
    vacancy_id = _id(load_default=None, allow_none=True)


class PlacementRecorded(EventData):
    placement_id = _id(required=True)
    candidate_id = _id(required=True)
    vacancy_id = _id(required=True)
    employer_id = _id(required=True)
    start_date = fields.Date(required=True)
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
    region = fields.String(required=True)
    target_groups = _target_groups(required=True)
    cohort = fields.String(load_default=None, allow_none=True)
    # added with proposals: the match it came from, and who shares the credit
    # (every steward organisation of the vacancy and the proposer's)
    match_id = _id(load_default=None, allow_none=True)
    credited_organisations = fields.List(fields.String(), load_default=list)
    # added with the jobcoach protocol, from the anonymous profile: what the coach needs to know
    conditions = fields.List(fields.String(), load_default=list)
    dutch_level = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGE_LEVELS))


class PlacementEnded(EventData):
    placement_id = _id(required=True)
    candidate_id = _id(required=True)
    vacancy_id = _id(required=True)
    end_date = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(PLACEMENT_END_REASONS))


class PlacementAtRisk(EventData):
    placement_id = _id(required=True)
    candidate_id = _id(required=True)
    task_id = _id(required=True)


class PlacementSustained(EventData):
    placement_id = _id(required=True)
    candidate_id = _id(required=True)
    months = fields.Integer(required=True, validate=validate.OneOf((6, 12, 18)))


class AftercarePlanCreated(EventData):
    plan_id = _id(required=True)
    placement_id = _id(required=True)
    candidate_id = _id(required=True)
    jobcoach_id = _id(required=True, allow_none=True)  # None: nobody had room, escalated
    region = fields.String(required=True)
    task_count = fields.Integer(required=True)
    # added with the jobcoach protocol; absent in older events
    organisation = fields.String(load_default=None, allow_none=True)  # the jobcoach's
    budget_hours = fields.Float(load_default=None, allow_none=True)  # the UWV norm over the plan's years
    planned_hours = fields.Float(load_default=None, allow_none=True)


class AftercareTaskAssigned(EventData):
    """Also sent again for the same task when it is reassigned (the last one holds)."""

    task_id = _id(required=True)
    plan_id = _id(required=True)
    placement_id = _id(required=True)
    jobcoach_id = _id(required=True, allow_none=True)
    kind = fields.String(required=True)
    due = fields.Date(required=True)
    organisation = fields.String(load_default=None, allow_none=True)
    hours = fields.Float(load_default=None, allow_none=True)
    # why: with a new plan, a coordinator's reassignment, or a check-in after an at-risk outcome
    assignment = fields.String(load_default="plan", validate=validate.OneOf(TASK_ASSIGNMENTS))


class AftercareTaskCompleted(EventData):
    task_id = _id(required=True)
    placement_id = _id(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(TASK_OUTCOMES))
    organisation = fields.String(load_default=None, allow_none=True)
    kind = fields.String(load_default=None, allow_none=True)
    # outcome "ended": how and when; matching ends the placement on it
    end_date = fields.Date(load_default=None, allow_none=True)
    end_reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PLACEMENT_END_REASONS))

    @validates_schema
    def _ended_says_how(self, data, **kwargs):
        if data.get("outcome") == "ended" and (data.get("end_date") is None or data.get("end_reason") is None):
            raise SchemaError("an ended outcome needs end_date and end_reason", "end_reason")


class AftercareTaskCancelled(EventData):
    """Open tasks of a plan whose placement ended."""

    task_id = _id(required=True)
    placement_id = _id(required=True)
    organisation = fields.String(load_default=None, allow_none=True)


class AftercareTaskOverdue(EventData):
    task_id = _id(required=True)
    placement_id = _id(required=True)
    jobcoach_id = _id(required=True, allow_none=True)
    due = fields.Date(required=True)
    organisation = fields.String(load_default=None, allow_none=True)


@dataclass(frozen=True)
class EventType:
    name: str
    source_service: str
    schema: type[EventData]

    @property
    def source(self) -> str:
        return f"/werkbrug/{self.source_service}"


def _t(entity_action: str, service: str, schema: type[EventData]) -> EventType:
    return EventType(f"nl.werkbrug.{entity_action}.v1", service, schema)


CATALOGUE: dict[str, EventType] = {
    t.name: t
    for t in (
        _t("candidate.registered", "candidates", MatchingProfile),
        _t("candidate.profile_updated", "candidates", MatchingProfile),
        _t("candidate.status_changed", "candidates", CandidateStatusChanged),
        _t("candidate.enrolled", "candidates", CandidateEnrolled),
        _t("candidate.module_completed", "candidates", CandidateModuleCompleted),
        _t("candidate.erased", "candidates", CandidateErased),
        _t("candidate.consent_changed", "candidates", CandidateConsentChanged),
        _t("trajectory.defined", "candidates", TrajectoryDefined),
        _t("employer.registered", "vacancies", EmployerRegistered),
        _t("vacancy.opened", "vacancies", VacancyProfile),
        _t("vacancy.updated", "vacancies", VacancyProfile),
        _t("vacancy.filled", "vacancies", VacancyFilled),
        _t("vacancy.closed", "vacancies", VacancyClosed),
        _t("match.proposed", "matching", MatchProposed),
        _t("match.introduced", "matching", MatchIntroduced),
        _t("match.rejected", "matching", MatchRejected),
        _t("matching.fairness_counted", "matching", MatchingFairnessCounted),
        _t("placement.recorded", "matching", PlacementRecorded),
        _t("placement.ended", "matching", PlacementEnded),
        _t("aftercare_plan.created", "aftercare", AftercarePlanCreated),
        _t("aftercare_task.assigned", "aftercare", AftercareTaskAssigned),
        _t("aftercare_task.completed", "aftercare", AftercareTaskCompleted),
        _t("aftercare_task.overdue", "aftercare", AftercareTaskOverdue),
        _t("aftercare_task.cancelled", "aftercare", AftercareTaskCancelled),
        _t("placement.at_risk", "aftercare", PlacementAtRisk),
        _t("placement.sustained", "aftercare", PlacementSustained),
    )
}


def event_type(name: str) -> EventType:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValidationError.from_fields("event", {"type": [f"unknown event type {name!r}"]}) from None


@cache
def schema_for(type_name: str) -> EventData:
    """The type's schema instance. marshmallow schemas are reusable; building
    one per event cost as much as the rest of a 1,000-row batch."""
    return CATALOGUE[type_name].schema()


_schema = schema_for


def new_event(type_name: str, subject: str, data: dict, source_service: str | None = None) -> Event:
    """Build an outgoing event; refuses data its schema does not allow."""
    etype = event_type(type_name)
    if source_service is not None and source_service != etype.source_service:
        raise ValueError(f"{type_name} is published by {etype.source_service}, not {source_service}")
    schema = _schema(etype.name)
    try:
        loaded = fastschema.load(schema, data)
    except SchemaError as exc:
        raise ValidationError.from_fields(type_name, exc.messages) from None
    return Event(type=etype.name, source=etype.source, subject=subject, data=fastschema.dump(schema, loaded))


def parse_event(body) -> Event:
    """Validate an incoming envelope and its data; raises ValidationError."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            raise ValidationError.from_fields("event", {"body": ["not JSON"]}) from None
    if not isinstance(body, dict):
        raise ValidationError.from_fields("event", {"body": ["not a JSON object"]})
    try:
        env = load_envelope(body)
    except SchemaError as exc:
        raise ValidationError.from_fields("event envelope", exc.messages) from None
    etype = event_type(env["type"])
    if env["source"] != etype.source:
        raise ValidationError.from_fields("event", {"source": [f"{etype.name} comes from {etype.source}"]})
    try:
        data = fastschema.load(_schema(etype.name), env["data"], unknown=EXCLUDE)
    except SchemaError as exc:
        raise ValidationError.from_fields(f"{etype.name} data", exc.messages) from None
    return Event(
        type=etype.name,
        source=env["source"],
        subject=env["subject"],
        data=data,
        id=env["id"],
        time=env["time"],
        wire_data=env["data"],
    )


__all__ = [
    "CATALOGUE", "TARGET_GROUPS", "Event", "EventType", "describe_fields", "event_type", "new_event", "parse_event",
]
