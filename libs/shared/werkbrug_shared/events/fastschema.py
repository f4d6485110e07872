"""A fast path through the catalogue's marshmallow schemas.

Every event is validated twice (strictly by its producer, again by each
consumer), and marshmallow's generality made that a fifth of a bulk import's
CPU. Here a schema is compiled once into plain checks for the field types and
validators the catalogue uses. The checks are deliberately narrower than
marshmallow (an Integer must be an ``int``, a Date a ``date`` or
``YYYY-MM-DD``, a List a ``list``): whatever they do not accept outright goes
to marshmallow, which stays the one authority on what is valid and on every
error message. So the fast path can only ever agree with marshmallow or hand
over to it; the unit tests hold it to that on generated data.

Field types it does not know go through the field's own ``deserialize``;
``@validates`` and ``@validates_schema`` methods are called as marshmallow
calls them. A schema using anything else (load hooks, ``data_key``, partial
loading) is not compiled and always goes to marshmallow.
"""

from __future__ import annotations

import math
import re
from datetime import date
from functools import cache

from marshmallow import EXCLUDE, RAISE, Schema, fields, missing, validate
from marshmallow import ValidationError as SchemaError
from marshmallow.decorators import VALIDATES, VALIDATES_SCHEMA

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


class _Unsure(Exception):
    """The fast path does not accept this outright; marshmallow decides."""


def _unsure(*_):
    raise _Unsure


class Unsupported(Exception):
    """The schema uses something the fast path does not know."""


def load(schema: Schema, data, unknown=None):
    """``schema.load(data, unknown=...)``, quicker for data that is valid."""
    fast = compiled(schema)
    if fast is not None:
        try:
            return fast.load(data, unknown or fast.unknown)
        except _Unsure:
            pass
    return schema.load(data, unknown=unknown) if unknown else schema.load(data)


def dump(schema: Schema, loaded: dict) -> dict:
    """``schema.dump(loaded)`` for what :func:`load` returned."""
    fast = compiled(schema)
    if fast is not None:
        try:
            return fast.dump(loaded)
        except _Unsure:
            pass
    return schema.dump(loaded)


@cache
def compiled(schema: Schema) -> FastSchema | None:
    try:
        return FastSchema(schema)
    except Unsupported:
        return None


class FastSchema:
    def __init__(self, schema: Schema):
        if any(hooks for kind, hooks in schema._hooks.items() if kind not in (VALIDATES, VALIDATES_SCHEMA)):
            raise Unsupported("load hooks")
        if schema.partial or getattr(schema, "many", False):
            raise Unsupported("partial or many")
        self.field_validators = [
            (getattr(schema, attr), name)
            for attr, _, kwargs in schema._hooks[VALIDATES] for name in kwargs["field_names"]
            if name in schema.load_fields
        ]
        self.schema_validators = []
        for attr, pass_collection, kwargs in schema._hooks[VALIDATES_SCHEMA]:
            if pass_collection:
                raise Unsupported("collection validators")
            self.schema_validators.append((getattr(schema, attr), kwargs.get("pass_original", False)))
        self.unknown = schema.unknown
        if self.unknown not in (RAISE, EXCLUDE):
            raise Unsupported(f"unknown={self.unknown}")
        self.fields = []
        for name, field in schema.load_fields.items():
            if field.data_key not in (None, name) or field.attribute not in (None, name):
                raise Unsupported(f"{name}: data_key or attribute")
            self.fields.append((name, field.required, field.load_default, field.allow_none,
                                _loader(field), _dumper(field)))
        self.names = frozenset(schema.load_fields)

    def load(self, data, unknown) -> dict:
        if type(data) is not dict:
            raise _Unsure
        if unknown == RAISE and not self.names.issuperset(data):
            raise _Unsure
        out = {}
        for name, required, default, allow_none, check, _ in self.fields:
            value = data.get(name, missing)
            if value is missing:
                if required:
                    raise _Unsure
                if default is not missing:
                    out[name] = default() if callable(default) else default
            elif value is None:
                if not allow_none:
                    raise _Unsure
                out[name] = None
            else:
                out[name] = check(value)
        if self.field_validators or self.schema_validators:
            self._validate(out, data, unknown)
        return out

    def _validate(self, out: dict, data: dict, unknown) -> None:
        """The schema's own checks, called as marshmallow calls them."""
        try:
            for validator, name in self.field_validators:
                if name in out:
                    validator(out[name], data_key=name)
            for validator, pass_original in self.schema_validators:
                if pass_original:
                    validator(out, data, partial=None, many=False, unknown=unknown)
                else:
                    validator(out, partial=None, many=False, unknown=unknown)
        except SchemaError:
            raise _Unsure from None

    def dump(self, loaded: dict) -> dict:
        out = {}
        for name, _, _, _, _, to_json in self.fields:
            if name in loaded:
                value = loaded[name]
                out[name] = None if value is None else to_json(value)
        return out


