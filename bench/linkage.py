"""Benchmark: person linkage on ~1M source records, side by side with plain Splink on the same records.

Prints one JSON line. Both sides start from the same input, `intermediate.int_person_records` (one row
per delivered source row, in the common vocabulary, uncleaned), and each pays for what it needs:

- ours: standardise (dbt model int_person_records_standardised, which cleans the rows and folds them into
  person records), read the person records, load the committed model, predict, cluster. The standardise
  step is run for real each time and timed two ways: `standardise_sql` is dbt's own execution time of
  that model (run_results.json: the SQL in DuckDB, what the comparison counts) and
  `standardise_dbt_build` is the wall time of `dbt build --select path:models/intermediate/person_records
  --full-refresh` (dbt start-up and parse, the int_person_records union and the models' tests as well; the
  full refresh makes the incremental model standardise every record, as a first build does). Training on the
  same records is timed separately (`train_seconds`, not in the total).
- plain_splink: the settings of Splink's person-deduplication tutorial (historical_50k:
  ForenameSurnameComparison, DateOfBirthComparison, PostcodeComparison; block_on(first_name, surname) and
  (surname, dob); its prior, u and two EM training calls; connected components at 0.95) on the source rows,
  with only what the tutorial does to its data (DOB as ISO text, a forename-surname concat column). Its
  time is read-and-prepare, train, predict and cluster (each training call is also timed). Its DuckDB gets
  a memory limit (--baseline-memory-limit, default 6GB, spilling to disk beyond it): at DuckDB's default
  (80% of RAM) it grew to ~20 GB on the raw rows, where the tutorial's EM on block_on(dob) compares ~74M
  pairs at 1M rows. And a time limit (--baseline-timeout): a run stopped by it reports the steps it
  finished, and the ratios become bounds.

Each side runs in its own process (this script re-run with --side), so each peak RSS is its own; ours is
the larger of the linkage process and its dbt build. Accuracy is pairwise precision/recall/F1 against
the synthetic truth at SOURCE-ROW granularity for both sides: every source row carries its true person
(truth/source_records.parquet joined on feed, file and row number); ours assigns each row the person of
its person record, the baseline clusters rows directly. (Per person record, ours is also given as
`per_person_record`, the unit the warehouse links, with each record's majority true person.)

A secondary figure, `plain_splink_on_our_prepared_records`, is the tutorial on our standardised,
de-duplicated person records (it gets our standardisation for free), evaluated per person record.

Usage: python bench/linkage.py [--persons N] [--keep DIR [--reuse]] [--no-baseline] [--no-train]
With --reuse and an existing DIR/warehouse.duckdb, generation, landing and staging are skipped; the
person-records models are rebuilt in that warehouse either way. Set DBT_TARGET_PATH to keep dbt's
target folder private.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIDES = ("ours", "plain_splink", "plain_splink_prepared")
STANDARDISE_SELECT = "path:models/intermediate/person_records"
STANDARDISED_MODEL = "int_person_records_standardised"
SOURCE_ROWS = "intermediate.int_person_records"
# truth_labels' table, one row per source row keyed by record_key (the baseline's unique id)
SOURCE_ROW_LABELS = (f"(select record_key as person_record_id, source_feed, source_file_name, "
                     f"source_row_number from {SOURCE_ROWS})")
TARGET_SECONDS = 45
TARGET_RSS_MB = 4096


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------- sides (each in its own process)

def side_ours(data_dir: Path, out_dir: Path, with_training: bool) -> dict:
    import duckdb

    from linkage.run import link_persons, read_records
    from linkage.train import train
    from linkage.warehouse import dbt_build

    seconds = {}
    started = time.perf_counter()
    models = dbt_build(data_dir, STANDARDISE_SELECT, full_refresh=True)  # every record, as a first build does
    seconds["standardise_dbt_build"] = time.perf_counter() - started
    seconds["standardise_sql"] = models[STANDARDISED_MODEL]

    started = time.perf_counter()
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        records = read_records(con)
    finally:
        con.close()
    seconds["read_records"] = time.perf_counter() - started

    result = link_persons(records)  # the committed model, as a run uses it
    f = result.figures
    seconds.update(load_model=f["train_seconds"], predict=f["predict_seconds"], cluster=f["cluster_seconds"])
    rss_linkage = peak_rss_mb()
    result.crosswalk[["person_record_id", "person_id"]].to_parquet(out_dir / "ours.parquet", index=False)

    out = {
        "person_records": int(records.num_rows),
        "seconds": seconds,
        "peak_rss_mb_linkage_process": rss_linkage,
        "peak_rss_mb_dbt_build": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "pairs_scored": f["pairs_scored_above_floor"],
        "largest_cluster_size": f["largest_cluster_size"],
    }
    if with_training:
        started = time.perf_counter()
        train(records, model_path=data_dir / "bench_model.json")
        out["train_seconds"] = round(time.perf_counter() - started, 2)
        out["peak_rss_mb_with_training"] = peak_rss_mb()
    return out


class Progress:
    """Times steps and writes the seconds so far to a file after each, so a side stopped for taking too
    long still reports which steps it finished and how long they took."""

    def __init__(self, path: Path):
        self.path, self.seconds = path, {}

    def step(self, name: str, call):
        started = time.perf_counter()
        value = call()
        self.seconds[name] = time.perf_counter() - started
        self.path.write_text(json.dumps(self.seconds), encoding="utf-8")
        return value


def plain_splink(table, unique_id: str, memory_limit: str, spill_dir: Path,
                 progress: Progress) -> tuple[dict, "object"]:
    """Splink's deduplication tutorial, as published: its settings, training calls and clustering.
    table: unique_id, first_name, surname, dob (ISO text), postcode, first_name_surname_concat.
    memory_limit: DuckDB's, spilling to spill_dir beyond it (its default, 80% of RAM, would take the machine).
    Returns the timings and the clusters (unique_id, cluster_id) as pandas."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    from linkage.backend import DuckDBBackend

    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=unique_id,
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("surname", "dob"),
        ],
        comparisons=[
            cl.ForenameSurnameComparison("first_name", "surname",
                                         forename_surname_concat_col_name="first_name_surname_concat"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode"),
        ],
        retain_intermediate_calculation_columns=True,
    )
    backend = DuckDBBackend(memory_limit=memory_limit)
    backend.con.execute(f"set temp_directory = '{spill_dir.as_posix()}'")
    training = {
        "prior": lambda: linker.training.estimate_probability_two_random_records_match(
            [block_on("first_name", "surname", "dob"), block_on("dob", "postcode")], recall=0.6),
        "u": lambda: linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1),
        "em_first_name_surname": lambda: linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("first_name", "surname")),
        "em_dob": lambda: linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob")),
    }
    try:
        linker = backend.linker(backend.load(table, "baseline"), settings)
        for step, call in training.items():
            progress.step(f"train_{step}", call)
        predictions = progress.step("predict", lambda: linker.inference.predict(threshold_match_probability=0.2))
        clusters = progress.step("cluster", lambda: backend.to_arrow(
            linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=0.95)
        ).select([unique_id, "cluster_id"]).to_pandas())
    finally:
        backend.close()
    return dict(progress.seconds), clusters


