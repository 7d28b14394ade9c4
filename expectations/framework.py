"""The gate framework: measure in DuckDB, validate with Great Expectations, keep the history.

A gate is a function `plan(con, target, **options) -> GatePlan` registered in GATES. It runs SQL in DuckDB
and returns the *measurements* (one scalar per metric: counts, shares, types found) and the checks to
apply to them. `validate_gate` turns the checks into a GX 1.x expectation suite (built in code every
run), validates the one-row DataFrame of measurements with a pandas batch, and builds Data Docs.
`record_results` appends one row per expectation to quality.validation_results.

Only aggregates reach GX, so gating a million-row table costs one or two SQL scans, and neither GX
results nor Data Docs can hold a person's values: counts, shares and type names only.

Severity: "error" blocks (GX severity critical), "warning" records and lets the run go on. A check with a
`skip_reason` is not evaluated: recorded with passed = null, neither passing nor failing the gate.
Numeric measurements are kept in quality.gate_measurements so a gate can compare with its previous run;
GX result files and Data Docs are pruned to the last GX_KEEP_RUNS runs.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib
import json
import math
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ERROR, WARNING = "error", "warning"
_GX_SEVERITY = {ERROR: "critical", WARNING: "warning"}

# GX validation result files and their Data Docs pages are kept for this many Dagster runs (per data folder);
# older runs' files are deleted before each validation. quality.validation_results keeps the whole history.
# Kept small because GX rebuilds the Data Docs index from every kept result at each validation: ~1 s per
# gate with 5 runs of the demo's gates kept, ~3 s with 20.
GX_KEEP_RUNS = 5

MEASUREMENTS_DDL = """
create table if not exists quality.gate_measurements (
    run_id varchar, gate varchar, asset_key varchar, metric varchar, value double, measured_at timestamp
)"""

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
    scope: str = "table"  # table | latest_delivery (a check of one delivery's rows: delivery_id says which)
    # set when the check cannot be evaluated yet (e.g. a table it needs does not exist): it is recorded with
    # passed = null and this reason as its observed value, and neither passes nor fails the gate
    skip_reason: str | None = None
    delivery_id: str | None = None  # the delivery a latest_delivery check judges; None: the plan's delivery_id

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.column})" if self.column else self.expectation

    def accepts(self, value) -> bool:
        """The rule GX applies to this check's measurement (inclusive range or value set; a null fails), for a
        gate that must know an outcome while planning (the raw gate's row-count baseline). GX stays the judge
        of record."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.value_set is not None:
            return value in self.value_set
        return ((self.min_value is None or value >= self.min_value)
                and (self.max_value is None or value <= self.max_value))


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
    passed: bool | None  # None: not evaluated (see Check.skip_reason)
    observed_value: str
    threshold: str
    scope: str
    delivery_id: str | None = None  # the delivery judged, for a latest_delivery check of an earlier delivery

    @property
    def evaluated(self) -> bool:
        return self.passed is not None

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
    measurements: dict[str, float] = field(default_factory=dict)  # numeric metrics, kept in quality.gate_measurements

    @property
    def errors(self) -> list[ExpectationResult]:
        return [r for r in self.results if r.passed is False and r.severity == ERROR]

    @property
    def warnings(self) -> list[ExpectationResult]:
        return [r for r in self.results if r.passed is False and r.severity == WARNING]

    @property
    def not_evaluated(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.evaluated]

    @property
    def passed(self) -> bool:
        """No error-severity expectation failed (warnings do not block)."""
        return not self.errors

    def failed(self, expectation: str, column: str | None = None, severity: str | None = None) -> bool:
        return any(r.expectation == expectation and (column is None or r.column == column)
                   and (severity is None or r.severity == severity) for r in self.errors + self.warnings)

    def summary(self) -> str:
        skipped = f", {len(self.not_evaluated)} not evaluated {[r.label for r in self.not_evaluated]}" \
            if self.not_evaluated else ""
        # an expectation with a warning bound inside its error bound fails both: name it once, as the error
        errors = [r.label for r in self.errors]
        warnings = [r.label for r in self.warnings if r.label not in errors]
        return (f"{self.gate} {self.asset_key}: {len(self.results)} expectations, {len(errors)} error(s) "
                f"{errors}, {len(warnings)} warning(s) {warnings}" + skipped)

    def metadata(self) -> dict[str, object]:
        """Counts and expectation names only (pass through orchestration.lib.metadata.safe_metadata)."""
        out: dict[str, object] = {
            "expectations": len(self.results),
            "expectations_passed": sum(r.passed is True for r in self.results),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "failed_errors": [r.label for r in self.errors],
            "failed_warnings": [r.label for r in self.warnings],
            "failures": [{"expectation": r.expectation, "column": r.column, "severity": r.severity,
                          "observed": r.observed_value, "threshold": r.threshold,
                          **({"delivery": r.delivery_id} if r.delivery_id else {})}
                         for r in self.errors + self.warnings],
            **self.counts,
        }
        if self.not_evaluated:
            out["not_evaluated"] = [{"expectation": r.label, "reason": r.observed_value} for r in self.not_evaluated]
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
        try:  # a gate registers itself when its module (expectations/<gate name>.py) is imported
            importlib.import_module(f"expectations.{gate_name}")
        except ModuleNotFoundError:
            pass
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


def validate_gate(plan: GatePlan, gx_root: Path, run_id: str | None = None,
                  keep_runs: int | None = GX_KEEP_RUNS) -> GateResult:
    """Step 2: GX validates the measurements; Data Docs are updated. No warehouse connection needed.

    Before validating, GX files of all but the newest `keep_runs` runs (this one counted) are deleted, so the
    Data Docs index this validation rebuilds lists only the kept runs; None keeps everything."""
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core.run_identifier import RunIdentifier

    run_id = run_id or dt.datetime.now(dt.UTC).strftime("manual-%Y%m%dT%H%M%S")
    if keep_runs is not None:
        prune_gx_artefacts(gx_root, keep_runs, current_run_id=run_id)
    context = gx_context(gx_root)
    name = f"{plan.gate}__{plan.target}"
    evaluated = [(i, c) for i, c in enumerate(plan.checks) if c.skip_reason is None]
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
        name=name, expectations=[_gx_expectation(c, i) for i, c in evaluated],
        meta={"gate": plan.gate, "asset_key": plan.asset_key}))
    definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=name, validation_definitions=[definition], result_format="BASIC",
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["local_site"])]))

    frame = pd.DataFrame([{c.metric: _frame_value(plan.metrics[c.metric]) for _, c in evaluated}])
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
            passed=None if c.skip_reason is not None else passed_by_check.get(i, False),
            observed_value=(f"not evaluated: {c.skip_reason}" if c.skip_reason is not None
                            else plan.observed.get(c.metric, _text(plan.metrics.get(c.metric)))),
            threshold=c.threshold, scope=c.scope, delivery_id=c.delivery_id)
        for i, c in enumerate(plan.checks)
    ]
    measurements = {metric: float(value) for metric, value in plan.metrics.items()
                    if isinstance(value, int | float) and not isinstance(value, bool)
                    and not (isinstance(value, float) and math.isnan(value))}
    docs = write_offline_index(gx_root)
    return GateResult(gate=plan.gate, target=plan.target, asset_key=plan.asset_key, run_id=run_id,
                      validated_at=validated_at, results=results, counts=dict(plan.counts),
                      delivery_id=plan.delivery_id, data_docs_url=docs.as_uri() if docs.exists() else None,
                      measurements=measurements)


