"""Stable person ids.

A person id is derived from the cluster's smallest member: `FH` + the first 16 hex characters of
md5('person|' + smallest person_record_id). person_record_id is itself md5(source_system | source id),
so the id carries no personal data and the same clustering always gives the same ids; a cluster
that gains records keeps its id as long as its smallest member stays.
"""

from __future__ import annotations

import hashlib

import pandas as pd


def person_id_for(smallest_person_record_id: str) -> str:
    return "FH" + hashlib.md5(f"person|{smallest_person_record_id}".encode()).hexdigest()[:16].upper()


def assign_person_ids(cluster_of: pd.DataFrame) -> pd.Series:
    """cluster_of: person_record_id, cluster_root (smallest member). Returns person_id per row."""
    roots = cluster_of["cluster_root"].drop_duplicates()
    mapping = pd.Series([person_id_for(r) for r in roots.tolist()], index=roots.to_numpy())
    return cluster_of["cluster_root"].map(mapping)
