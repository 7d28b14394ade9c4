"""The raw gate: one per feed, generated from the feed registry (orchestration/feeds.yml).

Whole table (raw.<feed>): columns present with the registry's types; a warning for nulls in required columns
among the rows staging reads (rows landed before the column became required, or in a released delivery).
Each delivery (a landed file of the feed in raw._deliveries, and its rows in raw.<feed>), judged on its own
rows: every delivery landed since the gate last judged one, and the newest at every run. Non-empty; required
columns not null; row count against the previous delivery that is not quarantined; reject share; for a full
extract, the share of the records staged until now that it lacks (they would leave staging); dates of birth
plausible; event dates within the delivery window; codes in the registry's code list; identifier formats.

Deliveries are ordered as staging orders a record's versions (macro latest_version_first): by extract date (the
date in the file name, raw._deliveries.extract_date, else the landing day), then landing time. The newest is the
last of that order, not the last landed: a resend of an older extract landing after a newer one is judged once,
when it lands, under its own id, but the newer extract stays the newest (plain metric names, the plan's
delivery_id, the held-in-quarantine warning). A delivery's previous delivery, for its row count, is the latest
before it in that order among those landed before it (not quarantined, nor failing in the same run): a late
older extract compares with the extract before its own, not with the newer one, and a delivery landing later
never becomes an earlier one's previous, so the newest, judged again at every run, keeps its verdict.

Quarantine lifecycle (raw._quarantined_deliveries, written by orchestration/defs/quality/checks.py): a delivery
whose own error-severity check fails blocks the run that first judges it and is quarantined. From then on its
verdict stands and it is not judged again, whatever the thresholds or registry say later (no flip-flop; one
record per delivery): while held, staging leaves its rows out and, if it is the feed's newest delivery, the
gate warns (`delivery_held_in_quarantine`, naming it and its rows) instead of blocking; once released
(released_at set: the engineer's decision) it is neither judged nor quarantined again and staging includes it.
The newest delivery, judged again at every run, that passed before and fails now is not quarantined, as the marts
hold its rows: the gate blocks every run until the cause is put right or the engineer releases it as it is
(orchestration/defs/quality/checks.py).
Thresholds are module constants, documented in expectations/README.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

import duckdb

from expectations.framework import (
    ERROR,
    WARNING,
    Check,
    GatePlan,
    columns_of,
    register_gate,
    scalar_rows,
    share,
    table_exists,
)
from expectations.identifiers import DESCRIPTIONS, identifier_kind, is_dob, is_historic, valid_sql
from orchestration.lib.deliveries import withdrawn_records
from orchestration.lib.feeds import PROVENANCE_COLUMNS, Feed, registry

GATE = "raw_gate"

ROW_SHARE_ERROR = 0.01  # DOBs, event dates, codes: error when more than 1% of the delivery's non-null values fail
IDENTIFIER_WARNING_SHARE = 0.01  # identifier formats: warning when more than 1% are malformed (sources mistype some)
IDENTIFIER_ERROR_SHARE = 0.50  # ... error when most are: the column holds something else (shifted/mapped wrongly)
ROW_COUNT_ERROR_RATIO = 0.60  # a full extract under 60% of the previous delivery's rows: error
ROW_COUNT_WARNING_BAND = (0.80, 1.50)  # outside 80%..150% of the previous one: warning
REJECT_WARNING_SHARE = 0.01  # share of the latest file's rows rejected at landing
# A full extract (extract: full) withdraws from staging the records it no longer carries: a file without a fifth
# of them is more likely cut short or wrongly keyed than a fifth withdrawn at source (an engineer may release it)
WITHDRAWN_ERROR_SHARE = 0.20
WITHDRAWN_WARNING_SHARE = 0.05
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


QUARANTINE_TABLE = "raw._quarantined_deliveries"  # written by the Dagster check (orchestration/defs/quality)
QUARANTINE_DDL = f"""
create table if not exists {QUARANTINE_TABLE} (
    delivery_id varchar not null, feed varchar, file_name varchar, gate varchar, failed_expectations varchar,
    rows_landed bigint, run_id varchar, quarantined_at timestamp, released_at timestamp
)"""
DELIVERY_SCOPE = "latest_delivery"  # a check of one delivery's rows (validation_results.delivery_id says which)


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    rows_landed: int
    rows_rejected: int
    landed_on: dt.date
    landed_at: dt.datetime
    extracted_on: dt.date  # the extract date in its file name, else the day it landed (staging's order)

    @property
    def delivered(self) -> int:
        return self.rows_landed + self.rows_rejected


def landed_deliveries(con: duckdb.DuckDBPyConnection, feed_name: str) -> list[Delivery]:
    """Landed files of the feed, oldest first in staging's order of versions (macro latest_version_first): extract
    date (raw._deliveries.extract_date, else the landing day), then landing time (strictly increasing per feed).
    A resend of an older extract landing late therefore sorts before the newer extract, as staging sorts it."""
    if not table_exists(con, "raw", "_deliveries"):
        return []
    landed_day = "cast(landed_at as date)"
    extracted_on = (f"coalesce(extract_date, {landed_day})" if "extract_date" in columns_of(con, "raw", "_deliveries")
                    else landed_day)  # a warehouse landed before extract dates were recorded: the landing day
    return [Delivery(*row) for row in scalar_rows(con, f"""
        select delivery_id, rows_landed, rows_rejected, {landed_day}, landed_at, {extracted_on}
        from raw._deliveries where feed = ? and status = 'landed'
        order by {extracted_on}, landed_at, rowid""", [feed_name])]


def judged_deliveries(con: duckdb.DuckDBPyConnection, asset_key: str) -> set[str]:
    """Deliveries this gate has recorded latest-delivery results for."""
    if not table_exists(con, "quality", "validation_results"):
        return set()
    return {r[0] for r in scalar_rows(con, """
        select distinct delivery_id from quality.validation_results
        where gate = ? and asset_key = ? and scope = ? and delivery_id is not null""",
                                      [GATE, asset_key, DELIVERY_SCOPE])}


def quarantine_decisions(con: duckdb.DuckDBPyConnection, feed_name: str) -> dict[str, bool]:
    """delivery id -> held (True) or released (False), for each delivery of the feed ever quarantined."""
    if not table_exists(con, *QUARANTINE_TABLE.split(".")):
        return {}
    return dict(scalar_rows(con, f"""select delivery_id, bool_and(released_at is null) from {QUARANTINE_TABLE}
                                     where feed = ? group by delivery_id""", [feed_name]))


def held_in_quarantine(con: duckdb.DuckDBPyConnection, feed_name: str) -> list[Delivery]:
    """The feed's landed deliveries held in quarantine now (not released), oldest first."""
    held = {d for d, is_held in quarantine_decisions(con, feed_name).items() if is_held}
    return [d for d in landed_deliveries(con, feed_name) if d.delivery_id in held]


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

    # quarantine decisions already taken: a held delivery's rows are out of staging, a released one's are in
    decided = quarantine_decisions(con, feed.name)
    held = {d for d, is_held in decided.items() if is_held}

    # --- whole table: required columns not null ---------------------------------------------------
    # A warning, on the rows staging reads: landing rejects a row without a required value, so nulls here were
    # landed before the column became required, or are in a delivery an engineer released. A delivery's own nulls
    # are an error of that delivery (required_not_null, below: judged once, quarantined); blocking every run for
    # rows already judged would hold the feed until someone deleted history.
    table_rows = 0
    if found:
        required = [c for c in feed.required_columns if c.raw_name in usable]
        staged_rows = ("_delivery_id is null or _delivery_id not in (select unnest(?::varchar[]))"
                       if held and has_provenance else "true")
        selects = ["count(*)", f"count(*) filter (where not ({staged_rows}))"] + [
            f'count(*) filter (where "{c.raw_name}" is null and ({staged_rows}))' for c in required]
        params = [sorted(held)] * (len(required) + 1) if staged_rows != "true" else []
        row = scalar_rows(con, f"select {', '.join(selects)} from {feed.raw_table}", params)[0]
        table_rows, rows_held = row[0], row[1]
        held_note = f" ({rows_held} rows held in quarantine not counted)" if rows_held else ""
        for c, nulls in zip(required, row[2:]):
            metric = f"{c.raw_name}__null_count"
            metrics[metric] = nulls
            observed[metric] = f"{nulls} of {table_rows - rows_held} rows null{held_note}"
            checks.append(_required_in_staged_rows(c.raw_name, metric))

    # --- deliveries: each judged on its own rows ---------------------------------------------------------
    # In staging's order (landed_deliveries: extract date, then landing time), so the feed's newest delivery is
    # the one whose versions staging keeps, not the last landed: a late resend of an older extract sorts before
    # the newer one. A run judges every delivery landed since the gate last judged one (in landing order: each is
    # judged once, when first seen, even a late older extract) and the newest again at every run, unless it was
    # quarantined: a held or released delivery keeps the verdict it had (see the module docstring). They are
    # judged in staging's order, so a delivery's previous one has its verdict of this run first. The newest's
    # metrics keep their plain names, another delivery's are prefixed with its id.
    asset_key = f"raw/{feed.name}"
    deliveries = landed_deliveries(con, feed.name)
    newest_id = deliveries[-1].delivery_id if deliveries else None
    by_landing = sorted(deliveries, key=lambda d: d.landed_at)
    judged = judged_deliveries(con, asset_key)
    last_judged = max((i for i, d in enumerate(by_landing) if d.delivery_id in judged), default=-1)
    first_seen = {d.delivery_id for d in by_landing[last_judged + 1:]}
    in_run = [(i, d) for i, d in enumerate(deliveries) if d.delivery_id in first_seen or d.delivery_id == newest_id]
    to_judge = [d for _, d in in_run if d.delivery_id not in decided]
    failing: set[str] = set()  # judged in this run and failing an error check of its own: it will be quarantined

    def previous(position: int) -> Delivery | None:
        """The delivery a row count compares with: the latest before this one in staging's order among those
        landed before it, not quarantined nor failing in this run. A late older extract compares with the extract
        before its own, never with a newer one; a delivery landing later never becomes an earlier one's previous,
        so re-judging the newest gives the verdict it had."""
        delivery = deliveries[position]
        return next((d for d in reversed(deliveries[:position]) if d.landed_at < delivery.landed_at
                     and d.delivery_id not in held and d.delivery_id not in failing), None)

    content = _content_measures(feed, usable)
    scanned = _scan_deliveries(con, feed, to_judge, content) if content and to_judge and has_provenance else {}

    if not deliveries:
        metrics["latest_delivery__rows_landed"] = 0
        observed["latest_delivery__rows_landed"] = "no delivery landed"
        checks.append(_NOT_EMPTY)
    latest_rows = previous_rows = 0
    for position, delivery in in_run:
        newest = delivery.delivery_id == newest_id
        baseline = previous(position)
        if newest:
            latest_rows, previous_rows = delivery.rows_landed, baseline.delivered if baseline else 0
        if delivery.delivery_id in decided:  # judged before and quarantined: not judged again
            continue
        overtaken = next((d for d in deliveries[position + 1:] if d.landed_at < delivery.landed_at), None)
        prefix = "" if newest else f"{delivery.delivery_id}__"
        scanned_rows, *values = scanned.get(delivery.delivery_id) or [0] + [0, 0] * len(content)
        # what a full extract takes out of staging (a late older one, overtaken, takes nothing)
        withdrawal = (withdrawn_records(con, feed, delivery.delivery_id)
                      if overtaken is None and _is_full_extract(con, delivery) and not delivery.rows_rejected
                      else None)
        own_metrics, own_observed, templates = _delivery_measures(delivery, baseline, content, values, overtaken,
                                                                  withdrawal, feed.is_full_extract)
        own = [replace(c, metric=prefix + c.metric, delivery_id=delivery.delivery_id) for c in templates]
        metrics |= {prefix + m: v for m, v in own_metrics.items()}
        observed |= {prefix + m: text for m, text in own_observed.items()}
        checks += own
        if newest:
            latest_rows = scanned_rows
        if not all(c.accepts(metrics[c.metric]) for c in own if c.severity == ERROR):
            failing.add(delivery.delivery_id)  # it will be quarantined: no later delivery compares with it

    # --- the feed's newest deliveries held in quarantine: staging has the feed only as of an earlier one ----------
    # newest in staging's order: a held late older extract leaves staging's newest versions as they are
    newest_staged = max((i for i, d in enumerate(deliveries) if d.delivery_id not in held), default=-1)
    pending = deliveries[newest_staged + 1:]
    if deliveries:
        metrics[HELD_METRIC] = sum(d.rows_landed for d in pending)
        observed[HELD_METRIC] = (
            f"{metrics[HELD_METRIC]} rows held in {len(pending)} deliver{'y' if len(pending) == 1 else 'ies'} "
            f"{[d.delivery_id for d in pending]}, the feed's newest: staging leaves them out until released"
            if pending else "0 rows: the feed's newest delivery is not held in quarantine")
        checks.append(_HELD_NEWEST)

    return GatePlan(
        gate=GATE, target=feed.name, asset_key=asset_key, checks=checks, metrics=metrics, observed=observed,
        delivery_id=deliveries[-1].delivery_id if deliveries else None,
        counts={"table_rows": table_rows, "latest_delivery_rows": latest_rows, "previous_delivery_rows": previous_rows,
                "deliveries_landed": len(deliveries), "deliveries_judged": len(to_judge)},
    )


