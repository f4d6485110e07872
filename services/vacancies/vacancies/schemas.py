from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from vacancies.domain import CLOSE_REASONS, CONDITIONS_OFFERED, KVK, POSTCODE, SBI, STATUSES, VISIBILITIES
from werkbrug_shared import refdata
from werkbrug_shared.events.catalogue import ESCO_OCCUPATION, ESCO_SKILL

MISSING = "Missing data for required field."


def _matches(pattern: str, value: str) -> bool:
    return re.match(pattern, value) is not None


def known_postcode(value: str) -> None:
    """A Dutch postcode (PC4 with or without letters) in a PC4 area that exists."""
    found = POSTCODE.match(value)
    if found is None:
        raise ValidationError("not a Dutch postcode")
    if refdata.postcode_area(found.group(1)) is None:
        raise ValidationError(f"unknown postcode area {found.group(1)}")


def known_skill(value: str) -> None:
    if not _matches(ESCO_SKILL, value):
        raise ValidationError("not an ESCO skill URI")
    if refdata.unknown_skills([value]):
        raise ValidationError("unknown ESCO skill")


def known_occupation(value: str) -> None:
    if not _matches(ESCO_OCCUPATION, value):
        raise ValidationError("not an ESCO occupation URI")
    if refdata.unknown_occupations([value]):
        raise ValidationError("unknown ESCO occupation")


def _kvk(**kw):
    return fields.String(validate=validate.Regexp(KVK, error="a KvK number has 8 digits"), **kw)


def _sbi(**kw):
    return fields.String(validate=validate.Regexp(SBI, error="an SBI code has 2 to 5 digits"), **kw)


class RegisterEmployer(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kvk_number = _kvk(required=True)
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))
    sbi = _sbi(load_default=None, allow_none=True)
    postcode = fields.String(load_default=None, allow_none=True, validate=known_postcode)


class WeightedSkill(Schema):
    skill = fields.String(required=True, validate=known_skill)
    weight = fields.Float(load_default=1.0, validate=validate.Range(min=0.0, max=1.0, min_inclusive=False))


def _skills(**kw):
    return fields.List(fields.Nested(WeightedSkill), validate=validate.Length(max=100), **kw)


class OpenVacancy(Schema):
    """A vacancy as opened; ``skills_required`` (plain URIs, weight 1.0) is the
    spine's form of ``must_have`` and checks the URI form only."""

    employer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    occupation = fields.String(load_default=None, allow_none=True, validate=known_occupation)
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))
    postcode = fields.String(required=True, validate=known_postcode)
    skills_required = fields.List(
        fields.String(validate=validate.Regexp(ESCO_SKILL, error="not an ESCO skill URI")),
        validate=validate.Length(max=100),
    )
    must_have = _skills()
    nice_to_have = _skills(load_default=list)
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
    openings = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
    conditions_offered = fields.List(fields.String(validate=validate.OneOf(CONDITIONS_OFFERED)), load_default=list)
    visibility = fields.String(load_default="public", validate=validate.OneOf(VISIBILITIES))
    is_leerwerkbaan = fields.Boolean(load_default=False)
    banenafspraak_suitable = fields.Boolean(load_default=False)
    valid_through = fields.Date(load_default=None, allow_none=True)
    work_thinking_level = fields.Integer(load_default=None, allow_none=True,
                                         validate=validate.Range(min=0, max=7))
    source_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))

    @validates_schema
    def _one_skill_form(self, data, partial=None, **_):
        if "skills_required" in data and "must_have" in data:
            raise ValidationError("give must_have or skills_required, not both", "skills_required")
        if not partial and "skills_required" not in data and "must_have" not in data:
            raise ValidationError(MISSING, "skills_required")


class UpdateVacancy(OpenVacancy):
    """Changes to a vacancy: any field of OpenVacancy but its employer and source."""

    class Meta:
        exclude = ("employer_id", "source_ref")

    def __init__(self, **kwargs):
        # every field of its own may be left out, but a skill given is a whole skill: partial=True
        # would reach into the nested skills too and skip their default weight
        super().__init__(partial=tuple(OpenVacancy._declared_fields), **kwargs)


class BulkVacancy(OpenVacancy):
    """One row of ``open_many``: the employer by id, or by KvK number with what
    it takes to register it when it is new."""

    employer_id = fields.String(validate=validate.Length(min=1, max=64))
    employer_kvk = _kvk()
    employer_name = fields.String(validate=validate.Length(min=1, max=200))
    employer_region = fields.String(validate=validate.Length(min=1, max=80))
    employer_sbi = _sbi(allow_none=True)
    employer_postcode = fields.String(allow_none=True, validate=known_postcode)

    @validates_schema
    def _one_employer(self, data, **_):
        if "employer_id" in data and "employer_kvk" in data:
            raise ValidationError("give employer_id or employer_kvk, not both", "employer_kvk")
        if "employer_id" not in data and "employer_kvk" not in data:
            raise ValidationError("give employer_id, or employer_kvk for an employer by KvK number", "employer_id")


class AddSteward(Schema):
    organisation = fields.String(required=True, validate=validate.Length(min=1, max=64))
    professional = fields.String(required=True, validate=validate.Length(min=1, max=64))


class CloseVacancy(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(CLOSE_REASONS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class AddCandidate(Schema):
    candidate_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ListFilters(Schema):
    region = fields.String(validate=validate.Length(min=1, max=80))
    status = fields.String(validate=validate.OneOf(STATUSES))
    skill = fields.String(validate=validate.Regexp(ESCO_SKILL, error="not an ESCO skill URI"))
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    is_leerwerkbaan = fields.Boolean()
    banenafspraak_suitable = fields.Boolean()
    employer_id = fields.String(validate=validate.Length(min=1, max=64))
