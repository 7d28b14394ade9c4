"""Stable person ids, and the lineage of each change.

A new cluster's id derives from its smallest member: `FH` + the first 16 hex characters of
md5('person|' + smallest person_record_id) (salted with a counter in the rare case that id was issued
before). person_record_id is itself md5(source_system | source id), so an id carries no personal data.

Across runs an id is carried forward, not recomputed (`carry_forward`):

1. each previous person_id goes to the new cluster holding most of its records (ties: the cluster whose
   smallest record id is smallest);
2. a cluster offered several previous ids (a merge) keeps the one it holds most records of (ties: the
   smaller id); the others are retired as 'merged' into it;
3. a cluster offered none gets a new id: 'new' if none of its records had an id before, else 'split'
   from the previous id(s) its records came from;
4. a previous id none of whose records remain is 'retired'.

So the same data gives the same ids, a cluster that gains records (even one whose record id sorts before
the old smallest) keeps its id, and only evidence that merges or splits persons changes an id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

LINEAGE_COLUMNS = ["change", "person_id", "related_person_id", "n_records", "reason"]


def person_id_for(smallest_person_record_id: str, salt: int = 0) -> str:
    key = f"person|{smallest_person_record_id}" + (f"|{salt}" if salt else "")
    return "FH" + hashlib.md5(key.encode()).hexdigest()[:16].upper()


def assign_person_ids(cluster_of: pd.DataFrame) -> pd.Series:
    """cluster_of: person_record_id, cluster_root (smallest member). Returns person_id per row (no history)."""
    roots = cluster_of["cluster_root"].drop_duplicates()
    mapping = pd.Series([person_id_for(r) for r in roots.tolist()], index=roots.to_numpy())
    return cluster_of["cluster_root"].map(mapping)


@dataclass
class CarriedIds:
    person_id: pd.Series  # aligned with cluster_of's rows
    lineage: pd.DataFrame  # LINEAGE_COLUMNS; reason is filled by the caller's context


def carry_forward(cluster_of: pd.DataFrame, previous: pd.DataFrame | None,
                  issued: set[str] | frozenset[str] = frozenset()) -> CarriedIds:
    """cluster_of: person_record_id, cluster_root (smallest member, the cluster's key).
    previous: person_record_id, person_id of the last run (None or empty on the first run).
    issued: every id handed out before (so that a retired id is never reused)."""
    if previous is None or not len(previous):
        ids = assign_person_ids(cluster_of)
        sizes = cluster_of.groupby("cluster_root").size()
        lineage = pd.DataFrame({"change": "new", "person_id": [person_id_for(r) for r in sizes.index],
                                "related_person_id": None, "n_records": sizes.to_numpy()})
        return CarriedIds(ids, lineage)

    frame = cluster_of[["person_record_id", "cluster_root"]].merge(
        previous[["person_record_id", "person_id"]].rename(columns={"person_id": "previous_id"}),
        on="person_record_id", how="left")
    overlap = (frame.dropna(subset=["previous_id"]).groupby(["cluster_root", "previous_id"]).size()
               .rename("n").reset_index())
    # 1. each previous id is offered to the cluster holding most of its records
    offered = (overlap.sort_values(["previous_id", "n", "cluster_root"], ascending=[True, False, True])
               .drop_duplicates("previous_id"))
    # 2. a cluster offered several keeps the one it holds most records of
    kept = (offered.sort_values(["cluster_root", "n", "previous_id"], ascending=[True, False, True])
            .drop_duplicates("cluster_root"))
    id_of_root = dict(zip(kept["cluster_root"], kept["previous_id"]))

    taken = set(issued) | set(previous["person_id"].unique())
    sizes = frame.groupby("cluster_root").size()
    for root in sorted(set(sizes.index) - id_of_root.keys()):
        salt = 0
        new_id = person_id_for(root)
        while new_id in taken:
            salt += 1
            new_id = person_id_for(root, salt)
        taken.add(new_id)
        id_of_root[root] = new_id

    # lineage, vectorised: clusters with no previous record are new; a previous id a cluster holds records
    # of but did not keep either lives on elsewhere (these records split off) or is gone (merged in here)
    fresh = sizes[~sizes.index.isin(overlap["cluster_root"])]
    new_rows = pd.DataFrame({"change": "new", "person_id": fresh.index.map(id_of_root),
                             "related_person_id": None, "n_records": fresh.to_numpy()})
    moved = overlap.assign(person_id=overlap["cluster_root"].map(id_of_root))
    moved = moved[moved["previous_id"] != moved["person_id"]]
    lives_on = moved["previous_id"].isin(kept["previous_id"]).to_numpy()
    split_rows = pd.DataFrame({"change": "split", "person_id": moved["person_id"].to_numpy()[lives_on],
                               "related_person_id": moved["previous_id"].to_numpy()[lives_on],
                               "n_records": moved["n"].to_numpy()[lives_on]})
    merged_rows = pd.DataFrame({"change": "merged", "person_id": moved["previous_id"].to_numpy()[~lives_on],
                                "related_person_id": moved["person_id"].to_numpy()[~lives_on],
                                "n_records": moved["n"].to_numpy()[~lives_on]})
    gone = sorted(set(previous["person_id"]) - set(overlap["previous_id"]))
    retired_rows = pd.DataFrame({"change": "retired", "person_id": gone, "related_person_id": None, "n_records": 0})
    parts = [rows for rows in (new_rows, split_rows, merged_rows, retired_rows) if len(rows)]
    lineage = (pd.concat(parts, ignore_index=True) if parts
               else pd.DataFrame(columns=["change", "person_id", "related_person_id", "n_records"]))
    lineage = lineage.sort_values(["change", "person_id", "related_person_id"], ignore_index=True, na_position="first")
    return CarriedIds(frame["cluster_root"].map(id_of_root), lineage)
