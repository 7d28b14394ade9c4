"""Start landing when a partner drops a new file in landing/<feed>/, and catch up feeds that landed but never staged.

Staging is one dbt multi-asset, so when one feed's file fails (schema drift) Dagster skips staging for every feed
in that run: the other feeds' rows reach raw.* but not staging. Their files are then no longer new, so the sensor
also requests each feed that landed files after its staging models last built; otherwise those rows would wait
for the feed's next file.

A file is new when it was written after the feed last landed, or when the feed's set of files (name, size,
modification time) changed since the last tick: SFTP clients, `cp -p`, rsync and unzip keep a file's original
modification time, which can be older than the last landing. Landing such a feed is still a no-op when every file
in its folder is one its last landing listed (same name and sha256: copied again or touched), and the run would
rebuild everything downstream for nothing: the sensor then hashes the feed's files once, and requests the feed
only if one is not among them (a file that failed is listed from the run after it fails, as failed_before). The
verdict is kept in the cursor until the feed's files or its last landing change, so no file is hashed every tick.

Files that never land (unmatched names, folders no feed owns) are warned about when their count in a folder
changes, and said once to be gone, not on every tick: what was warned is kept in the cursor too.

The cursor: {"digests": {feed: digest of its files}, "judged": {feed: [digest, landing storage id, whether all
were landed]}, "warned": {folder key: count}}, a folder key being a feed's folder name, or a hash of any other
folder's (a folder's name may be a person's). A cursor of the older format, {feed: digest}, is read as digests.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from orchestration.defs.landing.assets import landing_asset_key
from orchestration.defs.landing.loader import (feed_files, file_sha256, files_not_matching_pattern,
                                               unknown_landing_folders, unlanded_message)
from orchestration.defs.returns.assets import QUARTERLY_KEYS
from orchestration.lib.feeds import registry
from orchestration.lib.settings import get_settings

land_and_stage_job = dg.define_asset_job(
    "land_and_stage",
    # the quarterly returns run per period, never in an unpartitioned run like this one
    selection=dg.AssetSelection.groups("landing").downstream() - dg.AssetSelection.assets(*QUARTERLY_KEYS),
    description="Land new partner files and rebuild everything downstream of them.",
)

NO_STAGING_MODEL = "have no staging model in Dagster's graph"
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


def _files_digest(files) -> str:
    """What changes when a file is added, replaced or removed, whatever its modification time."""
    listing = sorted(f"{f.name}|{f.stat().st_size}|{f.stat().st_mtime_ns}" for f in files)
    return hashlib.sha256("\n".join(listing).encode()).hexdigest()


def _read_cursor(cursor: str | None) -> tuple[dict[str, str], dict[str, list], dict[str, int] | None]:
    """(digests, judged, warned) from the cursor; warned is None when the cursor does not say (the older format,
    or no cursor): everything found is warned about once."""
    stored = json.loads(cursor) if cursor else {}
    if not isinstance(stored.get("digests"), dict):  # the older format: {feed: digest}
        return stored, {}, None
    return stored["digests"], stored.get("judged", {}), stored.get("warned")


NOT_LANDED = ("failed", "failed_before")


def _listed_files(record) -> list[dict]:
    """The `files` entries of a landing materialisation (file, sha256, status...); none for one landed before
    sha256 was listed, so such a feed is requested as before."""
    files = record.asset_materialization.metadata.get("files") if record.asset_materialization else None
    return [f for f in (files.value if files else []) if f.get("sha256")]


def _all_landed(files, record) -> bool:
    """Whether each of the feed's files is one its last landing listed (same name and bytes): landing it again
    would be a no-op. Not so when a file that failed is gone from the folder (landing again lets the feed's
    newest_file_landed check pass). Names are compared first, newest file first, so a new delivery is found
    without hashing the feed's history; only files whose names were listed are hashed, once per change."""
    listed = _listed_files(record)
    if not listed:
        return False
    present = {f.name for f in files}
    if any(f["status"] in NOT_LANDED and f["file"] not in present for f in listed):
        return False
    shas = {(f["file"], f["sha256"]) for f in listed}
    names = {name for name, _ in shas}
    newest_first = sorted(files, key=lambda f: (f.stat().st_mtime, f.name), reverse=True)
    if any(f.name not in names for f in newest_first):
        return False
    return all((f.name, file_sha256(f)) in shas for f in newest_first)


def _folder_key(folder: str, feeds) -> str:
    """How the cursor names a folder holding files that never land: a feed's name (in any letter case) as is,
    landing/ itself as '', any other folder by a hash of its name, which may be a person's."""
    if folder == "" or any(feed.name.lower() == folder.lower() for feed in feeds):
        return folder
    return "#" + hashlib.sha256(folder.encode()).hexdigest()[:16]


def _warn_unlanded(context: dg.SensorEvaluationContext, found: dict[str, int], warned: dict[str, int] | None,
                   feeds) -> dict[str, int]:
    """Warn about files that never land where their count in a folder changed since the last warning, and say once
    that they are gone; returns what is warned now, for the cursor (counts and folder names or hashes)."""
    now = {_folder_key(folder, feeds): n for folder, n in found.items() if n}
    names = {_folder_key(folder, feeds): folder for folder in found}
    for key, n in now.items():
        if warned is None or warned.get(key) != n:
            context.log.warning(unlanded_message(names[key], n, feeds))
    for key in (warned or {}).keys() - now.keys():
        # a hashed key reads as "a folder under landing/ that is no registered feed", never as its name
        context.log.info(f"{unlanded_message(key, 0, feeds)}: the files warned about are gone")
    return now


