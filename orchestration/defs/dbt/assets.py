"""dbt models and seeds as Dagster assets.

Seeds and every staging model are one dbt invocation: each `dbt build` costs ~7 s of start-up and
parsing, so one per source system made a run several times slower. The price: when a feed fails
landing (or its raw gate), the whole staging step waits for the next run, keeping its last good
tables; the other feeds still land.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import dbt_project
from orchestration.lib.resources import SettingsResource
from orchestration.lib.translator import FamilyHubTranslator

translator = FamilyHubTranslator()


def _build(name: str, select: str) -> dg.AssetsDefinition:
    @dbt_assets(manifest=dbt_project.manifest_path, select=select, name=name, dagster_dbt_translator=translator,
                project=dbt_project)
    def _dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: SettingsResource):
        settings.get().export_for_dbt()  # the profile reads the warehouse path of this run's settings
        yield from dbt.cli(["build"], context=context).stream()

    return _dbt


staging_models = _build("dbt_staging", "resource_type:seed path:models/staging")

dbt_asset_defs = [staging_models]
