"""The Dagster code location: load the defs, bind the resources, run in-process.

In-process execution: DuckDB allows one writer at a time, and a subprocess per step costs ~4 s.
"""

import dagster as dg

from orchestration.defs.dbt.assets import dbt_asset_defs
from orchestration.defs.landing.assets import landing_assets
from orchestration.defs.landing.sensors import land_and_stage_job, new_landing_files
from orchestration.defs.linkage.assets import linkage_assets, linkage_checks
from orchestration.defs.quality.checks import quality_checks
from orchestration.lib.resources import build_resources

defs = dg.Definitions(
    assets=[*landing_assets, *dbt_asset_defs, *linkage_assets],
    asset_checks=[*quality_checks, *linkage_checks],
    jobs=[land_and_stage_job],
    sensors=[new_landing_files],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
