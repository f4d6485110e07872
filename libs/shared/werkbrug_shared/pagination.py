"""Cursor pagination for list and search RPCs: one page size limit, one cursor, one page.

Keyset, not offset: each page asks for rows after the last key it saw, so a
page costs the same at row 40,000 as at row 0, and rows added meanwhile are
neither skipped nor repeated. The cursor is opaque to callers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, or_

from werkbrug_shared.errors import ValidationError
from werkbrug_shared.validation import text_problem

MAX_PAGE = 200  # rows in one page of any list
MAX_CURSOR = 500  # characters: a cursor this module gives out is far shorter
NOT_OURS = "not a cursor this service gave out"


def _refused(field: str, message: str) -> ValidationError:
    return ValidationError.from_fields("query", {field: [message]})


def encode_cursor(*key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), default=str).encode()).decode()


def decode_cursor(cursor: str | None, parts: int = 1) -> list | None:
    """The key a cursor carries, or None for the first page; ValidationError for junk."""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR:
        raise _refused("cursor", NOT_OURS)
    try:
        # padding restored: cursors given out without it still read
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        key = None
    if not isinstance(key, list) or len(key) != parts:
        raise _refused("cursor", NOT_OURS)
    return key


def decode_position(cursor: str | None) -> tuple[datetime, str] | None:
    """The (moment, id) a page's cursor carries, or None for the first page."""
    key = decode_cursor(cursor, parts=2)
    if key is None:
        return None
    try:
        at, row_id = datetime.fromisoformat(key[0]), key[1]
        if not isinstance(row_id, str) or text_problem(row_id):
            raise ValueError("not text")
    except (TypeError, ValueError):
        raise _refused("cursor", NOT_OURS) from None
    return at, row_id


def check_limit(limit, maximum: int = MAX_PAGE) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise _refused("limit", f"must be a whole number from 1 to {maximum}")
    return limit


def page(session, stmt, at_column, id_column, limit, cursor, item: Callable, newest_first: bool = False) -> dict:
    """``{"items": [item(row), ...], "next_cursor": str | None}``: rows of ``stmt`` ordered by
    (at_column, id_column), oldest first or ``newest_first``; a cursor is the key of the last
    row of its page, so rows written between two pages shift nothing."""
    limit = check_limit(limit)
    position = decode_position(cursor)
    if position is not None:
        at, row_id = position
        if newest_first:
            stmt = stmt.where(or_(at_column < at, and_(at_column == at, id_column < row_id)))
        else:
            stmt = stmt.where(or_(at_column > at, and_(at_column == at, id_column > row_id)))
    order = (at_column.desc(), id_column.desc()) if newest_first else (at_column, id_column)
    rows = session.scalars(stmt.order_by(*order).limit(limit + 1)).all()
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, at_column.key).isoformat(), getattr(last, id_column.key))
    return {"items": [item(r) for r in rows], "next_cursor": next_cursor}