def write_offline_index(gx_root: Path) -> Path:
    """data_docs/offline.html: every kept validation page, newest first, with its outcome, in plain HTML.

    GX's own index.html draws its table with scripts from public CDNs, so on a council network without
    internet access it shows an empty page; the validation pages themselves read fine without them."""
    docs_root = Path(gx_root).resolve() / "data_docs"
    rows = []
    for page in (docs_root / "validations").glob("*/*/*/*.html"):
        suite, run_id, run_time = page.parts[-4], page.parts[-3], page.parts[-2]
        result_file = next((Path(gx_root) / "validations" / suite / run_id / run_time).glob("*.json"), None)
        success = json.loads(result_file.read_text()).get("success") if result_file else None
        rows.append((run_time, suite, run_id, success, page.relative_to(docs_root).as_posix()))
    rows.sort(reverse=True)
    status = {True: "passed", False: "failed", None: "unknown"}
    body = "\n".join(
        f"<tr><td>{html.escape(t)}</td><td>{html.escape(s)}</td><td>{html.escape(r)}</td>"
        f"<td class='{status[ok]}'>{status[ok]}</td><td><a href='{html.escape(link)}'>open</a></td></tr>"
        for t, s, r, ok, link in rows)
    page = ("<!doctype html><meta charset='utf-8'><title>Family Data Hub: quality gates</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
            ".failed{color:#b00;font-weight:bold}.passed{color:#070}</style>"
            "<h1>Quality gates: kept validation results</h1>"
            "<p>Each row is one gate on one table in one Dagster run (a failed validation may be an error or a "
            "warning: the Dagster check and <code>quality.validation_results</code> say which). "
            "<a href='index.html'>GX's own index</a> needs internet access for its scripts.</p>"
            "<table><tr><th>validated (UTC)</th><th>gate__table</th><th>run</th><th>outcome</th><th></th></tr>"
            f"{body}</table>")
    docs_root.mkdir(parents=True, exist_ok=True)
    target = docs_root / "offline.html"
    target.write_text(page, encoding="utf-8")
    return target


