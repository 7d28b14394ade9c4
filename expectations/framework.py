"""The gate framework: measure in DuckDB, validate with Great Expectations, keep the history.

A gate is a function `plan(con, target, **options) -> GatePlan` registered in GATES. It runs SQL in DuckDB
and returns the *measurements* (one scalar per metric: counts, shares, types found) and the checks to
apply to them. `validate_gate` turns the checks into a GX 1.x expectation suite (built in code every
run), validates the one-row DataFrame of measurements with a pandas batch, and builds Data Docs.
`record_results` appends one row per expectation to quality.validation_results.

Only aggregates reach GX, so gating a million-row table costs one or two SQL scans, and neither GX
results nor Data Docs can hold a person's values: counts, shares and type names only.

Severity: "error" blocks (GX severity critical), "warning" records and lets the run go on.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ERROR, WARNING = "error", "warning"
_GX_SEVERITY = {ERROR: "critical", WARNING: "warning"}

RESULTS_DDL = """
create table if not exists quality.validation_results (
    run_id varchar, gate varchar, asset_key varchar, expectation varchar, "column" varchar, passed boolean,
    observed_value varchar, threshold varchar, severity varchar, validated_at timestamp,
    delivery_id varchar, scope varchar
)"""


@dataclass(frozen=True)
class Check:
    """One expectation over one measurement.

    `metric` names the measurement (a column of the one-row DataFrame GX validates). Either a range
    (min_value/max_value, inclusive) or a value_set applies.
    """

    expectation: str  # stable name analysts query by, e.g. "dob_plausible"
    column: str | None  # the warehouse column it is about; None for table/delivery checks
    severity: str  # error | warning
    metric: str
    threshold: str  # human-readable, stored with the result
    min_value: float | None = None
    max_value: float | None = None
    value_set: tuple | None = None
    scope: str = "table"  # table | latest_delivery

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.column})" if self.column else self.expectation


@dataclass
class GatePlan:
    gate: str
    target: str
    asset_key: str
    checks: list[Check]
    metrics: dict[str, object]
    observed: dict[str, str] = field(default_factory=dict)  # display text per metric
    counts: dict[str, int] = field(default_factory=dict)  # for metadata: rows validated etc.
    delivery_id: str | None = None


@dataclass(frozen=True)
class ExpectationResult:
    expectation: str
    column: str | None
    severity: str
    passed: bool
    observed_value: str
    threshold: str
    scope: str

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.column})" if self.column else self.expectation


@dataclass
class GateResult:
    gate: str
    target: str
    asset_key: str
    run_id: str
    validated_at: dt.datetime
    results: list[ExpectationResult]
    counts: dict[str, int]
    delivery_id: str | None = None
    data_docs_url: str | None = None

    @property
    def errors(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.passed and r.severity == ERROR]

    @property
    def warnings(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.passed and r.severity == WARNING]

    @property
    def passed(self) -> bool:
        """No error-severity expectation failed (warnings do not block)."""
        return not self.errors

    def failed(self, expectation: str, column: str | None = None, severity: str | None = None) -> bool:
        return any(r.expectation == expectation and (column is None or r.column == column)
                   and (severity is None or r.severity == severity) for r in self.errors + self.warnings)

    def summary(self) -> str:
        return (f"{self.gate} {self.asset_key}: {len(self.results)} expectations, {len(self.errors)} error(s) "
                f"{[r.label for r in self.errors]}, {len(self.warnings)} warning(s) {[r.label for r in self.warnings]}")

    def metadata(self) -> dict[str, object]:
        """Counts and expectation names only (pass through orchestration.lib.metadata.safe_metadata)."""
        out: dict[str, object] = {
            "expectations": len(self.results),
            "expectations_passed": sum(r.passed for r in self.results),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "failed_errors": [r.label for r in self.errors],
            "failed_warnings": [r.label for r in self.warnings],
            "failures": [{"expectation": r.expectation, "column": r.column, "severity": r.severity,
                          "observed": r.observed_value, "threshold": r.threshold}
                         for r in self.errors + self.warnings],
            **self.counts,
        }
        if self.delivery_id:
            out["latest_delivery"] = self.delivery_id
        if self.data_docs_url:
            out["data_docs_url"] = self.data_docs_url
        return out


# --- gates registry ------------------------------------------------------------------------------

PlanFn = Callable[..., GatePlan]
GATES: dict[str, PlanFn] = {}


def register_gate(name: str) -> Callable[[PlanFn], PlanFn]:
    def wrap(fn: PlanFn) -> PlanFn:
        GATES[name] = fn
        return fn

    return wrap


def measure_gate(con: duckdb.DuckDBPyConnection, gate_name: str, target: str, **options) -> GatePlan:
    """Step 1: SQL in DuckDB. The only step that needs the warehouse connection (besides recording)."""
    if gate_name not in GATES:
        raise KeyError(f"unknown gate {gate_name!r}; known: {sorted(GATES)}")
    return GATES[gate_name](con, target, **options)


# --- Great Expectations ----------------------------------------------------------------------------

_CONTEXTS: dict[Path, object] = {}


def gx_context(gx_root: Path):
    """An ephemeral GX context (suites are built in code) whose validation results and Data Docs are files
    under gx_root (<data_dir>/artefacts/gx): validations/ and data_docs/index.html. Nothing is written to
    the repository, and no great_expectations.yml is rewritten by concurrent runs."""
    gx_root = Path(gx_root).resolve()
    if gx_root in _CONTEXTS:
        return _CONTEXTS[gx_root]
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    gx_root.mkdir(parents=True, exist_ok=True)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    config.stores["validation_results_store"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(gx_root / "validations")},
    }
    config.data_docs_sites = {
        "local_site": {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(gx_root / "data_docs")},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    }
    context = gx.get_context(mode="ephemeral", project_config=config)
    _CONTEXTS[gx_root] = context
    return context


def _gx_expectation(check: Check, index: int):
    import great_expectations.expectations as gxe

    common = {"column": check.metric, "severity": _GX_SEVERITY[check.severity],
              "meta": {"check": index, "expectation": check.expectation, "column": check.column,
                       "threshold": check.threshold, "scope": check.scope},
              "description": f"{check.label}: {check.threshold} [{check.severity}]"}
    if check.value_set is not None:
        return gxe.ExpectColumnValuesToBeInSet(value_set=list(check.value_set), **common)
    return gxe.ExpectColumnValuesToBeBetween(min_value=check.min_value, max_value=check.max_value, **common)


def _frame_value(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def validate_gate(plan: GatePlan, gx_root: Path, run_id: str | None = None) -> GateResult:
    """Step 2: GX validates the measurements; Data Docs are updated. No warehouse connection needed."""
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = run_id or dt.datetime.now(dt.UTC).strftime("manual-%Y%m%dT%H%M%S")
    context = gx_context(gx_root)
    name = f"{plan.gate}__{plan.target}"
    source = context.data_sources.add_or_update_pandas("family_data_hub")
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name)
    try:
        batch = asset.get_batch_definition("measurements")
    except (LookupError, KeyError):
        batch = asset.add_batch_definition_whole_dataframe("measurements")
    suite = context.suites.add_or_update(gx.ExpectationSuite(
        name=name, expectations=[_gx_expectation(c, i) for i, c in enumerate(plan.checks)],
        meta={"gate": plan.gate, "asset_key": plan.asset_key}))
    definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=name, validation_definitions=[definition], result_format="BASIC",
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["local_site"])]))

    frame = pd.DataFrame([{c.metric: _frame_value(plan.metrics[c.metric]) for c in plan.checks}])
    validated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_id))

    passed_by_check: dict[int, bool] = {}
    for run_result in outcome.run_results.values():
        for r in run_result.results:
            index = r.expectation_config.meta["check"]
            # a null measurement is "missing" to GX, which would pass it: treat it as a failure
            missing = (r.result or {}).get("missing_count", 0)
            passed_by_check[index] = bool(r.success) and not missing
    results = [
        ExpectationResult(
            expectation=c.expectation, column=c.column, severity=c.severity,
            passed=passed_by_check.get(i, False),
            observed_value=plan.observed.get(c.metric, _text(plan.metrics[c.metric])),
            threshold=c.threshold, scope=c.scope)
        for i, c in enumerate(plan.checks)
    ]
    docs = gx_root.resolve() / "data_docs" / "index.html"
    return GateResult(gate=plan.gate, target=plan.target, asset_key=plan.asset_key, run_id=run_id,
                      validated_at=validated_at, results=results, counts=dict(plan.counts),
                      delivery_id=plan.delivery_id, data_docs_url=docs.as_uri() if docs.exists() else None)


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "null" if value is None else str(value)


# --- history -----------------------------------------------------------------------------------------


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists quality")
    con.execute(RESULTS_DDL)


def record_results(con: duckdb.DuckDBPyConnection, result: GateResult) -> int:
    """Step 3: append one row per expectation to quality.validation_results."""
    ensure_results_table(con)
    rows = [[result.run_id, result.gate, result.asset_key, r.expectation, r.column, r.passed, r.observed_value,
             r.threshold, r.severity, result.validated_at, result.delivery_id, r.scope] for r in result.results]
    if rows:
        con.executemany("insert into quality.validation_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def run_gate(con: duckdb.DuckDBPyConnection, gate_name: str, target: str, *, artefacts_dir: Path,
             run_id: str | None = None, record: bool = True, **options) -> GateResult:
    """Measure, validate and record one gate with one connection. Dagster checks call the three steps
    separately so they hold the warehouse connection only while running SQL."""
    plan = measure_gate(con, gate_name, target, **options)
    result = validate_gate(plan, Path(artefacts_dir) / "gx", run_id=run_id)
    if record:
        record_results(con, result)
    return result


def scalar_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    # duckdb 2.0: fetchall() closes the result (fetchone() would leave it open and block register()).
    return con.execute(sql, params or []).fetchall()


def share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0
