"""Accuracy against the synthetic truth. The only module that reads truth files.

Truth is per delivered row (truth/source_records.parquet: feed, file_name, row_number,
true_person_id), joined on the provenance staging keeps (source_file_name, source_row_number). A person
record (the unit of linkage) takes the true person most of its rows belong to; `impure_records`
counts those whose rows belong to more than one person (a system that gave two people one id).
Pairwise figures count record pairs: a predicted pair is two records in one cluster, a true pair two
records of one true person.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def truth_labels(con, truth_dir: Path, table: str = "intermediate.int_person_records") -> pd.DataFrame:
    """person_record_id -> true_person_id, from the warehouse's row-level person records and the truth."""
    path = Path(truth_dir) / "source_records.parquet"
    return con.execute(f"""
        with truth as (
            select feed, file_name, row_number, true_person_id from read_parquet('{path.as_posix()}')
        ),
        rows as (
            select r.person_record_id, t.true_person_id
            from {table} r
            join truth t on t.feed = r.source_feed and t.file_name = r.source_file_name
                and t.row_number = r.source_row_number
        ),
        votes as (
            select person_record_id, true_person_id, count(*) as n from rows group by all
        )
        select person_record_id,
               arg_max(true_person_id, (n, -true_person_id)) as true_person_id,
               count(*) > 1 as impure
        from votes group by person_record_id
    """).df()


def _pairs(sizes: np.ndarray) -> int:
    sizes = sizes.astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def accuracy(crosswalk: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float | int]:
    """crosswalk: person_record_id, person_id; labels: person_record_id, true_person_id[, impure]."""
    df = crosswalk[["person_record_id", "person_id"]].merge(labels, on="person_record_id", how="inner")
    predicted = _pairs(df.groupby("person_id").size().to_numpy())
    true = _pairs(df.groupby("true_person_id").size().to_numpy())
    tp = _pairs(df.groupby(["person_id", "true_person_id"]).size().to_numpy())
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    # cluster level: a true person is found whole when exactly one cluster holds all of its records
    # and nothing else
    per_true = df.groupby("true_person_id")["person_id"].nunique()
    per_cluster = df.groupby("person_id")["true_person_id"].nunique()
    cluster_of_true = df.groupby("true_person_id")["person_id"].first()
    clean_clusters = per_cluster[per_cluster == 1].index
    whole = per_true[(per_true == 1)].index
    whole_and_clean = int(cluster_of_true.loc[whole].isin(clean_clusters).sum())
    return {
        "evaluated_records": int(len(df)),
        # records the truth labels (a record re-delivered in a file the generator did not write has none)
        "evaluated_share": round(len(df) / max(len(crosswalk), 1), 5),
        "true_persons": int(df["true_person_id"].nunique()),
        "predicted_persons": int(df["person_id"].nunique()),
        "predicted_pairs": predicted,
        "true_pairs": true,
        "true_positive_pairs": tp,
        "pairwise_precision": round(precision, 5),
        "pairwise_recall": round(recall, 5),
        "pairwise_f1": round(f1, 5),
        "persons_found_whole": whole_and_clean,
        "persons_found_whole_share": round(whole_and_clean / max(len(per_true), 1), 5),
        "persons_split": int((per_true > 1).sum()),
        "clusters_mixing_persons": int((per_cluster > 1).sum()),
        "impure_records": int(df["impure"].sum()) if "impure" in df else 0,
    }


def twin_pairs_merged(crosswalk: pd.DataFrame, labels: pd.DataFrame, truth_dir: Path) -> dict[str, int]:
    """How many twin (and same-name father/son) pairs share a cluster: should be 0."""
    persons = pd.read_parquet(Path(truth_dir) / "persons.parquet")
    placed = (crosswalk[["person_record_id", "person_id"]].merge(labels, on="person_record_id")
              [["true_person_id", "person_id"]].drop_duplicates())

    def count(pairs: pd.DataFrame) -> tuple[int, int]:
        """(pairs whose two persons both have records, pairs of those sharing a cluster)"""
        known = set(placed["true_person_id"])
        pairs = pairs[pairs["a"].isin(known) & pairs["b"].isin(known)].drop_duplicates()
        shared = (pairs.merge(placed, left_on="a", right_on="true_person_id")[["a", "b", "person_id"]]
                  .merge(placed, left_on=["b", "person_id"], right_on=["true_person_id", "person_id"]))
        return len(pairs), len(shared[["a", "b"]].drop_duplicates())

    out = {}
    if "twin_group" in persons.columns:
        twins = persons.loc[persons["twin_group"].notna(), ["true_person_id", "twin_group"]]
        pairs = twins.merge(twins, on="twin_group", suffixes=("_a", "_b"))
        pairs = pairs[pairs["true_person_id_a"] < pairs["true_person_id_b"]]
        checked, merged = count(pairs.rename(columns={"true_person_id_a": "a", "true_person_id_b": "b"})[["a", "b"]])
        out.update(twin_pairs_checked=checked, twin_pairs_merged=merged)
    if "father_same_name_of" in persons.columns:
        fs = persons.loc[persons["father_same_name_of"].notna(), ["true_person_id", "father_same_name_of"]]
        checked, merged = count(fs.astype("int64").set_axis(["a", "b"], axis=1))
        out.update(father_son_pairs_checked=checked, father_son_pairs_merged=merged)
    return out
