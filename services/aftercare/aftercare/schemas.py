from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from aftercare.domain import EXPERTISE, TASK_STATUSES
from werkbrug_shared.events.catalogue import PLACEMENT_END_REASONS, TASK_OUTCOMES
from werkbrug_shared.pagination import MAX_PAGE

_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


def _deliverable(value: str) -> None:
    # aftercare mails these addresses; a server without SMTPUTF8 refuses a non-ASCII one, and the
    # mail's handler would retry into the dead-letter queue: refused here instead, naming the field
    if value is not None and not value.isascii():
        raise ValidationError("use an address in ASCII (an international domain in its xn-- form)")


def _email(**kw):
    return fields.Email(validate=[validate.Length(max=254), _deliverable], **kw)


class RegisterOrganisation(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    coordinator_email = _email(required=True)


class RegisterJobcoach(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = _email(load_default=None, allow_none=True)
    regions = fields.List(fields.String(validate=validate.Length(min=1, max=80)), required=True,
                          validate=validate.Length(min=1, max=20))
    capacity_hours = fields.Float(required=True, validate=validate.Range(min=0.5, max=60))
    expertise = fields.List(fields.String(validate=validate.OneOf(EXPERTISE)), load_default=list)


class UpdateJobcoach(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = _email(allow_none=True)
    regions = fields.List(fields.String(validate=validate.Length(min=1, max=80)),
                          validate=validate.Length(min=1, max=20))
    capacity_hours = fields.Float(validate=validate.Range(min=0.5, max=60))
    expertise = fields.List(fields.String(validate=validate.OneOf(EXPERTISE)))


class TaskQuery(Schema):
    placement_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    jobcoach_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TASK_STATUSES))
    due_before = fields.Date(load_default=None, allow_none=True)
    # a page at a time: at most ``limit`` tasks, after the task ``after`` (the last of the page before)
    limit = fields.Integer(load_default=MAX_PAGE, strict=True, validate=validate.Range(min=1, max=MAX_PAGE))
    after = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class CompleteTask(Schema):
    task_id = _id
    outcome = fields.String(required=True, validate=validate.OneOf(TASK_OUTCOMES))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    hours_spent = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=100))
    end_date = fields.Date(load_default=None, allow_none=True)
    end_reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PLACEMENT_END_REASONS))

    @validates_schema
    def _ended_says_why(self, data, **kwargs):
        if data.get("outcome") == "ended" and data.get("end_reason") is None:
            raise ValidationError("an ended placement needs a reason", "end_reason")


class Reassign(Schema):
    plan_id = _id
    jobcoach_id = _id


class Sweep(Schema):
    today = fields.Date(load_default=None, allow_none=True)
