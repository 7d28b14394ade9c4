"""The Dagster code location: load the defs, bind the resources, run in-process.

In-process execution: DuckDB allows one writer at a time, and a subprocess per step costs ~4 s.
"""

import dagster as dg

from orchestration.defs.dbt.assets import dbt_asset_defs
from orchestration.defs.landing.assets import landing_assets
from orchestration.defs.landing.sensors import land_and_stage_job, new_landing_files
from orchestration.defs.linkage.assets import linkage_assets, linkage_checks
from orchestration.defs.marts.assets import marts_assets
from orchestration.defs.quality.checks import quality_checks
from orchestration.defs.returns.assets import QUARTERLY_KEYS, returns_assets, returns_checks
from orchestration.defs.returns.schedules import returns_job_defs, returns_schedules
from orchestration.lib.resources import build_resources

# Everything but the quarterly returns (which run per period): what `familyhub demo` and a person in the UI run
# to refresh the warehouse.
build_warehouse_job = dg.define_asset_job(
    "build_warehouse", selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*QUARTERLY_KEYS),
    description="Land, gate, stage, link, build the marts and the reader schemas: all but the quarterly returns.")

defs = dg.Definitions(
    assets=[*landing_assets, *dbt_asset_defs, *linkage_assets, *marts_assets, *returns_assets],
    asset_checks=[*quality_checks, *linkage_checks, *returns_checks],
    jobs=[land_and_stage_job, build_warehouse_job, *returns_job_defs],
    sensors=[new_landing_files],
    schedules=returns_schedules,
    resources=build_resources(),
    executor=dg.in_process_executor,
)