def tutorial_input(con, query: str):
    """The tutorial's own preparation: DOB as ISO text and a 'forename surname' column, nothing else."""
    return con.sql(f"""
        select * exclude (dob), strftime(dob, '%Y-%m-%d') as dob,
               first_name || ' ' || surname as first_name_surname_concat  -- null if either is, as in pandas
        from ({query})
    """).to_arrow_table()


def side_plain_splink(data_dir: Path, out_dir: Path, prepared: bool, memory_limit: str) -> dict:
    import duckdb

    from linkage.run import INPUT_TABLE

    if prepared:
        unique_id, query = "person_record_id", (
            f"select person_record_id, first_name, surname, dob, postcode from {INPUT_TABLE}")
    else:
        unique_id, query = "record_key", (
            f"select record_key, first_name, surname, dob, postcode from {SOURCE_ROWS}")
    side = "plain_splink_prepared" if prepared else "plain_splink"
    progress = Progress(out_dir / f"{side}.progress.json")
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        table = progress.step("read_and_prepare", lambda: tutorial_input(con, query))
    finally:
        con.close()
    steps, clusters = plain_splink(table, unique_id, memory_limit, out_dir / "duckdb_spill", progress)
    train_calls = {k.removeprefix("train_"): round(v, 2) for k, v in steps.items() if k.startswith("train_")}
    seconds = {"read_and_prepare": steps["read_and_prepare"], "train": sum(train_calls.values()),
               "predict": steps["predict"], "cluster": steps["cluster"]}
    clusters = clusters.rename(columns={unique_id: "person_record_id", "cluster_id": "person_id"})
    clusters.to_parquet(out_dir / f"{side}.parquet", index=False)
    return {
        "input_rows": int(table.num_rows),
        "seconds": seconds,
        "train_calls_seconds": train_calls,
        "peak_rss_mb": peak_rss_mb(),
        "duckdb_memory_limit": memory_limit,
        "largest_cluster_size": int(clusters.groupby("person_id").size().max()),
    }


