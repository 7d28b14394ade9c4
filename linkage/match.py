"""`familyhub link` and `familyhub match`: the project's linkage for any list.

    link_files([A.csv, B.csv], id_column, {"first_name": "Forename", ...}, out=clusters.csv)
    match_list(list.csv, id_column, mapping, out=matched.csv, warehouse=.../warehouse.duckdb)

Both standardise with linkage.standardise (the warehouse's rules, tolerant of non-UK formats) and score
with the project's Splink model (linkage/settings.py, committed as linkage/models/person_model.json).
`link` re-estimates that model on the list itself when it has at least `MIN_TRAIN_RECORDS` records
(prior from deterministic rules, u by random sampling with a fixed seed, m by EM on the blocking rules
whose columns the list has; a step the data cannot support keeps the committed values), then clusters
with linkage.cluster (the anti-chaining rules; the same-system rules are off, since a partner file is
one 'system' whose duplicates are the point). `match` scores the list against the warehouse's person
index with the committed model (predict_between) and bands each row.

Nothing here prints a record's values: the summaries are counts.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import DuckDBBackend
from linkage.cluster import cluster
from linkage.ids import assign_person_ids
from linkage.run import (MATCH_WEIGHT_THRESHOLD, NO_DOB_MATCH_WEIGHT_THRESHOLD, PAIR_COLUMNS, PAIR_FLOOR_WEIGHT,
                         _nodes)
from linkage.standardise import FIELDS, standardise
from linkage.train import DEFAULT_MODEL_PATH, SEED, U_MAX_PAIRS, load_model

MIN_TRAIN_RECORDS = 1000
LIST_COLUMNS = [*model_settings.INPUT_COLUMNS, "other_id"]


class ListError(ValueError):
    """A list that cannot be linked as asked; the message names files, columns and row numbers only."""


def parse_mapping(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        field, sep, column = item.partition("=")
        field = field.strip().lower()
        if not sep or not column.strip():
            raise ListError(f"--map {item!r}: expected FIELD=COLUMN")
        if field not in FIELDS:
            raise ListError(f"--map {field!r}: FIELD must be one of {', '.join(FIELDS)}")
        mapping[field] = column.strip()
    if not mapping:
        raise ListError("give at least one --map FIELD=COLUMN")
    return mapping


def read_list(path: Path, id_column: str, mapping: dict[str, str], source: str | None = None) -> pd.DataFrame:
    """source, record_id and the mapped fields, as text."""
    path = Path(path)
    if not path.exists():
        raise ListError(f"{path}: no such file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, sep=None, engine="python")
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes nearly anything
        raise ListError(f"{path.name}: neither UTF-8 nor Windows-1252 text")
    frame.columns = [str(c).strip() for c in frame.columns]
    wanted = [id_column, *mapping.values()]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ListError(f"{path.name}: no column(s) {missing}; it has {list(frame.columns)}")
    ids = frame[id_column].str.strip()
    empty = np.flatnonzero((ids == "").to_numpy())
    if len(empty):
        raise ListError(f"{path.name}: empty {id_column!r} on row(s) {', '.join(str(i + 2) for i in empty[:20])}")
    duplicated = np.flatnonzero(ids.duplicated(keep=False).to_numpy())
    if len(duplicated):
        raise ListError(f"{path.name}: {id_column!r} repeats on row(s) "
                        f"{', '.join(str(i + 2) for i in duplicated[:20])}: each record needs its own id")
    out = pd.DataFrame({"source": source or path.stem, "record_id": ids})
    for field, column in mapping.items():
        values = frame[column].str.strip()
        out[field] = values.where(values != "", None)
    return out


def probability_to_weight(probability: float) -> float:
    if not 0 < probability < 1:
        raise ListError("--threshold is a probability strictly between 0 and 1")
    return math.log2(probability / (1 - probability))


def _present(records: pa.Table) -> set[str]:
    """Columns with at least two non-null values (anything less cannot block or train)."""
    return {c for c in records.column_names if records[c].null_count <= records.num_rows - 2}


def list_model(present: set[str], term_frequencies: bool = True) -> dict:
    """The committed model, plus an `other_id` comparison (starting from the NHS number's parameters) and
    blocking rule when the list has one. term_frequencies=False drops the term-frequency adjustments: in
    a short list every name looks common, so they would swamp the committed u values."""
    model = copy.deepcopy(load_model(DEFAULT_MODEL_PATH))
    if not term_frequencies:
        for comparison in model["comparisons"]:
            for level in comparison["comparison_levels"]:
                level.pop("tf_adjustment_column", None)
                level.pop("tf_adjustment_weight", None)
    if "other_id" in present:
        [nhs] = [c for c in model["comparisons"] if c["output_column_name"] == "nhs_number"]
        other = json.loads(json.dumps(nhs).replace("nhs_number", "other_id"))
        model["comparisons"].append(other)
        model["blocking_rules_to_generate_predictions"].insert(
            0, {"blocking_rule": 'l."other_id" = r."other_id"', "sql_dialect": "duckdb"})
    return model


def _rule_columns(rule) -> set[str]:
    sql = rule.get_blocking_rule("duckdb").blocking_rule_sql if hasattr(rule, "get_blocking_rule") else str(rule)
    return {c for c in LIST_COLUMNS if f'"{c}"' in sql or f".{c} " in f"{sql} "}


def train_on_list(records: pa.Table, model: dict, backend: DuckDBBackend, present: set[str]) -> tuple[dict, list[str]]:
    """Re-estimate the model on the list; returns (model, the steps that ran)."""
    from splink import block_on

    linker = backend.linker(backend.load(records.select(LIST_COLUMNS), "list_train"), model)
    # Splink warns for each level a list cannot train (e.g. no NI numbers): expected here
    logging.getLogger("splink").setLevel(logging.ERROR)
    steps = []
    deterministic = [r for r in model_settings.DETERMINISTIC_RULES if _rule_columns(r) <= present]
    if "other_id" in present:
        deterministic.append(block_on("other_id"))
    if deterministic:
        try:
            linker.training.estimate_probability_two_random_records_match(
                deterministic, recall=model_settings.DETERMINISTIC_RECALL)
            steps.append("prior")
        except Exception:  # noqa: BLE001 - no deterministic matches: keep the committed prior
            pass
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
    steps.append("u")
    sessions = [*model_settings.TRAINING_BLOCKING_RULES, block_on("other_id")]
    if not {"nhs_number", "ni_number", "other_id"} & present:
        # no identifier to fix while EM learns names and DOB: block on what the list has
        sessions += [block_on("first_name", "surname"), block_on("dob", "postcode_outward"), block_on("dob")]
    for rule in sessions:
        if not _rule_columns(rule) <= present:
            continue
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
            steps.append("em:" + "+".join(sorted(_rule_columns(rule))))
        except Exception:  # noqa: BLE001 - too few pairs for this rule: keep the committed m values
            continue
    return linker.misc.save_model_to_json(), steps


def link_files(inputs: list[Path], id_column: str, mapping: dict[str, str], out: Path,
               pairs_out: Path | None = None, dob_format: str | None = None,
               threshold: float | None = None) -> dict:
    """Deduplicate one list or link and deduplicate several. Writes clusters.csv (source, record_id,
    person_id) and optionally pairs.csv. Returns counts and timings."""
    started = time.perf_counter()
    stems = [Path(p).stem for p in inputs]
    if len(set(stems)) != len(stems):
        raise ListError("two inputs share a file name stem: `source` in the output would be ambiguous")
    raw = pd.concat([read_list(p, id_column, mapping) for p in inputs], ignore_index=True)
    records = standardise(raw, dob_format)
    present = _present(records)
    weight = probability_to_weight(threshold) if threshold is not None else MATCH_WEIGHT_THRESHOLD
    trainable = records.num_rows >= MIN_TRAIN_RECORDS
    model = list_model(present, term_frequencies=trainable)
    backend = DuckDBBackend()
    try:
        steps: list[str] = []
        if trainable:
            model, steps = train_on_list(records, model, backend, present)
        linker = backend.linker(backend.load(records.select(LIST_COLUMNS), "list_records"), model)
        predictions = linker.inference.predict(threshold_match_weight=PAIR_FLOOR_WEIGHT, warning_mode="never")
        pairs = backend.to_arrow(predictions).select(PAIR_COLUMNS).to_pandas()
    finally:
        backend.close()
    # a list without dates of birth has no 'weak' records to hold to a higher bar
    no_dob = max(weight, NO_DOB_MATCH_WEIGHT_THRESHOLD) if "dob" in present else weight
    clustered = cluster(_nodes(records), pairs, weight, no_dob, system_rules=False)
    cluster_of = clustered.cluster_of.assign(person_id=lambda d: assign_person_ids(d))
    meta = records.select(["person_record_id", "source_system", "source_record_id"]).to_pandas()
    result = meta.merge(cluster_of, on="person_record_id").rename(
        columns={"source_system": "source", "source_record_id": "record_id"})
    result = result[["source", "record_id", "person_id"]].sort_values(["source", "record_id"], ignore_index=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    if pairs_out is not None:
        side = meta.set_index("person_record_id")
        table = pd.DataFrame({
            "source_l": side.loc[pairs["person_record_id_l"], "source_system"].to_numpy(),
            "record_id_l": side.loc[pairs["person_record_id_l"], "source_record_id"].to_numpy(),
            "source_r": side.loc[pairs["person_record_id_r"], "source_system"].to_numpy(),
            "record_id_r": side.loc[pairs["person_record_id_r"], "source_record_id"].to_numpy(),
            "match_probability": pairs["match_probability"].round(6).to_numpy(),
        }).sort_values(["match_probability", "source_l", "record_id_l", "source_r", "record_id_r"],
                       ascending=[False, True, True, True, True])
        Path(pairs_out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(pairs_out, index=False)
    return {"inputs": len(inputs), "records": int(records.num_rows), "persons": int(result["person_id"].nunique()),
            "pairs_scored": int(len(pairs)),
            "pairs_at_or_above_threshold": int((pairs["match_weight"] >= weight).sum()),
            "match_weight_threshold": round(weight, 3), "trained": steps,
            "unparsed_dates_of_birth": int(np.sum(records["has_unparsed_dob"].to_numpy(zero_copy_only=False))),
            "seconds": round(time.perf_counter() - started, 2)}


def band_of(best: float, runner_up: float, threshold: float) -> str:
    if best >= threshold and runner_up < threshold:
        return "match"
    if best >= PAIR_FLOOR_WEIGHT:
        return "review"  # a weaker candidate, or two persons above the threshold
    return "no match"


def match_list(path: Path, id_column: str, mapping: dict[str, str], out: Path, warehouse: Path,
               dob_format: str | None = None, threshold: float | None = None) -> dict:
    """Each row of the list: its best person_id in the warehouse's index, the probability and a band
    ('match' / 'review' / 'no match'). Writes <id column>, person_id, match_probability, match_weight,
    band, candidates."""
    import duckdb

    from linkage.incremental import tf_columns
    from linkage.run import read_records

    started = time.perf_counter()
    raw = read_list(path, id_column, mapping, source="list")
    records = standardise(raw, dob_format)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        index = read_records(con)
        crosswalk = con.execute("select person_record_id, person_id from linkage.person_crosswalk").df()
    except duckdb.Error as exc:
        raise ListError(f"{warehouse}: no person index yet (materialise linkage/person_crosswalk first)") from exc
    finally:
        con.close()
    model = load_model(DEFAULT_MODEL_PATH)
    backend = DuckDBBackend()
    try:
        indexed = backend.load(index.select(model_settings.INPUT_COLUMNS), "index_records")
        linker = backend.linker(indexed, model)
        for column in tf_columns(model):  # term frequencies of the index, as its own run used
            linker.table_management.compute_tf_table(column)
        listed = backend.load(records.select(model_settings.INPUT_COLUMNS), "list_records")
        pairs = backend.to_arrow(linker.inference.predict_between(
            indexed, listed, threshold_match_weight=-10, warning_mode="never")).select(PAIR_COLUMNS).to_pandas()
    finally:
        backend.close()
    list_ids = set(records["person_record_id"].to_pylist())
    left_is_list = pairs["person_record_id_l"].isin(list_ids).to_numpy()
    pairs["list_record"] = np.where(left_is_list, pairs["person_record_id_l"], pairs["person_record_id_r"])
    pairs["index_record"] = np.where(left_is_list, pairs["person_record_id_r"], pairs["person_record_id_l"])
    pairs = pairs.merge(crosswalk, left_on="index_record", right_on="person_record_id", how="inner")
    per_person = (pairs.groupby(["list_record", "person_id"], as_index=False)
                  .agg(match_weight=("match_weight", "max"), match_probability=("match_probability", "max"))
                  .sort_values(["list_record", "match_weight", "person_id"], ascending=[True, False, True]))
    per_person["rank"] = per_person.groupby("list_record").cumcount()
    best = per_person[per_person["rank"] == 0].set_index("list_record")
    second = per_person[per_person["rank"] == 1].set_index("list_record")["match_weight"]
    candidates = per_person.groupby("list_record").size()
    has_dob = dict(zip(records["person_record_id"].to_pylist(), pd.notna(records["dob"].to_pandas()).tolist()))
    weight = probability_to_weight(threshold) if threshold is not None else MATCH_WEIGHT_THRESHOLD
    rows = []
    meta = records.select(["person_record_id", "source_record_id"]).to_pandas()
    for rid, record_id in zip(meta["person_record_id"], meta["source_record_id"]):
        bar = weight if has_dob[rid] else max(weight, NO_DOB_MATCH_WEIGHT_THRESHOLD)
        if rid in best.index:
            b = best.loc[rid]
            band = band_of(float(b["match_weight"]), float(second.get(rid, -np.inf)), bar)
            rows.append((record_id, b["person_id"] if band != "no match" else None,
                         round(float(b["match_probability"]), 6), round(float(b["match_weight"]), 3), band,
                         int(candidates[rid])))
        else:
            rows.append((record_id, None, 0.0, None, "no match", 0))
    result = pd.DataFrame(rows, columns=[id_column, "person_id", "match_probability", "match_weight", "band",
                                         "candidates"]).sort_values(id_column, ignore_index=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    counts = result["band"].value_counts()
    return {"records": int(len(result)), "index_person_records": int(index.num_rows),
            "match": int(counts.get("match", 0)), "review": int(counts.get("review", 0)),
            "no_match": int(counts.get("no match", 0)), "match_weight_threshold": round(weight, 3),
            "seconds": round(time.perf_counter() - started, 2)}
