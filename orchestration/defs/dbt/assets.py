"""dbt models and seeds as Dagster assets.

Seeds and every staging model are one dbt invocation: each `dbt build` costs ~7 s of start-up and
parsing, so one per source system made a run several times slower. The price: when a feed fails
landing (or its raw gate), the whole staging step waits for the next run, keeping its last good
tables; the other feeds still land.

Every dbt step (staging here, the person records in linkage, the marts) builds through `dbt_build`: when dbt fails,
the step fails naming the failed dbt nodes and their statuses only. dbt's own error text can quote a row value (a
DuckDB "Could not convert string ..."), so it stays out of the Dagster event log: it is in the invocation's dbt.log
under the dbt target path and in the step's compute logs, which are as restricted as the warehouse.
"""

import warnings
from collections.abc import Iterator

import dagster as dg
from dagster_dbt import DagsterDbtCliRuntimeError, DbtCliResource, dbt_assets
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from orchestration.defs.dbt.project import dbt_project, stale_manifest_message
from orchestration.lib.metadata import safe_metadata
from orchestration.lib.resources import SettingsResource
from orchestration.lib.translator import FamilyHubTranslator

translator = FamilyHubTranslator()


def _build(name: str, select: str) -> dg.AssetsDefinition:
    @dbt_assets(manifest=dbt_project.manifest_path, select=select, name=name, dagster_dbt_translator=translator,
                project=dbt_project)
    def _dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: SettingsResource):
        settings.get().export_for_dbt()  # the profile reads the warehouse path of this run's settings
        warn_if_manifest_stale(context)
        yield from dbt_build(context, dbt)

    return _dbt


FAILED_STATUSES = ("error", "fail", "runtime error")  # dbt's run_results statuses of a node that failed
NODES_NAMED = 20  # a failure that cascades is read in dbt.log, not in a description of hundreds of lines


def dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, full_refresh: bool = False) -> Iterator:
    """`dbt build` of the step's selection, streamed as before: materialisations, and dbt tests as asset checks (a
    failed test is a failed check; dbt's exit code then fails the step, as it did). dagster-dbt's
    DagsterDbtCliRuntimeError quotes dbt's error messages, which can carry a row value: it becomes a Failure that
    names the failed nodes only, `from None` so the original is not chained into the event log either.
    full_refresh: incremental models are rebuilt whole (`--full-refresh`)."""
    invocation = dbt.cli(["build", *(["--full-refresh"] if full_refresh else [])], context=context)
    try:
        yield from invocation.stream()
    except DagsterDbtCliRuntimeError:
        raise dbt_failure(invocation) from None


def dbt_failure(invocation: DbtCliInvocation) -> dg.Failure:
    """The failed nodes' unique ids and statuses from the invocation's run_results.json (never its messages), and
    where dbt's own messages are."""
    log = invocation.target_path / "dbt.log"
    try:
        results = invocation.get_artifact("run_results.json")["results"]
    except (OSError, ValueError, KeyError, TypeError):  # dbt stopped before running a node: no run results
        results = None
    exit_code = invocation.process.returncode
    where = (f"dbt's messages are left out here because they can quote row values: read them in {log} or this "
             "step's compute logs (stdout), both restricted like the warehouse.")
    if results is None:
        return dg.Failure(description=f"dbt build failed (exit code {exit_code}) before running any node (a parse, "
                                      f"compilation or connection error). {where}",
                          metadata=safe_metadata({"dbt_exit_code": exit_code}))
    failed = [(r.get("unique_id"), r.get("status")) for r in results if r.get("status") in FAILED_STATUSES]
    skipped = sum(r.get("status") == "skipped" for r in results)
    named = "".join(f"\n  {unique_id}: {status}" for unique_id, status in failed[:NODES_NAMED])
    more = f"\n  and {len(failed) - NODES_NAMED} more" if len(failed) > NODES_NAMED else ""
    return dg.Failure(
        description=(f"dbt build failed (exit code {exit_code}): {len(failed)} node(s) failed and {skipped} were "
                     f"skipped{':' if failed else ''}{named}{more}\n{where}"),
        metadata=safe_metadata({"dbt_exit_code": exit_code, "dbt_nodes_failed": len(failed),
                                "dbt_nodes_skipped": skipped}))


def warn_if_manifest_stale(context: dg.AssetExecutionContext) -> None:
    """dbt itself parses the edited project, but this run's selection and the gates come from the manifest: say so
    where the data engineer is looking (the run's log) when dbt files changed after it was parsed."""
    if message := stale_manifest_message():
        context.log.warning(message)


staging_models = _build("dbt_staging", "resource_type:seed path:models/staging")

dbt_asset_defs = [staging_models]

if _stale := stale_manifest_message():
    warnings.warn(_stale, stacklevel=1)  # `dagster job execute`, `dagster asset materialize` and the like show it
