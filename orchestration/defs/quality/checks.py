"""Blocking Dagster asset checks that run the quality gates (expectations/).

One `raw_gate` check per landing asset raw/<feed> (from the feed registry), one `staged_gate` check per
dbt staging model of a feed staging/<model> (from the dbt manifest, or the model files when there is no manifest),
the `linked_gate` on linkage/person_crosswalk (beside the linkage step's own `no_giant_clusters`), and one
`marts_gate` check per mart marts/<model> that the dbt manifest has (so the code location loads while
marts are still being written).

Outcome -> check result:
  an error-severity expectation failed   -> passed=False, severity=ERROR: blocking, downstream assets of
                                            that asset are skipped in the run and keep their last
                                            materialisation;
  only warning-severity expectations failed -> passed=False, severity=WARN: shown amber in the UI, does not
                                            block (Dagster blocks on ERROR only);
  nothing failed                          -> passed=True.
Metadata: counts, the failed expectations by name, the Data Docs index (file:// URL). Never values.

Quarantine: staging reads every delivery of a feed, so the raw gate judges each delivery on its own rows
(every one landed since the gate last judged one, and the latest at every run), and a delivery whose own
error-severity check fails is recorded in raw._quarantined_deliveries (delivery id, feed, file, gate, the
failed expectations by name, its row count, run id, when): one record per delivery, the first. The staging
models leave quarantined deliveries' rows out (macro not_quarantined in dbt_project/macros/staging.sql), so a
later delivery that passes does not carry them into staging and the marts. A failure of the whole table (a
column missing or of another type) blocks but quarantines nothing: it is no single delivery's.
The run that first judges a bad delivery blocks (ERROR) and quarantines it. Later runs do not judge it again:
its verdict stands (a threshold changed since does not flip it), its rows are out of staging, and the gate
passes for the rest of the feed; while it is the feed's newest delivery the gate warns (WARN, amber:
`delivery_held_in_quarantine`), and the metadata and summary name every delivery of the feed still held
(`held_in_quarantine`, `rows_held_in_quarantine`). To release one deliberately (the partner confirms the
rows), `familyhub quarantine release <delivery_id>` (it records who and when; `familyhub quarantine list` shows
what is held) and rematerialise staging; a released delivery is not judged nor quarantined again.
The newest delivery, judged again at every run, that passed before (some earlier run found no error in it) and
fails now is not quarantined (the marts hold its rows): the gate blocks every run while it is the newest, until
the cause is put right or the engineer accepts it with the same release command (quarantine_failed_deliveries).

A gate that raises (a SQL error, say) records one failed error-severity row, `gate_did_not_run`, with the
exception's type only (its message may quote values), then fails the check step with a Failure naming the gate,
the asset and that type, not the exception itself (the event log would keep its message): readers of the gate
history (returns/gates.py) see a failed run, not the previous outcome.

The DuckDB connection is held only while the gate's SQL runs and while its results are appended to
quality.validation_results; Great Expectations validates in between without it.
"""

import sys
import traceback

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.lib.feeds import Feed, registry
from orchestration.lib.metadata import safe_metadata
from orchestration.lib.resources import SettingsResource, warehouse_connection

RAW_GATE = "raw_gate"
STAGED_GATE = "staged_gate"
LINKED_GATE = "linked_gate"
MARTS_GATE = "marts_gate"

