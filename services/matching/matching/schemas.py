"""What matching accepts, field by field."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from matching import scoring
from werkbrug_shared.events.catalogue import MATCH_REJECT_REASONS, PLACEMENT_END_REASONS


def _id(**kw):
    return fields.String(validate=validate.Length(min=1, max=64), **kw)


class RecordPlacement(Schema):
    candidate_id = _id(required=True)
    vacancy_id = _id(required=True)
    start_date = fields.Date(required=True)
    hours_per_week = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=60))
    match_id = _id(load_default=None, allow_none=True)


class EndPlacement(Schema):
    placement_id = _id(required=True)
    end_date = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(PLACEMENT_END_REASONS))


class Propose(Schema):
    candidate_id = _id(required=True)
    vacancy_id = _id(required=True)


class Introduce(Schema):
    match_id = _id(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=2000))


class Reject(Schema):
    match_id = _id(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(MATCH_REJECT_REASONS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=2000))


class _Query(Schema):
    limit = fields.Integer(load_default=10, strict=True, validate=validate.Range(min=1, max=100))
    filters = fields.Dict(keys=fields.String(), load_default=dict)
    allowed: tuple[str, ...] = ()

    @validates("filters")
    def _known_filters(self, value, **_):
        unknown = sorted(set(value) - set(self.allowed))
        if unknown:
            raise ValidationError(f"unknown filter(s) {', '.join(unknown)}; allowed: {', '.join(self.allowed)}")


class CandidateQuery(_Query):
    vacancy_id = _id(required=True)
    allowed = scoring.CANDIDATE_FILTERS


class VacancyQuery(_Query):
    candidate_id = _id(required=True)
    allowed = scoring.VACANCY_FILTERS
