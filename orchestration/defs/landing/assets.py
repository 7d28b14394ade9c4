"""One Dagster asset per registered feed: land new files from landing/<feed>/ into raw.<feed>.

Each asset carries a check, `newest_file_landed` (WARN, not blocking): it fails while the feed's newest file (the
last in delivery order: modification time, then name) is one that failed. In the run where a file first fails the
asset itself fails (no check result); from the next run, landing passes it over as `failed_before` and the asset
materialises: without the check the feed would show green in the UI while its newest delivery never landed. It
passes again once a later file lands, or the bad file is removed (the sensor then lands the feed again). (A
replacement copied with its original, older modification time, e.g. `cp -p`, sorts before the bad file: remove
the bad one.)
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.defs.landing.loader import FeedResult, FileResult, land_feed, unlanded_message
from orchestration.lib.feeds import Feed, registry
from orchestration.lib.metadata import safe_metadata, safe_text
from orchestration.lib.resources import SettingsResource, warehouse_connection

LANDING_GROUP = "landing"
NEWEST_FILE_LANDED = "newest_file_landed"
# statuses of a file that did not land: now (the asset raises) or before (passed over, the asset materialises)
NOT_LANDED = ("failed", "failed_before")


def landing_asset_key(feed_name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", feed_name])


def newest_file_check(feed: Feed, result: FeedResult) -> dg.AssetCheckResult:
    """Whether the feed's newest file landed (or had landed before). land_feed lands files in delivery order, so
    the newest is the last of result.files and no later file exists. Metadata: file names and counts, as the
    asset's own `files` metadata, never values."""
    newest = result.files[-1] if result.files else None
    failed = newest is not None and newest.status in NOT_LANDED
    metadata = {"newest_file": newest.file_name if newest else None,
                "newest_file_status": newest.status if newest else None,
                "files_not_landed": sum(f.status in NOT_LANDED for f in result.files)}
    description = (f"{feed.name}: the newest file, {newest.file_name}, did not land ({checked_reason(newest)}); the "
                   "feed's rows are as of its last good file until a later file lands or this one is removed"
                   if failed else None)
    return dg.AssetCheckResult(check_name=NEWEST_FILE_LANDED, passed=not failed, severity=dg.AssetCheckSeverity.WARN,
                               metadata=safe_metadata(metadata), description=description)


def checked_reason(result: FileResult) -> str | None:
    """The loader's reason for a file, for a description or log line (which no metadata check sees): refused whole
    if it carries an identifier-shaped value. The loader writes columns, counts and positions, never values; this
    is the net under it. raw._deliveries.reason in the warehouse keeps the loader's text."""
    if result.reason is None:
        return None
    return safe_text(result.reason, "reason withheld here, as it looks like it carries an identifier "
                                    f"(raw._deliveries keeps it, delivery {result.delivery_id})")


def failure_line(feed: Feed, result: FileResult) -> str:
    reason = checked_reason(result)
    if reason is None or reason != result.reason:  # no reason, or withheld: say which file
        return f"{feed.name}: {result.file_name} could not land" + (f": {reason}" if reason else "")
    return reason


def build_landing_asset(feed: Feed) -> dg.AssetsDefinition:
    @dg.asset(
        key=landing_asset_key(feed.name),
        group_name=LANDING_GROUP,
        kinds={"duckdb", feed.format},
        description=f"{feed.description}\n\nLanded from `landing/{feed.name}/{feed.file_pattern}` "
        f"({feed.format}); unparseable rows go to `raw._rejects`.",
        tags={"system": feed.system},
        metadata={"file_pattern": feed.file_pattern, "columns": len(feed.columns)},
        check_specs=[dg.AssetCheckSpec(
            NEWEST_FILE_LANDED, asset=landing_asset_key(feed.name), blocking=False,
            description="Fails (WARN) while the feed's newest file in landing/ (delivery order: modification time, "
                        "then name) is one that failed to land (from the run after it failed): a file passed over as failed_before "
                        "leaves the asset green. Passes once a later file lands or the bad file is removed.")],
    )
    def _land(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: SettingsResource):
        with warehouse_connection(duckdb) as con:
            result = land_feed(con, feed, settings.get().landing_dir)
            raw_rows = con.execute(f"select count(*) from {feed.raw_table}").fetchall()[0][0]
            rejects_total = con.execute(
                "select count(*) from raw._rejects where feed = ?", [feed.name]).fetchall()[0][0]
            # each file's sha256 as the loader hashed it (every status has a row under its delivery id): the sensor
            # compares the files in landing/ with them, so a file copied or touched again starts no run
            sha256 = dict(con.execute("select distinct delivery_id, file_sha256 from raw._deliveries where feed = ?",
                                      [feed.name]).fetchall())
        metadata = safe_metadata({
            "files_landed": result.count("landed"),
            "files_already_landed": result.count("skipped"),
            "files_failed": len(result.failures),
            "files_failed_before": result.count("failed_before"),
            "files_not_matching_pattern": result.files_not_matching_pattern,
            "rows_landed": result.rows_landed,
            "rows_rejected": result.rows_rejected,
            "raw_rows_total": raw_rows,
            "rejects_total": rejects_total,
            "dagster/row_count": raw_rows,
            "files": [{"file": f.file_name, "delivery": f.delivery_id, "sha256": sha256.get(f.delivery_id),
                       "status": f.status, "rows": f.rows_landed, "rejected": f.rows_rejected}
                      | ({"note": checked_reason(f)} if f.reason and f.status in ("landed", "skipped") else {})
                      for f in result.files],
        })
        if result.files_not_matching_pattern:
            # they never land, so say so on every run until they are renamed or removed (a count: names may be personal)
            context.log.warning(f"{feed.name}: "
                                f"{unlanded_message(feed.name, result.files_not_matching_pattern, [feed])}")
        for noted in result.files:
            # an older extract landed late, a resend under a new name, rows read as UTF-8: the loader's own text
            if noted.reason and noted.status in ("landed", "skipped"):
                context.log.warning(f"{feed.name}: {noted.file_name}: {checked_reason(noted)}")
        for failed in result.files:
            if failed.status == "failed_before":
                context.log.warning(
                    f"{feed.name}: {failed.file_name} is a file that failed before ({checked_reason(failed)}); not "
                    "recorded again, and skipped until a different file arrives")
        if result.failures:
            # Fail this feed only: other feeds' assets run on, this feed's downstream assets are skipped.
            # Reasons are the loader's own text (columns, counts, line numbers), never the file's values; checked
            # all the same, as the description reaches the event log, the UI and compute logs unfiltered.
            raise dg.Failure(
                description="\n".join(failure_line(feed, f) for f in result.failures),
                metadata=metadata,
            )
        context.log.info(
            f"{feed.name}: {result.count('landed')} file(s) landed, {result.count('skipped')} already landed, "
            f"{result.rows_landed} rows, {result.rows_rejected} rejected")
        return dg.MaterializeResult(metadata=metadata, check_results=[newest_file_check(feed, result)])

    return _land


landing_assets = [build_landing_asset(feed) for feed in registry().values()]
