from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from candidates.domain import POSTCODE
from werkbrug_shared.events.catalogue import ESCO_SKILL, TARGET_GROUPS


class RegisterCandidate(Schema):
    given_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    family_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))
    postcode = fields.String(required=True)
    target_groups = fields.List(
        fields.String(validate=validate.OneOf(TARGET_GROUPS)), required=True, validate=validate.Length(min=1)
    )
    skills = fields.List(fields.String(validate=validate.Regexp(ESCO_SKILL, error="not an ESCO skill URI")),
                         load_default=list)
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
    conditions = fields.List(fields.String(validate=validate.Length(min=1, max=80)), load_default=list)
    cohort = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=80))

    @validates("postcode")
    def _postcode(self, value, **_):
        if not POSTCODE.match(value.strip()):
            raise ValidationError("not a Dutch postcode (1234 AB)")
