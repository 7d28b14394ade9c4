"""Link a new delivery against the existing person index without rescoring everything.

    result = link_incremental(records, new_ids, previous_pairs, previous_crosswalk, ...)

1. Score only what is new (Splink 5): `predict_between(existing, new)` and `predict_within(new)`, with
   term frequencies from all records (as a full run computes them), so each new pair's weight equals a
   full run's.
2. The clustering (linkage.cluster) only ever merges along edges at or above the threshold (and
   reviewers' must-links), so it decomposes exactly over the connected components of that graph. The
   components holding a new record (existing pairs plus new ones) are the only ones that can change:
   their records are rescored among themselves (`predict_within`, cheap) and reclustered; every other
   person is kept as it was.

So the new records get the clusters a full run would give them; what is not redone is the rescoring of
existing pairs elsewhere whose term frequencies move slightly with the new records (a full run, e.g. on
a model change, catches that up).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import LinkageBackend, default_backend
from linkage.cluster import cluster
from linkage.run import (MATCH_WEIGHT_THRESHOLD, NO_DOB_MATCH_WEIGHT_THRESHOLD, PAIR_COLUMNS, PAIR_FLOOR_WEIGHT,
                         LinkageResult, _nodes, assemble, records_among)


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
    """Term-frequency tables from all records, computed in Arrow and registered with a linker built on a
    subset (what `compute_tf_table` would give a linker on all of them, without loading them all)."""
    import pyarrow.compute as pc

    for column in tf_columns(model):
        values = records[column]
        counts = pa.table({column: values}).group_by(column).aggregate([([], "count_all")])
        counts = counts.filter(pc.is_valid(counts[column]))
        total = len(values) - values.null_count
        tf = pa.table({column: counts[column],
                       f"tf_{column}": pc.divide(pc.cast(counts["count_all"], pa.float64()), float(total))})
        linker.table_management.register_term_frequency_lookup(backend.load(tf, f"tf_{column}"), column)


def affected_records(new_ids: set[str], edges: pd.DataFrame) -> set[str]:
    """The records connected to a new record through edges (person_record_id_l/_r): a breadth-first
    closure, a few passes over the edge list since components are small."""
    left, right = edges["person_record_id_l"], edges["person_record_id_r"]
    reached = set(new_ids)
    frontier = set(new_ids)
    while frontier:
        found = set(right[left.isin(frontier)]) | set(left[right.isin(frontier)])
        frontier = found - reached
        reached |= frontier
    return reached


def link_incremental(records: pa.Table, new_ids: list[str], previous_pairs: pd.DataFrame,
                     previous_crosswalk: pd.DataFrame, model: dict, issued: frozenset[str] = frozenset(),
                     must_link: pd.DataFrame | None = None, cannot_link: pd.DataFrame | None = None,
                     backend: LinkageBackend | None = None,
                     threshold: float = MATCH_WEIGHT_THRESHOLD) -> LinkageResult:
    """records: every standardised person record now (the existing ones unchanged since the last run);
    new_ids: the person_record_ids not linked before; previous_pairs: the last run's
    linkage.pairwise_predictions; previous_crosswalk: person_record_id, person_id of the last run."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    new_set = set(new_ids)
    is_new = records_among(records, new_set)
    columns = records.select(model_settings.INPUT_COLUMNS)
    own = backend is None
    backend = backend or default_backend()
    try:
        every = backend.load(columns, "person_records_all")
        linker = backend.linker(every, model)
        for column in tf_columns(model):  # from all records, as predict() derives them
            linker.table_management.compute_tf_table(column)
        existing = backend.filtered(every, sorted(new_set), "person_records_existing", keep=False)
        new = backend.load(columns.filter(is_new), "person_records_new")
        # pairs among the new records need no separate pass: the new records are all touched, and the
        # touched records are rescored among themselves below
        new_pairs = _ordered(backend.to_arrow(linker.inference.predict_between(
            existing, new, threshold_match_weight=PAIR_FLOOR_WEIGHT, warning_mode="never"))
            .select(PAIR_COLUMNS).to_pandas())
        timings["predict_seconds"] = time.perf_counter() - started

        # the components a new record can reach through edges that may merge
        started = time.perf_counter()
        old_pairs = previous_pairs[PAIR_COLUMNS]
        strong = pd.concat([old_pairs[old_pairs["match_weight"] >= threshold],
                            new_pairs[new_pairs["match_weight"] >= threshold]])
        links = [strong[["person_record_id_l", "person_record_id_r"]]]
        if must_link is not None and len(must_link):
            links.append(must_link[["person_record_id_l", "person_record_id_r"]])
        touched = affected_records(new_set, pd.concat(links, ignore_index=True))
        # rescore the touched records among themselves with today's term frequencies
        touched_records = records.filter(records_among(records, touched))
        local = backend.load(touched_records.select(model_settings.INPUT_COLUMNS), "person_records_touched")
        local_pairs = backend.to_arrow(linker.inference.predict_within(
            local, threshold_match_weight=PAIR_FLOOR_WEIGHT, warning_mode="never")).select(PAIR_COLUMNS)
        local_pairs = _ordered(local_pairs.to_pandas())
        timings["predict_seconds"] += time.perf_counter() - started
    finally:
        if own:
            backend.close()

    started = time.perf_counter()
    clustered = cluster(_nodes(touched_records), local_pairs, threshold,
                        max(threshold, NO_DOB_MATCH_WEIGHT_THRESHOLD), must_link=must_link, cannot_link=cannot_link)
    local_pairs["merged"] = clustered.accepted

    # untouched persons keep their records and ids; their cluster key is their smallest record id
    in_touched = previous_crosswalk["person_record_id"].isin(touched)
    kept = previous_crosswalk.loc[~in_touched, ["person_record_id", "person_id"]]
    smallest = kept.sort_values("person_record_id").drop_duplicates("person_id").set_index("person_id")
    kept = kept.assign(cluster_root=kept["person_id"].map(smallest["person_record_id"]).to_numpy())

    # pairs: the previous ones outside the touched records, the new ones from outside (floor only), and
    # the rescored touched ones
    def inside(frame: pd.DataFrame) -> np.ndarray:
        return (frame["person_record_id_l"].isin(touched).to_numpy()
                & frame["person_record_id_r"].isin(touched).to_numpy())

    outside_old = previous_pairs[~inside(previous_pairs)]
    outside_new = new_pairs[~inside(new_pairs)].assign(merged=False)
    pairs = pd.concat([outside_old, outside_new, local_pairs], ignore_index=True)
    issued = frozenset(issued) | frozenset(previous_crosswalk["person_id"])  # a new id never takes a standing one
    result = assemble(records, clustered.cluster_of, pairs, previous_crosswalk[in_touched], issued, fixed=kept)
    timings["cluster_seconds"] = time.perf_counter() - started
    result.figures.update(
        new_records=len(new_set), records_reclustered=len(touched), new_pairs_scored=int(len(new_pairs)),
        merges_refused_for_conflict=int(clustered.refused_merges), match_weight_threshold=float(threshold),
        **{k: round(v, 3) for k, v in timings.items()})
    return result
