"""What matching accepts, field by field."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

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
    # the caller's own key for this request (e.g. a uuid): a retry with it answers the placement made
    request_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


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


MAX_FILTER_VALUES = 100


def filter_problems(filters: dict, allowed: tuple[str, ...], flags: tuple[str, ...]) -> dict[str, list[str]]:
    """Per filter named, what is wrong with it: unknown; a flag not true or false; any
    other filter not a string or a list of strings (one of them)."""
    problems: dict[str, list[str]] = {}
    for name, value in filters.items():
        if name not in allowed:
            problems[name] = [f"unknown filter; allowed: {', '.join(allowed)}"]
        elif value is None:
            continue  # no filter
        elif name in flags:
            if not isinstance(value, bool):
                problems[name] = ["expected true or false"]
        elif isinstance(value, list):
            if len(value) > MAX_FILTER_VALUES or not all(isinstance(v, str) for v in value):
                problems[name] = [f"expected a string or a list of at most {MAX_FILTER_VALUES} strings"]
        elif not isinstance(value, str):
            problems[name] = ["expected a string or a list of strings"]
    return problems


class _Query(Schema):
    limit = fields.Integer(load_default=10, strict=True, validate=validate.Range(min=1, max=100))
    filters = fields.Dict(keys=fields.String(), load_default=dict)
    allowed: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    @validates_schema
    def _known_filters(self, data, **_):
        problems = filter_problems(data.get("filters") or {}, self.allowed, self.flags)
        if problems:
            raise ValidationError({"filters": problems})


class CandidateQuery(_Query):
    vacancy_id = _id(required=True)
    allowed = scoring.CANDIDATE_FILTERS
    flags = ("banenafspraak",)


class VacancyQuery(_Query):
    candidate_id = _id(required=True)
    allowed = scoring.VACANCY_FILTERS
    flags = ("is_leerwerkbaan", "banenafspraak_suitable")