def quarantine_failed_deliveries(con, result, run_id: str) -> tuple[list[str], list[str]]:
    """Record in raw._quarantined_deliveries each delivery the raw gate judged whose own error-severity check
    failed; returns (those quarantined now, those failing that are not quarantined because they passed when an
    earlier run judged them). A delivery already recorded keeps its first record (one released stays
    released); the raw gate does not judge a recorded delivery again, so it fails only once.

    The feed's newest delivery is judged again at every run. Should it fail now after passing before (its rows
    altered, or the registry or a threshold changed), quarantining it would take rows the marts already hold
    out of staging, and the next run would rebuild the marts without them behind a warning. So it is not
    quarantined: the gate fails at every run, keeping everything downstream as it was, until the engineer puts
    the cause right."""
    from expectations.raw_gate import DELIVERY_SCOPE, QUARANTINE_DDL, QUARANTINE_TABLE

    failed: dict[str, set[str]] = {}
    for r in result.errors:
        delivery_id = r.delivery_id or result.delivery_id
        if r.scope == DELIVERY_SCOPE and delivery_id:
            failed.setdefault(delivery_id, set()).add(r.label)
    passed_before = sorted(r[0] for r in con.execute(
        "select distinct delivery_id from (select delivery_id, run_id from quality.validation_results "
        "where gate = ? and asset_key = ? and scope = ? and run_id <> ? and delivery_id in (select unnest(?)) "
        "group by all having bool_and(passed or severity <> 'error'))",
        [result.gate, result.asset_key, DELIVERY_SCOPE, run_id, sorted(failed)]).fetchall()) if failed else []
    failed = {d: labels for d, labels in failed.items() if d not in passed_before}
    if not failed:
        return [], passed_before
    con.execute(QUARANTINE_DDL)
    for delivery_id, labels in failed.items():
        con.execute(f"""
            insert into {QUARANTINE_TABLE} (delivery_id, feed, file_name, gate, failed_expectations, rows_landed,
                                            run_id, quarantined_at, released_at)
            select delivery_id, feed, file_name, ?, ?, rows_landed, ?, current_timestamp, null
            from raw._deliveries
            where delivery_id = ? and status = 'landed'
              and delivery_id not in (select delivery_id from {QUARANTINE_TABLE})
            limit 1""", [result.gate, ", ".join(sorted(labels)), run_id, delivery_id])
    held = {r[0] for r in con.execute(f"select delivery_id from {QUARANTINE_TABLE} where released_at is null "
                                      "and delivery_id in (select unnest(?))", [sorted(failed)]).fetchall()}
    return sorted(held), passed_before


def run_gate_check(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource, settings: SettingsResource,
                   gate: str, target: str, **options) -> dg.AssetCheckResult:
    """Measure in SQL, validate with GX, record the results; an error fails the (blocking) check. A gate that
    raises records a failed `gate_did_not_run` row (the exception's type only), then fails the step with a
    dg.Failure that names the gate, the asset and that type, never the exception's message."""
    from expectations.framework import GX_KEEP_RUNS, measure_gate, record_gate_error, record_results, validate_gate
    from expectations.raw_gate import held_in_quarantine

    cfg = settings.get()
    try:
        with warehouse_connection(duckdb) as con:
            plan = measure_gate(con, gate, target, **options)
        # GX files and Data Docs keep the last GX_KEEP_RUNS runs; quality.validation_results keeps every run
        result = validate_gate(plan, cfg.artefacts_dir / "gx", run_id=context.run.run_id, keep_runs=GX_KEEP_RUNS)
        quarantined, held, failing_again = [], [], []
        with warehouse_connection(duckdb) as con:
            record_results(con, result)
            if gate == RAW_GATE:
                quarantined, failing_again = quarantine_failed_deliveries(con, result, context.run.run_id)
                held = [d for d in held_in_quarantine(con, target) if d.delivery_id not in quarantined]
    except Exception as error:
        asset_key = "/".join(context.check_specs[0].asset_key.path)
        recorded = "recorded as gate_did_not_run in quality.validation_results"
        try:
            with warehouse_connection(duckdb) as con:
                record_gate_error(con, gate, asset_key, context.run.run_id, error)
        except Exception as unrecorded:  # the warehouse itself is what failed: the step still fails below
            context.log.error(f"{gate} on {asset_key} raised {type(error).__name__} and could not be recorded "
                              f"({type(unrecorded).__name__})")
            recorded = "not recorded: the warehouse failed too"
        # not `raise`: the event log would keep the exception's message (a DuckDB error can quote a value);
        # `from None` keeps it out of the chained cause too. Where it was raised (the frames, not the message) goes
        # to the step's compute log, so a bug in a gate can still be found
        traceback.print_tb(error.__traceback__)
        print(f"{type(error).__name__} (message left out: it may quote values)", file=sys.stderr)
        raise dg.Failure(
            description=f"{gate} on {asset_key} did not run: it raised {type(error).__name__}, {recorded}. Its "
                        "message is left out as it may quote values: to read it, run the gate with "
                        "expectations.run_gate against the warehouse.",
            metadata=safe_metadata({"gate": gate, "asset": asset_key, "exception_type": type(error).__name__}),
        ) from None
    metadata, summary = result.metadata(), result.summary()
    if quarantined:
        metadata["quarantined_deliveries"] = quarantined
        summary += (f"; {len(quarantined)} deliver{'y' if len(quarantined) == 1 else 'ies'} quarantined "
                    f"{quarantined}: staging leaves their rows out until released")
    if failing_again:
        metadata["failing_after_passing_before"] = failing_again
        summary += (f"; {len(failing_again)} deliver{'y' if len(failing_again) == 1 else 'ies'} {failing_again} "
                    "passed when first judged and fail now (rows altered, or the registry or a threshold changed): "
                    "not quarantined, as staging and the marts hold their rows; this gate blocks every run until "
                    "the cause is put right")
    if held:  # quarantined by an earlier run: not judged again, and blocking nothing now
        metadata["held_in_quarantine"] = [d.delivery_id for d in held]
        metadata["rows_held_in_quarantine"] = sum(d.rows_landed for d in held)
        summary += (f"; {len(held)} deliver{'y' if len(held) == 1 else 'ies'} held in quarantine since an earlier "
                    f"run {metadata['held_in_quarantine']} ({metadata['rows_held_in_quarantine']} rows): not judged "
                    "again, staging leaves their rows out until released")
    context.log.info(summary)
    if result.errors:
        severity, passed = dg.AssetCheckSeverity.ERROR, False
    elif result.warnings:
        severity, passed = dg.AssetCheckSeverity.WARN, False
    else:
        severity, passed = dg.AssetCheckSeverity.ERROR, True
    return dg.AssetCheckResult(passed=passed, severity=severity, metadata=safe_metadata(metadata),
                               description=summary)