def gx_runs(gx_root: Path) -> dict[str, str]:
    """run id -> time of its newest validation (GX's sortable run-time folder name), from the result files
    (<gx_root>/validations/<suite>/<run id>/<run time>/<batch>.json)."""
    newest: dict[str, str] = {}
    validations = Path(gx_root) / "validations"
    if not validations.is_dir():
        return newest
    for suite_dir in validations.iterdir():
        if not suite_dir.is_dir():
            continue
        for run_dir in suite_dir.iterdir():
            if run_dir.is_dir():
                times = [t.name for t in run_dir.iterdir() if t.is_dir()] or [""]
                newest[run_dir.name] = max(newest.get(run_dir.name, ""), max(times))
    return newest


def prune_gx_artefacts(gx_root: Path, keep_runs: int = GX_KEEP_RUNS, current_run_id: str | None = None) -> list[str]:
    """Delete the GX validation result files and Data Docs pages of all but the newest `keep_runs` runs
    (the current run, if named, counts as the newest). Returns the run ids removed. The Data Docs index is
    rebuilt from the remaining result files by the next validation."""
    if keep_runs < 1:
        raise ValueError("keep_runs must be at least 1")
    runs = gx_runs(gx_root)
    runs.pop(current_run_id, None)
    keep_previous = keep_runs - (1 if current_run_id else 0)
    ordered = sorted(runs, key=lambda r: (runs[r], r), reverse=True)
    removed = ordered[keep_previous:]
    for folder in (Path(gx_root) / "validations", Path(gx_root) / "data_docs" / "validations"):
        if not folder.is_dir():
            continue
        for suite_dir in folder.iterdir():
            if not suite_dir.is_dir():
                continue
            for run_id in removed:
                shutil.rmtree(suite_dir / run_id, ignore_errors=True)
            if not any(suite_dir.iterdir()):
                suite_dir.rmdir()
    return removed


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "null" if value is None else str(value)


# --- history -----------------------------------------------------------------------------------------


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists quality")
    con.execute(RESULTS_DDL)
    con.execute(MEASUREMENTS_DDL)