def _required_in_staged_rows(column: str, metric: str) -> Check:
    return Check("required_not_null_in_staged_rows", column, WARNING, metric, "null count = 0", max_value=0)


HELD_METRIC = "held_newest_deliveries__rows"
# a warning, not an error: the run that quarantined the delivery blocked already; later runs go on without its rows
_HELD_NEWEST = Check("delivery_held_in_quarantine", None, WARNING, HELD_METRIC,
                     "rows held = 0 (the feed's newest delivery is not held in quarantine)", max_value=0)
_NOT_EMPTY = Check("latest_delivery_not_empty", None, ERROR, "latest_delivery__rows_landed", "rows landed >= 1",
                   min_value=1, scope=DELIVERY_SCOPE)


def _is_full_extract(con: duckdb.DuckDBPyConnection, delivery: Delivery) -> bool:
    if "full_extract" not in columns_of(con, "raw", "_deliveries"):
        return False
    return bool(scalar_rows(con, "select bool_or(coalesce(full_extract, false)) from raw._deliveries "
                                 "where delivery_id = ? and status = 'landed'", [delivery.delivery_id])[0][0])


def _delivery_measures(delivery: Delivery, baseline: Delivery | None, content: list, values: list,
                       overtaken: Delivery | None = None, withdrawal: tuple[int, int] | None = None,
                       full_extract: bool = True) -> tuple[dict[str, object], dict[str, str], list[Check]]:
    """One delivery's metrics, their display text and its checks (plain metric names). `overtaken`: a newer
    extract landed before this one (it is a late older extract), named in the display text. `withdrawal`: for a
    full extract, (records staged before it, of them not in it: they leave staging once it passes). A short
    delivery is an error only for a full extract (a register that shrinks was cut short); a changes feed's files
    vary with activity, and its first is usually the whole history, so for it the row count only warns."""
    metrics: dict[str, object] = {"latest_delivery__rows_landed": delivery.rows_landed}
    late = (f" (an older extract, dated {delivery.extracted_on}, than {overtaken.delivery_id} dated "
            f"{overtaken.extracted_on}, landed before it: staging keeps its versions only of records no later "
            "extract carries)") if overtaken else ""
    observed = {"latest_delivery__rows_landed": f"{delivery.rows_landed} rows landed{late}"}
    checks = [_NOT_EMPTY]
    reject_share = share(delivery.rows_rejected, delivery.delivered)
    metrics["latest_delivery__reject_share"] = reject_share
    observed["latest_delivery__reject_share"] = (f"{reject_share:.4f} ({delivery.rows_rejected} of "
                                                 f"{delivery.delivered} rows rejected)")
    checks += [
        Check("latest_delivery_rejects", None, ERROR, "latest_delivery__reject_share",
              f"share <= {REJECT_ERROR_SHARE}", max_value=REJECT_ERROR_SHARE, scope=DELIVERY_SCOPE),
        Check("latest_delivery_rejects", None, WARNING, "latest_delivery__reject_share",
              f"share <= {REJECT_WARNING_SHARE}", max_value=REJECT_WARNING_SHARE, scope=DELIVERY_SCOPE),
    ]
    if baseline and baseline.delivered > 0:
        ratio = round(delivery.delivered / baseline.delivered, 4)
        metrics["latest_delivery__row_ratio"] = ratio
        observed["latest_delivery__row_ratio"] = (f"{ratio:.4g} ({delivery.delivered} rows vs {baseline.delivered} "
                                                  f"in the previous delivery not quarantined, {baseline.delivery_id} "
                                                  f"dated {baseline.extracted_on})")
        low, high = ROW_COUNT_WARNING_BAND
        if full_extract:
            checks.append(Check("row_count_vs_previous", None, ERROR, "latest_delivery__row_ratio",
                                f"ratio >= {ROW_COUNT_ERROR_RATIO}", min_value=ROW_COUNT_ERROR_RATIO,
                                scope=DELIVERY_SCOPE))
        checks.append(Check("row_count_vs_previous", None, WARNING, "latest_delivery__row_ratio",
                            f"{low} <= ratio <= {high}", min_value=low, max_value=high, scope=DELIVERY_SCOPE))
    if withdrawal is not None and withdrawal[0] > 0:
        staged, withdrawn = withdrawal
        metrics["latest_delivery__withdrawn_share"] = share(withdrawn, staged)
        observed["latest_delivery__withdrawn_share"] = (
            f"{metrics['latest_delivery__withdrawn_share']:.4f} ({withdrawn} of {staged} records staged until now are "
            "not in this full extract: they leave staging)")
        checks += [
            Check("full_extract_withdrawn_share", None, ERROR, "latest_delivery__withdrawn_share",
                  f"share <= {WITHDRAWN_ERROR_SHARE}", max_value=WITHDRAWN_ERROR_SHARE, scope=DELIVERY_SCOPE),
            Check("full_extract_withdrawn_share", None, WARNING, "latest_delivery__withdrawn_share",
                  f"share <= {WITHDRAWN_WARNING_SHARE}", max_value=WITHDRAWN_WARNING_SHARE, scope=DELIVERY_SCOPE),
        ]
    for i, (metric, _, _, metric_checks) in enumerate(content):
        bad, denominator = values[2 * i], values[2 * i + 1]
        metrics[metric] = share(bad, denominator)
        observed[metric] = f"{metrics[metric]:.4f} ({bad} of {denominator} values)"
        checks += metric_checks
    return metrics, observed, checks


