"""The marts as Dagster assets: families, events and criteria, built by dbt after the person index.

One dbt invocation for every model downstream of linkage (intermediate families/events/criteria and the marts):
each `dbt build` pays ~7 s of start-up. dbt tests run as asset checks; a failed linkage gate stops this step, so
the marts keep their last good tables.

`reporting_date` (the as-at date of ages and criteria) comes from the settings; unset means the run date.
"""

import json

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import dbt_project
from orchestration.lib.resources import SettingsResource
from orchestration.lib.translator import FamilyHubTranslator

MARTS_SELECT = "path:models/marts path:models/intermediate"
MARTS_EXCLUDE = "path:models/intermediate/person_records"


@dbt_assets(manifest=dbt_project.manifest_path, select=MARTS_SELECT, exclude=MARTS_EXCLUDE, name="dbt_marts",
            dagster_dbt_translator=FamilyHubTranslator(), project=dbt_project)
def marts_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: SettingsResource):
    cfg = settings.get()
    cfg.export_for_dbt()  # the profile reads the warehouse path of this run's settings
    args = ["build"]
    if cfg.reporting_date:
        args += ["--vars", json.dumps({"reporting_date": cfg.reporting_date.isoformat()})]
    yield from dbt.cli(args, context=context).stream()


marts_assets = [marts_dbt]
