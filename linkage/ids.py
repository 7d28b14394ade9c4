"""Stable person ids, and the lineage of each change.

A new cluster's id derives from its smallest member: `FH` + the first 16 hex characters of
md5('person|' + smallest person_record_id) (salted with a counter in the rare case that id was issued
before). person_record_id is itself md5(source_system | source id). That hash is not keyed: where a
system's own id is a national identifier (DWP's NI number, the schools' UPN), trying every such number
recovers it from the record's id, or from the person_id of a person whose smallest record it is. So these
ids, and everything carrying them (the crosswalk, lineage, review workbooks, `familyhub match` output), are
personal data within the council, like the identifiers themselves. Returns and the analyst schema carry
keyed pseudonyms instead (returns/pseudonyms.py, restricted.pseudonyms); logs and metadata carry counts.

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
        sizes = cluster_of.groupby("cluster_root").size()
        id_of_root = pd.Series([person_id_for(r) for r in sizes.index.tolist()], index=sizes.index)
        lineage = pd.DataFrame({"change": "new", "person_id": id_of_root.to_numpy(),
                                "related_person_id": None, "n_records": sizes.to_numpy()})
        return CarriedIds(cluster_of["cluster_root"].map(id_of_root), lineage)

    import duckdb

    # joins, grouping and ordering in DuckDB: pandas sorts of text ids took 2 s at 224k records
    con = duckdb.connect(":memory:")
    try:
        con.register("cluster_of", cluster_of[["person_record_id", "cluster_root"]].reset_index(drop=True)
                     .assign(row_number=range(len(cluster_of))))
        con.register("previous", previous[["person_record_id", "person_id"]])
        con.execute("""
            create temp table overlap as
            select c.cluster_root, p.person_id as previous_id, count(*) as n
            from cluster_of c join previous p using (person_record_id) group by all""")
        # 1. each previous id is offered to the cluster holding most of its records
        # 2. a cluster offered several keeps the one it holds most records of
        con.execute("""
            create temp table kept as
            with offered as (select * from overlap
                             qualify row_number() over (partition by previous_id order by n desc, cluster_root) = 1)
            select cluster_root, previous_id from offered
            qualify row_number() over (partition by cluster_root order by n desc, previous_id) = 1""")
        id_of_root = dict(con.execute("select cluster_root, previous_id from kept").fetchall())
        unnamed = [r[0] for r in con.execute(
            "select distinct cluster_root from cluster_of anti join kept using (cluster_root) order by 1").fetchall()]
        taken = set(issued) | set(previous["person_id"].unique())
        new_ids = []
        for root in unnamed:
            salt = 0
            new_id = person_id_for(root)
            while new_id in taken:
                salt += 1
                new_id = person_id_for(root, salt)
            taken.add(new_id)
            new_ids.append(new_id)
        con.register("named", pd.DataFrame({"cluster_root": [*id_of_root.keys(), *unnamed],
                                            "person_id": [*id_of_root.values(), *new_ids]}))
        person_id = con.execute("select n.person_id from cluster_of c join named n using (cluster_root) "
                                "order by c.row_number").df()["person_id"]
        # clusters with no previous record are new; a previous id a cluster holds records of but did not
        # keep either lives on elsewhere (these records split off) or is gone (merged in here)
        lineage = con.execute("""
            with sizes as (select cluster_root, count(*) as n from cluster_of group by 1),
            moved as (
                select o.previous_id, n.person_id, o.n, o.previous_id in (select previous_id from kept) as lives_on
                from overlap o join named n using (cluster_root) where o.previous_id <> n.person_id)
            select 'new' as change, n.person_id, null::varchar as related_person_id, s.n as n_records
            from sizes s join named n using (cluster_root) anti join overlap o using (cluster_root)
            union all select 'split', person_id, previous_id, n from moved where lives_on
            union all select 'merged', previous_id, person_id, n from moved where not lives_on
            union all select 'retired', person_id, null, 0
            from (select distinct person_id from previous) anti join overlap o on o.previous_id = person_id
            order by change, person_id, related_person_id nulls first""").df()
    finally:
        con.close()
    lineage["n_records"] = lineage["n_records"].astype("int64")
    return CarriedIds(pd.Series(person_id.to_numpy(), index=cluster_of.index, name="person_id"), lineage)