def _loader(field):
    if getattr(field, "pre_load", None) or getattr(field, "post_load", None):
        raise Unsupported("field hooks")
    if field.load_only or field.dump_only:
        raise Unsupported("load_only or dump_only")
    if type(field) not in KNOWN:
        return _own_deserialize(field)
    checks = [_validator(v) for v in field.validators]
    base = _type_check(field)
    if not checks:
        return base

    def check(value):
        value = base(value)
        for ok in checks:
            if not ok(value):
                raise _Unsure
        return value

    return check


def _type_check(field):
    kind = type(field)
    if kind is fields.String:
        def string(value):
            if type(value) is not str:
                raise _Unsure
            return value
        return string
    if kind is fields.Integer:
        def integer(value):
            if type(value) is not int:
                raise _Unsure
            return value
        return integer
    if kind is fields.Float:
        if field.allow_nan:
            raise Unsupported("allow_nan")

        def number(value):
            if type(value) not in (int, float) or not math.isfinite(value):
                raise _Unsure
            return float(value)
        return number
    if kind is fields.Boolean:
        def boolean(value):
            if value is not True and value is not False:
                raise _Unsure
            return value
        return boolean
    if kind is fields.Date:
        if field.format not in (None, "iso"):
            raise Unsupported("date format")

        def a_date(value):
            if type(value) is date:
                return value
            if type(value) is str and ISO_DATE.match(value):
                try:
                    return date.fromisoformat(value)
                except ValueError:
                    raise _Unsure from None
            raise _Unsure
        return a_date
    if kind is fields.List:
        inner = _item_loader(field.inner)

        def a_list(value):
            if type(value) is not list:
                raise _Unsure
            return [inner(item) for item in value]
        return a_list
    if kind is fields.Nested:
        if field.many or field.only or field.exclude or field.unknown is not None:
            raise Unsupported("nested options")
        nested = FastSchema(field.schema)

        def a_nested(value):
            return nested.load(value, nested.unknown)
        return a_nested
    raise Unsupported(kind.__name__)


KNOWN = (fields.String, fields.Integer, fields.Float, fields.Boolean, fields.Date, fields.List, fields.Nested)


def _own_deserialize(field):
    """Any other field type: its own deserialize (validators included), as marshmallow calls it."""
    deserialize = field.deserialize

    def other(value):
        try:
            return deserialize(value)
        except SchemaError:
            raise _Unsure from None
    return other


def _item_loader(field):
    """A list item: None only where the inner field allows it."""
    check = _loader(field)
    allow_none = field.allow_none

    def item(value):
        if value is None:
            if not allow_none:
                raise _Unsure
            return None
        return check(value)

    return item


def _validator(v):
    kind = type(v)
    if kind is validate.Regexp:
        match = v.regex.match
        return lambda value: match(value) is not None
    if kind is validate.OneOf:
        choices = frozenset(v.choices) if all(_hashable(c) for c in v.choices) else tuple(v.choices)
        return lambda value: value in choices
    if kind is validate.Range:
        low, high, low_in, high_in = v.min, v.max, v.min_inclusive, v.max_inclusive

        def in_range(value):
            if low is not None and (value < low if low_in else value <= low):
                return False
            return not (high is not None and (value > high if high_in else value >= high))
        return in_range
    if kind is validate.Length:
        low, high, equal = v.min, v.max, v.equal

        def in_length(value):
            n = len(value)
            if equal is not None:
                return n == equal
            return not ((low is not None and n < low) or (high is not None and n > high))
        return in_length
    if kind is validate.Equal:
        return lambda value: value == v.comparable
    raise Unsupported(kind.__name__)


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _dumper(field):
    kind = type(field)
    if kind in (fields.String, fields.Integer, fields.Boolean):
        return lambda value: value
    if kind is fields.Float:
        return float
    if kind is fields.Date:
        return date.isoformat
    if kind is fields.List:
        inner = _dumper(field.inner)
        return lambda value: [None if item is None else inner(item) for item in value]
    if kind is fields.Nested:
        nested = FastSchema(field.schema)
        return nested.dump
    return _unsure
