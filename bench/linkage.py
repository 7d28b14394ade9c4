"""Benchmark: person linkage on a generated population, against plain Splink.

Prints one JSON line: source records, person records, seconds (standardise, train, predict, cluster),
records/s, peak RSS, pairwise precision/recall/F1 against the synthetic truth, and the same figures for
plain Splink with the settings of Splink's person-deduplication tutorial (historical_50k: forename-surname,
date-of-birth and postcode comparisons, its blocking and training steps, connected components at 0.95) on
the same standardised records, plus the ratios.

Usage: python bench/linkage.py [--persons N] [--keep DIR] [--no-baseline]
Generation, landing and dbt staging are timed but are not part of the linkage figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def plain_splink(records, labels) -> dict:
    """Splink's deduplication tutorial, as published, on our records (dates as text for its DOB comparison)."""
    import pyarrow.compute as pc
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    from linkage.backend import DuckDBBackend
    from linkage.evaluate import accuracy

    table = records.select(["person_record_id", "first_name", "surname", "dob", "postcode"])
    table = table.set_column(3, "dob", pc.strftime(table["dob"], format="%Y-%m-%d"))
    table = table.append_column("first_name_surname_concat",
                                pc.binary_join_element_wise(table["first_name"], table["surname"], " "))
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="person_record_id",
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
    backend = DuckDBBackend()
    timings = {}
    try:
        started = time.perf_counter()
        linker = backend.linker(backend.load(table, "baseline"), settings)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("first_name", "surname", "dob"), block_on("dob", "postcode")], recall=0.6)
        linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
        timings["train_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        predictions = linker.inference.predict(threshold_match_probability=0.2)
        timings["predict_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=0.95)
        crosswalk = backend.to_arrow(clusters).select(["person_record_id", "cluster_id"]).to_pandas()
        timings["cluster_seconds"] = time.perf_counter() - started
    finally:
        backend.close()
    crosswalk = crosswalk.rename(columns={"cluster_id": "person_id"})
    acc = accuracy(crosswalk, labels)
    largest = int(crosswalk.groupby("person_id").size().max())
    return {**{k: round(v, 2) for k, v in timings.items()}, "precision": acc["pairwise_precision"],
            "recall": acc["pairwise_recall"], "f1": acc["pairwise_f1"], "largest_cluster_size": largest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated data and warehouse here")
    parser.add_argument("--reuse", action="store_true", help="reuse --keep's warehouse if it is already built")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    import duckdb

    from linkage.evaluate import accuracy, truth_labels
    from linkage.run import link_persons, read_records
    from linkage.train import train
    from linkage.warehouse import build_standardised_warehouse

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-linkage-"))
    prep: dict = {}
    if not (args.reuse and (data_dir / "warehouse.duckdb").exists()):
        if data_dir.exists():
            shutil.rmtree(data_dir)
        build_standardised_warehouse(args.persons, args.seed, data_dir, prep)
    try:
        con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
        source_records = con.execute("select count(*) from intermediate.int_person_records").fetchall()[0][0]
        records = read_records(con)
        labels = truth_labels(con, data_dir / "truth")
        con.close()
        rss_before = peak_rss_mb()

        started = time.perf_counter()
        train(records, model_path=data_dir / "bench_model.json")
        train_seconds = time.perf_counter() - started

        result = link_persons(records)  # the committed model, as a run uses it
        acc = accuracy(result.crosswalk, labels)
        f = result.figures
        link_seconds = f["predict_seconds"] + f["cluster_seconds"]
        out = {
            "bench": "linkage",
            "persons_generated": args.persons,
            "source_records": int(source_records),
            "person_records": int(records.num_rows),
            "seconds": {
                "standardise": round(prep.get("standardise_seconds", float("nan")), 2),
                "train": round(train_seconds, 2),
                "predict": round(f["predict_seconds"], 2),
                "cluster": round(f["cluster_seconds"], 2),
            },
            "link_seconds": round(link_seconds, 2),
            "records_per_second": round(source_records / link_seconds) if link_seconds else None,
            "source_records_per_second_incl_standardise": (
                round(source_records / (link_seconds + prep["standardise_seconds"]))
                if "standardise_seconds" in prep else None),
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_mb_before_linkage": rss_before,
            "pairs_scored": f["pairs_scored_above_floor"],
            "largest_cluster_size": f["largest_cluster_size"],
            "precision": acc["pairwise_precision"],
            "recall": acc["pairwise_recall"],
            "f1": acc["pairwise_f1"],
            "persons_found_whole_share": acc["persons_found_whole_share"],
            "prep_seconds": {k: round(v, 2) for k, v in prep.items() if k.endswith("seconds")},
        }
        if not args.no_baseline:
            base = plain_splink(records, labels)
            out["plain_splink"] = base
            base_link = base["predict_seconds"] + base["cluster_seconds"]
            out["ratio_vs_plain_splink"] = {
                "link_seconds": round(link_seconds / base_link, 2) if base_link else None,
                "precision": round(acc["pairwise_precision"] / base["precision"], 4) if base["precision"] else None,
                "recall": round(acc["pairwise_recall"] / base["recall"], 4) if base["recall"] else None,
                "f1": round(acc["pairwise_f1"] / base["f1"], 4) if base["f1"] else None,
            }
        print(json.dumps(out))
    finally:
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
