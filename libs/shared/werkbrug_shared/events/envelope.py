"""The CloudEvents 1.0 envelope (structured JSON mode) every werkbrug event travels in.

``id`` is the idempotency key consumers deduplicate on; ``subject`` is the id
of the entity the event is about. The data schema per ``type`` lives in
:mod:`werkbrug_shared.events.catalogue`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from marshmallow import RAISE, Schema, fields, validate

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
TYPE_PATTERN = r"^nl\.werkbrug\.[a-z_]+\.[a-z_]+\.v[0-9]+$"


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    specversion = fields.String(required=True, validate=validate.Equal(SPECVERSION))
    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    source = fields.String(required=True, validate=validate.Regexp(r"^/werkbrug/[a-z_]+$"))
    type = fields.String(required=True, validate=validate.Regexp(TYPE_PATTERN))
    time = fields.AwareDateTime(required=True, format="iso")
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    datacontenttype = fields.String(required=True, validate=validate.Equal(DATA_CONTENT_TYPE))
    data = fields.Dict(required=True)


ENVELOPE = EnvelopeSchema()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """One CloudEvent. ``data`` holds plain JSON values on the way out and
    the catalogue schema's loaded values (dates, ...) after :func:`parse`."""

    type: str
    source: str
    subject: str
    data: dict
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=utcnow)
    specversion: str = SPECVERSION
    datacontenttype: str = DATA_CONTENT_TYPE

    def to_dict(self) -> dict:
        return {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat(),
            "subject": self.subject,
            "datacontenttype": self.datacontenttype,
            "data": self.data,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)
