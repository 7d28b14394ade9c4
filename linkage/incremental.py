"""Update the person index in place for a delivery (new, changed and withdrawn records) without rescoring
or rewriting everything.

    link = link_delta(con, model)       # after linkage.lineage.record_changes(con, table) found the delta
    write_delta(con, link)              # in the caller's transaction

Why the answer is a full run's:
1. The clustering (linkage.cluster) only merges along edges at or above the threshold (and reviewers'
   must-links), so it decomposes exactly over the connected components of that graph.
2. A delta record is scored against the index with `predict_between`, but only against the records that
   share a blocking key with some delta record (found in SQL on the warehouse: one scan, an EXISTS per
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

import itertools
import time
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
from splink.internals.duckdb.dataframe import DuckDBDataFrame
from splink.internals.input_column import InputColumn

from linkage import settings as model_settings
from linkage.backend import DuckDBBackend, LinkageBackend, default_backend
from linkage.cluster import cluster
from linkage.ids import person_id_for
from linkage.lineage import CROSSWALK_TABLE as CROSSWALK, DELTA, LINEAGE_TABLE, SCHEMA, table_exists
from linkage.run import (INPUT_TABLE, MATCH_WEIGHT_THRESHOLD, NO_DOB_MATCH_WEIGHT_THRESHOLD, PAIR_COLUMNS,
                         PAIR_FLOOR_WEIGHT, LinkageResult, _nodes, assemble)

TOUCHED = "__linkage_touched"  # temp table: the records (current or withdrawn) whose persons are redone
DELTA_RECORDS = "__linkage_delta_records"  # temp table: the new and changed records' model columns
EDGES = "__linkage_edges"  # temp table: edges that may merge (last run's, the delta's, reviewers' must-links)
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
    register_term_frequency_tables(linker, {column: _splink_input(backend, tf, f"tf_{column}")
                                            for column, tf in warehouse_term_frequencies(con, model, table).items()})


def warehouse_term_frequencies(con, model: dict, table: str = INPUT_TABLE) -> dict[str, pa.Table]:
    """column -> its term-frequency table (see register_warehouse_term_frequencies)."""
    return {column: con.sql(f"""select {column}, count(*) / sum(count(*)) over () as tf_{column}
                                from {table} where {column} is not null group by {column}""").to_arrow_table()
            for column in tf_columns(model)}


def register_term_frequency_tables(linker, tables: dict) -> None:
    """tables: column -> a term-frequency table loaded on the linker's backend."""
    for column, splink_frame in tables.items():
        linker.table_management.register_term_frequency_lookup(splink_frame, column)


_frame_names = itertools.count()


class _KnownColumns(DuckDBDataFrame):
    """A table or view on Splink's DuckDB whose columns Splink is told rather than looks up (each lookup
    is an information_schema query, ~4 ms, and an update made ten)."""

    def __init__(self, name: str, db_api, column_names: list[str]):
        super().__init__(name, name, db_api)
        self._column_names = list(column_names)

    @property
    def columns(self) -> list[InputColumn]:
        return [InputColumn(c, sqlglot_dialect_str="duckdb") for c in self._column_names]


def _splink_input(backend: LinkageBackend, records: pa.Table, name: str):
    """These records as a Splink input: on the DuckDB backend a view of the Arrow table (not copied) with
    known columns; on another backend, `load`."""
    if not isinstance(backend, DuckDBBackend):
        return backend.load(records, name)
    view = f"{name}_{next(_frame_names)}"  # Splink finds tables by name only: unique names
    backend.con.register(view, records)
    return _KnownColumns(view, backend.db_api, records.column_names)