def record_results(con: duckdb.DuckDBPyConnection, result: GateResult) -> int:
    """Step 3: append one row per expectation to quality.validation_results (delivery_id: the delivery the
    expectation judged, else the gate's latest delivery)."""
    ensure_results_table(con)
    rows = [[result.run_id, result.gate, result.asset_key, r.expectation, r.column, r.passed, r.observed_value,
             r.threshold, r.severity, result.validated_at, r.delivery_id or result.delivery_id, r.scope]
            for r in result.results]
    if rows:
        con.executemany("insert into quality.validation_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    measured = [[result.run_id, result.gate, result.asset_key, metric, value, result.validated_at]
                for metric, value in result.measurements.items()]
    if measured:
        con.executemany("insert into quality.gate_measurements values (?, ?, ?, ?, ?, ?)", measured)
    return len(rows)


GATE_DID_NOT_RUN = "gate_did_not_run"


def record_gate_error(con: duckdb.DuckDBPyConnection, gate: str, asset_key: str, run_id: str,
                      error: BaseException) -> None:
    """A gate that raised (a SQL error, GX failing) leaves one failed error-severity row, so readers of the
    history (returns/gates.py) see a failed run rather than the previous outcome. Only the exception's type is
    kept: its message may quote values."""
    ensure_results_table(con)
    con.execute("insert into quality.validation_results values (?, ?, ?, ?, null, false, ?, ?, ?, ?, null, 'table')",
                [run_id, gate, asset_key, GATE_DID_NOT_RUN, f"raised {type(error).__name__}",
                 "the gate runs to completion", ERROR, dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)])


def previous_measurements(con: duckdb.DuckDBPyConnection, gate: str, asset_key: str,
                          metrics: list[str] | None = None) -> dict[str, float]:
    """metric -> value at the latest earlier run of this gate on this asset (from quality.gate_measurements);
    empty when there is none. Called while planning, before this run's measurements are recorded."""
    if not scalar_rows(con, "select count(*) from duckdb_tables() where schema_name = 'quality' "
                            "and table_name = 'gate_measurements'")[0][0]:
        return {}
    rows = scalar_rows(con, """
        select metric, value from quality.gate_measurements
        where gate = ? and asset_key = ? and run_id = (
            select run_id from quality.gate_measurements where gate = ? and asset_key = ?
            order by measured_at desc, rowid desc limit 1)""", [gate, asset_key, gate, asset_key])
    return {m: v for m, v in rows if metrics is None or m in metrics}


def run_gate(con: duckdb.DuckDBPyConnection, gate_name: str, target: str, *, artefacts_dir: Path,
             run_id: str | None = None, record: bool = True, keep_runs: int | None = GX_KEEP_RUNS,
             **options) -> GateResult:
    """Measure, validate and record one gate with one connection. Dagster checks call the three steps
    separately so they hold the warehouse connection only while running SQL."""
    plan = measure_gate(con, gate_name, target, **options)
    result = validate_gate(plan, Path(artefacts_dir) / "gx", run_id=run_id, keep_runs=keep_runs)
    if record:
        record_results(con, result)
    return result


def scalar_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    # duckdb 2.0: fetchall() closes the result (fetchone() would leave it open and block register()).
    return con.execute(sql, params or []).fetchall()


def share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection, **frames):
    """One transaction on this warehouse connection: committed when the block ends, rolled back (and the error
    raised) when it raises, so a failure leaves every table as it was. frames: name -> a DataFrame or Arrow table
    registered on the connection for the block (the rows it inserts)."""
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        con.execute("begin transaction")
        try:
            yield con
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        for name in frames:
            con.unregister(name)


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """A table or view of that name exists in the warehouse."""
    return bool(scalar_rows(con, """
        select (select count(*) from duckdb_tables() where schema_name = ? and table_name = ?)
             + (select count(*) from duckdb_views() where schema_name = ? and view_name = ?)""",
                            [schema, table, schema, table])[0][0])


def columns_of(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {r[0] for r in scalar_rows(con, "select column_name from information_schema.columns "
                                           "where table_schema = ? and table_name = ?", [schema, table])}
