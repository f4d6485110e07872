from __future__ import annotations

from marshmallow import Schema, fields, validate


class RecordPlacement(Schema):
    candidate_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    vacancy_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    start_date = fields.Date(required=True)
    hours_per_week = fields.Integer(required=True, validate=validate.Range(min=1, max=60))
