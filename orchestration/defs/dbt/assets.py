"""dbt models and seeds as Dagster assets.

Staging is one dbt invocation per source system, so a feed that fails landing skips only its own
system's staging models; the other systems stage as usual.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import dbt_project
from orchestration.lib.feeds import registry
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


reference_seeds = _build("reference_seeds", "resource_type:seed")

staging_by_system = [
    _build(f"staging_{system}", f"path:models/staging/{system}")
    for system in sorted({feed.system for feed in registry().values()})
]

dbt_asset_defs = [reference_seeds, *staging_by_system]