@dg.sensor(
    job=land_and_stage_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a run for each feed with a file newer than that feed's last landing (unless every file in "
    "its folder landed before, by name and sha256), and for each feed that landed files after its staging models "
    "last built (e.g. in a run another feed's bad file stopped).",
)
def new_landing_files(context: dg.SensorEvaluationContext):
    # A feed is due when a file was written after it last landed or its files changed since the last tick (the
    # cursor: a digest of each feed's names, sizes and modification times), unless every file is one its last
    # landing listed (same name and sha256), and behind when it landed files after its direct children last
    # materialised. Landing is idempotent by sha256, so landing a feed again costs a no-op, never a duplicate.
    seen, judged_before, warned = _read_cursor(context.cursor)
    listed: dict[str, str] = {}
    judged: dict[str, list] = {}
    landing_dir = get_settings().landing_dir
    asset_graph = context.repository_def.asset_graph
    feeds = list(registry().values())
    children = {feed.name: asset_graph.get(landing_asset_key(feed.name)).child_keys for feed in feeds}
    keys = {landing_asset_key(f.name) for f in feeds} | {c for cs in children.values() for c in cs}
    latest = {record.asset_entry.asset_key: record.asset_entry.last_materialization_record
              for record in context.instance.get_asset_records(list(keys))}

    # files that never land (in a folder no feed owns, or matching no pattern in a feed's folder) start no run, so
    # no asset would mention them until the feed's next good file: say so when their count changes (counts and
    # folder names), not on every tick
    unlanded = {feed.name: files_not_matching_pattern(feed, landing_dir) for feed in feeds}
    warned = _warn_unlanded(context, {**unlanded, **unknown_landing_folders(landing_dir, feeds)}, warned, feeds)
    # a feed with no staging model in the graph (added to feeds.yml, its staging model not yet written or the
    # manifest not re-parsed) lands and never stages: say so when that set changes
    not_staged = sorted(feed.name for feed in feeds if not children[feed.name])
    stored = json.loads(context.cursor) if context.cursor else {}
    if not_staged and (not isinstance(stored, dict) or stored.get("no_staging_model") != not_staged):
        context.log.warning(f"{len(not_staged)} feed(s) {NO_STAGING_MODEL}, so their files "
                            f"land in raw.* and never stage: {', '.join(not_staged)}. Write each one's staging "
                            "model (README: adding a feed) and run `make parse`, or reload the code location.")

    due: list[tuple[str, str]] = []  # (feed, newest file's mtime and its files' digest)
    behind: list[tuple[str, int]] = []  # (feed, storage id of its first landing not yet staged)
    for feed in feeds:
        landed = latest.get(landing_asset_key(feed.name))
        files = feed_files(feed, landing_dir)
        newest = max((f.stat().st_mtime for f in files), default=None)
        listed[feed.name] = _files_digest(files)
        changed = feed.name in seen and seen[feed.name] != listed[feed.name]
        if newest is not None and (landed is None or newest > landed.timestamp or changed):
            judging = [listed[feed.name], landed.storage_id if landed else None]
            verdict = judged_before.get(feed.name)
            if verdict is None or verdict[:2] != judging:
                # first seen like this: hash them once (the verdict holds until the files or the landing change)
                verdict = [*judging, landed is not None and _all_landed(files, landed)]
                if verdict[2]:
                    context.log.info(f"{feed.name}: {len(files)} file(s) in landing/{feed.name} changed on disk but "
                                     "all landed before (same names and sha256): landing them again is a no-op, "
                                     "not requested")
            judged[feed.name] = verdict
            if not verdict[2]:
                due.append((feed.name, f"{newest:.0f}:{listed[feed.name][:8]}"))
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

    context.update_cursor(json.dumps({"digests": listed, "judged": judged, "warned": warned,
                                      "no_staging_model": not_staged}, sort_keys=True))
    if not due and not behind:
        return dg.SkipReason("no new files in landing/")
    if behind:
        context.log.info(f"{len(behind)} feed(s) landed but not staged: {', '.join(n for n, _ in behind)}")
    selected = [landing_asset_key(name) for name, _ in [*due, *behind]]
    # the quarterly returns run per period, never in an unpartitioned run like this one
    downstream = [key for key in dg.AssetSelection.assets(*selected).downstream().resolve(asset_graph)
                  if asset_graph.get(key).partitions_def is None]
    yield dg.RunRequest(
        run_key="|".join([*(f"{name}@{version}" for name, version in due),
                          *(f"{name}#landing{storage_id}" for name, storage_id in behind)]),
        asset_selection=sorted(downstream, key=lambda k: k.to_user_string()),
        tags={"familyhub/trigger": "new_landing_files",
              "familyhub/feeds": ",".join(n for n, _ in due),
              "familyhub/catch_up": ",".join(n for n, _ in behind)},
    )