def _content_measures(feed: Feed, usable: dict) -> list[tuple[str, str, str, list[Check]]]:
    """(metric, bad-count sql, denominator sql, checks) per row-content measure of a delivery. The SQL reads
    the raw row as `r` and the delivery as `d` (its landed date: d.landed_on)."""
    content: list[tuple[str, str, str, list[Check]]] = []
    for name, column in usable.items():
        q = f'r."{name}"'
        if column.required:  # landing rejects such rows, unless the column became required after they landed
            metric = f"{name}__null_share"
            # rows of the delivery only (an empty delivery's left join gives one all-null row)
            content.append((metric, f"count(*) filter (where r._delivery_id is not null and {q} is null)",
                            "count(r._delivery_id)", [
                Check("required_not_null", name, ERROR, metric, "share = 0 (a required value missing)", max_value=0,
                      scope=DELIVERY_SCOPE)]))
        if column.type in {"date", "timestamp"}:
            day = f"cast({q} as date)"
            if is_dob(name):
                earliest, expectation = EARLIEST_DOB, "dob_plausible"
            elif is_historic(column):
                earliest, expectation = EARLIEST_DOB, "event_date_in_window"
            else:
                earliest, expectation = EARLIEST_EVENT, "event_date_in_window"
            what = f"not after the delivery's landed date, not before {earliest}"
            metric = f"{name}__outside_share"
            bad = f"count(*) filter (where {day} > d.landed_on or {day} < DATE '{earliest}')"
            content.append((metric, bad, f"count({q})", [
                Check(expectation, name, ERROR, metric, f"share <= {ROW_SHARE_ERROR} ({what})",
                      max_value=ROW_SHARE_ERROR, scope=DELIVERY_SCOPE),
                Check(expectation, name, WARNING, metric, f"share = 0 ({what})", max_value=0,
                      scope=DELIVERY_SCOPE)]))
        if column.codes:
            metric = f"{name}__unknown_code_share"
            codes = sorted({normalise_code(c) for c in column.codes})
            norm = _code_sql(q)
            bad = f"count(*) filter (where {norm} is not null and {norm} not in ({_sql_list(codes)}))"
            content.append((metric, bad, f"count({norm})", [
                Check("code_in_list", name, ERROR, metric, f"share <= {ROW_SHARE_ERROR} outside the registry's codes",
                      max_value=ROW_SHARE_ERROR, scope=DELIVERY_SCOPE),
                Check("code_in_list", name, WARNING, metric, "share = 0 outside the registry's codes", max_value=0,
                      scope=DELIVERY_SCOPE)]))
        kind = identifier_kind(column) if column.type == "string" else None
        if kind:
            metric = f"{name}__invalid_share"
            bad = f"count(*) filter (where {q} is not null and not {valid_sql(kind, q)})"
            content.append((metric, bad, f"count({q})", [
                Check(f"{kind}_valid", name, ERROR, metric, f"share <= {IDENTIFIER_ERROR_SHARE} malformed "
                      f"({DESCRIPTIONS[kind]})", max_value=IDENTIFIER_ERROR_SHARE, scope=DELIVERY_SCOPE),
                Check(f"{kind}_valid", name, WARNING, metric, f"share <= {IDENTIFIER_WARNING_SHARE} malformed "
                      f"({DESCRIPTIONS[kind]})", max_value=IDENTIFIER_WARNING_SHARE, scope=DELIVERY_SCOPE)]))
    return content


def _scan_deliveries(con: duckdb.DuckDBPyConnection, feed: Feed, deliveries: list[Delivery],
                     content: list) -> dict[str, tuple]:
    """delivery id -> (rows, bad, denominator, bad, denominator, ...): one aggregate scan for every delivery."""
    selects = ["count(r._delivery_id)"] + [f"{bad}, {den}" for _, bad, den, _ in content]
    rows = scalar_rows(con, f"""
        select d.delivery_id, {', '.join(selects)}
        from (select unnest(?::varchar[]) as delivery_id, unnest(?::date[]) as landed_on) as d
        left join {feed.raw_table} as r on r._delivery_id = d.delivery_id
        group by d.delivery_id""", [[x.delivery_id for x in deliveries], [x.landed_on for x in deliveries]])
    return {row[0]: row[1:] for row in rows}
