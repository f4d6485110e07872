"""One page of a keyset-paginated list, on werkbrug_shared.pagination's cursors.

Rows come in (registered_at, id) order; the cursor is the key of the last row
of a page, so rows written between two pages shift nothing and nothing is
seen twice or skipped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_

from werkbrug_shared.errors import ValidationError
from werkbrug_shared.pagination import check_limit, decode_cursor, encode_cursor
from werkbrug_shared.validation import text_problem


def page(session, stmt, at_column, id_column, limit, cursor, item) -> dict:
    """{"items": [item(row), ...], "next_cursor": str | None} ordered by (at_column, id_column)."""
    limit = check_limit(limit)
    key = decode_cursor(cursor, parts=2)
    if key is not None:
        try:
            at, row_id = datetime.fromisoformat(key[0]), str(key[1])
            if text_problem(row_id):
                raise ValueError("not text")
        except (TypeError, ValueError):
            raise ValidationError.from_fields("query", {"cursor": ["not a cursor this service gave out"]}) from None
        stmt = stmt.where(or_(at_column > at, and_(at_column == at, id_column > row_id)))
    rows = session.scalars(stmt.order_by(at_column, id_column).limit(limit + 1)).all()
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, at_column.key).isoformat(), getattr(last, id_column.key))
    return {"items": [item(r) for r in rows], "next_cursor": next_cursor}
