"""Start landing when a partner drops a new file in landing/<feed>/, and catch up feeds that landed but never staged.

Staging is one dbt multi-asset, so when one feed's file fails (schema drift) Dagster skips staging for every feed
in that run: the other feeds' rows reach raw.* but not staging. Their files are then no longer new, so the sensor
also requests each feed that landed files after its staging models last built; otherwise those rows would wait
for the feed's next file.
"""

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

# Re-landings since the children last built are read this many at a time (normally there are one or two).
_PAGE = 20


def _first_unstaged_landing(instance: dg.DagsterInstance, key: dg.AssetKey, staged_up_to: int | None) -> int | None:
    """Storage id of the feed's first landing that landed files after its children last built, or None.

    No-op re-landings (files already landed, or a file that failed before) don't count: they bring nothing to
    stage. The id stays the same across later no-op re-landings, so a catch-up that keeps failing (e.g. on a
    blocking raw_gate) has one run_key and is requested once, not on every tick.
    """
    cursor = None
    while True:
        page = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_storage_id=staged_up_to),
                                               limit=_PAGE, cursor=cursor, ascending=True)
        for record in page.records:
            files_landed = record.asset_materialization.metadata.get("files_landed")
            if files_landed is not None and files_landed.value > 0:
                return record.storage_id
        if not page.has_more:
            return None
        cursor = page.cursor


@dg.sensor(
    job=land_and_stage_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a run for each feed with a file newer than that feed's last landing, and for each feed "
    "that landed files after its staging models last built (e.g. in a run another feed's bad file stopped).",
)
def new_landing_files(context: dg.SensorEvaluationContext):
    # No cursor to keep in step: a file is new when it was written after the feed last landed, and a feed is
    # behind when it landed files after its direct children last materialised. Landing is idempotent by sha256,
    # so landing a feed again costs a no-op, never a duplicate.
    landing_dir = get_settings().landing_dir
    asset_graph = context.repository_def.asset_graph
    feeds = list(registry().values())
    children = {feed.name: asset_graph.get(landing_asset_key(feed.name)).child_keys for feed in feeds}
    keys = {landing_asset_key(f.name) for f in feeds} | {c for cs in children.values() for c in cs}
    latest = {record.asset_entry.asset_key: record.asset_entry.last_materialization_record
              for record in context.instance.get_asset_records(list(keys))}

    due: list[tuple[str, float]] = []  # (feed, newest file's mtime)
    behind: list[tuple[str, int]] = []  # (feed, storage id of its first landing not yet staged)
    for feed in feeds:
        landed = latest.get(landing_asset_key(feed.name))
        files = feed_files(feed, landing_dir)
        newest = max((f.stat().st_mtime for f in files), default=None)
        if newest is not None and (landed is None or newest > landed.timestamp):
            due.append((feed.name, newest))
            continue
        if landed is None or not children[feed.name]:
            continue
        child_records = [latest.get(child) for child in children[feed.name]]
        if all(r is not None for r in child_records):
            staged_up_to = min(r.storage_id for r in child_records)
            if landed.storage_id < staged_up_to:
                continue  # the usual case: nothing to read
        else:
            staged_up_to = None  # a child never built: every landing counts
        first_unstaged = _first_unstaged_landing(context.instance, landing_asset_key(feed.name), staged_up_to)
        if first_unstaged is not None:
            behind.append((feed.name, first_unstaged))

    if not due and not behind:
        return dg.SkipReason("no new files in landing/")
    if behind:
        context.log.info(f"{len(behind)} feed(s) landed but not staged: {', '.join(n for n, _ in behind)}")
    selected = [landing_asset_key(name) for name, _ in [*due, *behind]]
    downstream = dg.AssetSelection.assets(*selected).downstream().resolve(asset_graph)
    yield dg.RunRequest(
        run_key="|".join([*(f"{name}@{newest:.0f}" for name, newest in due),
                          *(f"{name}#landing{storage_id}" for name, storage_id in behind)]),
        asset_selection=sorted(downstream, key=lambda k: k.to_user_string()),
        tags={"familyhub/trigger": "new_landing_files",
              "familyhub/feeds": ",".join(n for n, _ in due),
              "familyhub/catch_up": ",".join(n for n, _ in behind)},
    )
