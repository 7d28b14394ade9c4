"""Link person records into people: predict with the committed model, cluster, assign stable ids.

    result = link_persons(records)              # records: Arrow table of int_person_records_standardised
    write_outputs(con, result)                  # linkage.person_crosswalk, .person_clusters, .pairwise_predictions

`link_persons` takes data and returns data; the engine is behind `linkage.backend` (DuckDB in memory
by default). Nothing here logs a record's values: figures are counts and timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import LinkageBackend, default_backend
from linkage.cluster import cluster
from linkage.ids import carry_forward
from linkage.train import DEFAULT_MODEL_PATH, load_model, train

# Pairs scored at or above this match weight are kept in linkage.pairwise_predictions (the band a
# clerical review would look at starts here); those at or above MATCH_WEIGHT_THRESHOLD may merge.
PAIR_FLOOR_WEIGHT = 0.0
MATCH_WEIGHT_THRESHOLD = 4.0
# An edge touching a record without a date of birth needs more: without DOB, a same-name father and son
# at one address look like one person (the commonest false match).
NO_DOB_MATCH_WEIGHT_THRESHOLD = 10.0
INPUT_TABLE = "intermediate.int_person_records_standardised"
PAIR_COLUMNS = ["person_record_id_l", "person_record_id_r", "match_weight", "match_probability"]
SCHEMA = "linkage"


@dataclass
class LinkageResult:
    crosswalk: pd.DataFrame  # person_id, person_record_id, source_system, source_record_id
    clusters: pd.DataFrame  # person_id, n_records, n_systems, smallest_person_record_id
    pairs: pd.DataFrame  # person_record_id_l, person_record_id_r, match_weight, match_probability, merged
    figures: dict = field(default_factory=dict)
    lineage: pd.DataFrame | None = None  # linkage.ids.LINEAGE_COLUMNS less reason


def records_among(records: pa.Table, person_record_ids) -> pa.Array:
    """Boolean mask: which of the records have one of these ids (hash lookup, not a sort of text)."""
    import pyarrow.compute as pc

    return pc.is_in(records["person_record_id"], value_set=pa.array(list(person_record_ids), type=pa.string()))


def _nodes(records: pa.Table) -> pd.DataFrame:
    """The fields clustering checks for conflicts, dates (DOB, the latest possible DOB) as YYYYMMDD text."""
    import pyarrow.compute as pc

    # a partner list's other_id too (`familyhub link`: a shared one may outweigh a DOB difference), and middle
    # names where the records have them (JOHN PAUL / JOHN DAVID: a same-name father and son), with those a list
    # wrote in its forename column (linkage.standardise: MARIA JOSE / MARIA ELENA, twins), and its generation (JR / SR)
    optional = [c for c in ("middle_names", "forename_middles", "generation", "other_id") if c in records.column_names]
    cluster_only = [c for c in model_settings.CLUSTER_COLUMNS if c in records.column_names]
    nodes = records.select(["person_record_id", "source_system", "first_name", "first_name_canonical", "surname",
                            "nhs_number", "ni_number", "upn", "dob", "dob_year", "sex", *optional, *cluster_only])
    for date_column in ("dob", *cluster_only):
        values = nodes[date_column]
        if not pa.types.is_string(values.type):
            values = pc.replace_substring(pc.cast(values, pa.string()), "-", "")  # ten times faster than strftime
        nodes = nodes.set_column(nodes.schema.get_field_index(date_column), date_column, values)
    return nodes.to_pandas()


def load_or_train(records: pa.Table, model_path: Path | None, backend: LinkageBackend, retrain: bool) -> dict:
    if retrain or model_path is None or not Path(model_path).exists():
        return train(records, model_path, backend=backend)
    return load_model(model_path)


def link_persons(records: pa.Table, model_path: Path | None = DEFAULT_MODEL_PATH,
                 backend: LinkageBackend | None = None, retrain: bool = False,
                 threshold: float = MATCH_WEIGHT_THRESHOLD, previous: pd.DataFrame | None = None,
                 issued: frozenset[str] = frozenset(), must_link: pd.DataFrame | None = None,
                 cannot_link: pd.DataFrame | None = None) -> LinkageResult:
    """Full run. records: the standardised person records (one row per person_record_id).
    previous: the last crosswalk (person_record_id, person_id) to carry ids forward from (see linkage.ids);
    must_link / cannot_link: reviewers' decisions (person_record_id_l, person_record_id_r)."""
    timings: dict[str, float] = {}
    own = backend is None
    backend = backend or default_backend()
    try:
        started = time.perf_counter()
        model = load_or_train(records, model_path, backend, retrain)
        timings["train_seconds"] = time.perf_counter() - started

        started = time.perf_counter()
        sdf = backend.load(records.select(model_settings.INPUT_COLUMNS), "person_records")
        linker = backend.linker(sdf, model)
        predictions = linker.inference.predict(threshold_match_weight=PAIR_FLOOR_WEIGHT)
        pairs = backend.to_arrow(predictions).select(PAIR_COLUMNS).to_pandas()
        timings["predict_seconds"] = time.perf_counter() - started
    finally:
        if own:
            backend.close()

    started = time.perf_counter()
    clustered = cluster(_nodes(records), pairs, threshold, max(threshold, NO_DOB_MATCH_WEIGHT_THRESHOLD),
                        must_link=must_link, cannot_link=cannot_link)
    pairs["merged"] = clustered.accepted
    result = assemble(records, clustered.cluster_of, pairs, previous, issued)
    timings["cluster_seconds"] = time.perf_counter() - started
    result.figures.update(
        pairs_above_threshold=int((pairs["match_weight"] >= threshold).sum()),
        merges_refused_for_conflict=int(clustered.refused_merges),
        match_weight_threshold=float(threshold),
        weak_record_match_weight_threshold=float(max(threshold, NO_DOB_MATCH_WEIGHT_THRESHOLD)),
        model_retrained=bool(retrain or model_path is None),
        **{k: round(v, 3) for k, v in timings.items()},
    )
    return result


