"""The marts gate: one per mart in the dbt manifest (marts.<model>, Dagster key marts/<model>).

Every mart: the table exists, is not empty, and its key is unique and not null. Then, by mart:
- fct_event: every event traces to a staging row of its feed, and per source feed the events equal the
  feed's staged rows that carry an event date (the reconciliation "events per source equal staging"); every
  event's person is in dim_person and its family (when set) in dim_family; a staging table with event columns
  that int_events does not union (a feed added but not wired) warns;
- dim_person / person_source_xref: one row per person / per person record of linkage.person_crosswalk;
- family_membership: its people and families exist in dim_person and dim_family;
- family_eligibility: the share of families meeting each headline (and eligible) at the latest as-at date,
  within a plausible range (error) and within SHARE_MOVE_WARNING of the previous run's share (warning).

Checks are defined only for marts the manifest has (see `gated_marts`; the model files when there is no
manifest), so the code location loads while marts are still being written; a mart not listed in MART_KEYS gets its key from its dbt `unique` tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from expectations.framework import (
    ERROR,
    WARNING,
    Check,
    GatePlan,
    columns_of,
    previous_measurements,
    register_gate,
    scalar_rows,
    share,
    table_exists,
)
from orchestration.lib.settings import REPO_ROOT

GATE = "marts_gate"
SCHEMA = "marts"
DBT_DIR = REPO_ROOT / "dbt_project"

# mart -> key candidates, first whose columns all exist wins (the marts are written in parallel with this gate)
MART_KEYS: dict[str, list[tuple[str, ...]]] = {
    "dim_person": [("person_id",)],
    "dim_family": [("family_id",)],
    "fct_event": [("event_id",)],
    "ref_criteria_indicator_events": [("indicator_code", "source_feed", "event_type", "event_role", "event_code")],
    "person_source_xref": [("person_record_id",), ("source_system", "source_record_id")],
    "family_membership": [("membership_id",), ("family_id", "person_id", "role", "valid_from")],
    "person_criteria": [("person_id", "as_at_date", "indicator_code")],
    "family_criteria": [("family_id", "as_at_date", "need_code")],
    "family_eligibility": [("family_id", "as_at_date")],
    "needs_cooccurrence": [("as_at_date", "cohort", "headline_a", "headline_b")],
    "family_progress": [("family_case_id", "as_at_date", "headline_code")],
    "person_chronology": [("event_id",)],
    "family_chronology": [("family_id", "event_sequence"), ("family_id", "event_id")],
}
# a headline rule that flags more than this share of families (or eligibility above it) is broken: error
SHARE_ERROR_MAX = 0.90
# share of families meeting a headline (or eligible) moving by more than this between runs: warning
SHARE_MOVE_WARNING = 0.05
# shares are judged only over at least this many families (fewer: reported, not judged)
MIN_FAMILIES = 50
# the model that unions every event-bearing staging model, one row per staging row (fct_event reads it)
EVENTS_MODEL = "int_events"


@dataclass(frozen=True)
class Mart:
    name: str
    schema: str
    unique_columns: tuple[tuple[str, ...], ...] = ()  # from the model's dbt unique tests
    event_models: tuple[str, ...] = ()  # fct_event only: the staging models EVENTS_MODEL unions

    @property
    def asset_path(self) -> list[str]:
        return [self.schema, self.name]

    @property
    def description(self) -> str:
        extra = {
            "fct_event": "events per source feed reconcile to staging; persons and families exist; a staging table "
                         "with event columns that int_events does not union warns.",
            "dim_person": "one row per person of the crosswalk.",
            "person_source_xref": "one row per crosswalk record.",
            "family_membership": "members and families exist.",
            "family_eligibility": "headline and eligibility shares plausible and near the previous run's.",
        }.get(self.name, "")
        return f"table present and not empty, key unique and not null. {extra}".strip()


def gated_marts(manifest_path: Path | str | None) -> list[Mart]:
    """Every dbt model under models/marts/ in the manifest, with its unique tests; without a manifest (tests
    import the checks before dbt parses), the model files under dbt_project/models/marts/."""
    if not manifest_path or not Path(manifest_path).exists():
        events = DBT_DIR / "models" / "intermediate" / "events" / f"{EVENTS_MODEL}.sql"
        event_models = tuple(sorted(set(re.findall(r"ref\(\s*['\"](stg_\w+)['\"]\s*\)", events.read_text(
            encoding="utf-8"))))) if events.exists() else ()
        return [Mart(path.stem, SCHEMA, (), event_models if path.stem == "fct_event" else ())
                for path in sorted((DBT_DIR / "models" / "marts").rglob("*.sql"))]
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    unique: dict[str, list[tuple[str, ...]]] = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] != "test" or not node.get("attached_node"):
            continue
        if meta.get("name") == "unique" and node.get("column_name"):
            unique.setdefault(node["attached_node"], []).append((node["column_name"],))
        elif meta.get("name") == "unique_combination_of_columns":
            columns = (meta.get("kwargs") or {}).get("combination_of_columns") or []
            unique.setdefault(node["attached_node"], []).append(tuple(columns))
    nodes = manifest["nodes"]
    event_models = tuple(sorted(
        nodes[dep]["name"] for node in nodes.values()
        if node["resource_type"] == "model" and node["name"] == EVENTS_MODEL for dep in node["depends_on"]["nodes"]
        if dep in nodes and "staging" in nodes[dep].get("fqn", [])[:-1]))
    marts = [Mart(node["name"], node["schema"], tuple(unique.get(uid, [])),
                  event_models if node["name"] == "fct_event" else ())
             for uid, node in nodes.items()
             if node["resource_type"] == "model" and "marts" in node.get("fqn", [])[:-1]]
    return sorted(marts, key=lambda m: m.name)


def _key(con, schema: str, name: str, unique_columns=()) -> tuple[str, ...] | None:
    columns = columns_of(con, schema, name)
    for candidate in [*MART_KEYS.get(name, []), *unique_columns]:
        if candidate and all(c in columns for c in candidate):
            return candidate
    return None


@register_gate(GATE)
def plan_marts_gate(con: duckdb.DuckDBPyConnection, target: str, *, schema: str = SCHEMA,
                    unique_columns: tuple[tuple[str, ...], ...] = (), event_models: tuple[str, ...] = ()) -> GatePlan:
    table = f'{schema}."{target}"'
    asset_key = f"{schema}/{target}"
    checks: list[Check] = []
    metrics: dict[str, object] = {}
    observed: dict[str, str] = {}
    counts: dict[str, int] = {}

    exists = table_exists(con, schema, target)
    rows = scalar_rows(con, f"select count(*) from {table}")[0][0] if exists else 0
    metrics["mart_rows"] = rows
    observed["mart_rows"] = f"{rows} rows" if exists else "table missing"
    checks.append(Check("mart_not_empty", None, ERROR, "mart_rows", "rows >= 1", min_value=1))
    counts["rows"] = rows
    if not exists:
        return GatePlan(gate=GATE, target=target, asset_key=asset_key, checks=checks, metrics=metrics,
                        observed=observed, counts=counts)

    # --- key ----------------------------------------------------------------------------------------------
    key = _key(con, schema, target, unique_columns)
    if key:
        quoted = ", ".join(f'"{c}"' for c in key)
        null_keys, distinct_keys = scalar_rows(con, f"""
            select count(*) filter (where {' or '.join(f'"{c}" is null' for c in key)}),
                   (select count(*) from (select distinct {quoted} from {table}))
            from {table}""")[0]
        duplicates = rows - distinct_keys
        label = "+".join(key)
        metrics |= {"key__null_count": null_keys, "key__duplicate_count": duplicates}
        observed |= {"key__null_count": f"{null_keys} of {rows} rows",
                     "key__duplicate_count": f"{duplicates} rows repeat a key ({distinct_keys} distinct)"}
        checks += [
            Check("key_not_null", label, ERROR, "key__null_count", "rows with a null key part = 0", max_value=0),
            Check("key_unique", label, ERROR, "key__duplicate_count", "rows repeating a key = 0", max_value=0),
        ]
    else:
        checks.append(Check("key_unique", None, ERROR, "key__duplicate_count", "rows repeating a key = 0",
                            max_value=0, skip_reason="no key known for this mart (MART_KEYS or a dbt unique test)"))

    specific = {"fct_event": _fct_event, "dim_person": _dim_person, "person_source_xref": _person_source_xref,
                "family_membership": _family_membership, "family_eligibility": _family_eligibility}.get(target)
    if specific:
        specific(con, schema, table, checks, metrics, observed, counts, asset_key=asset_key, event_models=event_models)
    return GatePlan(gate=GATE, target=target, asset_key=asset_key, checks=checks, metrics=metrics,
                    observed=observed, counts=counts)


# --- per mart ---------------------------------------------------------------------------------------------


def _orphans(con, schema: str, table: str, column: str, parent: str, checks, metrics, observed) -> None:
    """Rows whose `column` (when set) is not a key of marts.<parent>; skipped while the parent mart is missing."""
    metric = f"{column}__orphans"
    expectation = f"{column}_in_{parent}"
    if not table_exists(con, schema, parent) or column not in columns_of(con, schema, table.split('.')[-1].strip('"')):
        checks.append(Check(expectation, column, ERROR, metric, "rows = 0", max_value=0,
                            skip_reason=f"{schema}.{parent} not built yet"))
        return
    orphans, with_value = scalar_rows(con, f"""
        select count(*) filter (where p.{column} is null), count(*)
        from {table} t left join {schema}.{parent} p on p.{column} = t.{column}
        where t.{column} is not null""")[0]
    metrics[metric] = orphans
    observed[metric] = f"{orphans} of {with_value} rows with no {parent} row"
    checks.append(Check(expectation, column, ERROR, metric, "rows = 0", max_value=0))


def _fct_event(con, schema, table, checks, metrics, observed, counts, *, event_models=(), **_) -> None:
    """event_models: the staging models whose every row is an event (the ones int_events unions, from the
    manifest). Each must reconcile exactly, a feed with no events included; without the list, the feeds
    that have events are reconciled. Any other staging table with event_type and event_date warns."""
    staging = [m for m in event_models if table_exists(con, "staging", m)]
    if not staging:
        staging = [r[0] for r in scalar_rows(con, """
            select table_name from duckdb_tables() t where schema_name = 'staging' and exists (
                select 1 from information_schema.columns c where c.table_schema = 'staging'
                and c.table_name = t.table_name and c.column_name = 'source_feed') order by 1""")]
    staged_union = " union all ".join(f"select source_feed, record_key from staging.{t}" for t in staging)
    if not staged_union:
        checks.append(Check("events_reconcile_to_staging", None, ERROR, "events__untraced", "events = staged rows",
                            max_value=0, skip_reason="no staging tables"))
        return
    per_feed = scalar_rows(con, f"""
        with staged as ({staged_union}),
        staged_per_feed as (select source_feed, count(*) as staged_rows from staged group by 1),
        events_per_feed as (select source_feed, count(*) as events from {table} group by 1)
        select coalesce(e.source_feed, s.source_feed), coalesce(s.staged_rows, 0), coalesce(e.events, 0)
        from events_per_feed e full join staged_per_feed s using (source_feed)
        order by 1""")
    untraced = scalar_rows(con, f"""
        with staged as ({staged_union})
        select count(*) from {table} e
        where not exists (select 1 from staged s where s.source_feed = e.source_feed and s.record_key = e.record_key)
        """)[0][0]
    metrics["events__untraced"] = untraced
    observed["events__untraced"] = f"{untraced} events without a staging row"
    checks.append(Check("events_trace_to_staging", None, ERROR, "events__untraced", "events without a staging row = 0",
                        max_value=0))
    reconciled = per_feed if event_models else [f for f in per_feed if f[2]]
    for feed, staged, events in reconciled:
        metric = f"{feed}__events_minus_staged"
        metrics[metric] = events - staged
        observed[metric] = f"events {events} vs staged rows {staged}"
        checks.append(Check("events_reconcile_to_staging", feed, ERROR, metric, "events = staged rows",
                            min_value=0, max_value=0))
    counts |= {"event_feeds": len(reconciled), "events": sum(f[2] for f in per_feed)}
    # A staging table carrying events (event_type and event_date) that int_events does not union never reaches
    # fct_event or the criteria, and the reconciliation above cannot see it (a new feed's model left out of
    # event_models() and int_events.sql): warn, naming the model (a model's name is no personal data). A warning,
    # not an error: the other feeds' events are right, and wiring a feed is a code change.
    reconciled_feeds = {f[0] for f in reconciled}
    for model in [r[0] for r in scalar_rows(con, """
            select table_name from information_schema.columns
            where table_schema = 'staging' and column_name in ('event_type', 'event_date')
            group by table_name having count(distinct column_name) = 2 order by 1""")]:
        if event_models:
            wired = model in event_models
        else:  # no list: the tables whose feed has events in fct_event are the reconciled ones
            wired = model in staging and bool(reconciled_feeds & {r[0] for r in scalar_rows(
                con, f"select distinct source_feed from staging.{model}")})
        metric = f"{model}__not_in_fct_event"
        metrics[metric] = 0 if wired else 1
        observed[metric] = ("among the event models fct_event reconciles" if wired else
                            "carries event_type and event_date, but int_events does not union it: add it to "
                            "event_models() (macros/marts.sql) and int_events.sql")
        checks.append(Check("staging_events_reach_fct_event", model, WARNING, metric,
                            "a staging model with event columns is an event model of fct_event", max_value=0))
    _orphans(con, schema, table, "person_id", "dim_person", checks, metrics, observed)
    _orphans(con, schema, table, "family_id", "dim_family", checks, metrics, observed)


def _reconcile_to_crosswalk(con, table, expression: str, what: str, checks, metrics, observed) -> None:
    if not table_exists(con, "linkage", "person_crosswalk"):
        return
    mart_n, crosswalk_n = scalar_rows(con, f"""
        select (select count(*) from {table}), (select {expression} from linkage.person_crosswalk)""")[0]
    metrics["crosswalk__difference"] = mart_n - crosswalk_n
    observed["crosswalk__difference"] = f"{mart_n} rows vs {crosswalk_n} {what} in linkage.person_crosswalk"
    checks.append(Check("reconciles_to_crosswalk", None, ERROR, "crosswalk__difference", f"rows = {what}",
                        min_value=0, max_value=0))


def _dim_person(con, schema, table, checks, metrics, observed, counts, **_) -> None:
    _reconcile_to_crosswalk(con, table, "count(distinct person_id)", "persons", checks, metrics, observed)


def _person_source_xref(con, schema, table, checks, metrics, observed, counts, **_) -> None:
    _reconcile_to_crosswalk(con, table, "count(*)", "records", checks, metrics, observed)
    _orphans(con, schema, table, "person_id", "dim_person", checks, metrics, observed)


def _family_membership(con, schema, table, checks, metrics, observed, counts, **_) -> None:
    _orphans(con, schema, table, "person_id", "dim_person", checks, metrics, observed)
    _orphans(con, schema, table, "family_id", "dim_family", checks, metrics, observed)


def _family_eligibility(con, schema, table, checks, metrics, observed, counts, *, asset_key: str, **_) -> None:
    columns = columns_of(con, schema, "family_eligibility")
    if not {"as_at_date", "family_id", "headlines_met", "is_sf_eligible"} <= columns:
        return
    [(as_at, families, eligible)] = scalar_rows(con, f"""
        select as_at_date, count(distinct family_id), count(distinct family_id) filter (where is_sf_eligible)
        from {table} where as_at_date = (select max(as_at_date) from {table}) group by 1""") or [(None, 0, 0)]
    per_headline = dict(scalar_rows(con, f"""
        select cast(headline as varchar), count(distinct family_id)
        from (select family_id, unnest(headlines_met) as headline from {table}
              where as_at_date = (select max(as_at_date) from {table}))
        group by 1"""))
    shares = {"sf_eligible": (eligible, families)}
    shares |= {f"headline_{h}": (n, families) for h, n in sorted(per_headline.items())}
    previous = previous_measurements(con, GATE, asset_key)
    too_few = f"{families} families, under {MIN_FAMILIES}" if families < MIN_FAMILIES else None
    counts |= {"families_at_latest_as_at": families, "sf_eligible_families": eligible}
    for name, (part, whole) in shares.items():
        metric, moved = f"{name}__share", f"{name}__share_moved"
        value = share(part, whole)
        metrics[metric] = value
        observed[metric] = f"{value:.4g} ({part} of {whole} families at {as_at})"
        checks.append(Check("criteria_share_plausible", name, ERROR, metric, f"share <= {SHARE_ERROR_MAX:g}",
                            max_value=SHARE_ERROR_MAX, skip_reason=too_few))
        before = previous.get(metric)
        metrics[moved] = round(abs(value - before), 6) if before is not None else None
        observed[moved] = (f"{value:.4g} now vs {before:.4g} at the previous run" if before is not None
                           else "no previous run")
        checks.append(Check("criteria_share_stable", name, WARNING, moved,
                            f"|share - previous run's| <= {SHARE_MOVE_WARNING:g}", max_value=SHARE_MOVE_WARNING,
                            skip_reason=too_few or (None if before is not None else "no previous run")))
