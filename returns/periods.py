"""Reporting periods: calendar quarters, named 2026-Q3, keyed in Dagster by their first day (2026-07-01)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_LABEL = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive: the quarter end, which is also the criteria marts' as_at_date

    @property
    def label(self) -> str:
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"

    @property
    def partition_key(self) -> str:
        return self.start.isoformat()


def quarter_of(day: dt.date) -> Period:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = dt.date(day.year, first_month, 1)
    following = dt.date(day.year + (first_month == 10), 1 if first_month == 10 else first_month + 3, 1)
    return Period(start=start, end=following - dt.timedelta(days=1))


def period_from_key(key: str) -> Period:
    """A Dagster partition key (the quarter's first day) or a label (2026-Q3)."""
    match = _LABEL.match(key)
    if match:
        return quarter_of(dt.date(int(match[1]), 3 * int(match[2]) - 2, 1))
    day = dt.date.fromisoformat(key)
    period = quarter_of(day)
    if period.start != day:
        raise ValueError(f"{key!r} is not the first day of a quarter")
    return period


def latest_complete_quarter(as_at: dt.date) -> Period:
    """The last quarter that ended on or before `as_at` (the demo's period: its feeds are extracted 2026-09-30)."""
    current = quarter_of(as_at)
    return current if current.end == as_at else quarter_of(current.start - dt.timedelta(days=1))