def assemble(records: pa.Table, cluster_of: pd.DataFrame, pairs: pd.DataFrame, previous: pd.DataFrame | None,
             issued: frozenset[str] = frozenset(), fixed: pd.DataFrame | None = None) -> LinkageResult:
    """Crosswalk, clusters, lineage and figures from a clustering (cluster_of: person_record_id,
    cluster_root = the cluster's smallest record id). fixed: person_record_id, person_id, cluster_root of
    persons an incremental run left alone (their ids stand; only cluster_of's records are re-identified)."""
    carried = carry_forward(cluster_of[["person_record_id", "cluster_root"]], previous, issued)
    ids = cluster_of[["person_record_id", "cluster_root"]].assign(person_id=carried.person_id.to_numpy())
    if fixed is not None and len(fixed):
        ids = pd.concat([fixed[["person_record_id", "cluster_root", "person_id"]], ids], ignore_index=True)
    # joins, grouping and sorting in Arrow (C++): the index can hold hundreds of thousands of records
    meta = records.select(["person_record_id", "source_system", "source_record_id"])
    ids_schema = pa.schema([(name, pa.string()) for name in ("person_record_id", "cluster_root", "person_id")])
    # an explicit schema: an in-place run that only withdrew persons has no cluster to name
    table = (pa.Table.from_pandas(ids[ids_schema.names], schema=ids_schema, preserve_index=False)
             .join(meta, "person_record_id", join_type="left outer"))
    clusters = (table.group_by("person_id")
                .aggregate([("person_record_id", "count"), ("source_system", "count_distinct"),
                            ("cluster_root", "min")])
                .rename_columns(["person_id", "n_records", "n_systems", "smallest_person_record_id"])
                .sort_by("person_id").to_pandas())
    crosswalk = (table.select(["person_id", "person_record_id", "source_system", "source_record_id"])
                 .sort_by([("person_id", "ascending"), ("person_record_id", "ascending")]).to_pandas())
    sizes = clusters["n_records"].to_numpy()
    changes = carried.lineage["change"].value_counts()
    figures = {
        "person_records": int(records.num_rows),
        "persons": int(len(clusters)),
        "pairs_scored_above_floor": int(len(pairs)),
        "merged_pairs": int(pairs["merged"].sum()) if "merged" in pairs else 0,
        "largest_cluster_size": int(sizes.max()) if len(sizes) else 0,
        "singleton_clusters": int((sizes == 1).sum()),
        "cluster_size_distribution": cluster_size_distribution(sizes),
        "person_ids_new": int(changes.get("new", 0)),
        "person_ids_merged": int(changes.get("merged", 0)),
        "person_ids_split": int(changes.get("split", 0)),
        "person_ids_retired": int(changes.get("retired", 0)),
    }
    return LinkageResult(crosswalk=crosswalk, clusters=clusters, pairs=pairs, figures=figures,
                         lineage=carried.lineage)


def cluster_size_distribution(sizes: np.ndarray) -> dict[str, int]:
    bins = [(1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 50), (51, None)]
    out = {}
    for lo, hi in bins:
        label = f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+")
        mask = (sizes >= lo) & ((sizes <= hi) if hi else True)
        out[label] = int(np.count_nonzero(mask))
    return out


def read_records(con, table: str = INPUT_TABLE) -> pa.Table:
    """The standardised person records from a DuckDB warehouse connection, in a stable order."""
    return con.sql(f"select * from {table} order by person_record_id").to_arrow_table()


def write_outputs(con, result: LinkageResult, schema: str = SCHEMA) -> None:
    """Replace linkage.person_crosswalk, linkage.person_clusters and linkage.pairwise_predictions."""
    con.execute(f"create schema if not exists {schema}")
    for name, frame in (("person_crosswalk", result.crosswalk), ("person_clusters", result.clusters),
                        ("pairwise_predictions", result.pairs)):
        view = f"__linkage_{name}"
        con.register(view, frame)
        try:
            con.execute(f"create or replace table {schema}.{name} as select * from {view}")
        finally:
            con.unregister(view)


# A person has one record per system plus duplicate registrations and one per housing event: a
# cluster larger than this is chaining, not a person.
GIANT_CLUSTER_SIZE = 40


def giant_clusters(con, bound: int = GIANT_CLUSTER_SIZE, schema: str = SCHEMA) -> dict[str, int]:
    """Counts only: clusters above the bound and the largest cluster size, from linkage.person_clusters."""
    n, largest = con.execute(
        f"select count(*) filter (where n_records > ?), coalesce(max(n_records), 0) from {schema}.person_clusters",
        [bound]).fetchall()[0]
    return {"giant_clusters": int(n), "largest_cluster_size": int(largest)}
