"""Start landing when a partner drops a new file in landing/<feed>/."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.landing.assets import landing_asset_key
from orchestration.defs.landing.loader import feed_files
from orchestration.lib.feeds import registry
from orchestration.lib.settings import get_settings

land_and_stage_job = dg.define_asset_job(
    "land_and_stage",
    selection=dg.AssetSelection.groups("landing").downstream(),
    description="Land new partner files and rebuild everything downstream of them.",
)


@dg.sensor(
    job=land_and_stage_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a run for each feed with a file newer than that feed's last landing.",
)
def new_landing_files(context: dg.SensorEvaluationContext):
    # No cursor to keep in step: a file is new when it was written after the feed last landed. Landing is
    # idempotent by sha256, so a file seen twice costs a no-op, never a duplicate.
    landing_dir = get_settings().landing_dir
    due = []
    for feed in registry().values():
        files = feed_files(feed, landing_dir)
        if not files:
            continue
        newest = max(f.stat().st_mtime for f in files)
        event = context.instance.get_latest_materialization_event(landing_asset_key(feed.name))
        if event is None or newest > event.timestamp:
            due.append((feed.name, newest))
    if not due:
        return dg.SkipReason("no new files in landing/")
    keys = [landing_asset_key(name) for name, _ in due]
    downstream = dg.AssetSelection.assets(*keys).downstream().resolve(context.repository_def.asset_graph)
    yield dg.RunRequest(
        run_key="|".join(f"{name}@{newest:.0f}" for name, newest in due),
        asset_selection=sorted(downstream, key=lambda k: k.to_user_string()),
        tags={"familyhub/trigger": "new_landing_files", "familyhub/feeds": ",".join(n for n, _ in due)},
    )
