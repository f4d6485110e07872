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
