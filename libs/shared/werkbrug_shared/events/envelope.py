"""The CloudEvents 1.0 envelope (structured JSON mode) every werkbrug event travels in.

``id`` is the idempotency key consumers deduplicate on; ``subject`` is the id
of the entity the event is about. The data schema per ``type`` lives in
:mod:`werkbrug_shared.events.catalogue`.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import kombu.serialization
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from werkbrug_shared.wire_json import loads_plain

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
# CloudEvents' JSON batch format: a JSON array of structured events
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
DATA_CONTENT_TYPE = "application/json"
TYPE_PATTERN = r"^nl\.werkbrug\.[a-z_]+\.[a-z_]+\.v[0-9]+\Z"

# Structured-mode CloudEvents travel as application/cloudevents+json; nameko
# consumers accept them once this serializer is registered and named in the
# config's ACCEPT list (see config.yml and config.nameko_config).
# Read by orjson where it gives what ``json.loads`` gives (``wire_json.loads_plain``).
kombu.serialization.register(
    "cloudevents", json.dumps, loads_plain, content_type=CONTENT_TYPE, content_encoding="utf-8"
)
# Events written in one transaction (a bulk import) travel a hundred to a
# message in the batch format: a message per event cost more broker and
# client CPU than everything else the import does.
kombu.serialization.register(
    "cloudevents-batch", json.dumps, loads_plain, content_type=BATCH_CONTENT_TYPE, content_encoding="utf-8"
)


EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}\Z")


class EnvelopeSchema(Schema):
    """Required context attributes, ``dataschema``, and extension attributes
    (lower-case alphanumeric names, as CloudEvents 1.0 allows) such as
    ``traceparent``; anything else is refused."""

    class Meta:
        unknown = INCLUDE

    specversion = fields.String(required=True, validate=validate.Equal(SPECVERSION))
    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    source = fields.String(required=True, validate=validate.Regexp(r"^/werkbrug/[a-z_]+\Z"))
    type = fields.String(required=True, validate=validate.Regexp(TYPE_PATTERN))
    time = fields.AwareDateTime(required=True, format="iso")
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    datacontenttype = fields.String(required=True, validate=validate.Equal(DATA_CONTENT_TYPE))
    dataschema = fields.String(load_default=None)
    data = fields.Dict(required=True)

    @validates_schema(pass_original=True)
    def _extensions(self, data, original, **_):
        bad = [k for k in original if k not in self.fields and not EXTENSION_NAME.match(k)]
        if bad:
            raise ValidationError({k: ["not a CloudEvents attribute or extension name"] for k in bad})


ENVELOPE = EnvelopeSchema()
_ENVELOPE_KEYS = frozenset({"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"})
_SOURCE = re.compile(r"^/werkbrug/[a-z_]+\Z")
_TYPE = re.compile(TYPE_PATTERN)
_ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})\Z")


def load_envelope(body: dict) -> dict:
    """``ENVELOPE.load(body)``, quicker for the envelope werkbrug itself writes.

    Only an envelope with exactly the required attributes, each plainly valid,
    takes the quick path; anything else (extensions, ``dataschema``, another
    time format) goes to the schema, which decides and words every error.
    """
    if type(body) is dict and body.keys() == _ENVELOPE_KEYS:
        ident, subject, time = body["id"], body["subject"], body["time"]
        if (body["specversion"] == SPECVERSION and body["datacontenttype"] == DATA_CONTENT_TYPE
                and type(ident) is str and 0 < len(ident) <= 200
                and type(subject) is str and 0 < len(subject) <= 200
                and type(body["source"]) is str and _SOURCE.match(body["source"])
                and type(body["type"]) is str and _TYPE.match(body["type"])
                and type(body["data"]) is dict and type(time) is str and _ISO_TIME.match(time)):
            try:
                when = datetime.fromisoformat(time)
            except ValueError:
                when = None
            if when is not None and when.tzinfo is not None:
                return {**body, "time": when, "data": dict(body["data"]), "dataschema": None}
    return ENVELOPE.load(body)


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
    # the data exactly as it arrived (JSON values), for consumers that store events
    wire_data: dict | None = field(default=None, compare=False, repr=False)

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
