"""The staged gate: one per dbt staging model (staging.<model>, Dagster key staging/<model>).

record_key unique and not null; every staged row traces back to one raw row; every raw row is accounted
for: raw rows = staged
  + superseded by a later version of the same record key (staging keeps the latest per key by its delivery's
    extract date, then landing time, then row number)
  + quarantined, in a delivery the raw gate quarantined (raw._quarantined_deliveries, not released)
  + superseded by a later full extract of the feed (`extract: full` in the registry: macro not_superseded)
  + unaccounted (must be 0: nothing lost);
and per landed file, rows in raw.<feed> and raw._rejects match raw._deliveries (landed + rejected = delivered).

The raw-side record key of each feed comes from the feed registry (`record_key` in orchestration/feeds.yml),
which the staging models implement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from expectations.framework import ERROR, Check, GatePlan, columns_of, register_gate, scalar_rows, table_exists
from orchestration.lib.deliveries import normalised_key, superseded_deliveries_sql
from orchestration.lib.feeds import registry
from orchestration.lib.settings import REPO_ROOT

GATE = "staged_gate"
DBT_DIR = REPO_ROOT / "dbt_project"


@dataclass(frozen=True)
class StagingModel:
    name: str  # dbt model name = table name
    schema: str  # dbt schema (first part of the Dagster asset key)
    feed: str  # the raw feed it stages

    @property
    def asset_path(self) -> list[str]:
        return [self.schema, self.name]


def staging_models(manifest_path: Path | str | None = None) -> list[StagingModel]:
    """Staging models and the raw feed each reads, from the dbt manifest when there is one, else from the
    model files (dbt_project/models/staging/**/*.sql and their source('raw', ...) call)."""
    feeds = registry()
    models: list[StagingModel] = []
    if manifest_path and Path(manifest_path).exists():
        manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
        for node in manifest["nodes"].values():
            if node["resource_type"] != "model" or "staging" not in node.get("fqn", [])[:-1]:
                continue
            sources = [d.split(".")[-1] for d in node["depends_on"]["nodes"] if d.startswith("source.")
                       and d.split(".")[-2] == "raw"]
            if len(sources) == 1 and sources[0] in feeds:
                models.append(StagingModel(node["name"], node["schema"], sources[0]))
    else:
        for path in sorted((DBT_DIR / "models" / "staging").rglob("*.sql")):
            found = re.findall(r"source\(\s*['\"]raw['\"]\s*,\s*['\"](\w+)['\"]\s*\)", path.read_text(encoding="utf-8"))
            if len(set(found)) == 1 and found[0] in feeds:
                models.append(StagingModel(path.stem, "staging", found[0]))
    return sorted(models, key=lambda m: m.name)


def raw_record_keys() -> dict[str, tuple[str, ...]]:
    """feed -> raw column names of its record key, from the feed registry."""
    return {name: feed.record_key_columns for name, feed in registry().items()}


@register_gate(GATE)
def plan_staged_gate(con: duckdb.DuckDBPyConnection, target: str, *, feed: str | None = None,
                     schema: str = "staging") -> GatePlan:
    table = f'{schema}."{target}"'
    exists = scalar_rows(con, "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                         [schema, target])[0][0] > 0
    if feed is None and exists:
        feeds = scalar_rows(con, f"select distinct source_feed from {table} limit 2")
        feed = feeds[0][0] if len(feeds) == 1 else None
    if feed is None:
        feed = next((m.feed for m in staging_models() if m.name == target), None)
    if feed is None:
        raise ValueError(f"staged gate: cannot tell which feed {target} stages; pass feed=")
    raw_feed = registry()[feed]
    key = raw_record_keys().get(feed)

    checks: list[Check] = []
    metrics: dict[str, object] = {"staged_table_exists": int(exists)}
    observed: dict[str, str] = {"staged_table_exists": "present" if exists else "missing"}
    checks.append(Check("staged_table_exists", None, ERROR, "staged_table_exists", "table present", min_value=1))
    counts = {}
    if exists:
        staged, null_keys, distinct_keys = scalar_rows(
            con, f"select count(*), count(*) - count(record_key), count(distinct record_key) from {table}")[0]
        duplicates = staged - null_keys - distinct_keys
        metrics |= {"record_key__null_count": null_keys, "record_key__duplicate_count": duplicates}
        observed |= {"record_key__null_count": f"{null_keys} of {staged} rows",
                     "record_key__duplicate_count": f"{duplicates} rows repeat a key ({distinct_keys} distinct keys)"}
        checks += [
            Check("record_key_not_null", "record_key", ERROR, "record_key__null_count", "null count = 0", max_value=0),
            Check("record_key_unique", "record_key", ERROR, "record_key__duplicate_count", "duplicate rows = 0",
                  max_value=0),
        ]
        partition = ", ".join(normalised_key(c) for c in key) if key else "_delivery_id, _row_number"
        # as staging: rows of quarantined deliveries are left out before the latest version per key is taken
        quarantined = ("_delivery_id in (select delivery_id from raw._quarantined_deliveries "
                       "where released_at is null)" if table_exists(con, "raw", "_quarantined_deliveries")
                       else "false")
        # as staging (macro latest_version_first): versions ordered by their delivery's extract date, then
        # landing time, then row number
        extracted_on = ("coalesce((select max(d.extract_date) from raw._deliveries d "
                        "where d.delivery_id = _delivery_id and d.status = 'landed'), cast(_loaded_at as date))"
                        if "extract_date" in columns_of(con, "raw", "_deliveries") else "cast(_loaded_at as date)")
        # as staging (macro not_superseded): rows of a delivery a later full extract supersedes are left out
        withdrawn = f"(_delivery_id in ({superseded_deliveries_sql(con)}))"
        raw_rows, staged_traced, superseded, held, gone, lost = scalar_rows(con, f"""
            with staged as (
                select distinct source_delivery_id, source_row_number from {table}
            ),
            raw as (
                select _delivery_id, _row_number, {quarantined} as is_quarantined, {withdrawn} as is_withdrawn,
                       row_number() over (partition by {partition}, {quarantined}, {withdrawn}
                                          order by {extracted_on} desc, _loaded_at desc, _row_number desc)
                           as version
                from {raw_feed.raw_table}
            )
            select count(*),
                   count(*) filter (where s.source_row_number is not null),
                   count(*) filter (where s.source_row_number is null and not is_quarantined and not is_withdrawn
                                    and version > 1),
                   count(*) filter (where s.source_row_number is null and is_quarantined),
                   count(*) filter (where s.source_row_number is null and not is_quarantined and is_withdrawn),
                   count(*) filter (where s.source_row_number is null and not is_quarantined and not is_withdrawn
                                    and version = 1)
            from raw r left join staged s
              on s.source_delivery_id = r._delivery_id and s.source_row_number = r._row_number""")[0]
        orphans = staged - staged_traced
        metrics |= {"staged__untraced_rows": orphans, "raw__unaccounted_rows": lost}
        observed |= {
            "staged__untraced_rows": f"{orphans} of {staged} staged rows have no raw row",
            "raw__unaccounted_rows": (f"raw {raw_rows} = staged {staged_traced} + superseded {superseded} "
                                      f"+ quarantined {held} + superseded by a later full extract {gone} "
                                      f"+ unaccounted {lost}"
                                      + ("" if key else " (record key unknown)")),
        }
        checks += [
            Check("staged_rows_trace_to_raw", None, ERROR, "staged__untraced_rows", "rows = 0", max_value=0),
            Check("raw_rows_accounted_for", None, ERROR, "raw__unaccounted_rows",
                  "raw = staged + superseded (unaccounted rows = 0)", max_value=0),
        ]
        counts = {"raw_rows": raw_rows, "staged_rows": staged, "superseded_rows": superseded,
                  "quarantined_rows": held, "superseded_by_full_extract_rows": gone, "unaccounted_rows": lost}

    mismatched, files = scalar_rows(con, f"""
        with landed as (select _delivery_id, count(*) as n from {raw_feed.raw_table} group by all),
             rejected as (select delivery_id, count(*) as n from raw._rejects where feed = ? group by all)
        select count(*) filter (where coalesce(l.n, 0) <> d.rows_landed or coalesce(j.n, 0) <> d.rows_rejected),
               count(*)
        from raw._deliveries d
        left join landed l on l._delivery_id = d.delivery_id
        left join rejected j on j.delivery_id = d.delivery_id
        where d.feed = ? and d.status = 'landed'""", [feed, feed])[0]
    metrics["deliveries__unreconciled"] = mismatched
    observed["deliveries__unreconciled"] = f"{mismatched} of {files} landed files"
    checks.append(Check("deliveries_reconcile", None, ERROR, "deliveries__unreconciled",
                        "per file: rows in raw = rows_landed and rows in _rejects = rows_rejected", max_value=0))
    counts["files_landed"] = files

    return GatePlan(gate=GATE, target=target, asset_key=f"{schema}/{target}", checks=checks, metrics=metrics,
                    observed=observed, counts=counts)
