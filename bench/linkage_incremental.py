"""Benchmark: a delivery standardised and linked into the person index in place, against a full run on the
same state.

Builds a standardised warehouse for N synthetic persons (generation, landing and dbt are not timed), holds
back a random share of the person records' source rows (--new-share, default 1%, from
intermediate.int_person_records), standardises and indexes the rest with a full run, then makes the delivery:
the held-back rows arrive, and optionally a share of the indexed records' rows change (--changed-share: a new
postcode) or are withdrawn (--withdrawn-share), and optionally one feed's full extract arrives again
(--redeliver-feed: its rows unchanged, under another delivery, file name and load time, in reverse row order).
From that one state, each on its own copy of the warehouse, it
times the two steps a delivery costs, once incrementally and once in full:
- standardise: dbt's `int_person_records_standardised` (incremental: the changed records; full: --full-refresh,
  every record), as dbt's own execution time of the model (the SQL) and as the wall time of its `dbt build`;
- link: `linkage.index.update_person_index` end to end (read the delta, score, recluster, carry ids, lineage,
  review queue, writes), chosen automatically (in place) and in full;
and checks that both give every record the same standardised values, the same person id and every pair the
same merge decision. `whole_link_seconds` is standardise (SQL) + link, the issue's "full run" and its
incremental counterpart; `records_restandardised` counts the records the incremental build redid (those whose
stored fingerprint changed, or new). Prints one JSON line.

Usage: python bench/linkage_incremental.py [--persons N] [--new-share 0.01] [--changed-share 0]
       [--withdrawn-share 0] [--redeliver-feed FEED] [--keep DIR] [--reuse] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "int_person_records_standardised"
ROWS = "intermediate.int_person_records"


def _sample(share: float, salt: str) -> str:
    """A reproducible share of the records, chosen by a hash of the id."""
    return f"hash(person_record_id || '{salt}') % 1000000 < {int(share * 1_000_000)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--changed-share", type=float, default=0.0)
    parser.add_argument("--withdrawn-share", type=float, default=0.0)
    parser.add_argument("--redeliver-feed", default=None,
                        help="a feed (source_feed) whose full extract arrives again, unchanged, with the delivery")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated data and warehouse here")
    parser.add_argument("--reuse", action="store_true", help="reuse --keep's warehouse if it is already built")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each mode this many times, each on a fresh copy, and keep the fastest")
    args = parser.parse_args()

    import duckdb

    from linkage.index import update_person_index
    from linkage.run import INPUT_TABLE
    from linkage.warehouse import build_standardised_warehouse, dbt_build

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-linkage-incr-"))
    reused = args.reuse and (data_dir / "warehouse.duckdb").exists()
    if not reused:
        if data_dir.exists():
            shutil.rmtree(data_dir)
        build_standardised_warehouse(args.persons, args.seed, data_dir, {})
    work = Path(tempfile.mkdtemp(prefix="bench-linkage-incr-work-"))
    try:
        # each state in a folder of its own, as warehouse.duckdb: dbt names the database after the file
        state = work / "state" / "warehouse.duckdb"
        state.parent.mkdir()
        shutil.copy(data_dir / "warehouse.duckdb", state)
        new = _sample(args.new_share, "new")
        con = duckdb.connect(str(state))
        # the index before the delivery: everything but the held-back records' rows
        con.execute(f"create table intermediate.__bench_held as select * from {ROWS} where {new}")
        con.execute(f"delete from {ROWS} where {new}")
        con.close()
        dbt_build(state.parent, MODEL)
        con = duckdb.connect(str(state))
        update_person_index(con, run_id="bench-index")
        # the delivery
        con.execute(f"insert into {ROWS} select * from intermediate.__bench_held")
        con.execute("drop table intermediate.__bench_held")
        changed = con.execute(f"select count(distinct person_record_id) from {ROWS} "
                              f"where {_sample(args.changed_share, 'changed')} and not {new}").fetchall()[0][0]
        con.execute(f"update {ROWS} set postcode = 'ZZ9 9ZZ' where {_sample(args.changed_share, 'changed')} "
                    f"and not {new}")
        withdrawn = con.execute(f"select count(distinct person_record_id) from {ROWS} "
                                f"where {_sample(args.withdrawn_share, 'withdrawn')} and not {new}").fetchall()[0][0]
        con.execute(f"delete from {ROWS} where {_sample(args.withdrawn_share, 'withdrawn')} and not {new}")
        redelivered = 0
        if args.redeliver_feed:
            redelivered = con.execute(f"""update {ROWS} set source_delivery_id = source_delivery_id || '-again',
                                              source_file_name = 'again-' || source_file_name,
                                              source_loaded_at = source_loaded_at + interval 1 day,
                                              source_row_number = 100000000 - source_row_number
                                          where source_feed = ?""", [args.redeliver_feed]).fetchall()[0][0]
            if not redelivered:
                raise SystemExit(f"no rows of feed {args.redeliver_feed!r} in {ROWS}")
        source_rows = con.execute(f"select count(*) from {ROWS}").fetchall()[0][0]
        delivered_rows = con.execute(f"select count(*) from {ROWS} where {new}").fetchall()[0][0]
        con.close()

        runs = {}
        for _ in range(args.repeat):
            for mode in ("auto", "full"):
                path = work / mode / "warehouse.duckdb"
                path.parent.mkdir(exist_ok=True)
                shutil.copy(state, path)
                # write the copy out first: otherwise the run's first commit waits for the copy's 200 MB at
                # 1M source rows (0.15 s, a tenth of an update in place), which an index in service never does
                os.sync()
                started = time.perf_counter()
                standardise_sql = dbt_build(path.parent, MODEL, full_refresh=mode == "full")[MODEL]
                standardise_build = time.perf_counter() - started
                os.sync()
                con = duckdb.connect(str(path))
                started = time.perf_counter()
                outcome = update_person_index(con, run_id=f"bench-{mode}", mode=mode)
                seconds = time.perf_counter() - started
                if mode in runs and runs[mode]["seconds"] + runs[mode]["standardise_sql"] <= seconds + standardise_sql:
                    con.close()
                    continue
                # redone: new, or a stored fingerprint other than before the delivery's
                con.execute(f"attach '{state}' as before_delivery (read_only)")
                restandardised = con.execute(f"""select count(*) from (
                    select person_record_id, source_rows_fingerprint from {INPUT_TABLE}
                    except select person_record_id, source_rows_fingerprint
                    from before_delivery.{INPUT_TABLE})""").fetchall()[0][0]
                con.execute("detach before_delivery")
                standardised = con.execute(f"select * exclude (source_rows_fingerprint) from {INPUT_TABLE} "
                                           "order by person_record_id").df()
                standardised = standardised[sorted(standardised.columns)]  # an added column comes last
                crosswalk = con.execute("select person_record_id, person_id from linkage.person_crosswalk "
                                        "order by person_record_id").df()
                pairs = con.execute("select person_record_id_l, person_record_id_r, merged "
                                    "from linkage.pairwise_predictions order by all").df()
                con.close()
                runs[mode] = {"seconds": seconds, "standardise_sql": standardise_sql,
                              "standardise_build": standardise_build, "figures": outcome.figures,
                              "restandardised": restandardised,
                              "standardised": standardised, "crosswalk": crosswalk, "pairs": pairs}
        incremental, full = runs["auto"], runs["full"]
        same_ids = incremental["crosswalk"].merge(full["crosswalk"], on="person_record_id", how="outer")
        key = ["person_record_id_l", "person_record_id_r"]
        same_pairs = incremental["pairs"].merge(full["pairs"], on=key, how="outer")
        f = incremental["figures"]
        whole = {mode: run["standardise_sql"] + run["seconds"] for mode, run in runs.items()}
        print(json.dumps({
            "bench": "linkage_incremental",
            "persons_generated": None if reused else args.persons,
            "source_rows": int(source_rows),
            "person_records": int(f["person_records"]),
            "delivery": {"new_records": f["new_records"], "new_source_rows": int(delivered_rows),
                         "changed_records": int(changed), "withdrawn_records": int(withdrawn),
                         "redelivered_feed": args.redeliver_feed, "redelivered_rows": int(redelivered)},
            "mode_chosen": f["mode"],
            "repeats": args.repeat,
            "whole_link_seconds": {"full": round(whole["full"], 3), "incremental": round(whole["auto"], 3),
                                   "ratio": round(whole["auto"] / whole["full"], 4)},
            "standardise_seconds": {"full": round(full["standardise_sql"], 3),
                                    "incremental": round(incremental["standardise_sql"], 3),
                                    "full_dbt_build": round(full["standardise_build"], 3),
                                    "records_restandardised": int(incremental["restandardised"]),
                                    "incremental_dbt_build": round(incremental["standardise_build"], 3)},
            "index_update_seconds": {"full": round(full["seconds"], 3), "incremental": round(incremental["seconds"], 3),
                                     "ratio": round(incremental["seconds"] / full["seconds"], 4)},
            "incremental_seconds": {k: f.get(k) for k in ("predict_seconds", "reach_seconds", "cluster_seconds",
                                                          "review_queue_seconds", "link_seconds")},
            "blocking_candidates": f.get("blocking_candidates"),
            "records_reclustered": f.get("records_reclustered"),
            "same_standardised_records": bool(incremental["standardised"].equals(full["standardised"])),
            "same_person_ids": float((same_ids["person_id_x"] == same_ids["person_id_y"]).mean()),
            "same_pairs_and_merges": float((same_pairs["merged_x"] == same_pairs["merged_y"]).mean()),
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
