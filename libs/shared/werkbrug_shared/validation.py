"""Turn marshmallow errors into werkbrug's ValidationError, naming each field.

Every string that reaches a service is checked here before anything is
written: a NUL character (PostgreSQL refuses it in text, at commit) or an
unpaired surrogate (not Unicode: neither PostgreSQL nor a UTF-8 reply can
carry it) is refused, naming the field. ``load`` checks a whole payload,
``require_id`` an id, ``optional_text`` a short plain string, and ``text`` /
``arguments`` any other plain argument an operation takes; ``bad_arguments``
checks every argument of a call at once (for the RPC entrypoint).
"""

from __future__ import annotations

import orjson
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from werkbrug_shared.errors import ValidationError
from werkbrug_shared.events import fastschema

NUL = "contains a NUL character"
SURROGATE = "contains an unpaired surrogate (not valid Unicode)"
BAD_KEY = "a field name that is not valid text"
# deeper than any werkbrug payload; a walk this deep is refused, not recursed
MAX_DEPTH = 64
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored or sent, or None."""
    if "\x00" in value:
        return NUL
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
    return None


def bad_text(value, depth: int = 0):
    """The marshmallow-shaped errors of every bad string in ``value`` (keys included), or None.

    Lists and dicts are walked; their errors are keyed by index or key. A key
    that is itself bad is named by its escaped form, so no error repeats it.
    """
    if depth == 0 and _clean(value):
        return None
    kind = type(value)
    if kind is str:
        problem = text_problem(value)
        return [problem] if problem else None
    if kind is not dict and kind is not list and kind is not tuple:
        if isinstance(value, str):  # a subclass: same check
            problem = text_problem(value)
            return [problem] if problem else None
        return None
    if depth >= MAX_DEPTH:
        return [TOO_DEEP]
    errors = {}
    items = value.items() if kind is dict else enumerate(value)
    for key, item in items:
        if isinstance(key, str) and text_problem(key):
            errors[ascii(key)] = [BAD_KEY]
            continue
        found = bad_text(item, depth + 1)
        if found:
            errors[key] = found
    return errors or None


def _clean(value) -> bool:
    """Quickly: no NUL and no unpaired surrogate anywhere (orjson refuses the one and escapes
    the other, in C, where walking a 1,000-row batch in Python takes milliseconds)."""
    try:
        return b"\\u0000" not in orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return False  # a surrogate, a type orjson does not write, or deep nesting: walk it


def load(schema: Schema, payload, what: str) -> dict:
    if not isinstance(payload, dict):
        raise ValidationError.from_fields(what, {"_schema": ["expected an object"]})
    if problems := bad_text(payload):
        raise ValidationError.from_fields(what, problems)
    try:
        return fastschema.load(schema, payload)
    except SchemaError as exc:
        raise ValidationError.from_fields(what, exc.messages) from None


def require_id(value, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValidationError.from_fields(field, {field: ["expected an id"]})
    if problem := text_problem(value):
        raise ValidationError.from_fields(field, {field: [problem]})
    return value


def text(value, field: str, what: str = "arguments"):
    """A plain argument that may be None or anything JSON: refused if it holds a bad string."""
    if problems := bad_text(value):
        raise ValidationError.from_fields(what, {field: problems})
    return value


def optional_text(value, field: str, what: str = "arguments", max_length: int = 200) -> str | None:
    """A plain argument that is None or a short string of valid text (a region, an organisation id)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise ValidationError.from_fields(what, {field: [f"expected text of 1 to {max_length} characters"]})
    if problem := text_problem(value):
        raise ValidationError.from_fields(what, {field: [problem]})
    return value


def arguments(what: str = "arguments", **named) -> None:
    """Several plain arguments at once, each named: ``arguments(region=region, note=note)``."""
    errors = {name: found for name, value in named.items() if (found := bad_text(value))}
    if errors:
        raise ValidationError.from_fields(what, errors)


def bad_arguments(signature, args, kwargs) -> None:
    """Every argument of a call, named by the method's parameters (``inspect.signature``
    of the method, ``self`` included): for the RPC entrypoint, before a worker starts."""
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return  # nameko's own signature check answers that
    arguments("arguments", **{name: value for name, value in bound.arguments.items() if name != "self"})
