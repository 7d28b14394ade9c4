"""Returns, the analyst workbook and the readers' schemas as Dagster assets.

    analyst/schema                    (every run) analyst.* pseudonymised tables, restricted.* views and
                                      restricted.pseudonyms, data/analyst/analyst_warehouse.duckdb for analysts
    returns/<return>       [quarter]  the period's rows in the warehouse (returns.<return>, or
                                      restricted.<return> for the National Impact Study, its cases' screening
                                      dates pending in restricted.nis_screening_pending); the analyst copy
                                      rebuilt when the family refs the period registered differ from its own
        -> extract_gate               blocking check: the rows against returns/specs/<return>.yml (GX)
    outbox/<return>        [quarter]  CSV + XLSX in outbox/<period>/ (the NIS in outbox/<period>/restricted/)
                                      and the return's entry in outbox/<period>/manifest.json; the NIS's
                                      screening dates sent, registered (restricted.nis_screening_register)
    outbox/analyst_workbook [quarter] outbox/<period>/analyst_workbook_<period>.xlsx (the analyst copy refreshed
                                      first, as by a return)

A failed gate skips its outbox asset: the files already in the outbox stay as they were, and nothing of the
blocked rows is recorded as sent. The gate's verdict is kept beside the stored rows (returns.return_gate_status),
so an outbox step run on its own later (a blocking check blocks only its own run) refuses rows the gate has not
passed.

Upstream gates across runs. The returns run on their own schedules, in runs of their own, where Dagster's
blocking checks on the warehouse build (raw, staged, linked, marts gates) cannot reach. So each returns/<return>
and the workbook first read the latest outcome of every one of those gates from quality.validation_results
(returns/gates.py) and refuse (dg.Failure naming the gate, when it failed and when it last passed) if any
failed an error-severity expectation since its last pass: the marts are stale or unvalidated, and nothing is
rewritten. Warnings, and gates with no result yet, are flagged (run log, manifest), not refused. The status
the rows were built under is kept with them and written to the return's manifest.json entry ("gates").

Wire into Definitions with assets=[*returns_assets], asset_checks=[*returns_checks],
schedules=[*returns_schedules] (schedules.py) and the resource "pseudonym_key" (resources.py).
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.defs.dbt.project import DBT_PROJECT_DIR
from orchestration.defs.returns.resources import PseudonymKeyResource
from orchestration.lib.metadata import safe_metadata
from orchestration.lib.resources import SettingsResource, warehouse_connection
from returns.periods import period_from_key

RETURNS_GROUP = "returns"
EXTRACT_GATE = "extract_gate"  # expectations/extract_gate.py
RETURN_NAMES = ("family_progress_data", "national_impact_study", "results_claims")
# The criteria marts keep the quarter ends of the three years before the reporting date (from 2023-12-31 for the
# demo's): a return for an older quarter fails before writing anything (returns.build.period_not_in_marts).
QUARTER_START = "2023-10-01"
# Calendar quarters keyed by their first day; a quarter's partition exists once the quarter has ended.
quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start=QUARTER_START, fmt="%Y-%m-%d", end_offset=0)

# every mart (core, criteria and reference), so that every gate of the warehouse build is upstream of the returns
MART_KEYS = [dg.AssetKey(["marts", model.stem]) for model in sorted((DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))]
ANALYST_SCHEMA = dg.AssetKey(["analyst", "schema"])


def upstream_gates() -> list[tuple[str, str]]:
    """(gate, asset key) of every gate of the warehouse build (orchestration/defs/quality/checks.py). Each
    guards every return: the returns depend on all the marts (MART_KEYS), and every gated asset is upstream of
    them (tests/test_returns.py checks it against the asset graph)."""
    from orchestration.defs.quality.checks import quality_checks

    return sorted({(key.name, key.asset_key.to_user_string()) for check in quality_checks for key in check.check_keys})


def check_upstream_gates(context: dg.AssetExecutionContext, duckdb: DuckDBResource, what: str):
    """The upstream gates' status (returns.gates.GateStatus); dg.Failure, before anything is written, when one
    has failed since its last pass."""
    from returns.gates import FAILED, NO_RESULT, WARNING, read_gate_status

    with warehouse_connection(duckdb) as con:
        gates = read_gate_status(con, upstream_gates())
    if gates.refuses:
        raise dg.Failure(description=gates.refusal(what), allow_retries=False, metadata=safe_metadata({
            "gates_failed": {o.label: o.as_record() for o in gates.with_status(FAILED)},
            "gates_summary": gates.summary()}))
    for status in (WARNING, NO_RESULT):
        flagged = gates.with_status(status)
        if flagged:
            context.log.warning(f"{what}: built with {len(flagged)} upstream gate(s) at '{status}' (flagged in "
                                f"the manifest): {', '.join(o.label for o in flagged)}")
    return gates


def gate_metadata(gates) -> dict:
    from returns.gates import NO_RESULT, WARNING

    return {"gates_summary": gates.summary(),
            "gates_flagged": [o.label for o in gates.outcomes if o.status in (WARNING, NO_RESULT)]}


def return_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["returns", name])


def outbox_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["outbox", name])


@dg.asset(key=ANALYST_SCHEMA, deps=MART_KEYS, group_name=RETURNS_GROUP, kinds={"duckdb"},
          description="analyst.*: one pseudonymised table per mart (references instead of ids; no names, dates "
                      "of birth, identifiers or postcodes; dates that would reveal a date of birth given to the "
                      "month; every table and column commented). restricted.*: identifiable views with references, "
                      "restricted.pseudonyms. Also data/analyst/analyst_warehouse.duckdb, the analyst schema on its "
                      "own. "
                      "See returns/README.md for who reads which.")
def analyst_schema(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: SettingsResource,
                   pseudonym_key: PseudonymKeyResource) -> dg.MaterializeResult:
    from returns.schemas import build_analyst_copy

    with warehouse_connection(duckdb) as con:
        built = build_analyst_copy(con, pseudonym_key.pseudonymiser(), analyst_database_path(settings))
    if pseudonym_key.source != "environment":
        context.log.warning("pseudonyms use the demo key under the data folder: set FAMILYHUB_PSEUDONYM_KEY")
    return dg.MaterializeResult(metadata=safe_metadata({
        "analyst_tables": built.tables, "restricted_views": built.views, "references": built.references,
        "analyst_database": built.export.name, "pseudonym_key": pseudonym_key.source}))


def analyst_database_path(settings: SettingsResource) -> Path:
    from returns.schemas import ANALYST_DATABASE_FILE

    return settings.get().data_dir / "analyst" / ANALYST_DATABASE_FILE


def refresh_analyst_refs(context: dg.AssetExecutionContext, con, settings: SettingsResource,
                         pseudonym_key: PseudonymKeyResource, what: str) -> int:
    """After a return registered the period's family refs, and before the workbook: the analyst copy (built by
    the warehouse build, before the returns) rebuilt when a family's ref in it or in the analysts' file is not
    the register's (refresh_analyst_family_refs), so the analyst tables, the analysts' file and the period's
    workbook name families as the returns did. A failed rebuild only warns: the return's rows are stored and its
    files still to write; the next returns run or warehouse build finds the copy stale and retries. Returns the
    families refreshed."""
    from returns.schemas import refresh_analyst_family_refs

    try:
        changed, built = refresh_analyst_family_refs(con, pseudonym_key.pseudonymiser(),
                                                     analyst_database_path(settings))
    except Exception as error:  # whatever failed (the file held open, a full disk), the return stands
        # the exception's class only: its text could quote a value
        context.log.warning(f"{what}: rebuilding the analyst copy, whose family references differ from the "
                            f"register, failed ({type(error).__name__}); analysts may see old references until "
                            "the next returns run or warehouse build retries")
        return 0
    if built is not None:
        context.log.info(f"{what}: the analyst copy was rebuilt: {changed} family reference(s) now follow the "
                         "register")
        # analyst/schema is not this run's asset: record its new version where the warehouse build would
        context.log_event(dg.AssetMaterialization(asset_key=ANALYST_SCHEMA, metadata=safe_metadata({
            "analyst_tables": built.tables, "restricted_views": built.views, "references": built.references,
            "analyst_database": built.export.name, "family_refs_refreshed": changed, "rebuilt_by": what})))
    return changed


def build_return_asset(name: str) -> dg.AssetsDefinition:
    from returns.spec import get_spec

    spec = get_spec(name)

    @dg.asset(key=return_key(name), deps=MART_KEYS, partitions_def=quarterly_partitions, group_name=RETURNS_GROUP,
              kinds={"duckdb"},
              description=f"{spec.title} (spec {spec.spec_version}): {spec.grain.strip()} Rows for the period in "
                          f"{'restricted' if spec.restricted else 'returns'}.{name}; see returns/specs/{name}.yml.")
    def _return(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: SettingsResource,
                pseudonym_key: PseudonymKeyResource) -> dg.MaterializeResult:
        from returns.build import build_return_frame, period_not_in_marts, store_return_rows

        period = period_from_key(context.partition_key)
        gates = check_upstream_gates(context, duckdb, f"{name} for {period.label}")
        with warehouse_connection(duckdb) as con:
            refusal = period_not_in_marts(con, period)
            if refusal:
                raise dg.Failure(description=f"{name}: {refusal}", allow_retries=False)
            frame = build_return_frame(con, name, period, pseudonym_key.pseudonymiser())
            stored = store_return_rows(con, spec, period, frame, gates=gates, run_id=context.run.run_id)
            refreshed = refresh_analyst_refs(context, con, settings, pseudonym_key, f"{name} for {period.label}")
        return dg.MaterializeResult(metadata=safe_metadata({
            "dagster/row_count": stored, "period": period.label, "spec_version": spec.spec_version,
            "analyst_family_refs_refreshed": refreshed, **gate_metadata(gates)}))

    return _return


def build_extract_gate(name: str) -> dg.AssetChecksDefinition:
    from returns.spec import get_spec

    spec = get_spec(name)

    @dg.asset_check(asset=return_key(name), name=EXTRACT_GATE, blocking=True,
                    description=f"The period's {spec.title} rows against returns/specs/{name}.yml: columns, "
                                "required values, allowed codes, patterns, types, ranges, unique key, and no "
                                "identifiers in a pseudonymised return. Blocks the outbox files.")
    def _gate(context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource,
              settings: SettingsResource) -> dg.AssetCheckResult:
        from orchestration.defs.quality.checks import run_gate_check  # the one gate-to-check runner
        from returns.build import record_extract_gate, stored_rows_relation

        period = period_from_key(context.partition_key)
        relation, where = stored_rows_relation(spec, period)
        result = run_gate_check(context, duckdb, settings, EXTRACT_GATE, name, relation=relation, where=where,
                                spec=spec, asset_key=f"returns/{name}")
        # beside the rows, for an outbox step run on its own later (a blocking check blocks only its own run); a
        # warning (an empty claims return) does not block, as in the run
        blocks = not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
        with warehouse_connection(duckdb) as con:
            record_extract_gate(con, spec, period, not blocks, context.run.run_id)
        return result

    return _gate


def build_outbox_asset(name: str) -> dg.AssetsDefinition:
    from returns.spec import get_spec

    spec = get_spec(name)
    where = "outbox/<period>/restricted/" if spec.restricted else "outbox/<period>/"

    @dg.asset(key=outbox_key(name), deps=[return_key(name)], partitions_def=quarterly_partitions,
              group_name=RETURNS_GROUP, kinds={"csv", "excel"},
              description=f"{spec.title} as CSV and XLSX in {where}, with its manifest entry (rows, sha256, "
                          "spec version, run id). Byte-identical when rerun on the same rows.")
    def _outbox(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: SettingsResource,
                pseudonym_key: PseudonymKeyResource) -> dg.MaterializeResult:
        from returns.build import (extract_gate_passed, read_built_from, read_built_gate_status, read_stored_rows,
                                   record_sent_return)
        from returns.writers import conform_return, update_manifest, write_return

        cfg = settings.get()
        period = period_from_key(context.partition_key)
        with warehouse_connection(duckdb) as con:
            if not extract_gate_passed(con, spec, period):
                # this step run on its own (the UI's "materialize selected") after the gate failed, or never ran
                raise dg.Failure(description=f"{name} for {period.label}: the extract gate has not passed the stored "
                                 f"rows (it failed, or has not run on them since they were built); nothing written. "
                                 f"Run returns/{name} for this quarter with its extract_gate check.",
                                 allow_retries=False)
            frame = read_stored_rows(con, spec, period)
            gates = read_built_gate_status(con, spec, period)
            inputs = read_built_from(con, spec, period)
        if gates is None:
            context.log.warning(f"{name} for {period.label}: rows stored before gate status was recorded; rebuild "
                                f"returns/{name} for this quarter to record it")
            gates = {"unknown": "rows stored before the gate status was recorded"}
        table = conform_return(spec, frame)
        # what the files will hold is recorded as sent first (rows the extract gate passed): the period's family refs
        # and the NIS's screening dates (returns.build.record_sent_return). Were it after the writes, a run stopped
        # between them would send refs and dates never recorded. A failure in the writes fails the asset; rerunning
        # it writes the same bytes.
        with warehouse_connection(duckdb) as con:
            sent = record_sent_return(con, name, period, frame, pseudonym_key.pseudonymiser())
        if sent["family_refs_not_registered"]:
            raise dg.Failure(description=f"{name} for {period.label}: {sent['family_refs_not_registered']} case(s) in "
                             "the stored rows name another family reference than the quarter's register (a build of "
                             "another of the quarter's returns, on other data, resolved its references again since "
                             f"these rows were built); nothing written. Rebuild returns/{name} for this quarter and "
                             "send it again.", allow_retries=False)
        files = write_return(cfg.outbox_dir, period, spec, table)
        manifest = update_manifest(cfg.outbox_dir, period, name, files, spec_version=spec.spec_version,
                                   run_id=context.run.run_id, extra={
                                       "restricted": spec.restricted, "pseudonym_key": pseudonym_key.source,
                                       "pseudonym_key_fingerprint": pseudonym_key.pseudonymiser().key_fingerprint(),
                                       "gates": gates, "built_from": inputs})
        if sent.get("screening_dates_differing"):
            context.log.warning(f"{name} for {period.label}: {sent['screening_dates_differing']} case(s) sent with a "
                                "date_screened other than the one already registered by an earlier quarter's file "
                                f"(first sent wins); rebuild returns/{name} for this quarter to send the registered "
                                "date")
        if sent.get("screening_dates_not_pending"):
            context.log.warning(f"{name} for {period.label}: {sent['screening_dates_not_pending']} case(s) in the file "
                                "have no pending screening date from the build of these rows, so their date_screened "
                                f"was not registered by this send; rebuild returns/{name} for this quarter and send "
                                "again")
        return dg.MaterializeResult(metadata=safe_metadata({
            "dagster/row_count": len(table.rows), "period": period.label, "files": [f.relative for f in files],
            "sha256": {f.relative: f.sha256 for f in files}, "manifest": str(manifest.relative_to(cfg.outbox_dir)),
            "restricted": spec.restricted, **sent}))

    return _outbox


@dg.asset(key=outbox_key("analyst_workbook"), deps=[ANALYST_SCHEMA, return_key("family_progress_data")],
          partitions_def=quarterly_partitions, group_name=RETURNS_GROUP, kinds={"excel"},
          description="The analysts' workbook for the period: families, persons (pseudonymised), criteria with "
                      "evidence, chronology and a data dictionary; frozen headers, filters, real Excel dates. "
                      "outbox/<period>/analyst_workbook_<period>.xlsx.")
def analyst_workbook(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: SettingsResource,
                     pseudonym_key: PseudonymKeyResource) -> dg.MaterializeResult:
    from returns.workbook import WORKBOOK_NAME, WORKBOOK_VERSION, write_analyst_workbook
    from returns.writers import update_manifest

    cfg = settings.get()
    period = period_from_key(context.partition_key)
    gates = check_upstream_gates(context, duckdb, f"{WORKBOOK_NAME} for {period.label}")
    with warehouse_connection(duckdb) as con:
        # its own run may come before the quarter's returns' (schedules.py): refs as the register gives them
        refreshed = refresh_analyst_refs(context, con, settings, pseudonym_key, f"{WORKBOOK_NAME} for {period.label}")
        written, sheet_rows = write_analyst_workbook(con, cfg.outbox_dir, period)
    update_manifest(cfg.outbox_dir, period, WORKBOOK_NAME, [written], spec_version=WORKBOOK_VERSION,
                    run_id=context.run.run_id, extra={"restricted": False, "pseudonym_key": pseudonym_key.source,
                                                      "sheet_rows": sheet_rows, "gates": gates.as_record()})
    return dg.MaterializeResult(metadata=safe_metadata({
        "period": period.label, "file": written.relative, "sha256": written.sha256, "sheet_rows": sheet_rows,
        "analyst_family_refs_refreshed": refreshed, **gate_metadata(gates)}))


return_assets = [build_return_asset(name) for name in RETURN_NAMES]
outbox_assets = [build_outbox_asset(name) for name in RETURN_NAMES]
returns_assets = [analyst_schema, *return_assets, *outbox_assets, analyst_workbook]
returns_checks = [build_extract_gate(name) for name in RETURN_NAMES]
# the quarterly returns run per period (their schedules and job); an unpartitioned run must leave them out
QUARTERLY_KEYS = [key for asset in returns_assets if asset.partitions_def is not None for key in asset.keys]
