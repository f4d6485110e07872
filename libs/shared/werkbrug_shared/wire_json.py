"""JSON on the wire, written and read by orjson.

RPC calls and replies travel as kombu's ``json`` (``application/json``). kombu
writes and reads it with the standard library, which took about a third of a
millisecond to write a ranking's 14 kB and a fifth to read it, several times
what orjson takes. This registers an orjson codec under the same name and
content type, so every werkbrug process writes and reads faster while the
bytes stay plain JSON that any kombu client reads.

What orjson cannot write exactly as kombu would (datetimes and dates, which
kombu wraps as ``{"__type__": ..., "__value__": ...}``; Decimals, bytes,
subclasses of str, int, dict and list, non-string keys, integers beyond 64
bits, strings holding an unpaired surrogate, which it escapes as ``\\udfff``) falls
back to kombu's own writer, and a payload holding such a wrapper,
NaN or Infinity, or a run of 20 digits (an integer orjson would read as a
float) is read by kombu's reader. Two things differ from kombu: a
float that is not finite is written as ``null`` (JSON has no such number), and
a UUID as its plain string. werkbrug's services send neither: they send
identifiers as strings. A payload nested deeper than 1024 levels is refused
(``TooDeep``, a ValueError that kombu reports as a ``DecodeError``) without
recursing.
"""

from __future__ import annotations

import json

import kombu.serialization
import orjson
from kombu.utils import json as kombu_json

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_WRAPPED = b'"__type__"'
# a run of 20 digits, found by turning every digit into 0 (bytes.translate and a
# substring test take microseconds where a regular expression takes hundreds)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 20


def _not_plain(value):
    raise TypeError  # orjson gives up; kombu writes it


def dumps(value) -> bytes:
    try:
        return orjson.dumps(value, default=_not_plain, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return kombu_json.dumps(value).encode()


class TooDeep(ValueError):
    """A payload nested deeper than orjson reads (1024 levels): refused at once.
    The standard library's reader would recurse until a RecursionError."""


def _raw(data) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)


def _read(raw: bytes, reader, fast: bool = True):
    """orjson where it gives what ``reader`` gives (no run of 20 digits, an integer past 64
    bits that orjson would turn into a float), else ``reader``; too deep is TooDeep either way."""
    if fast and _LONG_DIGITS not in raw.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if "depth limit" in str(exc) or "recursion" in str(exc).lower():
                raise TooDeep(f"JSON nested too deeply ({exc})") from None
            # NaN, Infinity, a lone surrogate, or not JSON at all: the reader says which
    try:
        return reader(raw)
    except RecursionError:
        raise TooDeep("JSON nested too deeply") from None


def loads(data):
    """kombu's ``json`` reader; a body with kombu's ``__type__`` wrappers goes to kombu's."""
    raw = _raw(data)
    return _read(raw, kombu_json.loads, fast=_WRAPPED not in raw)


def loads_plain(data):
    """``json.loads`` (the standard library's, which CloudEvents bodies are read with), read by
    orjson where that gives the same value: in a bulk import the standard reader was a tenth
    of matching's CPU."""
    return _read(_raw(data), json.loads)


def register() -> None:
    """Take over kombu's ``json`` serializer (same name, same content type)."""
    kombu.serialization.register("json", dumps, loads, content_type="application/json", content_encoding="utf-8")


register()
