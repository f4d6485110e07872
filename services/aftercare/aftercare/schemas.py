from __future__ import annotations

from marshmallow import Schema, fields, validate

from aftercare.domain import TASK_STATUSES
from werkbrug_shared.events.catalogue import TASK_OUTCOMES


class RegisterJobcoach(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    region = fields.String(required=True, validate=validate.Length(min=1, max=80))
    capacity = fields.Integer(required=True, validate=validate.Range(min=1, max=500))


class TaskQuery(Schema):
    placement_id = fields.String(load_default=None, allow_none=True)
    jobcoach_id = fields.String(load_default=None, allow_none=True)
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TASK_STATUSES))


class CompleteTask(Schema):
    task_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    outcome = fields.String(required=True, validate=validate.OneOf(TASK_OUTCOMES))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
