"""Turn marshmallow errors into werkbrug's ValidationError, naming each field."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from werkbrug_shared.errors import ValidationError
from werkbrug_shared.events import fastschema


def load(schema: Schema, payload, what: str) -> dict:
    if not isinstance(payload, dict):
        raise ValidationError.from_fields(what, {"_schema": ["expected an object"]})
    try:
        return fastschema.load(schema, payload)
    except SchemaError as exc:
        raise ValidationError.from_fields(what, exc.messages) from None


def require_id(value, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValidationError.from_fields(field, {field: ["expected an id"]})
    return value