def blocking_candidates_sql(model: dict, delta_records: str, table: str = INPUT_TABLE,
                            columns: str = "person_record_id") -> str:
    """These columns of the existing records that share a prediction blocking key with a delta record:
    exactly the records `predict_between(existing, delta)` could pair with one. One scan of the records, each
    rule an EXISTS that DuckDB runs as a hash mark join (half the time of a union of one semi-join per rule)."""
    rules = [rule["blocking_rule"] for rule in model["blocking_rules_to_generate_predictions"]]
    shares_a_key = "\n or ".join(f"exists (select 1 from {delta_records} l where {rule})" for rule in rules) or "false"
    return (f"select {columns} from {table} r where ({shares_a_key}) and not exists "
            f"(select 1 from {DELTA} d where d.person_record_id = r.person_record_id)")


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


def _taken_ids(con, roots: list[str], salts_per_query: int = 2) -> frozenset[str]:
    """The ids ever issued (in the index or its lineage) among those these cluster roots could be given:
    each root's plain id and, while that was taken, its salted ones (a new id never reuses one). A root's
    plain id is usually taken (it is its person's id), so one query looks up the first two of each root."""
    sources = [CROSSWALK] + ([LINEAGE_TABLE] if table_exists(con, LINEAGE_TABLE) else [])
    union = " union ".join(f"select person_id from {t} semi join __linkage_id_candidates using (person_id)"
                           for t in sources)
    taken: set[str] = set()
    pending, salt = list(roots), 0
    while pending:
        ladders = {root: [person_id_for(root, s) for s in range(salt, salt + salts_per_query)] for root in pending}
        ids = [person_id for ladder in ladders.values() for person_id in ladder]
        con.register("__linkage_id_candidates", pa.table({"person_id": pa.array(ids, pa.string())}))
        try:
            found = {r[0] for r in con.execute(union).fetchall()}
        finally:
            con.unregister("__linkage_id_candidates")
        pending = []
        for root, ladder in ladders.items():
            for person_id in ladder:  # up the ladder while taken
                if person_id not in found:
                    break
                taken.add(person_id)
            else:
                pending.append(root)
        salt += salts_per_query
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
    candidates = _arrow(con, blocking_candidates_sql(model, DELTA_RECORDS, table, columns))
    own = backend is None
    backend = backend or default_backend()
    try:
        delta_sdf = _splink_input(backend, delta_records, "person_records_delta")
        term_frequencies = {column: _splink_input(backend, tf, f"tf_{column}")
                            for column, tf in warehouse_term_frequencies(con, model, table).items()}
        # the new pairs need their weights only: a linker that keeps no other column scores them a sixth
        # faster than the rescoring's (below); a second linker costs ~10 ms
        scorer = backend.linker(delta_sdf, model, validate=False)
        register_term_frequency_tables(scorer, term_frequencies)
        new_pairs = pd.DataFrame(columns=PAIR_COLUMNS)
        if delta_records.num_rows and candidates.num_rows:
            new_pairs = _ordered(backend.to_arrow(scorer.inference.predict_between(
                _splink_input(backend, candidates, "person_records_candidates"), delta_sdf,
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
            local = _splink_input(backend, touched_records.select(model_settings.INPUT_COLUMNS),
                                  "person_records_touched")
            # the review queue's per-comparison weights need Splink's intermediate columns, and the matching
            # columns (a level is output only with them); keeping them changes no weight
            retained = {**model, "retain_intermediate_calculation_columns": True, "retain_matching_columns": True}
            rescorer = backend.linker(local, retained, validate=False)
            register_term_frequency_tables(rescorer, term_frequencies)
            scored = backend.to_arrow(rescorer.inference.predict_within(
                local, threshold_match_weight=PAIR_FLOOR_WEIGHT, warning_mode="never"))
            scored = _ordered(scored.select([c for c in scored.column_names if c in PAIR_COLUMNS
                                             or c.startswith(("gamma_", "mw_"))]).to_pandas())
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
    con.register("__linkage_previous_ids", link.previous[["person_id"]])  # the redone records' persons
    try:
        con.execute(f"delete from {CLUSTERS} where person_id in (select person_id from __linkage_previous_ids)")
    finally:
        con.unregister("__linkage_previous_ids")
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
