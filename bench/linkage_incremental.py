"""Benchmark: a full linkage run against an incremental one for a 1% delivery.

Builds a standardised warehouse for N synthetic persons (generation, landing and dbt are not timed), holds
back a random 1% of the person records, links the rest (the existing index), then puts them back and times

  - link:   linkage.run.link_persons on everything vs linkage.incremental.link_incremental (predict +
            cluster + ids, in memory);
  - index:  linkage.index.update_person_index end to end (read records, fingerprints, link, lineage,
            review queue, writes), mode auto (incremental) vs mode full, on the same warehouse;

and checks that both give every record the same person id. Prints one JSON line.

Usage: python bench/linkage_incremental.py [--persons N] [--new-share 0.01] [--keep DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated data and warehouse here")
    parser.add_argument("--reuse", action="store_true", help="reuse --keep's warehouse if it is already built")
    args = parser.parse_args()

    import duckdb
    import numpy as np
    import pyarrow as pa

    from linkage.incremental import link_incremental
    from linkage.index import update_person_index
    from linkage.run import INPUT_TABLE, link_persons, read_records
    from linkage.train import load_model
    from linkage.warehouse import build_standardised_warehouse

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-linkage-incr-"))
    if not (args.reuse and (data_dir / "warehouse.duckdb").exists()):
        if data_dir.exists():
            shutil.rmtree(data_dir)
        build_standardised_warehouse(args.persons, args.seed, data_dir, {})
    work = Path(tempfile.mkdtemp(prefix="bench-linkage-incr-work-"))
    try:
        warehouse = work / "warehouse.duckdb"
        shutil.copy(data_dir / "warehouse.duckdb", warehouse)
        con = duckdb.connect(str(warehouse))
        records = read_records(con)
        ids = np.array(records["person_record_id"].to_pylist(), dtype=object)
        new = np.random.default_rng(args.seed).random(len(ids)) < args.new_share
        model = load_model()

        # 1. in memory: the link step alone
        existing = link_persons(records.filter(pa.array(~new)))
        started = time.perf_counter()
        full = link_persons(records, previous=existing.crosswalk)
        full_link = time.perf_counter() - started
        started = time.perf_counter()
        incremental = link_incremental(records, ids[new].tolist(), existing.pairs, existing.crosswalk, model)
        incremental_link = time.perf_counter() - started
        a = full.crosswalk.sort_values("person_record_id", ignore_index=True)
        b = incremental.crosswalk.sort_values("person_record_id", ignore_index=True)
        link_agree = float((a["person_id"] == b["person_id"]).mean())
        on_new = a["person_record_id"].isin(set(ids[new]))
        link_agree_new = float((a.loc[on_new, "person_id"] == b.loc[on_new, "person_id"]).mean())

        # 2. end to end on the warehouse: index the 99%, then the delivery arrives
        con.execute(f"create table intermediate.__bench_all as select * from {INPUT_TABLE}")
        con.register("__bench_new", pa.table({"person_record_id": ids[new].tolist()}))
        con.execute(f"delete from {INPUT_TABLE} where person_record_id in (select person_record_id from __bench_new)")
        update_person_index(con, run_id="bench-0")
        con.execute(f"create or replace table {INPUT_TABLE} as select * from intermediate.__bench_all")
        started = time.perf_counter()
        incr = update_person_index(con, run_id="bench-incremental")
        incremental_index = time.perf_counter() - started
        incremental_crosswalk = incr.result.crosswalk.sort_values("person_record_id", ignore_index=True)
        started = time.perf_counter()
        again = update_person_index(con, run_id="bench-full", mode="full")
        full_index = time.perf_counter() - started
        full_crosswalk = again.result.crosswalk.sort_values("person_record_id", ignore_index=True)
        index_agree = float((incremental_crosswalk["person_id"] == full_crosswalk["person_id"]).mean())
        con.close()
        print(json.dumps({
            "bench": "linkage_incremental",
            "persons_generated": args.persons,
            "person_records": int(records.num_rows),
            "new_records": int(new.sum()),
            "new_share": args.new_share,
            "link_seconds": {"full": round(full_link, 2), "incremental": round(incremental_link, 2),
                             "ratio": round(incremental_link / full_link, 3)},
            "index_update_seconds": {"full": round(full_index, 2), "incremental": round(incremental_index, 2),
                                     "ratio": round(incremental_index / full_index, 3),
                                     "mode_chosen": incr.figures["mode"]},
            "records_reclustered": incremental.figures["records_reclustered"],
            # the new records get a full run's ids; elsewhere an old pair whose weight drifts across the
            # threshold with the new term frequencies is left as it was until the next full run
            "same_person_ids_new_records": link_agree_new,
            "same_person_ids_link": link_agree,
            "same_person_ids_index": index_agree,
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
