"""The checkpoint writer's own encoders give the text SQLAlchemy's column types give (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from adapters.db import checkpoint as fast
from adapters.db import tables as t

SEOUL = timezone(timedelta(hours=9))


@pytest.mark.parametrize("value", [
    datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=SEOUL),  # another day and year in UTC
    datetime(2026, 1, 1, tzinfo=UTC),  # no microseconds: still six digits
    datetime(1, 1, 1, 9, 0, tzinfo=SEOUL),  # the year padded to four digits
    None,
])
def test_sqlite_utc_datetimes_are_the_text_of_the_column_type(value):
    dialect = sqlite.pysqlite.dialect()
    reference = t.runs.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert fast._sqlite_utc(value) == reference(value)
    assert fast._processors(dialect, "runs", ("created_at",)) == (fast._sqlite_utc,)


def test_a_naive_datetime_is_refused_like_the_column_type_refuses_it():
    with pytest.raises(ValueError, match="naive"):
        fast._sqlite_utc(datetime(2026, 1, 1))


@pytest.mark.parametrize("value", [
    {"holdings": [{"ticker": "069500", "name": "KOSPI200 ETF", "price": 35000}], "cash": 1.5},
    {"이름": "한글 그대로", "nested": {"x": [1, 2.25, None, True]}},  # non-ASCII escaped the same way
    None,  # JSON null (the column's none_as_null is off), not SQL NULL
    [],
    "text",
])
def test_sqlite_json_is_the_text_of_the_column_type(value):
    dialect = sqlite.pysqlite.dialect()
    reference = t.step_outputs.c.payload.type.dialect_impl(dialect).bind_processor(dialect)
    (proc,) = fast._processors(dialect, "step_outputs", ("payload",))
    assert proc(value) == reference(value)
