"""Update the person index in place for a delivery (new, changed and withdrawn records) without rescoring
or rewriting everything.

    link = link_delta(con, model)       # after linkage.lineage.record_changes(con, table) found the delta
    write_delta(con, link)              # in the caller's transaction

Why the answer is a full run's:
1. The clustering (linkage.cluster) only merges along edges at or above the threshold (and reviewers'
   must-links), so it decomposes exactly over the connected components of that graph.
2. A delta record is scored against the index with `predict_between`, but only against the records that
   share a blocking key with some delta record (found in SQL on the warehouse: one semi-join per
   prediction blocking rule; the pairs Splink would block are exactly these). Term frequencies come
   from all records, as a full run computes them, so each new pair's weight equals a full run's.
3. The components that can change are those holding a delta record, through last run's edges (a
   changed or withdrawn record's old component) or the new ones. Their records are rescored among
   themselves (`predict_within`), reclustered and re-identified (linkage.ids, against their previous
   ids only); every other person, pair and queued review stays as it is, untouched on disk.

What is not redone: existing pairs elsewhere whose weights move slightly with the new term frequencies
(a full run, e.g. on a model change, catches them up).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import LinkageBackend, default_backend
from linkage.cluster import cluster
from linkage.ids import person_id_for
from linkage.lineage import DELTA, LINEAGE_TABLE, SCHEMA, table_exists
from linkage.run import (INPUT_TABLE, MATCH_WEIGHT_THRESHOLD, NO_DOB_MATCH_WEIGHT_THRESHOLD, PAIR_COLUMNS,
                         PAIR_FLOOR_WEIGHT, LinkageResult, _nodes, assemble)

TOUCHED = "__linkage_touched"  # temp table: the records (current or withdrawn) whose persons are redone
DELTA_RECORDS = "__linkage_delta_records"  # temp table: the new and changed records' model columns
EDGES = "__linkage_edges"  # temp table: edges that may merge (last run's, the delta's, reviewers' must-links)
CROSSWALK = f"{SCHEMA}.person_crosswalk"
CLUSTERS = f"{SCHEMA}.person_clusters"
PAIRS = f"{SCHEMA}.pairwise_predictions"


def _ordered(pairs: pd.DataFrame) -> pd.DataFrame:
    """person_record_id_l < person_record_id_r, as Splink's predict() writes dedupe pairs."""
    swap = pairs["person_record_id_l"].to_numpy() > pairs["person_record_id_r"].to_numpy()
    if swap.any():
        left = pairs["person_record_id_l"].to_numpy().copy()
        pairs.loc[swap, "person_record_id_l"] = pairs.loc[swap, "person_record_id_r"].to_numpy()
        pairs.loc[swap, "person_record_id_r"] = left[swap]
    return pairs


def tf_columns(model: dict) -> list[str]:
    """The columns the model adjusts for term frequency (Splink needs their tables registered)."""
    return sorted({level["tf_adjustment_column"] for comparison in model["comparisons"]
                   for level in comparison["comparison_levels"] if level.get("tf_adjustment_column")})


def register_term_frequencies(linker, backend: LinkageBackend, records: pa.Table, model: dict) -> None:
    """Term-frequency tables from all these records, registered with a linker built on a subset (what
    `compute_tf_table` would give a linker on all of them, without loading them all)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.register("records", records.select(tf_columns(model)))
        register_warehouse_term_frequencies(linker, backend, con, model, "records")
    finally:
        con.close()


def register_warehouse_term_frequencies(linker, backend: LinkageBackend, con, model: dict,
                                        table: str = INPUT_TABLE) -> None:
    """The same tables, aggregated in SQL on the warehouse (only the distinct values travel): a value's
    frequency among the non-null values, as Splink computes it."""
    for column in tf_columns(model):
        tf = con.sql(f"""select {column}, count(*) / sum(count(*)) over () as tf_{column}
                         from {table} where {column} is not null group by {column}""").to_arrow_table()
        linker.table_management.register_term_frequency_lookup(backend.load(tf, f"tf_{column}"), column)


def blocking_candidates_sql(model: dict, delta_records: str, table: str = INPUT_TABLE) -> str:
    """The ids of existing records that share a prediction blocking key with a delta record: exactly the
    records `predict_between(existing, delta)` could pair with one (a hash semi-join per rule)."""
    rules = [rule["blocking_rule"] for rule in model["blocking_rules_to_generate_predictions"]]
    union = "\nunion\n".join(f"select r.person_record_id from {table} r semi join {delta_records} l on ({rule})"
                              for rule in rules)
    return f"select person_record_id from ({union}) anti join {DELTA} using (person_record_id)"


def _arrow(con, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()


def _register_frame(con, name: str, frame: pd.DataFrame | pa.Table, temp_table: str) -> None:
    con.register(name, frame)
    try:
        con.execute(f"create or replace temp table {temp_table} as select * from {name}")
    finally:
        con.unregister(name)


def _close_over_edges(con) -> int:
    """Grow TOUCHED along EDGES until no edge leaves it (components are small: a few passes)."""
    while True:
        added = con.execute(f"""
            insert into {TOUCHED}
            select distinct e.other from (
                select person_record_id_l as one, person_record_id_r as other from {EDGES}
                union all
                select person_record_id_r, person_record_id_l from {EDGES}) e
            semi join {TOUCHED} t on t.person_record_id = e.one
            anti join {TOUCHED} u on u.person_record_id = e.other""").fetchall()[0][0]
        if not added:
            return con.execute(f"select count(*) from {TOUCHED}").fetchall()[0][0]


def _taken_ids(con, roots: list[str]) -> frozenset[str]:
    """The ids ever issued (in the index or its lineage) among those these cluster roots could be given:
    each root's plain id and, while that was taken, its salted ones (a new id never reuses one)."""
    sources = [CROSSWALK] + ([LINEAGE_TABLE] if table_exists(con, LINEAGE_TABLE) else [])
    union = " union ".join(f"select person_id from {t} semi join __linkage_candidate_ids using (person_id)"
                           for t in sources)
    taken: set[str] = set()
    pending, salt = list(roots), 0
    while pending:
        candidates = {person_id_for(root, salt): root for root in pending}
        _register_frame(con, "__candidate_ids_arrow", pa.table({"person_id": pa.array(list(candidates), pa.string())}),
                        "__linkage_candidate_ids")
        found = [r[0] for r in con.execute(union).fetchall()]
        taken.update(found)
        pending, salt = [candidates[c] for c in found], salt + 1
    return frozenset(taken)