def build_raw_gate_check(feed: Feed) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw", feed.name]), name=RAW_GATE, blocking=True,
        description=f"Raw gate for {feed.name}: registry columns and types, required values, and each delivery "
                    "landed since the last judgement on its own rows (non-empty, row count vs the previous one not "
                    "quarantined, rejects), DOBs, event dates, codes and identifier formats. A delivery failing "
                    "an error of its own blocks the run that judges it and is quarantined: staging leaves its rows "
                    "out until it is released (raw._quarantined_deliveries). Later runs do not judge it again and "
                    "do not block on it; they warn while it is the feed's newest delivery. See expectations/README.md.",
    )
    def _raw_gate(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
                  settings: SettingsResource) -> dg.AssetCheckResult:
        return run_gate_check(context, duckdb, settings, RAW_GATE, feed.name, feed=feed)

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
        return run_gate_check(context, duckdb, settings, STAGED_GATE, model.name, feed=model.feed,
                              schema=model.schema)

    return _staged_gate


@dg.asset_check(
    asset=dg.AssetKey(["linkage", "person_crosswalk"]), name=LINKED_GATE, blocking=True,
    description="Linked gate: every person record in the index once, largest cluster under the bound, singleton "
                "share and cross-source match rates within expected ranges, no person_id lost or new between runs "
                "without a lineage entry (not evaluated until the linkage lineage exists). See expectations/README.md.",
)
def linked_gate(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
                settings: SettingsResource) -> dg.AssetCheckResult:
    return run_gate_check(context, duckdb, settings, LINKED_GATE, "person_crosswalk")


def build_marts_gate_check(mart) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(mart.asset_path), name=MARTS_GATE, blocking=True,
        description=f"Marts gate for {mart.name}: {mart.description} See expectations/README.md.",
    )
    def _marts_gate(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
                    settings: SettingsResource) -> dg.AssetCheckResult:
        return run_gate_check(context, duckdb, settings, MARTS_GATE, mart.name, schema=mart.schema,
                    unique_columns=mart.unique_columns, event_models=mart.event_models)

    return _marts_gate


def _staging_models():
    from expectations.staged_gate import staging_models
    from orchestration.defs.dbt.project import dbt_project

    return staging_models(dbt_project.manifest_path)


def _marts():
    from expectations.marts_gate import gated_marts
    from orchestration.defs.dbt.project import dbt_project

    return gated_marts(dbt_project.manifest_path)


raw_gate_checks = [build_raw_gate_check(feed) for feed in registry().values()]
staged_gate_checks = [build_staged_gate_check(model) for model in _staging_models()]
marts_gate_checks = [build_marts_gate_check(mart) for mart in _marts()]
quality_checks = [*raw_gate_checks, *staged_gate_checks, linked_gate, *marts_gate_checks]
