"""What candidates accepts, field by field. Error messages never repeat the
value they refuse (it may be a name or a BSN, and errors are logged)."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from candidates import domain
from werkbrug_shared import refdata, visibility
from werkbrug_shared.events.catalogue import (
    ESCO_OCCUPATION,
    ESCO_SKILL,
    EVIDENCE,
    LANGUAGE_LEVELS,
    SKILL_LEVELS,
    TARGET_GROUPS,
    TRANSPORT_MODES,
    WEEKDAYS,
)

NOT_A_SKILL = "not an ESCO skill URI"
UNKNOWN_SKILL = "unknown ESCO skill"
UNKNOWN_OCCUPATION = "unknown ESCO occupation"
PHONE = r"^\+?[0-9][0-9 -]{6,18}[0-9]\Z"
MODULE_CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}\Z"
MAX_BATCH = 1000


def _id(**kw):
    return fields.String(validate=validate.Length(min=1, max=64), **kw)


def _optional(field_cls, *args, **kw):
    return field_cls(*args, load_default=None, allow_none=True, **kw)


def _unknown(uris, known: dict, message: str) -> dict:
    return {i: [message] for i, uri in enumerate(uris) if uri not in known}


class SkillClaim(Schema):
    skill = fields.String(required=True, validate=validate.Regexp(ESCO_SKILL, error=NOT_A_SKILL))
    level = fields.Integer(required=True, strict=True, validate=validate.OneOf(SKILL_LEVELS))
    evidence = fields.String(required=True, validate=validate.OneOf(EVIDENCE))


SKILL_CLAIM = SkillClaim()


class Skill(fields.Field):
    """A plain ESCO skill URI (the spine's form) or {skill, level, evidence}."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not re.match(ESCO_SKILL, value):
                raise ValidationError(NOT_A_SKILL)
            return value
        if isinstance(value, dict):
            return SKILL_CLAIM.load(value)
        raise ValidationError("expected an ESCO skill URI or an object {skill, level, evidence}")


def skill_uri(item) -> str:
    return item if isinstance(item, str) else item["skill"]


def _claimed_uri(item) -> str | None:
    """A skill item's URI, or None for an item that is no skill claim at all."""
    uri = item.get("skill") if isinstance(item, dict) else item
    return uri if isinstance(uri, str) else None


class Address(Schema):
    street = fields.String(required=True, validate=validate.Length(min=1, max=120))
    house_number = fields.String(required=True, validate=validate.Length(min=1, max=20))
    city = fields.String(required=True, validate=validate.Length(min=1, max=80))


class RegisterCandidate(Schema):
    """A candidate: the shape of every field, and the occupations against ESCO.
    The service loads CheckedCandidate, which adds the checks against reference data."""

    # who someone is: personal data, kept apart
    given_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    family_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    postcode = fields.String(required=True)
    birth_date = _optional(fields.Date)
    phone = _optional(fields.String, validate=validate.Regexp(PHONE, error="not a phone number"))
    email = _optional(fields.Email, validate=validate.Length(max=254))
    address = _optional(fields.Nested, Address)
    bsn = _optional(fields.String)
    condition_notes = _optional(fields.String, validate=validate.Length(min=1, max=2000))
    # the werkprofiel: what someone can and wants
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))
    target_groups = fields.List(
        fields.String(validate=validate.OneOf(TARGET_GROUPS)), required=True, validate=validate.Length(min=1)
    )
    banenafspraak = fields.Boolean(load_default=False)
    skills = fields.List(Skill(), load_default=list, validate=validate.Length(max=200))
    occupations_wanted = fields.List(
        fields.String(validate=validate.Regexp(ESCO_OCCUPATION, error="not an ESCO occupation URI")),
        load_default=list, validate=validate.Length(max=50))
    work_thinking_level = _optional(fields.Integer, strict=True, validate=validate.Range(min=0, max=7))
    dutch_level = _optional(fields.String, validate=validate.OneOf(LANGUAGE_LEVELS))
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
    hours_min = _optional(fields.Integer, strict=True, validate=validate.Range(min=1, max=60))
    available_days = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), load_default=list)
    available_from = _optional(fields.Date)
    max_travel_minutes = _optional(fields.Integer, strict=True, validate=validate.Range(min=1, max=300))
    max_distance_km = _optional(fields.Integer, strict=True, validate=validate.Range(min=1, max=300))
    transport_modes = fields.List(fields.String(validate=validate.OneOf(TRANSPORT_MODES)), load_default=list)
    conditions = fields.List(fields.String(validate=validate.OneOf(domain.CONDITIONS)), load_default=list)
    cohort = _optional(fields.String, validate=validate.Length(min=1, max=80))
    source_ref = _optional(fields.String, validate=validate.Length(min=1, max=100))
    # consent to be ranked by matching (the anonymous profile, every partner): intake records it,
    # given unless said; changed afterwards by give_consent / revoke_consent
    matching_consent = fields.Boolean(load_default=True)

    @validates("postcode")
    def _postcode(self, value, **_):
        if not domain.POSTCODE.match(value.strip()):
            raise ValidationError("not a Dutch postcode (1234 AB)")

    @validates("bsn")
    def _bsn(self, value, **_):
        if value is not None:
            try:
                domain.normalise_bsn(value)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    @validates("occupations_wanted")
    def _known_occupations(self, value, **_):
        if unknown := _unknown(value, refdata.occupations(), UNKNOWN_OCCUPATION):
            raise ValidationError(unknown)

    @validates_schema
    def _coherent(self, data, partial=False, **_):
        if partial:
            return  # an update is checked once merged with what is stored
        problems = domain.profile_problems(data)
        if problems:
            raise ValidationError(problems)