@dataclass
class DeltaLink:
    result: LinkageResult  # crosswalk, clusters, lineage of the redone persons; pairs to write (merged flag)
    scored: pd.DataFrame  # the rescored pairs with Splink's per-comparison columns (for the review queue)
    touched_records: pa.Table  # the current records redone (standardised)
    previous: pd.DataFrame  # person_record_id, person_id: the redone records' ids before this run
    figures: dict = field(default_factory=dict)


def link_delta(con, model: dict, threshold: float = MATCH_WEIGHT_THRESHOLD, must_link: pd.DataFrame | None = None,
               cannot_link: pd.DataFrame | None = None, backend: LinkageBackend | None = None,
               table: str = INPUT_TABLE) -> DeltaLink:
    """Link the delta (temp table linkage.lineage.DELTA: new, changed and removed record ids) against the
    index on this warehouse connection. Reads only what the delta can reach; writes nothing but temp tables."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    columns = ", ".join(model_settings.INPUT_COLUMNS)
    con.execute(f"create or replace temp table {DELTA_RECORDS} as "
                f"select {columns} from {table} semi join {DELTA} using (person_record_id)")
    delta_records = _arrow(con, f"select * from {DELTA_RECORDS}")
    candidates = _arrow(con, f"select {columns} from {table} semi join "
                             f"({blocking_candidates_sql(model, DELTA_RECORDS, table)}) c using (person_record_id)")
    # one linker for both predictions (building one costs more than a small predict); intermediate columns
    # are kept for the review queue's per-comparison weights and do not change a weight
    retained = {**model, "retain_intermediate_calculation_columns": True, "retain_matching_columns": True}
    own = backend is None
    backend = backend or default_backend()
    try:
        delta_sdf = backend.load(delta_records, "person_records_delta")
        linker = backend.linker(delta_sdf, retained, validate=False)
        register_warehouse_term_frequencies(linker, backend, con, model, table)
        new_pairs = pd.DataFrame(columns=PAIR_COLUMNS)
        if delta_records.num_rows and candidates.num_rows:
            new_pairs = _ordered(backend.to_arrow(linker.inference.predict_between(
                backend.load(candidates, "person_records_candidates"), delta_sdf,
                threshold_match_weight=PAIR_FLOOR_WEIGHT, warning_mode="never")).select(PAIR_COLUMNS).to_pandas())
        timings["predict_seconds"] = time.perf_counter() - started

        # the components a delta record reaches through edges that may merge
        started = time.perf_counter()
        links = [new_pairs.loc[new_pairs["match_weight"] >= threshold, PAIR_COLUMNS[:2]]]
        if must_link is not None and len(must_link):
            links.append(must_link[PAIR_COLUMNS[:2]])
        _register_frame(con, "__new_edges_arrow", pd.concat(links, ignore_index=True).astype(str),
                        "__linkage_new_edges")
        con.execute(f"""create or replace temp table {EDGES} as
            select person_record_id_l, person_record_id_r from {PAIRS} where match_weight >= {float(threshold)}
            union all select person_record_id_l, person_record_id_r from __linkage_new_edges""")
        con.execute(f"create or replace temp table {TOUCHED} as select person_record_id from {DELTA}")
        _close_over_edges(con)
        touched_records = _arrow(con, f"select * from {table} semi join {TOUCHED} using (person_record_id) "
                                      "order by person_record_id")
        timings["reach_seconds"] = time.perf_counter() - started

        # rescore the touched records among themselves
        started = time.perf_counter()
        scored = pd.DataFrame(columns=PAIR_COLUMNS)
        if touched_records.num_rows > 1:
            local = backend.load(touched_records.select(model_settings.INPUT_COLUMNS), "person_records_touched")
            scored = _ordered(backend.to_arrow(linker.inference.predict_within(
                local, threshold_match_weight=PAIR_FLOOR_WEIGHT, warning_mode="never")).to_pandas())
        timings["predict_seconds"] += time.perf_counter() - started
    finally:
        if own:
            backend.close()

    started = time.perf_counter()
    local_pairs = scored[PAIR_COLUMNS].reset_index(drop=True)
    clustered = cluster(_nodes(touched_records), local_pairs, threshold,
                        max(threshold, NO_DOB_MATCH_WEIGHT_THRESHOLD), must_link=must_link, cannot_link=cannot_link)
    local_pairs["merged"] = clustered.accepted
    previous = con.execute(f"select person_record_id, person_id from {CROSSWALK} "
                           f"semi join {TOUCHED} using (person_record_id)").df()
    roots = clustered.cluster_of["cluster_root"].drop_duplicates().tolist()
    issued = _taken_ids(con, roots) | frozenset(previous["person_id"])
    # pairs to write: the rescored ones, and the delta's pairs with a record outside (below the threshold)
    touched_ids = set(touched_records["person_record_id"].to_pylist())
    outside = ~(new_pairs["person_record_id_l"].isin(touched_ids) & new_pairs["person_record_id_r"].isin(touched_ids))
    pairs = pd.concat([local_pairs, new_pairs[outside.to_numpy()].assign(merged=False)], ignore_index=True)
    result = assemble(touched_records, clustered.cluster_of, pairs, previous, issued)
    timings["cluster_seconds"] = time.perf_counter() - started
    figures = {"delta_records": int(delta_records.num_rows), "blocking_candidates": int(candidates.num_rows),
               "records_reclustered": int(touched_records.num_rows), "new_pairs_scored": int(len(new_pairs)),
               "merges_refused_for_conflict": int(clustered.refused_merges),
               "match_weight_threshold": float(threshold), **{k: round(v, 3) for k, v in timings.items()}}
    result.figures.update(figures)
    return DeltaLink(result=result, scored=scored, touched_records=touched_records, previous=previous,
                     figures=figures)


def _insert(con, table: str, frame: pd.DataFrame) -> None:
    con.register("__linkage_rows", frame)
    try:
        con.execute(f"insert into {table} by name select * from __linkage_rows")
    finally:
        con.unregister("__linkage_rows")


def write_delta(con, link: DeltaLink) -> None:
    """Replace the redone persons' rows in the crosswalk, clusters and pairs (call inside a transaction,
    after linkage.lineage.write_run has kept the previous crosswalk)."""
    result = link.result
    con.execute(f"""delete from {CLUSTERS} where person_id in (
                        select person_id from {CROSSWALK} semi join {TOUCHED} using (person_record_id))""")
    con.execute(f"delete from {CROSSWALK} where person_record_id in (select person_record_id from {TOUCHED})")
    # a pair goes when it names a delta record (rescored or gone) or lies inside the redone persons
    con.execute(f"""delete from {PAIRS} where person_record_id_l in (select person_record_id from {DELTA})
                        or person_record_id_r in (select person_record_id from {DELTA})
                        or (person_record_id_l in (select person_record_id from {TOUCHED})
                            and person_record_id_r in (select person_record_id from {TOUCHED}))""")
    _insert(con, CROSSWALK, result.crosswalk)
    _insert(con, CLUSTERS, result.clusters)
    _insert(con, PAIRS, result.pairs)


def index_figures(con) -> dict:
    """Whole-index counts after an in-place update (what a full run's figures report)."""
    from linkage.run import cluster_size_distribution

    sizes = con.execute(f"select n_records from {CLUSTERS}").fetchnumpy()["n_records"]
    records, pairs, merged = con.execute(f"""select (select count(*) from {CROSSWALK}),
        (select count(*) from {PAIRS}), (select count(*) filter (where merged) from {PAIRS})""").fetchall()[0]
    return {"person_records": int(records), "persons": int(len(sizes)), "pairs_scored_above_floor": int(pairs),
            "merged_pairs": int(merged),
            "largest_cluster_size": int(sizes.max()) if len(sizes) else 0,
            "singleton_clusters": int((sizes == 1).sum()),
            "cluster_size_distribution": cluster_size_distribution(sizes)}
