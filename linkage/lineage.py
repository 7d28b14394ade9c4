"""The person index's memory between runs (schema `linkage`):

    person_crosswalk_previous  the crosswalk as it was before this run replaced it: a view of today's rows
                               less those the run redid (records_redone) plus their old rows
                               (person_crosswalk_replaced), so an in-place run copies only what it changed
    person_id_lineage          run_id, recorded_at, change ('new'|'merged'|'split'|'retired'), person_id,
                               related_person_id, n_records, reason: appended each run (see linkage.ids)
    linked_records             person_record_id, record_hash: the records as last linked (what changed?)
    linkage_runs               one row per run: mode, model and decision fingerprints, counts
    model_versions             one row per model a run used: its sha256, where it came from, when and on what
                               it was trained (linkage/train.py's meta), the first run that used it

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
MODEL_VERSIONS_TABLE = f"{SCHEMA}.model_versions"
CROSSWALK_TABLE = f"{SCHEMA}.person_crosswalk"
PREVIOUS_CROSSWALK_TABLE = f"{SCHEMA}.person_crosswalk_previous"
REPLACED_TABLE = f"{SCHEMA}.person_crosswalk_replaced"
REDONE_TABLE = f"{SCHEMA}.records_redone"

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


def record_hash_sql(con, table: str) -> str:
    """person_record_id and a hash of every column the model and the clustering read: a record whose
    standardised values change gets a new hash (then its person is redone). DuckDB's 64-bit hash(), as text:
    four times cheaper than an md5 of the values at 1M records; should a DuckDB upgrade change it, every record
    looks changed once and that run is a full one."""
    *schema, name = table.split(".")
    present = {r[0] for r in con.execute("select column_name from duckdb_columns() where table_name = ? "
                                         "and schema_name = coalesce(?, schema_name)",
                                         [name, schema[-1] if schema else None]).fetchall()}
    columns = [*model_settings.INPUT_COLUMNS, *(c for c in model_settings.CLUSTER_COLUMNS if c in present)]
    return f"select person_record_id, cast(hash({', '.join(columns)}) as varchar) as record_hash from {table}"


@dataclass
class PreviousState:
    crosswalk: pd.DataFrame | None  # person_record_id, person_id (None: no index, or not read)
    issued: frozenset[str]  # every person id handed out before (empty when not read)
    last_run: dict | None  # the last row of linkage_runs
    indexed: bool | None = None  # is there an index (None: as crosswalk says)
    delivered_in_place: int = 0  # records delivered in place since the last full run

    @property
    def has_index(self) -> bool:
        return self.indexed if self.indexed is not None else self.crosswalk is not None


def read_previous(con, crosswalk: bool = True) -> PreviousState:
    """crosswalk=False: only whether an index exists and the last run (what choosing a mode needs)."""
    indexed = table_exists(con, CROSSWALK_TABLE)
    last_run = None
    if table_exists(con, RUNS_TABLE):
        rows = con.execute(f"select * from {RUNS_TABLE} order by recorded_at desc limit 1").df()
        if len(rows):
            last_run = rows.iloc[0].to_dict()
    delivered = 0
    if last_run is not None:
        delivered = con.execute(f"""
            select coalesce(sum(new_records + changed_records + removed_records), 0) from {RUNS_TABLE}
            where mode = 'incremental' and recorded_at > (select coalesce(max(recorded_at), '-infinity'::timestamp)
                                                          from {RUNS_TABLE} where mode = 'full')""").fetchall()[0][0]
    if not crosswalk:
        return PreviousState(crosswalk=None, issued=frozenset(), last_run=last_run, indexed=indexed,
                             delivered_in_place=int(delivered))
    frame = None
    issued: set[str] = set()
    if indexed:
        frame = con.execute(f"select person_record_id, person_id from {CROSSWALK_TABLE}").df()
        issued.update(frame["person_id"].unique())
    if table_exists(con, LINEAGE_TABLE):
        issued.update(r[0] for r in con.execute(
            f"select distinct person_id from {LINEAGE_TABLE} where person_id is not null").fetchall())
    return PreviousState(crosswalk=frame, issued=frozenset(issued), last_run=last_run, indexed=indexed,
                         delivered_in_place=int(delivered))


DELTA = "__linkage_delta"  # a temp table: person_record_id, change ('new' | 'changed' | 'removed') since the last
# run, and record_hash (null for a removed record)


def record_changes(con, table: str) -> dict[str, int]:
    """Records new, changed and removed since the last run (all new when there was none), kept with their
    hashes in the temp table DELTA (for write_run and linkage.incremental). One statement: the records'
    hashes are compared as they are computed, not kept (most have not changed)."""
    if not table_exists(con, LINKED_RECORDS_TABLE):
        con.execute(f"create or replace temp table {DELTA} as "
                    f"select person_record_id, 'new' as change, record_hash from ({record_hash_sql(con, table)})")
    else:
        con.execute(f"""
            create or replace temp table {DELTA} as
            select coalesce(now.person_record_id, before.person_record_id) as person_record_id,
                   case when before.person_record_id is null then 'new'
                        when now.person_record_id is null then 'removed' else 'changed' end as change,
                   now.record_hash
            from ({record_hash_sql(con, table)}) now full outer join {LINKED_RECORDS_TABLE} before using (person_record_id)
            where now.record_hash is distinct from before.record_hash""")
    counts = dict(con.execute(f"select change, count(*) from {DELTA} group by change").fetchall())
    return {"new_records": int(counts.get("new", 0)), "changed_records": int(counts.get("changed", 0)),
            "removed_records": int(counts.get("removed", 0))}


def _remember_linked_records(con, table: str, in_place: bool) -> None:
    """linked_records := the records as this run linked them: the last run's less the delta's, plus the
    delta's new and changed records (record_changes found the delta: an unchanged record's hash stands)."""
    if in_place:  # an incremental run follows record_changes
        con.execute(f"delete from {LINKED_RECORDS_TABLE} where person_record_id in (select person_record_id from {DELTA})")
        con.execute(f"insert into {LINKED_RECORDS_TABLE} select person_record_id, record_hash from {DELTA} "
                    "where change <> 'removed'")
        return
    if not con.execute("select count(*) from duckdb_tables() where temporary and table_name = ?",
                       [DELTA]).fetchall()[0][0]:  # not after record_changes: hash every record
        con.execute(f"create or replace table {LINKED_RECORDS_TABLE} as {record_hash_sql(con, table)}")
        return
    unchanged = (f"select * from {LINKED_RECORDS_TABLE} anti join {DELTA} using (person_record_id) union all "
                 if table_exists(con, LINKED_RECORDS_TABLE) else "")
    con.execute(f"create or replace table {LINKED_RECORDS_TABLE} as {unchanged}"
                f"select person_record_id, record_hash from {DELTA} where change <> 'removed'")


def _keep_previous_crosswalk(con, redone: str | None, table: str) -> None:
    """Before the crosswalk changes: keep the old rows of the records this run redoes (redone: a table of
    person_record_id; None: all of them, a full run, which writes a row for every record of `table`) and
    define the previous crosswalk over them."""
    crosswalk = CROSSWALK_TABLE
    if not table_exists(con, crosswalk):
        return  # a first run: there is no previous crosswalk
    if table_exists(con, PREVIOUS_CROSSWALK_TABLE):  # a table in warehouses indexed before it was a view
        con.execute(f"drop table {PREVIOUS_CROSSWALK_TABLE}")
    if redone is None:
        con.execute(f"create or replace table {REPLACED_TABLE} as select * from {crosswalk}")
        con.execute(f"create or replace table {REDONE_TABLE} as select person_record_id from {table}")
    else:
        con.execute(f"create or replace table {REPLACED_TABLE} as select * from {crosswalk} "
                    f"semi join {redone} using (person_record_id)")
        con.execute(f"create or replace table {REDONE_TABLE} as select person_record_id from {redone}")
    con.execute(f"""create or replace view {PREVIOUS_CROSSWALK_TABLE} as
                    select * from {crosswalk} anti join {REDONE_TABLE} using (person_record_id)
                    union all select * from {REPLACED_TABLE}""")


def write_run(con, run_id: str, lineage: pd.DataFrame, run: dict, table: str,
              decision_pairs: pd.DataFrame | None = None, context: str = "", in_place: str | None = None) -> None:
    """Keep the crosswalk being replaced, append lineage and the run, remember the records as linked.
    Call before linkage.run.write_outputs replaces the crosswalk. `decision_pairs` (person_id pairs a
    reviewer's decision spans, with its pair_id and decision) turn a merge or split's reason into
    'review decision: <decision>, pair <pair_id>' (the pair_id finds it in linkage.review_decisions). in_place: an
    incremental run's table of the records it redoes (only those change; see linkage.incremental)."""
    recorded_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.execute(f"create schema if not exists {SCHEMA}")
    _keep_previous_crosswalk(con, in_place, table)
    frame = lineage.copy()
    frame["reason"] = frame["change"].map(REASONS)
    if decision_pairs is not None and len(decision_pairs) and len(frame):
        spans = {}
        for a, b, pair, decision in decision_pairs[["a", "b", "pair_id", "decision"]].itertuples(index=False):
            spans[(a, b)] = spans[(b, a)] = f"review decision: {decision}, pair {pair}"
        frame["reason"] = [spans.get((p, r), reason) for p, r, reason
                           in zip(frame["person_id"], frame["related_person_id"], frame["reason"])]
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
    _remember_linked_records(con, table, bool(in_place))
    if run:
        append_run(con, run_id, run, recorded_at)


def append_run(con, run_id: str, run: dict, recorded_at: dt.datetime | None = None) -> None:
    """One row in linkage_runs (mode, fingerprints, counts)."""
    recorded_at = recorded_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    row = pd.DataFrame([{"run_id": run_id, "recorded_at": recorded_at, **run}])
    con.register("__run_row", row)
    try:
        if table_exists(con, RUNS_TABLE):
            # a column a later version records (cluster_rules_version): added, null for the runs before it
            have = {r[0] for r in con.execute(f"describe {RUNS_TABLE}").fetchall()}
            for column, column_type, *_ in con.execute("describe select * from __run_row").fetchall():
                if column not in have:
                    con.execute(f'alter table {RUNS_TABLE} add column "{column}" {column_type}')
            con.execute(f"insert into {RUNS_TABLE} by name select * from __run_row")
        else:
            con.execute(f"create table {RUNS_TABLE} as select * from __run_row")
    finally:
        con.unregister("__run_row")


def record_model_version(con, run_id: str, model_sha: str, meta: dict, origin: str) -> None:
    """Remember a model the first time a run uses it (origin: 'committed' or 'retrained by this run')."""
    con.execute(f"""create table if not exists {MODEL_VERSIONS_TABLE} (model_sha256 varchar primary key,
        origin varchar, trained_at varchar, training_records bigint, training_fingerprint varchar,
        splink_version varchar, first_run_id varchar, first_used_at timestamp)""")
    con.execute(f"""insert into {MODEL_VERSIONS_TABLE} select ?, ?, ?, ?, ?, ?, ?, ? where not exists (
                        select 1 from {MODEL_VERSIONS_TABLE} where model_sha256 = ?)""",
                [model_sha, origin, meta.get("trained_at"), meta.get("training_records"),
                 meta.get("training_fingerprint"), meta.get("splink_version"), run_id,
                 dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), model_sha])
