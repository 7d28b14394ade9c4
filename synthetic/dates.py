"""Dates as int64 days since 1970-01-01, and fast formatting through per-format lookup tables."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

NEVER = 10_000_000  # "no date" sentinel in internal arrays (far future)
MISSING = -10_000_000  # a recorded date left blank
_EPOCH = dt.date(1970, 1, 1)
TABLE_START = (dt.date(1899, 12, 30) - _EPOCH).days
TABLE_END = (dt.date(2031, 1, 1) - _EPOCH).days
EXCEL_OFFSET = 25569  # Excel serial of 1970-01-01 (1900 date system)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def to_days(d: dt.date) -> int:
    return (d - _EPOCH).days


def from_days(n: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(n))


@lru_cache(maxsize=1)
def _ymd_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    days = np.arange(TABLE_START, TABLE_END).astype("datetime64[D]")
    y = days.astype("datetime64[Y]").astype(int) + 1970
    m = days.astype("datetime64[M]").astype(int) % 12 + 1
    d = (days - days.astype("datetime64[M]")).astype(int) + 1
    return y, m, d


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, m, d = _ymd_table()
    i = np.asarray(days) - TABLE_START
    return y[i], m[i], d[i]


def from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Vectorised date construction; the caller keeps the day valid for the month."""
    months = (np.asarray(y) - 1970) * 12 + np.asarray(m) - 1
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + np.asarray(d) - 1


@lru_cache(maxsize=None)
def _format_table(fmt: str) -> np.ndarray:
    """Every date in the table range formatted with a strptime-style format (no locale involved)."""
    y, m, d = _ymd_table()
    ys = np.char.zfill(y.astype(str), 4)
    ms = np.char.zfill(m.astype(str), 2)
    ds = np.char.zfill(d.astype(str), 2)
    mon = np.array(MONTHS)[m - 1]
    parts = {"%Y": ys, "%m": ms, "%d": ds, "%b": mon}
    # substitute tokens left to right
    result = np.full(len(y), "", dtype=object)
    i = 0
    while i < len(fmt):
        tok = fmt[i:i + 2]
        if tok in parts:
            result = result + parts[tok].astype(object)
            i += 2
        else:
            result = result + fmt[i]
            i += 1
    return result


def fmt_dates(days: np.ndarray, fmt: str) -> np.ndarray:
    """Format int days; MISSING/NEVER become ''. Returns an object array of str."""
    days = np.asarray(days, dtype=np.int64)
    table = _format_table(fmt)
    ok = (days >= TABLE_START) & (days < TABLE_END)
    out = np.full(days.shape, "", dtype=object)
    out[ok] = table[days[ok] - TABLE_START]
    return out


def excel_serial(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype=np.int64) + EXCEL_OFFSET


def add_years(days: np.ndarray, years: float | np.ndarray) -> np.ndarray:
    return (np.asarray(days) + np.rint(np.asarray(years) * 365.25)).astype(np.int64)


def age_years(dob: np.ndarray, on: np.ndarray | int) -> np.ndarray:
    """Whole years of age on a date (exact, birthday-aware)."""
    y1, m1, d1 = ymd(dob)
    y2, m2, d2 = ymd(np.broadcast_to(on, np.shape(dob)))
    return y2 - y1 - ((m2 * 100 + d2) < (m1 * 100 + d1))
