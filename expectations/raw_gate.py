"""The raw gate: one per feed, generated from the feed registry (orchestration/feeds.yml).

Whole table (raw.<feed>): columns present with the registry's types; required columns not null.
Latest delivery (the newest landed file of the feed in raw._deliveries, and its rows in raw.<feed>):
non-empty; row count against the previous delivery; reject share; dates of birth plausible; event
dates within the delivery window; codes in the registry's code list; identifier formats.
Thresholds are module constants, documented in expectations/README.md.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb

from expectations.framework import ERROR, WARNING, Check, GatePlan, register_gate, scalar_rows, share
from expectations.identifiers import DESCRIPTIONS, HISTORIC_DATE_COLUMNS, identifier_kind, is_dob, valid_sql
from orchestration.lib.feeds import PROVENANCE_COLUMNS, Feed, registry

GATE = "raw_gate"

ROW_SHARE_ERROR = 0.01  # DOBs, event dates, codes: error when more than 1% of the delivery's non-null values fail
IDENTIFIER_WARNING_SHARE = 0.01  # identifier formats: warning when more than 1% are malformed (sources mistype some)
IDENTIFIER_ERROR_SHARE = 0.50  # ... error when most are: the column holds something else (shifted/mapped wrongly)
ROW_COUNT_ERROR_RATIO = 0.60  # latest delivery under 60% of the previous one's rows: error
ROW_COUNT_WARNING_BAND = (0.80, 1.50)  # outside 80%..150% of the previous one: warning
REJECT_WARNING_SHARE = 0.01  # share of the latest file's rows rejected at landing
REJECT_ERROR_SHARE = 0.20
EARLIEST_DOB = dt.date(1900, 1, 1)
EARLIEST_EVENT = dt.date(2000, 1, 1)


def normalise_code(value: str) -> str:
    """As staging's clean_code macro: upper case, runs of other characters -> '_', trimmed of '_'."""
    return re.sub(r"[^A-Z0-9]+", "_", value.upper()).strip("_")


def _code_sql(expr: str) -> str:
    return f"nullif(regexp_replace(regexp_replace(upper({expr}), '[^A-Z0-9]+', '_', 'g'), '^_+|_+$', '', 'g'), '')"


def _sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def latest_deliveries(con: duckdb.DuckDBPyConnection, feed_name: str, n: int = 2) -> list[tuple]:
    """Newest first: (delivery_id, rows_landed, rows_rejected, landed date) of landed files of the feed."""
    return scalar_rows(con, """
        select delivery_id, rows_landed, rows_rejected, cast(landed_at as date)
        from raw._deliveries where feed = ? and status = 'landed'
        order by landed_at desc, rowid desc limit ?""", [feed_name, n])


