"""The marts as Dagster assets: families, events and criteria, built by dbt after the person index.

One dbt invocation for every model downstream of linkage (intermediate families/events/criteria and the marts):
each `dbt build` pays ~7 s of start-up. dbt tests run as asset checks; a failed linkage gate stops this step, so
the marts keep their last good tables.

The as-at date of ages and criteria comes from the settings (FAMILYHUB_REPORTING_DATE); unset means the run date.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.dbt.assets import dbt_build, warn_if_manifest_stale
from orchestration.defs.dbt.project import dbt_project
from orchestration.lib.resources import SettingsResource
from orchestration.lib.translator import FamilyHubTranslator

MARTS_SELECT = "path:models/marts path:models/intermediate"
MARTS_EXCLUDE = "path:models/intermediate/person_records"


@dbt_assets(manifest=dbt_project.manifest_path, select=MARTS_SELECT, exclude=MARTS_EXCLUDE, name="dbt_marts",
            dagster_dbt_translator=FamilyHubTranslator(), project=dbt_project)
def marts_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: SettingsResource):
    settings.get().export_for_dbt()  # the warehouse path and reporting date of this run's settings
    warn_if_manifest_stale(context)
    yield from dbt_build(context, dbt)  # a failure names dbt nodes, never dbt's messages


marts_assets = [marts_dbt]
