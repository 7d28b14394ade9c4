"""dbt models and seeds as Dagster assets.

Seeds and every staging model are one dbt invocation: each `dbt build` costs ~7 s of start-up and
parsing, so one per source system made a run several times slower. The price: when a feed fails
landing (or its raw gate), the whole staging step waits for the next run, keeping its last good
tables; the other feeds still land.
"""

import warnings

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import dbt_project, stale_manifest_message
from orchestration.lib.resources import SettingsResource
from orchestration.lib.translator import FamilyHubTranslator

translator = FamilyHubTranslator()


def _build(name: str, select: str) -> dg.AssetsDefinition:
    @dbt_assets(manifest=dbt_project.manifest_path, select=select, name=name, dagster_dbt_translator=translator,
                project=dbt_project)
    def _dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: SettingsResource):
        settings.get().export_for_dbt()  # the profile reads the warehouse path of this run's settings
        warn_if_manifest_stale(context)
        yield from dbt.cli(["build"], context=context).stream()

    return _dbt


def warn_if_manifest_stale(context: dg.AssetExecutionContext) -> None:
    """dbt itself parses the edited project, but this run's selection and the gates come from the manifest: say so
    where the data engineer is looking (the run's log) when dbt files changed after it was parsed."""
    if message := stale_manifest_message():
        context.log.warning(message)


staging_models = _build("dbt_staging", "resource_type:seed path:models/staging")

dbt_asset_defs = [staging_models]

if _stale := stale_manifest_message():
    warnings.warn(_stale, stacklevel=1)  # `dagster job execute`, `dagster asset materialize` and the like show it
