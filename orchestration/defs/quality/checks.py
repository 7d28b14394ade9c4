"""Blocking Dagster asset checks that run the quality gates (expectations/).

One `raw_gate` check per landing asset raw/<feed> (from the feed registry) and one `staged_gate` check per
dbt staging model staging/<model> (from the dbt manifest, or the model files when there is no manifest).

Outcome -> check result:
  an error-severity expectation failed   -> passed=False, severity=ERROR: blocking, downstream assets of
                                            that asset are skipped in the run and keep their last
                                            materialisation;
  only warning-severity expectations failed -> passed=False, severity=WARN: shown amber in the UI, does not
                                            block (Dagster blocks on ERROR only);
  nothing failed                          -> passed=True.
Metadata: counts, the failed expectations by name, the Data Docs index (file:// URL). Never values.

The DuckDB connection is held only while the gate's SQL runs and while its results are appended to
quality.validation_results; Great Expectations validates in between without it.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.lib.feeds import Feed, registry
from orchestration.lib.metadata import safe_metadata
from orchestration.lib.resources import SettingsResource

RAW_GATE = "raw_gate"
STAGED_GATE = "staged_gate"


def _run(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource, settings: SettingsResource,
         gate: str, target: str, **options) -> dg.AssetCheckResult:
    from expectations import measure_gate, record_results, validate_gate

    with duckdb.get_connection() as con:
        plan = measure_gate(con, gate, target, **options)
    result = validate_gate(plan, settings.get().artefacts_dir / "gx", run_id=context.run.run_id)
    with duckdb.get_connection() as con:
        record_results(con, result)
    context.log.info(result.summary())
    if result.errors:
        severity, passed = dg.AssetCheckSeverity.ERROR, False
    elif result.warnings:
        severity, passed = dg.AssetCheckSeverity.WARN, False
    else:
        severity, passed = dg.AssetCheckSeverity.ERROR, True
    return dg.AssetCheckResult(passed=passed, severity=severity, metadata=safe_metadata(result.metadata()),
                               description=result.summary())


def build_raw_gate_check(feed: Feed) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", feed.name]), name=RAW_GATE, blocking=True,
        description=f"Raw gate for {feed.name}: registry columns and types, required values, the latest delivery "
                    "(non-empty, row count vs previous, rejects), DOBs, event dates, codes and identifier formats. "
                    "See expectations/README.md.",
    )
    def _raw_gate(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
                  settings: SettingsResource) -> dg.AssetCheckResult:
        return _run(context, duckdb, settings, RAW_GATE, feed.name, feed=feed)

    return _raw_gate


def build_staged_gate_check(model) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(model.asset_path), name=STAGED_GATE, blocking=True,
        description=f"Staged gate for {model.name} (feed {model.feed}): record_key unique and not null, staged rows "
                    "trace to raw, raw = staged + superseded, files reconcile to raw._deliveries. "
                    "See expectations/README.md.",
    )
    def _staged_gate(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
                     settings: SettingsResource) -> dg.AssetCheckResult:
        return _run(context, duckdb, settings, STAGED_GATE, model.name, feed=model.feed, schema=model.schema)

    return _staged_gate


def _staging_models():
    from expectations.staged_gate import staging_models
    from orchestration.defs.dbt.project import dbt_project

    return staging_models(dbt_project.manifest_path)


raw_gate_checks = [build_raw_gate_check(feed) for feed in registry().values()]
staged_gate_checks = [build_staged_gate_check(model) for model in _staging_models()]
quality_checks = [*raw_gate_checks, *staged_gate_checks]
