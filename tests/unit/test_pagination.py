"""The one keyset page every list uses: its cursor, its limit, both orders."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import DateTime, String, create_engine, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from werkbrug_shared import pagination
from werkbrug_shared.errors import ValidationError


def _cursor(key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def test_cursor_round_trip():
    at = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    assert pagination.decode_position(pagination.encode_cursor(at.isoformat(), "vac-1")) == (at, "vac-1")
    assert pagination.decode_position(None) is None


def test_a_cursor_given_out_without_padding_still_reads():
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    unpadded = base64.urlsafe_b64encode(json.dumps([at.isoformat(), "v"], separators=(",", ":")).encode())
    assert pagination.decode_position(unpadded.decode().rstrip("=")) == (at, "v")


@pytest.mark.parametrize("cursor", ["", "nonsense", "W10", "WyJ4IiwgMV0", "!!!", "bm9wZQ", _cursor(["x", "y"]),
                                    "W" * 501, 7, ["x"]])
def test_a_foreign_cursor_is_refused(cursor):
    with pytest.raises(ValidationError) as caught:
        pagination.decode_position(cursor)
    assert set(caught.value.errors) == {"cursor"}


@pytest.mark.parametrize("bad_id", ["x\x00", "x\udfff"])
def test_a_cursor_carrying_an_id_that_is_no_valid_text_is_refused(bad_id):
    with pytest.raises(ValidationError) as caught:
        pagination.decode_position(_cursor(["2026-01-01T00:00:00+00:00", bad_id]))
    assert "cursor" in caught.value.errors


@pytest.mark.parametrize("limit", [0, -1, pagination.MAX_PAGE + 1, 500, True, 1.0, "10", None])
def test_a_limit_outside_one_to_the_page_size_is_refused(limit):
    with pytest.raises(ValidationError) as caught:
        pagination.check_limit(limit)
    assert set(caught.value.errors) == {"limit"}


def test_the_page_size_limit():
    assert pagination.check_limit(1) == 1 and pagination.check_limit(pagination.MAX_PAGE) == pagination.MAX_PAGE
    assert pagination.check_limit(50, maximum=50) == 50  # a ranking's own, smaller limit


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "row"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@pytest.fixture
def rows():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with Session(engine) as session:
        # three rows to a moment: the id orders within it
        session.execute(insert(Row), [{"id": f"r-{i:02d}", "at": at + timedelta(seconds=i // 3)}
                                        for i in reversed(range(10))])
        yield session
    engine.dispose()


@pytest.mark.parametrize("newest_first", [False, True])
def test_pages_walk_every_row_once_in_order(rows, newest_first):
    seen, cursor = [], None
    while True:
        got = pagination.page(rows, select(Row), Row.at, Row.id, 4, cursor, lambda r: r.id, newest_first=newest_first)
        seen += got["items"]
        cursor = got["next_cursor"]
        if cursor is None:
            break
    expected = [f"r-{i:02d}" for i in range(10)]
    assert seen == (expected[::-1] if newest_first else expected)
