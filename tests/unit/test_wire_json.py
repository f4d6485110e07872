"""The orjson codec behind kombu's ``json``: the same values come back as kombu's own
codec gives them, and what it writes kombu's own reader reads."""

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

import kombu.exceptions
import kombu.serialization
import numpy as np
import pytest
from kombu.utils import json as kombu_json

from werkbrug_shared import wire_json


class Status(StrEnum):
    OPEN = "open"


VALUES = [
    {"results": [{"id": "c-1", "score": 0.8125, "breakdown": {"skills": [0.5, 0.3]}, "gap": None, "ok": True}]},
    {"label": "tegelzetter — vloeren", "emoji": "✓", "escaped": 'quote " and \\ and \n'},
    {"when": datetime(2026, 11, 23, 16, 30, 5, 123, tzinfo=UTC), "day": date(2026, 11, 23)},
    {"amount": Decimal("12.50"), "blob": b"\x00\xff", "text": b"plain"},
    {"status": Status.OPEN, "numpy": np.float64(0.1)},
    {"big": 2**70, "negative_big": -(2**65), "digits": "00001234567890123456789012"},
    {1: "int key", "nested": [[], {}, [1, [2, [3]]]]},
    [1, 2.5, "three", None],
    "just a string",
]


@pytest.mark.parametrize("value", VALUES)
def test_values_come_back_as_kombus_codec_gives_them(value):
    body = wire_json.dumps(value)
    assert wire_json.loads(body) == kombu_json.loads(kombu_json.dumps(value))
    assert kombu_json.loads(body) == kombu_json.loads(kombu_json.dumps(value))  # plain JSON to any kombu reader


def test_it_is_what_kombu_uses_for_json():
    content_type, encoding, body = kombu.serialization.dumps({"a": [1, 2]}, "json")
    assert (content_type, encoding) == ("application/json", "utf-8")
    assert kombu.serialization.loads(body, content_type, encoding) == {"a": [1, 2]}
    assert kombu.serialization.loads(memoryview(body), content_type, encoding) == {"a": [1, 2]}


def test_what_only_kombu_reads_is_read_by_kombu():
    assert wire_json.loads(b'{"a": NaN, "b": Infinity}')["b"] == float("inf")
    with pytest.raises(ValueError):
        wire_json.loads(b'{"a": ')


def test_floats_that_are_not_finite_travel_as_null():
    assert wire_json.loads(wire_json.dumps({"x": float("nan"), "y": float("inf")})) == {"x": None, "y": None}


@pytest.mark.parametrize("body", [b"[" * 1500 + b"]" * 1500, b"[" * 100_000,
                                  b'{"__type__": ' + b"[" * 1500 + b"]" * 1500 + b"}"])
def test_a_payload_nested_too_deep_is_a_clean_decode_error(body):
    with pytest.raises(wire_json.TooDeep):
        wire_json.loads(body)
    with pytest.raises(kombu.exceptions.DecodeError) as refused:  # what a kombu consumer sees
        kombu.serialization.loads(body, "application/json", "utf-8")
    assert not isinstance(refused.value.__context__, RecursionError)


def test_unpaired_surrogates_travel_escaped():
    body = wire_json.dumps({"note": "\udfff"})
    assert body == b'{"note": "\\udfff"}'
    assert wire_json.loads(body) == {"note": "\udfff"}


# --- CloudEvents bodies: read as the standard library's json.loads reads them -------------

PLAIN_BODIES = [
    b'{"specversion": "1.0", "id": "e-1", "data": {"hours": 32, "share": 0.1, "groups": ["bijstand"]}}',
    '{"label": "tegelzetter \u2014 vloeren", "escaped": "quote \\" and \\\\ and \\n"}',
    b'{"__type__": "datetime", "__value__": "2026-11-23T16:30:05"}',  # no kombu unwrapping here
    b'{"big": 123456789012345678901234567890, "negative": -98765432109876543210}',
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b'{"lone": "\\udfff", "pair": "\\ud83d\\ude00"}',
    b'{"same": 1, "same": 2}',
    b'[{"id": "e-1"}, {"id": "e-2"}]',
    b'  "just a string"  ',
    b"1e400",
]


@pytest.mark.parametrize("body", PLAIN_BODIES)
def test_cloudevents_bodies_come_back_as_json_loads_gives_them(body):
    import json
    import math

    expected, got = json.loads(body), wire_json.loads_plain(body)
    assert repr(got) == repr(expected) or (isinstance(got, float) and math.isinf(got) and got == expected)


@pytest.mark.parametrize("content_type", ["application/cloudevents+json", "application/cloudevents-batch+json"])
def test_the_cloudevents_serializers_read_with_it_and_refuse_what_is_not_json_or_too_deep(content_type):
    import werkbrug_shared.events.envelope  # noqa: F401 (registers the serializers)

    assert kombu.serialization.loads(b'{"id": "e-1"}', content_type, "utf-8") == {"id": "e-1"}
    for body in (b'{"id": ', b"[" * 1500 + b"]" * 1500):
        with pytest.raises(kombu.exceptions.DecodeError):
            kombu.serialization.loads(body, content_type, "utf-8")
