"""Cursor pagination for list and search RPCs.

Keyset, not offset: each page asks for rows after the last key it saw, so a
page costs the same at row 40,000 as at row 0, and rows added meanwhile are
neither skipped nor repeated. The cursor is opaque to callers.
"""

from __future__ import annotations

import base64
import json

from werkbrug_shared.errors import ValidationError


def encode_cursor(*key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), default=str).encode()).decode()


def decode_cursor(cursor: str | None, parts: int = 1) -> list | None:
    """The key a cursor carries, or None for the first page; ValidationError for junk."""
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise ValidationError.from_fields("query", {"cursor": ["not a cursor this service gave out"]})
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, list) or len(key) != parts:
        raise ValidationError.from_fields("query", {"cursor": ["not a cursor this service gave out"]})
    return key


def check_limit(limit, maximum: int = 500) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise ValidationError.from_fields("query", {"limit": [f"must be a whole number from 1 to {maximum}"]})
    return limit