class CheckedCandidate(RegisterCandidate):
    """A candidate as registered, with or without a credential: skills must be ESCO skills
    that exist, and the postcode must lie in a known PC4 area (matching measures travel
    from it: an unknown area would leave the candidate out of every match unseen)."""

    @validates("skills")
    def _known_skills(self, value, **_):
        # marshmallow runs this on a list some of whose items failed (and are named already): skip those
        uris = [uri for uri in map(_claimed_uri, value) if uri is not None]
        if unknown := _unknown(uris, refdata.skills(), UNKNOWN_SKILL):
            raise ValidationError(unknown)

    @validates("postcode")
    def _known_area(self, value, **_):
        try:
            _, pc4 = domain.normalise_postcode(value)
        except ValueError:
            return  # the shape check names it
        if refdata.postcode_area(pc4) is None:
            raise ValidationError("not a known postcode area (PC4)")


UPDATE_EXCLUDES = ("bsn", "source_ref", "cohort", "matching_consent")


def candidate_schema(update: bool = False) -> Schema:
    if update:
        return CheckedCandidate(partial=True, exclude=UPDATE_EXCLUDES)
    return CheckedCandidate()


class RegisterBatch(Schema):
    candidates = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


class ChangeStatus(Schema):
    status = fields.String(required=True, validate=validate.OneOf(domain.MANUAL_STATUSES))
    reason = _optional(fields.String, validate=validate.Length(min=1, max=2000))


class ListFilters(Schema):
    region = fields.String(validate=validate.Length(min=1, max=80))
    target_group = fields.String(validate=validate.OneOf(TARGET_GROUPS))
    status = fields.String(validate=validate.OneOf((*domain.STATUSES, domain.ERASED)))
    skill = fields.String(validate=validate.Regexp(ESCO_SKILL, error=NOT_A_SKILL))
    cohort = fields.String(validate=validate.Length(min=1, max=80))


class ConsentInput(Schema):
    """A consent the candidate gave (werkbrug_shared.visibility): to whom, why, how much, until when."""

    purpose = fields.String(required=True, validate=validate.OneOf(visibility.PURPOSES))
    organisation = _optional(_id)  # none for matching (every partner); else required
    # default: full (an introduction: contact)
    scope = _optional(fields.String, validate=validate.OneOf(visibility.SCOPES))
    expires_on = _optional(fields.Date)  # the last day it holds, in the Netherlands
    match_id = _optional(_id)  # an introduction's match

    @validates_schema
    def _coherent(self, data, **_):
        problems = {}
        purpose, organisation = data.get("purpose"), data.get("organisation")
        if purpose == visibility.MATCHING:
            for name in ("organisation", "scope", "expires_on", "match_id"):
                if data.get(name) is not None:
                    problems[name] = ["not for matching's consent, which is every partner's"]
        elif purpose is not None:
            if organisation is None:
                problems["organisation"] = ["the organisation the candidate consented to is required"]
            if purpose == visibility.INTRODUCTION:
                if data.get("match_id") is None:
                    problems["match_id"] = ["an introduction's consent names its match"]
                if data.get("scope") == visibility.FULL:
                    problems["scope"] = ["an introduction opens the contact details only"]
            elif data.get("match_id") is not None:
                problems["match_id"] = ["only an introduction's consent names a match"]
        if problems:
            raise ValidationError(problems)


class RevokeConsent(Schema):
    purpose = fields.String(required=True, validate=validate.OneOf(visibility.PURPOSES))
    organisation = _optional(_id)


class LogEntryInput(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    date = _optional(fields.Date)


class PlanInput(Schema):
    goal = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    steps = fields.List(fields.String(validate=validate.Length(min=1, max=500)), load_default=list,
                        validate=validate.Length(max=50))


class ModuleInput(Schema):
    code = fields.String(required=True, validate=validate.Regexp(MODULE_CODE, error="letters, digits, - and _"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    certificate_skill = _optional(fields.String, validate=validate.Regexp(ESCO_SKILL, error=NOT_A_SKILL))

    @validates("certificate_skill")
    def _known_skill(self, value, **_):
        if value is not None and value not in refdata.skills():
            raise ValidationError(UNKNOWN_SKILL)


class DefineTrajectory(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    weeks = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=156))
    modules = fields.List(fields.Nested(ModuleInput), required=True, validate=validate.Length(min=1, max=50))

    @validates("modules")
    def _unique_codes(self, value, **_):
        # a module whose code failed its own check is named there; here only the codes that loaded
        codes = [m["code"] for m in value if isinstance(m, dict) and m.get("code") is not None]
        if len(set(codes)) != len(codes):
            raise ValidationError("module codes must be unique within a trajectory")


class StartCohort(Schema):
    trajectory_id = _id(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    start_date = fields.Date(required=True)
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))
