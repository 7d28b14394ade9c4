"""The person index's memory between runs (schema `linkage`):

    person_crosswalk_previous  the crosswalk as it was before this run replaced it
    person_id_lineage          run_id, recorded_at, change ('new'|'merged'|'split'|'retired'), person_id,
                               related_person_id, n_records, reason: appended each run (see linkage.ids)
    linked_records             person_record_id, record_hash: the records as last linked (what changed?)
    linkage_runs               one row per run: mode, model and decision fingerprints, counts

For 'merged' and 'retired' rows `person_id` is the id that ends (related_person_id: where its records
went); for 'split' and 'new' rows it is the id created (related_person_id: the person it split from).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linkage import settings as model_settings

SCHEMA = "linkage"
LINEAGE_TABLE = f"{SCHEMA}.person_id_lineage"
RUNS_TABLE = f"{SCHEMA}.linkage_runs"
LINKED_RECORDS_TABLE = f"{SCHEMA}.linked_records"
PREVIOUS_CROSSWALK_TABLE = f"{SCHEMA}.person_crosswalk_previous"

REASONS = {
    "new": "records not linked before",
    "merged": "new evidence joined two persons",
    "split": "new evidence separated one person",
    "retired": "no records left",
}


def table_exists(con, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return bool(con.execute("select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                            [schema, name]).fetchall()[0][0])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_fingerprint(model: dict) -> str:
    return hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()


def record_hash_sql(table: str) -> str:
    """person_record_id and an md5 of every column the model reads: a record whose standardised
    values change gets a new hash (then the index is rebuilt in full)."""
    parts = ", ".join(f"coalesce(cast({c} as varchar), '\u2400')" for c in model_settings.INPUT_COLUMNS)
    return f"select person_record_id, md5(concat_ws('|', {parts})) as record_hash from {table}"


@dataclass
class PreviousState:
    crosswalk: pd.DataFrame | None  # person_record_id, person_id
    issued: frozenset[str]  # every person id handed out before
    last_run: dict | None  # the last row of linkage_runs


def read_previous(con) -> PreviousState:
    crosswalk = None
    issued: set[str] = set()
    if table_exists(con, f"{SCHEMA}.person_crosswalk"):
        crosswalk = con.execute(f"select person_record_id, person_id from {SCHEMA}.person_crosswalk").df()
        issued.update(crosswalk["person_id"].unique())
    if table_exists(con, LINEAGE_TABLE):
        issued.update(r[0] for r in con.execute(
            f"select distinct person_id from {LINEAGE_TABLE} where person_id is not null").fetchall())
    last_run = None
    if table_exists(con, RUNS_TABLE):
        rows = con.execute(f"select * from {RUNS_TABLE} order by recorded_at desc limit 1").df()
        if len(rows):
            last_run = rows.iloc[0].to_dict()
    return PreviousState(crosswalk=crosswalk, issued=frozenset(issued), last_run=last_run)


CURRENT_HASHES = "__linkage_current_record_hashes"  # a temp table: this connection's hashes of this run


def record_changes(con, table: str) -> dict[str, int]:
    """Records new, changed and removed since the last run (all new when there was none). Keeps the
    records' hashes in a temp table for write_run."""
    con.execute(f"create or replace temp table {CURRENT_HASHES} as {record_hash_sql(table)}")
    if not table_exists(con, LINKED_RECORDS_TABLE):
        n = con.execute(f"select count(*) from {CURRENT_HASHES}").fetchall()[0][0]
        return {"new_records": int(n), "changed_records": 0, "removed_records": 0}
    new, changed, removed = con.execute(f"""
        with now as (select * from {CURRENT_HASHES})
        select count(*) filter (where before.person_record_id is null),
               count(*) filter (where now.person_record_id is not null and before.person_record_id is not null
                                and now.record_hash <> before.record_hash),
               count(*) filter (where now.person_record_id is null)
        from now full outer join {LINKED_RECORDS_TABLE} before using (person_record_id)
    """).fetchall()[0]
    return {"new_records": int(new), "changed_records": int(changed), "removed_records": int(removed)}


def new_record_ids(con, table: str) -> list[str]:
    if not table_exists(con, LINKED_RECORDS_TABLE):
        return [r[0] for r in con.execute(f"select person_record_id from {table}").fetchall()]
    return [r[0] for r in con.execute(
        f"select person_record_id from {table} anti join {LINKED_RECORDS_TABLE} using (person_record_id) "
        "order by 1").fetchall()]


def write_run(con, run_id: str, lineage: pd.DataFrame, run: dict, table: str,
              decision_pairs: pd.DataFrame | None = None, context: str = "") -> None:
    """Keep the crosswalk being replaced, append lineage and the run, remember the records as linked.
    Call before linkage.run.write_outputs replaces the crosswalk. `decision_pairs` (person_id pairs a
    reviewer's decision spans) turn a merge or split's reason into 'review decision'."""
    recorded_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.execute(f"create schema if not exists {SCHEMA}")
    if table_exists(con, f"{SCHEMA}.person_crosswalk"):
        con.execute(f"create or replace table {PREVIOUS_CROSSWALK_TABLE} as select * from {SCHEMA}.person_crosswalk")
    frame = lineage.copy()
    frame["reason"] = frame["change"].map(REASONS)
    if decision_pairs is not None and len(decision_pairs) and len(frame):
        spans = set(zip(decision_pairs["a"], decision_pairs["b"])) | set(zip(decision_pairs["b"], decision_pairs["a"]))
        by_review = [(p, r) in spans for p, r in zip(frame["person_id"], frame["related_person_id"])]
        frame.loc[by_review, "reason"] = "review decision"
    if context:
        frame["reason"] = frame["reason"] + f" ({context})"
    frame.insert(0, "recorded_at", recorded_at)
    frame.insert(0, "run_id", run_id)
    frame["n_records"] = frame["n_records"].astype("int64")
    con.execute(f"""create table if not exists {LINEAGE_TABLE} (run_id varchar, recorded_at timestamp,
        change varchar, person_id varchar, related_person_id varchar, n_records bigint, reason varchar)""")
    con.register("__lineage_rows", frame[["run_id", "recorded_at", "change", "person_id", "related_person_id",
                                          "n_records", "reason"]])
    try:
        con.execute(f"insert into {LINEAGE_TABLE} select * from __lineage_rows")
    finally:
        con.unregister("__lineage_rows")
    hashes = (f"select * from {CURRENT_HASHES}" if con.execute(
        "select count(*) from duckdb_tables() where temporary and table_name = ?", [CURRENT_HASHES]).fetchall()[0][0]
        else record_hash_sql(table))
    con.execute(f"create or replace table {LINKED_RECORDS_TABLE} as {hashes}")
    row = pd.DataFrame([{"run_id": run_id, "recorded_at": recorded_at, **run}])
    con.register("__run_row", row)
    try:
        if table_exists(con, RUNS_TABLE):
            con.execute(f"insert into {RUNS_TABLE} by name select * from __run_row")
        else:
            con.execute(f"create table {RUNS_TABLE} as select * from __run_row")
    finally:
        con.unregister("__run_row")