def run_side(side: str, data_dir: Path, out_dir: Path, args) -> dict:
    """This script in a fresh process for one side; its figures come back through a JSON file."""
    cmd = [sys.executable, __file__, "--side", side, "--keep", str(data_dir), "--side-out", str(out_dir),
           "--baseline-memory-limit", args.baseline_memory_limit]
    if args.no_train:
        cmd.append("--no-train")
    timeout = None if side == "ours" else args.baseline_timeout
    try:
        exit_code = subprocess.run(cmd, check=side == "ours", timeout=timeout).returncode
    except subprocess.TimeoutExpired:  # run() has killed it
        exit_code = None
    result = out_dir / f"{side}.json"
    if exit_code == 0 and result.exists():
        return json.loads(result.read_text(encoding="utf-8"))
    progress = out_dir / f"{side}.progress.json"
    done = json.loads(progress.read_text(encoding="utf-8")) if progress.exists() else {}
    if exit_code is None:
        return {"finished": False, "stopped_after_seconds": timeout, "seconds_of_steps_finished": done}
    return {"finished": False, "exit_code": exit_code, "seconds_of_steps_finished": done}


# ---------------------------------------------------------------- evaluation and the report

def evaluate(data_dir: Path, out_dir: Path, sides: list[str]) -> dict[str, dict]:
    """Accuracy of each side's clusters; at source-row granularity, plus per person record for ours and
    for the baseline on our prepared records."""
    import duckdb

    from linkage.evaluate import accuracy, truth_labels

    truth = data_dir / "truth"
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        row_labels = truth_labels(con, truth, table=SOURCE_ROW_LABELS)
        out = {}
        if "ours" in sides:
            path = (out_dir / "ours.parquet").as_posix()
            ours_rows = con.sql(f"""
                select r.record_key as person_record_id, c.person_id
                from {SOURCE_ROWS} r join read_parquet('{path}') c using (person_record_id)
            """).df()
            out["ours"] = accuracy(ours_rows, row_labels)
            record_labels = truth_labels(con, truth)
            out["ours_per_person_record"] = accuracy(
                con.sql(f"select * from read_parquet('{path}')").df(), record_labels)
        if (out_dir / "plain_splink.parquet").exists():
            out["plain_splink"] = accuracy(
                con.sql(f"select * from read_parquet('{(out_dir / 'plain_splink.parquet').as_posix()}')").df(),
                row_labels)
        if (out_dir / "plain_splink_prepared.parquet").exists():
            out["plain_splink_prepared"] = accuracy(
                con.sql(f"select * from read_parquet('{(out_dir / 'plain_splink_prepared.parquet').as_posix()}')"
                        ).df(), truth_labels(con, truth))
    finally:
        con.close()
    return out


