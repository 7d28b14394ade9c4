"""The extract gate: a return's rows for one period against its specification (returns/specs/<name>.yml).

Measured in DuckDB over the rows about to be released (a warehouse table filtered to the period, or a
DataFrame registered on the connection), validated by GX through the shared framework, recorded in
quality.validation_results. Errors block the release (the outbox files are not written or changed):
  columns_match_spec      no spec column missing, no column the spec does not list
  required_not_null       per required column
  values_in_allowed_set   per code / flag column
  values_match_pattern    per column with a pattern (pseudonymous refs, the period label)
  values_have_type        per date / integer / decimal column: every value casts
  values_in_range         per column with min / max
  key_unique              the spec's unique_key
  no_identifiers          a return that is not restricted carries no column named like personal data
                          and no value shaped like an NHS / NI number, UPN or postcode
Warning: rows_present (an empty return is possible but worth a look).
"""

from __future__ import annotations

import duckdb

from expectations.framework import ERROR, WARNING, Check, GatePlan, register_gate, scalar_rows
from orchestration.lib.metadata import PERSONAL_KEY, PERSONAL_VALUE
from returns.spec import ReturnSpec, get_spec

GATE = "extract_gate"
# Column names are tested with the metadata guard's pattern (orchestration/lib/metadata.py); reference columns
# (..._ref, ..._refs) hold pseudonyms, whatever they are named after.
_PERSONAL_COLUMN_EXEMPT = ("_ref", "_refs")
_TYPE_CAST = {"integer": "bigint", "decimal": "double", "date": "date"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def personal_columns(names: list[str]) -> list[str]:
    return [n for n in names if PERSONAL_KEY.search(n) and not n.endswith(_PERSONAL_COLUMN_EXEMPT)]


@register_gate(GATE)
def plan_extract_gate(con: duckdb.DuckDBPyConnection, target: str, *, relation: str,
                      spec: ReturnSpec | None = None, where: str | None = None,
                      asset_key: str | None = None) -> GatePlan:
    """`target` is the return name; `relation` a table/view/registered DataFrame; `where` limits it to a period."""
    spec = spec or get_spec(target)
    source = f"(select * from {relation}{f' where {where}' if where else ''})"
    found = [row[0] for row in scalar_rows(con, f"describe {source}")]
    expected = spec.column_names
    missing = [c for c in expected if c not in found]
    unexpected = [c for c in found if c not in expected]
    present = [c for c in spec.columns if c.name in found]

    checks: list[Check] = []
    aggregates: list[tuple[str, str]] = [("rows", "count(*)")]

    def add(expectation, column, metric, sql, threshold, severity=ERROR, max_value=0.0, min_value=None):
        checks.append(Check(expectation=expectation, column=column, severity=severity, metric=metric,
                            threshold=threshold, min_value=min_value, max_value=max_value))
        if sql is not None:
            aggregates.append((metric, sql))

    for c in present:
        col = _quote(c.name)
        text = f"cast({col} as varchar)"
        if c.required:
            add("required_not_null", c.name, f"nulls__{c.name}", f"count(*) filter (where {col} is null)", "0 nulls")
        allowed = c.allowed_values
        if allowed:
            values = ", ".join(_literal(v) for v in allowed)
            add("values_in_allowed_set", c.name, f"not_allowed__{c.name}",
                f"count(*) filter (where {col} is not null and {text} not in ({values}))",
                f"0 values outside {len(allowed)} allowed")
        if c.pattern:
            add("values_match_pattern", c.name, f"not_pattern__{c.name}",
                f"count(*) filter (where {col} is not null and not regexp_full_match({text}, {_literal(c.pattern)}))",
                f"0 values not matching {c.pattern}")
        if c.type in _TYPE_CAST:
            add("values_have_type", c.name, f"wrong_type__{c.name}",
                f"count(*) filter (where {col} is not null and try_cast({text} as {_TYPE_CAST[c.type]}) is null)",
                f"0 values not {c.type}")
        if c.min_value is not None or c.max_value is not None:
            number = f"try_cast({text} as double)"
            bounds = " or ".join(b for b in (
                f"{number} < {c.min_value}" if c.min_value is not None else "",
                f"{number} > {c.max_value}" if c.max_value is not None else "") if b)
            add("values_in_range", c.name, f"out_of_range__{c.name}",
                f"count(*) filter (where {col} is not null and ({bounds}))",
                f"0 values outside [{c.min_value}, {c.max_value}]")

    key = [k for k in spec.unique_key if k in found]
    if key:
        tuple_sql = "(" + ", ".join(_quote(k) for k in key) + ")"
        add("key_unique", ",".join(key), "duplicate_keys", f"count(*) - count(distinct {tuple_sql})", "0 duplicates")

    metrics: dict[str, object] = {"columns_missing": len(missing), "columns_unexpected": len(unexpected)}
    add("columns_match_spec", None, "columns_missing", None, "0 spec columns missing")
    add("columns_match_spec", None, "columns_unexpected", None, "0 columns outside the spec")

    if not spec.restricted:
        metrics["personal_columns"] = len(personal_columns(found))
        add("no_identifiers", None, "personal_columns", None, "0 columns named like personal data")
        text_columns = [c.name for c in present if c.type in ("string", "code")]
        if text_columns:
            pattern = _literal(PERSONAL_VALUE.pattern)
            hits = " + ".join(f"count(*) filter (where regexp_matches(cast({_quote(n)} as varchar), {pattern}))"
                              for n in text_columns)
            add("no_identifiers", None, "identifier_like_values", hits, "0 values shaped like an identifier")
        else:
            metrics["identifier_like_values"] = 0
            add("no_identifiers", None, "identifier_like_values", None, "0 values shaped like an identifier")

    add("rows_present", None, "rows", None, "at least 1 row", severity=WARNING, max_value=None, min_value=1)

    select = ", ".join(f"{sql} as {_quote(metric)}" for metric, sql in aggregates)
    values = scalar_rows(con, f"select {select} from {source}")[0]
    for (metric, _), value in zip(aggregates, values, strict=True):
        metrics[metric] = int(value or 0)

    observed = {"columns_missing": ", ".join(missing) or "none", "columns_unexpected": ", ".join(unexpected) or "none"}
    return GatePlan(gate=GATE, target=target, asset_key=asset_key or f"returns/{target}", checks=checks,
                    metrics=metrics, observed=observed, counts={"rows_validated": metrics["rows"]})
