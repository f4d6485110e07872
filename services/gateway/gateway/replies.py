"""JSON in and out of the gateway's routes."""

from __future__ import annotations

import json

from werkbrug_shared.errors import ValidationError

JSON = {"Content-Type": "application/json"}


def json_body(request) -> dict:
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise ValidationError.from_fields("request", {"body": ["not valid JSON"]}) from None
    except RecursionError:  # e.g. 100,000 "[": the reader gives up, the request is the caller's error
        raise ValidationError.from_fields("request", {"body": ["nested too deeply"]}) from None
    if not isinstance(body, dict):
        raise ValidationError.from_fields("request", {"body": ["expected a JSON object"]})
    return body


def reply(status: int, payload) -> tuple:
    return status, JSON, json.dumps(payload)


def no_content() -> tuple:
    return 204, {}, ""
