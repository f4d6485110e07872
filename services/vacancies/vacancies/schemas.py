from __future__ import annotations

from marshmallow import Schema, fields, validate

from vacancies.domain import KVK
from werkbrug_shared.events.catalogue import ESCO_SKILL

POSTCODE = r"^[1-9][0-9]{3}\s?([A-Za-z]{2})?\Z"


class RegisterEmployer(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kvk_number = fields.String(required=True, validate=validate.Regexp(KVK, error="a KvK number has 8 digits"))
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))


class OpenVacancy(Schema):
    employer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))
    postcode = fields.String(required=True, validate=validate.Regexp(POSTCODE, error="not a Dutch postcode"))
    skills_required = fields.List(
        fields.String(validate=validate.Regexp(ESCO_SKILL, error="not an ESCO skill URI")), required=True
    )
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
    openings = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
