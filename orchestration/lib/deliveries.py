"""A feed's deliveries as staging reads them: their order, and which rows a later full extract supersedes.

The Python side of what the dbt macros latest_version_first and not_superseded do in SQL
(dbt_project/macros/staging.sql). Landing's notes, the raw gate and the staged gate use these; the staged gate
checks every build that staging and this module agree (every raw row accounted for).

A full extract (`extract: full` in orchestration/feeds.yml) supersedes the feed's earlier deliveries when it
landed whole (no row rejected: a rejected row's record would otherwise look withdrawn) and is not held in
quarantine. Earlier and later follow staging's order: extract date (the landing day when the file name has
none), then landing time.
"""

from __future__ import annotations

import duckdb

from orchestration.lib.feeds import Feed

QUARANTINE_TABLE = "raw._quarantined_deliveries"


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return con.execute("select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                       [schema, table]).fetchall()[0][0] > 0


def _has_column(con: duckdb.DuckDBPyConnection, column: str) -> bool:
    return con.execute("select count(*) from duckdb_columns() where schema_name = 'raw' "
                       "and table_name = '_deliveries' and column_name = ?", [column]).fetchall()[0][0] > 0


def position(alias: str) -> str:
    """SQL: a delivery's place in staging's order (a row value: extract date, then landing time)."""
    return f"(coalesce({alias}.extract_date, cast({alias}.landed_at as date)), {alias}.landed_at)"


def not_held(con: duckdb.DuckDBPyConnection, column: str) -> str:
    """SQL true unless the delivery in `column` is held in quarantine (quarantined, not released)."""
    if not _exists(con, "raw", "_quarantined_deliveries"):
        return "true"
    return (f"{column} not in (select delivery_id from {QUARANTINE_TABLE} "
            "where released_at is null and delivery_id is not null)")


def superseding(alias: str) -> str:
    """SQL true when the delivery `alias` may supersede earlier ones: a full extract landed whole."""
    return f"({alias}.full_extract and {alias}.status = 'landed' and {alias}.rows_rejected = 0)"


def superseded_deliveries_sql(con: duckdb.DuckDBPyConnection) -> str:
    """SQL selecting the ids of the deliveries whose rows staging leaves out because a later full extract of
    their feed supersedes them (macro not_superseded); selects nothing on a warehouse without full extracts."""
    if not _exists(con, "raw", "_deliveries") or not _has_column(con, "full_extract"):
        return "select null::varchar as delivery_id where false"
    return f"""select older.delivery_id from raw._deliveries older
        join raw._deliveries later_full on later_full.feed = older.feed and {superseding('later_full')}
            and {position('later_full')} > {position('older')} and {not_held(con, 'later_full.delivery_id')}
        where older.status = 'landed'"""


def normalised_key(column: str) -> str:
    """A record-key part compared ignoring case and punctuation (coarser than staging's clean_text/clean_code,
    so two keys staging keeps apart are never counted as one record missing)."""
    return f"""regexp_replace(upper(trim(cast("{column}" as varchar))), '[^A-Z0-9]+', '', 'g')"""


def withdrawn_records(con: duckdb.DuckDBPyConnection, feed: Feed, delivery_id: str) -> tuple[int, int]:
    """(records staged before this delivery, how many of them it does not carry): what this full extract takes
    out of staging. "Staged before": the feed's deliveries earlier in staging's order, landed before it, not held
    in quarantine, from its previous whole full extract on. Counts only."""
    key = "concat_ws('|', " + ", ".join(normalised_key(c) for c in feed.record_key_columns) + ")"
    row = con.execute(f"""
        with this as (
            select {position('d')} as place, landed_at from raw._deliveries d
            where delivery_id = ? and status = 'landed'
        ),
        earlier as (
            select delivery_id, {superseding('d')} as is_whole_full, {position('d')} as place
            from raw._deliveries d
            where feed = ? and status = 'landed' and delivery_id <> ? and {not_held(con, 'd.delivery_id')}
              and {position('d')} < (select place from this) and d.landed_at < (select landed_at from this)
        ),
        staged as (
            select delivery_id from earlier
            where place >= coalesce((select max(place) from earlier where is_whole_full), place)
        ),
        staged_keys as (
            select distinct {key} as k from {feed.raw_table} where _delivery_id in (select delivery_id from staged)
        ),
        delivered_keys as (select distinct {key} as k from {feed.raw_table} where _delivery_id = ?)
        select (select count(*) from staged_keys),
               (select count(*) from (select k from staged_keys except select k from delivered_keys))""",
                      [delivery_id, feed.name, delivery_id, delivery_id]).fetchall()[0]
    return int(row[0]), int(row[1])
