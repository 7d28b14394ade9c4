"""Quarterly jobs and schedules for the returns (shown under Overview -> Schedules in the Dagster UI).

Each runs on the 10th day after a quarter ends (time for the last deliveries of the quarter to land) at 06:00,
for the quarter just ended. They are created stopped: a council switches them on once its feeds arrive on time
(UI: Automation -> schedule -> toggle, or `dagster schedule start`). A past quarter is rerun by
materialising its partition (UI: the asset -> Materialize -> pick the quarter), which rewrites identical files.
"""

import dagster as dg

from orchestration.defs.returns.assets import RETURN_NAMES, outbox_key, quarterly_partitions, return_key
from returns.periods import latest_complete_quarter

SCHEDULE_DAY, SCHEDULE_HOUR = 10, 6
SCHEDULE_CRON = f"0 {SCHEDULE_HOUR} {SCHEDULE_DAY} 1,4,7,10 *"
TIMEZONE = "Europe/London"


def _job(name: str, keys: list[dg.AssetKey], description: str):
    return dg.define_asset_job(name=f"{name}_job", selection=dg.AssetSelection.assets(*keys),
                               partitions_def=quarterly_partitions, description=description)


# Every return and the workbook for one quarter: what `familyhub demo` (and a person in the UI) runs for the
# latest complete quarter; the per-return jobs below are what the schedules run.
quarterly_returns_job = dg.define_asset_job(
    name="quarterly_returns_job", partitions_def=quarterly_partitions,
    selection=dg.AssetSelection.assets(*[k for n in RETURN_NAMES for k in (return_key(n), outbox_key(n))],
                                       outbox_key("analyst_workbook")),
    description="Every return, its gate and files, and the analyst workbook, for one quarter.")

returns_jobs = [
    *[_job(name, [return_key(name), outbox_key(name)], f"The {name} return for one quarter: rows, gate, files.")
      for name in RETURN_NAMES],
    _job("analyst_workbook", [outbox_key("analyst_workbook")], "The analysts' workbook for one quarter."),
]

def _quarterly_schedule(job) -> dg.ScheduleDefinition:
    name = job.name.removesuffix("_job")

    @dg.schedule(name=f"{name}_quarterly", job=job, cron_schedule=SCHEDULE_CRON, execution_timezone=TIMEZONE,
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description=f"{name} for the quarter just ended, on the {SCHEDULE_DAY}th day after it ends at "
                             f"{SCHEDULE_HOUR:02d}:00 UK time.")
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        period = latest_complete_quarter(context.scheduled_execution_time.date())
        return dg.RunRequest(run_key=f"{name}:{period.partition_key}", partition_key=period.partition_key,
                             tags={"familyhub/period": period.label})

    return _schedule


returns_schedules = [_quarterly_schedule(job) for job in returns_jobs]
returns_job_defs = [quarterly_returns_job, *returns_jobs]  # for Definitions(jobs=...); schedules carry their own