def _table_exists(con, schema: str, table: str) -> bool:
    return bool(scalar_rows(con, "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                            [schema, table])[0][0])


@register_gate(GATE)
def plan_raw_gate(con: duckdb.DuckDBPyConnection, target: str, *, feed: Feed | None = None) -> GatePlan:
    feed = feed or registry()[target]
    checks: list[Check] = []
    metrics: dict[str, object] = {}
    observed: dict[str, str] = {}

    # --- whole table: schema -------------------------------------------------------------------
    found = dict(scalar_rows(con, """select column_name, data_type from information_schema.columns
                                     where table_schema = 'raw' and table_name = ?""", [feed.name]))
    expected = {c.raw_name: c.sql_type for c in feed.columns} | dict(PROVENANCE_COLUMNS)
    for column, sql_type in expected.items():
        metric = f"{column}__type"
        metrics[metric] = found.get(column, "MISSING")
        checks.append(Check("column_present_with_type", column, ERROR, metric, f"type = {sql_type}",
                            value_set=(sql_type,)))
    usable = {c.raw_name: c for c in feed.columns if found.get(c.raw_name) == c.sql_type}
    has_provenance = all(found.get(p) == t for p, t in PROVENANCE_COLUMNS.items())

    # --- whole table: required columns not null ---------------------------------------------------
    table_rows = 0
    if found:
        required = [c for c in feed.required_columns if c.raw_name in usable]
        selects = ["count(*)"] + [f'count(*) - count("{c.raw_name}")' for c in required]
        row = scalar_rows(con, f"select {', '.join(selects)} from {feed.raw_table}")[0]
        table_rows = row[0]
        for c, nulls in zip(required, row[1:]):
            metric = f"{c.raw_name}__null_count"
            metrics[metric] = nulls
            observed[metric] = f"{nulls} of {table_rows} rows null"
            checks.append(Check("required_not_null", c.raw_name, ERROR, metric, "null count = 0", max_value=0))

    # --- latest delivery ---------------------------------------------------------------------------
    deliveries = latest_deliveries(con, feed.name) if _table_exists(con, "raw", "_deliveries") else []
    latest = deliveries[0] if deliveries else None
    previous = deliveries[1] if len(deliveries) > 1 else None
    latest_rows = latest[1] if latest else 0
    metrics["latest_delivery__rows_landed"] = latest_rows
    observed["latest_delivery__rows_landed"] = (f"{latest_rows} rows landed" if latest else "no delivery landed")
    checks.append(Check("latest_delivery_not_empty", None, ERROR, "latest_delivery__rows_landed",
                        "rows landed >= 1", min_value=1, scope="latest_delivery"))
    if latest:
        delivered = latest[1] + latest[2]
        reject_share = share(latest[2], delivered)
        metrics["latest_delivery__reject_share"] = reject_share
        observed["latest_delivery__reject_share"] = f"{reject_share:.4f} ({latest[2]} of {delivered} rows rejected)"
        checks += [
            Check("latest_delivery_rejects", None, ERROR, "latest_delivery__reject_share",
                  f"share <= {REJECT_ERROR_SHARE}", max_value=REJECT_ERROR_SHARE, scope="latest_delivery"),
            Check("latest_delivery_rejects", None, WARNING, "latest_delivery__reject_share",
                  f"share <= {REJECT_WARNING_SHARE}", max_value=REJECT_WARNING_SHARE, scope="latest_delivery"),
        ]
    if latest and previous and previous[1] + previous[2] > 0:
        now, before = latest[1] + latest[2], previous[1] + previous[2]
        ratio = round(now / before, 4)
        metrics["latest_delivery__row_ratio"] = ratio
        observed["latest_delivery__row_ratio"] = f"{ratio:.4g} ({now} rows vs {before} in the previous delivery)"
        low, high = ROW_COUNT_WARNING_BAND
        checks += [
            Check("row_count_vs_previous", None, ERROR, "latest_delivery__row_ratio",
                  f"ratio >= {ROW_COUNT_ERROR_RATIO}", min_value=ROW_COUNT_ERROR_RATIO, scope="latest_delivery"),
            Check("row_count_vs_previous", None, WARNING, "latest_delivery__row_ratio",
                  f"{low} <= ratio <= {high}", min_value=low, max_value=high, scope="latest_delivery"),
        ]

    # --- latest delivery: row contents, one aggregate scan --------------------------------------------
    landed_on = latest[3] if latest else dt.date.today()
    content: list[tuple[str, str, str, list[Check]]] = []  # (metric, bad-count sql, denominator sql, checks)
    for name, column in usable.items():
        q = f'"{name}"'
        if column.type in {"date", "timestamp"}:
            day = f"cast({q} as date)"
            if is_dob(name):
                earliest, expectation = EARLIEST_DOB, "dob_plausible"
                what = f"not after the delivery's landed date, not before {EARLIEST_DOB}"
            elif f"{feed.name}.{name}" in HISTORIC_DATE_COLUMNS:
                earliest, expectation = EARLIEST_DOB, "event_date_in_window"
                what = f"not after the delivery's landed date, not before {EARLIEST_DOB}"
            else:
                earliest, expectation = EARLIEST_EVENT, "event_date_in_window"
                what = f"not after the delivery's landed date, not before {EARLIEST_EVENT}"
            metric = f"{name}__outside_share"
            bad = f"count(*) filter (where {day} > DATE '{landed_on}' or {day} < DATE '{earliest}')"
            content.append((metric, bad, f"count({q})", [
                Check(expectation, name, ERROR, metric, f"share <= {ROW_SHARE_ERROR} ({what})",
                      max_value=ROW_SHARE_ERROR, scope="latest_delivery"),
                Check(expectation, name, WARNING, metric, f"share = 0 ({what})", max_value=0,
                      scope="latest_delivery")]))
        if column.codes:
            metric = f"{name}__unknown_code_share"
            codes = sorted({normalise_code(c) for c in column.codes})
            norm = _code_sql(q)
            bad = f"count(*) filter (where {norm} is not null and {norm} not in ({_sql_list(codes)}))"
            content.append((metric, bad, f"count({norm})", [
                Check("code_in_list", name, ERROR, metric, f"share <= {ROW_SHARE_ERROR} outside the registry's codes",
                      max_value=ROW_SHARE_ERROR, scope="latest_delivery"),
                Check("code_in_list", name, WARNING, metric, "share = 0 outside the registry's codes", max_value=0,
                      scope="latest_delivery")]))
        kind = identifier_kind(name) if column.type == "string" else None
        if kind:
            metric = f"{name}__invalid_share"
            bad = f"count(*) filter (where {q} is not null and not {valid_sql(kind, q)})"
            content.append((metric, bad, f"count({q})", [
                Check(f"{kind}_valid", name, ERROR, metric, f"share <= {IDENTIFIER_ERROR_SHARE} malformed "
                      f"({DESCRIPTIONS[kind]})", max_value=IDENTIFIER_ERROR_SHARE, scope="latest_delivery"),
                Check(f"{kind}_valid", name, WARNING, metric, f"share <= {IDENTIFIER_WARNING_SHARE} malformed "
                      f"({DESCRIPTIONS[kind]})", max_value=IDENTIFIER_WARNING_SHARE, scope="latest_delivery")]))

    validated_rows = 0
    if content and latest and has_provenance:
        selects = ["count(*)"] + [f"{bad}, {den}" for _, bad, den, _ in content]
        row = scalar_rows(con, f"select {', '.join(selects)} from {feed.raw_table} where _delivery_id = ?",
                          [latest[0]])[0]
        validated_rows = row[0]
        values = row[1:]
    else:
        values = [0, 0] * len(content)
    for i, (metric, _, _, metric_checks) in enumerate(content):
        bad, denominator = values[2 * i], values[2 * i + 1]
        metrics[metric] = share(bad, denominator)
        observed[metric] = f"{metrics[metric]:.4f} ({bad} of {denominator} values)"
        checks += metric_checks

    return GatePlan(
        gate=GATE, target=feed.name, asset_key=f"raw/{feed.name}", checks=checks, metrics=metrics,
        observed=observed, delivery_id=latest[0] if latest else None,
        counts={"table_rows": table_rows, "latest_delivery_rows": validated_rows,
                "previous_delivery_rows": (previous[1] + previous[2]) if previous else 0,
                "deliveries_landed": scalar_rows(con, "select count(*) from raw._deliveries where feed = ? and "
                                                     "status = 'landed'", [feed.name])[0][0] if deliveries else 0},
    )