def scores(acc: dict) -> dict:
    return {"precision": acc["pairwise_precision"], "recall": acc["pairwise_recall"], "f1": acc["pairwise_f1"],
            "persons_found_whole_share": acc["persons_found_whole_share"]}


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def report(args, data_dir: Path, prep: dict, source_records: int, figures: dict, acc: dict) -> dict:
    import pyarrow.parquet as pq

    o = figures["ours"]
    s = o["seconds"]
    link = s["read_records"] + s["load_model"] + s["predict"] + s["cluster"]
    total = s["standardise_sql"] + link
    total_dbt = s["standardise_dbt_build"] + link
    rss = max(o["peak_rss_mb_linkage_process"], o["peak_rss_mb_dbt_build"])
    ours = {
        "person_records": o["person_records"],
        "seconds": {**{k: round(v, 2) for k, v in s.items()}, "total": round(total, 2),
                    "total_with_dbt_build": round(total_dbt, 2)},
        "train_seconds_separately": o.get("train_seconds"),
        "records_per_second": round(source_records / total),
        "records_per_second_with_dbt_build": round(source_records / total_dbt),
        "peak_rss_mb": rss,
        "peak_rss_mb_linkage_process": o["peak_rss_mb_linkage_process"],
        "peak_rss_mb_dbt_build": o["peak_rss_mb_dbt_build"],
        "peak_rss_mb_with_training": o.get("peak_rss_mb_with_training"),
        "pairs_scored": o["pairs_scored"],
        "largest_cluster_size": o["largest_cluster_size"],
        **scores(acc["ours"]),
        "per_person_record": scores(acc["ours_per_person_record"]),
    }
    out = {
        "bench": "linkage",
        "persons_generated": pq.read_metadata(data_dir / "truth" / "persons.parquet").num_rows,
        "source_records": source_records,
        "accuracy_granularity": "source row (both sides)",
        "ours": ours,
    }

    def baseline(name: str) -> dict:
        b = figures[name]
        if name not in acc:  # stopped or failed: the steps it finished
            done = {k: round(v, 2) for k, v in b["seconds_of_steps_finished"].items()}
            return {**b, "seconds_of_steps_finished": done, "duckdb_memory_limit": args.baseline_memory_limit}
        seconds = {k: round(v, 2) for k, v in b["seconds"].items()}
        seconds["total"] = round(sum(b["seconds"].values()), 2)
        return {"input_rows": b["input_rows"], "seconds": seconds, "train_calls_seconds": b["train_calls_seconds"],
                "records_per_second": round(b["input_rows"] / seconds["total"]),
                "peak_rss_mb": b["peak_rss_mb"], "duckdb_memory_limit": b["duckdb_memory_limit"],
                "largest_cluster_size": b["largest_cluster_size"], **scores(acc[name])}

    finished = "plain_splink" in acc
    if "plain_splink" in figures:
        base = out["plain_splink"] = {"input": f"{SOURCE_ROWS}, one row per source row", **baseline("plain_splink")}
    if not finished and figures.get("plain_splink", {}).get("stopped_after_seconds"):
        # it did not finish: ours took at most this share of the time it was given
        out["ratio_ours_vs_plain_splink"] = {
            "total_seconds_at_most": ratio(total, figures["plain_splink"]["stopped_after_seconds"]),
            "total_seconds_with_dbt_build_at_most": ratio(total_dbt, figures["plain_splink"]["stopped_after_seconds"]),
        }
    if finished:
        out["ratio_ours_vs_plain_splink"] = {
            "total_seconds": ratio(total, base["seconds"]["total"]),
            "total_seconds_with_dbt_build": ratio(total_dbt, base["seconds"]["total"]),
            # without the baseline's training (ours loads a committed model; the tutorial has none to load)
            "predict_plus_cluster_seconds": ratio(s["predict"] + s["cluster"],
                                                  base["seconds"]["predict"] + base["seconds"]["cluster"]),
            "peak_rss_mb": ratio(rss, base["peak_rss_mb"]),
            **{k: ratio(ours[k], base[k], 4) for k in ("precision", "recall", "f1")},
        }
    out["targets"] = {
        f"ours_under_{TARGET_SECONDS}_s": total < TARGET_SECONDS,
        f"ours_with_dbt_build_under_{TARGET_SECONDS}_s": total_dbt < TARGET_SECONDS,
        f"ours_under_{TARGET_RSS_MB}_mb": rss < TARGET_RSS_MB,
    }
    if finished:
        out["targets"].update(
            ours_at_least_as_fast_as_plain_splink=total <= base["seconds"]["total"],
            ours_more_accurate_f1=ours["f1"] > base["f1"])
    if "plain_splink_prepared" in figures:
        out["plain_splink_on_our_prepared_records"] = {
            "input": "intermediate.int_person_records_standardised (our standardised person records); "
                     "secondary figure, accuracy per person record",
            **baseline("plain_splink_prepared")}
    out["prep_seconds"] = {k: round(v, 2) for k, v in prep.items() if k.endswith("seconds")}
    out["data_dir"] = str(data_dir) if args.keep else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated data and warehouse here")
    parser.add_argument("--reuse", action="store_true", help="reuse --keep's warehouse if it is already built")
    parser.add_argument("--no-baseline", action="store_true", help="ours only")
    parser.add_argument("--no-train", action="store_true", help="skip timing a training run of our model")
    parser.add_argument("--baseline-memory-limit", default="6GB",
                        help="DuckDB memory_limit for plain Splink (beyond it, it spills to disk)")
    parser.add_argument("--baseline-timeout", type=float, default=900,
                        help="stop a plain Splink run after this many seconds (its finished steps are reported)")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # internal: one side, in this process
    parser.add_argument("--side-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:
        if args.side == "ours":
            figures = side_ours(args.keep, args.side_out, with_training=not args.no_train)
        else:
            figures = side_plain_splink(args.keep, args.side_out, prepared=args.side == "plain_splink_prepared",
                                        memory_limit=args.baseline_memory_limit)
        (args.side_out / f"{args.side}.json").write_text(json.dumps(figures), encoding="utf-8")
        return

    import duckdb

    from linkage.warehouse import build_standardised_warehouse

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-linkage-"))
    out_dir = Path(tempfile.mkdtemp(prefix="bench-linkage-sides-"))
    prep: dict = {}
    if args.reuse and (data_dir / "warehouse.duckdb").exists():
        prep["reused"] = True
    else:
        if data_dir.exists():
            shutil.rmtree(data_dir)
        build_standardised_warehouse(args.persons, args.seed, data_dir, prep)
    try:
        sides = ["ours"] if args.no_baseline else list(SIDES)
        # one at a time: on 2 cores, running sides together would slow both
        figures = {side: run_side(side, data_dir, out_dir, args) for side in sides}
        con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
        source_records = con.execute(f"select count(*) from {SOURCE_ROWS}").fetchall()[0][0]
        con.close()
        acc = evaluate(data_dir, out_dir, sides)
        print(json.dumps(report(args, data_dir, prep, int(source_records), figures, acc)))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
