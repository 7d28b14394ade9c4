"""A return's manifest records the deliveries its marts were built from (returns.build.built_from): those the last
staging build read, not those landed since."""

from __future__ import annotations

import duckdb


def test_a_delivery_landed_after_staging_ran_is_listed_only_once_staging_reads_it(pipeline_copy):
    from linkage.warehouse import dbt_build
    from returns.build import built_from

    with duckdb.connect(str(pipeline_copy.warehouse)) as con:
        before = built_from(con)
        feed = sorted(before["feeds"])[0]
        # a delivery lands after staging ran: no staging table or mart holds its rows yet
        con.execute("""insert into raw._deliveries by name
            select * replace (? as delivery_id, 'late_delivery.csv' as file_name, ? as file_sha256,
                              0 as rows_landed, cast(now() as timestamp) as landed_at, false as full_extract)
            from raw._deliveries where feed = ? and status = 'landed' order by landed_at desc limit 1""",
                    [f"{feed}:{'0' * 16}", "0" * 64, feed])
        unchanged = built_from(con) == before
    assert unchanged, "a delivery no mart holds was listed"

    dbt_build(pipeline_copy.data_dir, "path:models/staging")
    with duckdb.connect(str(pipeline_copy.warehouse), read_only=True) as con:
        after = built_from(con)
    assert after["feeds"][feed]["deliveries"] == before["feeds"][feed]["deliveries"] + 1
    assert after["feeds"][feed]["files_sha256"] != before["feeds"][feed]["files_sha256"]
    assert {k: v for k, v in after["feeds"].items() if k != feed} == \
        {k: v for k, v in before["feeds"].items() if k != feed}


def test_the_snapshot_is_downstream_of_every_feed_so_each_restaging_run_rebuilds_it():
    """The landing sensor and the land_and_stage job select what lies downstream of the landing assets: the
    snapshot must be there for every feed, else runs that restage a feed leave built_from behind."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.lib.feeds import registry

    graph = defs.resolve_asset_graph()
    snapshot = dg.AssetKey(["staging", "stg_landing__deliveries"])
    missing = [name for name in registry()
               if snapshot not in dg.AssetSelection.assets(dg.AssetKey(["raw", name])).downstream().resolve(graph)]
    assert not missing, f"not downstream of: {missing}"
