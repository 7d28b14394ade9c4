"""Clerical review: the uncertain pairs, a workbook for reviewers, and their decisions.

    linkage.review_queue      pairs in the uncertain band, with each comparison's match weight (rebuilt each run)
    linkage.review_decisions  every imported decision, audited: reviewer, note, decided_at, source file name + sha256

The band (`REVIEW_MIN_WEIGHT`): pairs scored at match weight >= 6 (probability >= 0.985) that the
clustering kept in different persons. Below 6 only ~8% of such cross-person pairs are the same person on
the 30,000-person demo (not worth a reviewer's time); at 6 and above 25-90% are, depending on the weight,
and this is where the anti-chaining rules refused a merge (twins, a same-name parent, a typo in an NHS
number). Pairs merged at low weight are not queued: in the 4-10 band 3 of 1,730 merges were wrong.
On the demo the queue holds about 14 pairs per 1,000 person records.

Decisions ('match' / 'not a match' / 'unsure') are applied on the next run as must-link / cannot-link
(linkage.cluster); the latest decision on a pair wins; 'unsure' leaves the pair to the model and in the
queue. The workbook carries personal data by design (reviewers compare the records): it is written only
under <data_dir>/artefacts/review/, owner-only (0600 in a 0700 folder, whatever the umask), and never printed.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import LinkageBackend, default_backend
from linkage.lineage import CROSSWALK_TABLE, SCHEMA, file_sha256, table_exists
from linkage.run import records_among

QUEUE_TABLE = f"{SCHEMA}.review_queue"
DECISIONS_TABLE = f"{SCHEMA}.review_decisions"
REVIEW_MIN_WEIGHT = 6.0
DECISIONS = ("match", "not a match", "unsure")
SHEET = "review"
# what a reviewer sees of each record, side by side
DISPLAY_FIELDS = ["source_system", "source_record_id", "first_name", "middle_names", "surname", "dob", "sex",
                  "address_line", "locality", "postcode", "uprn", "nhs_number", "ni_number", "upn", "pnc_id"]


class ReviewImportError(ValueError):
    """A decisions file that cannot be applied; nothing was imported."""


# What import_decisions reports: every return gives every key (the CLI reads each one).
NOTHING_IMPORTED = {"decisions_imported": 0, "rows_without_decision": 0, "already_imported": 0,
                    "repeated_decisions_skipped": 0, "decided_since_export_skipped": 0,
                    "decisions_older_than_the_pairs_latest": 0}


def pair_id(left: str, right: str) -> str:
    a, b = sorted((left, right))
    return hashlib.md5(f"pair|{a}|{b}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- decisions

def latest_decisions(con) -> pd.DataFrame:
    """The latest decision per pair: pair_id, person_record_id_l, person_record_id_r, decision."""
    if not table_exists(con, DECISIONS_TABLE):
        return pd.DataFrame(columns=["pair_id", "person_record_id_l", "person_record_id_r", "decision"])
    return con.execute(f"""
        select pair_id, person_record_id_l, person_record_id_r, decision from {DECISIONS_TABLE}
        qualify row_number() over (partition by pair_id order by decided_at desc, imported_at desc,
                                   decision_id desc) = 1
        order by pair_id""").df()


def constraints(decisions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(must_link, cannot_link) record pairs from the latest decisions."""
    cols = ["person_record_id_l", "person_record_id_r"]
    return (decisions.loc[decisions["decision"] == "match", cols].reset_index(drop=True),
            decisions.loc[decisions["decision"] == "not a match", cols].reset_index(drop=True))


def decisions_fingerprint(decisions: pd.DataFrame) -> str:
    text = "\n".join(f"{p}|{d}" for p, d in zip(decisions["pair_id"], decisions["decision"]))
    return hashlib.sha256(text.encode()).hexdigest()


def _read_decision_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ReviewImportError(f"{path}: no such file")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - a damaged or mislabelled file: say so, name no value
            raise ReviewImportError(f"{path.name}: cannot be read as an Excel workbook") from exc
        try:
            if SHEET not in book.sheetnames:
                raise ReviewImportError(f"{path.name}: no sheet named {SHEET!r}")
            rows = list(book[SHEET].iter_rows(values_only=True))
        finally:
            book.close()
        if not rows:
            raise ReviewImportError(f"{path.name}: the {SHEET!r} sheet is empty")
        header = [str(h).strip() if h is not None else "" for h in rows[0]]
        return pd.DataFrame([list(r) for r in rows[1:]], columns=header, dtype=object)
    if path.suffix.lower() in (".csv", ".txt"):
        # read as `familyhub link` reads a list: the separator sniffed (Excel saves ; in some locales), UTF-8,
        # UTF-16 or Windows-1252 (Excel's "CSV" in the UK: a note with é or £)
        from linkage.match import ListError, read_delimited_text

        try:
            header, body = read_delimited_text(path, None)
        except ListError as exc:
            raise ReviewImportError(str(exc)) from None
        if not header:
            raise ReviewImportError(f"{path.name}: the file is empty")
        return pd.DataFrame(body.to_numpy(), columns=[str(h).strip() for h in header], dtype=object)
    raise ReviewImportError(f"{path.name}: expected an .xlsx workbook or a .csv file")


def import_decisions(con, path: Path, reviewer: str | None = None) -> dict[str, int]:
    """Validate a filled workbook or CSV (columns pair_id, decision; optional reviewer,
    person_record_id_l/_r, decided_at, exported_at) and append its decisions, all or nothing. Returns counts.

    An undated row of a workbook exported before its pair's latest decision was imported is skipped: the
    reviewer saw the pair as it stood at export, so an old copy filled in later must not overturn a decision
    made since (a row with its own later decided_at does: a deliberate change)."""
    path = Path(path)
    frame = _read_decision_file(path)
    missing = {"pair_id", "decision"} - set(frame.columns)
    if missing:
        raise ReviewImportError(f"{path.name}: missing column(s) {sorted(missing)}")
    sha = file_sha256(path)
    if table_exists(con, DECISIONS_TABLE) and con.execute(
            f"select count(*) from {DECISIONS_TABLE} where source_file_sha256 = ?", [sha]).fetchall()[0][0]:
        return {**NOTHING_IMPORTED, "already_imported": 1}

    def text(v) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()

    frame["decision"] = [text(v).lower() for v in frame["decision"]]
    frame["pair_id"] = [text(v) for v in frame["pair_id"]]
    filled = frame[frame["decision"] != ""].copy()
    filled["file_row"] = filled.index + 2  # header is row 1
    bad = filled[~filled["decision"].isin(DECISIONS)]
    if len(bad):
        rows = ", ".join(str(r) for r in bad["file_row"].head(20))
        raise ReviewImportError(f"{path.name}: decision must be one of {list(DECISIONS)}; rows {rows}")
    if not len(filled):
        return {**NOTHING_IMPORTED, "rows_without_decision": int(len(frame))}

    # record ids: from the file when it carries them, else from the queue
    if {"person_record_id_l", "person_record_id_r"} <= set(filled.columns):
        filled["person_record_id_l"] = [text(v) for v in filled["person_record_id_l"]]
        filled["person_record_id_r"] = [text(v) for v in filled["person_record_id_r"]]
    else:
        queue = (con.execute(f"select pair_id, person_record_id_l, person_record_id_r from {QUEUE_TABLE}").df()
                 if table_exists(con, QUEUE_TABLE) else pd.DataFrame(columns=["pair_id", "person_record_id_l",
                                                                               "person_record_id_r"]))
        filled = filled.drop(columns=[c for c in ("person_record_id_l", "person_record_id_r") if c in filled])
        filled = filled.merge(queue, on="pair_id", how="left")
    unknown = filled[filled["person_record_id_l"].isna() | (filled["person_record_id_l"] == "")
                     | filled["person_record_id_r"].isna() | (filled["person_record_id_r"] == "")]
    mismatched = filled[[pair_id(a, b) != p for a, b, p in zip(filled["person_record_id_l"].fillna(""),
                                                               filled["person_record_id_r"].fillna(""),
                                                               filled["pair_id"])]]
    if len(unknown) or len(mismatched):
        rows = ", ".join(str(r) for r in pd.concat([unknown, mismatched])["file_row"].drop_duplicates().head(20))
        raise ReviewImportError(f"{path.name}: pair_id not in the review queue or not matching its record ids; "
                                f"rows {rows}")

    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    default_reviewer = reviewer or getpass.getuser()
    reviewers = [text(v) or default_reviewer for v in filled.get("reviewer", pd.Series([None] * len(filled)))]
    given = [_decided_at(text(v)) for v in filled.get("decided_at", pd.Series([None] * len(filled)))]
    unreadable = [row for row, value in zip(filled["file_row"], given) if value is False]
    if unreadable:
        raise ReviewImportError(f"{path.name}: decided_at must be a date as YYYY-MM-DD[ HH:MM[:SS]] or DD/MM/YYYY"
                                f"[ HH:MM]; rows {', '.join(str(r) for r in unreadable[:20])}")
    decided = [value or now for value in given]
    exported = [_decided_at(text(v)) for v in filled.get("exported_at", pd.Series([None] * len(filled)))]
    unreadable = [row for row, value in zip(filled["file_row"], exported) if value is False]
    if unreadable:  # the guard against a stale copy must not switch off silently
        raise ReviewImportError(f"{path.name}: exported_at must be a date as the workbook wrote it (YYYY-MM-DD "
                                f"HH:MM:SS); rows {', '.join(str(r) for r in unreadable[:20])}")
    # the reviewer's reason, kept for the audit (it may name people: stored, never printed)
    notes = [text(v) or None for v in filled.get("note", pd.Series([None] * len(filled)))]
    out = pd.DataFrame({
        "decision_id": [hashlib.md5(f"{sha}|{p}".encode()).hexdigest()[:16] for p in filled["pair_id"]],
        "pair_id": filled["pair_id"].to_numpy(),
        "person_record_id_l": filled["person_record_id_l"].to_numpy(),
        "person_record_id_r": filled["person_record_id_r"].to_numpy(),
        "decision": filled["decision"].to_numpy(),
        "reviewer": reviewers,
        "note": pd.Series(notes, dtype=object).to_numpy(),
        "decided_at": pd.to_datetime(decided),
        "source_file_name": path.name,
        "source_file_sha256": sha,
        "imported_at": now,
        "dated": [value is not None for value in given],
        "exported_at": [value or None for value in exported],
    }).drop_duplicates("pair_id", keep="last")
    # A decision the pair already has on record, with no date of its own after the pair's latest decision,
    # is a repeat (a workbook saved again, or imported twice under another name), not a new decision: it
    # must not bring back a decision a later one overrode.
    recorded = (con.execute(f"select pair_id, decision, max(decided_at) over (partition by pair_id) as latest, "
                            f"max(imported_at) over (partition by pair_id) as latest_import "
                            f"from {DECISIONS_TABLE}").df()
                if table_exists(con, DECISIONS_TABLE)
                else pd.DataFrame(columns=["pair_id", "decision", "latest", "latest_import"]))
    latest = recorded.drop_duplicates("pair_id").set_index("pair_id")["latest"]
    latest_import = recorded.drop_duplicates("pair_id").set_index("pair_id")["latest_import"]
    seen = set(zip(recorded["pair_id"], recorded["decision"]))
    repeat = [(p, d) in seen and not (was_dated and at > latest.get(p, pd.Timestamp.min))
              for p, d, was_dated, at in zip(out["pair_id"], out["decision"], out["dated"], out["decided_at"])]
    stale = [not is_repeat and not was_dated and export is not None and p in latest_import.index
             and latest_import[p] > export
             for p, is_repeat, was_dated, export in zip(out["pair_id"], repeat, out["dated"], out["exported_at"])]
    superseded = sum(1 for p, at, is_repeat in zip(out["pair_id"], out["decided_at"], repeat)
                     if not is_repeat and p in latest.index and at < latest[p])
    out = out[[not (r or s) for r, s in zip(repeat, stale)]].drop(columns=["dated", "exported_at"])
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(f"""create table if not exists {DECISIONS_TABLE} (decision_id varchar, pair_id varchar,
        person_record_id_l varchar, person_record_id_r varchar, decision varchar, reviewer varchar,
        decided_at timestamp, source_file_name varchar, source_file_sha256 varchar, imported_at timestamp,
        note varchar)""")
    con.execute(f"alter table {DECISIONS_TABLE} add column if not exists note varchar")  # tables made before notes
    con.register("__decisions", out)
    try:
        con.execute(f"insert into {DECISIONS_TABLE} by name select * from __decisions")
    finally:
        con.unregister("__decisions")
    return {**NOTHING_IMPORTED, "decisions_imported": int(len(out)),
            "rows_without_decision": int(len(frame) - len(filled)), "repeated_decisions_skipped": int(sum(repeat)),
            "decided_since_export_skipped": int(sum(stale)),
            "decisions_older_than_the_pairs_latest": int(superseded)}


def _decided_at(value: str) -> dt.datetime | None | bool:
    """A decision's date as given: ISO, or day first as a UK reviewer writes it (never month first). None
    when blank; False when it does not read, or reads as a year no decision has (a typo: 2999 would also
    overflow the timestamps the decisions are kept in)."""
    if not value:
        return None
    for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
                 "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
        try:
            parsed = dt.datetime.strptime(value.split(".")[0] if "." in value[10:] else value, form)
        except ValueError:
            continue
        return parsed if 1900 <= parsed.year <= 2200 else False
    return False


# ------------------------------------------------------------------------------------------------- queue

@dataclass
class ReviewQueue:
    pairs: pd.DataFrame  # one row per pair, QUEUE columns
    comparisons: list[str]  # comparison names, in model order (weight_<name> columns)
    figures: dict


def comparison_weights(scored: pd.DataFrame, model: dict) -> pd.DataFrame:
    """pair_id and, per comparison, the level reached (gamma) and its match weight (Splink's mw_<name> plus
    its term-frequency adjustment), from predictions made with intermediate columns retained."""
    a = scored["person_record_id_l"].to_numpy()
    b = scored["person_record_id_r"].to_numpy()
    out = pd.DataFrame({"pair_id": [pair_id(x, y) for x, y in zip(a, b)]})
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        weight = scored[f"mw_{name}"].astype(float).to_numpy()
        if f"mw_tf_adj_{name}" in scored:
            weight = weight + scored[f"mw_tf_adj_{name}"].astype(float).fillna(0.0).to_numpy()
        out[f"weight_{name}"] = weight.round(3)
        out[f"gamma_{name}"] = scored[f"gamma_{name}"].astype("int64").to_numpy()
    return out.drop_duplicates("pair_id")


def _comparison_weights(records: pa.Table, pairs: pd.DataFrame, model: dict,
                        backend: LinkageBackend) -> pd.DataFrame:
    """Score the given pairs again with Splink's intermediate columns kept (see comparison_weights)."""
    from linkage.incremental import register_term_frequencies

    retained = {**model, "retain_intermediate_calculation_columns": True, "retain_matching_columns": True}
    columns = records.select(model_settings.INPUT_COLUMNS)
    wanted = set(pairs["person_record_id_l"]) | set(pairs["person_record_id_r"])
    subset = backend.load(columns.filter(records_among(columns, wanted)), "review_records")
    linker = backend.linker(subset, retained)
    register_term_frequencies(linker, backend, records, model)  # of all records, as the run scored them
    scored = backend.to_arrow(linker.inference.predict_within(subset, warning_mode="never")).to_pandas()
    return comparison_weights(scored, model)


def queue_band(pairs: pd.DataFrame, crosswalk: pd.DataFrame, decisions: pd.DataFrame,
               min_weight: float = REVIEW_MIN_WEIGHT) -> pd.DataFrame:
    """Pairs at or above min_weight whose records are in different persons, less those decided
    (match / not a match), strongest first."""
    person_of = dict(zip(crosswalk["person_record_id"], crosswalk["person_id"]))
    band = pairs[pairs["match_weight"] >= min_weight].copy()
    band["person_id_l"] = band["person_record_id_l"].map(person_of)
    band["person_id_r"] = band["person_record_id_r"].map(person_of)
    band = band[band["person_id_l"] != band["person_id_r"]]
    band["pair_id"] = [pair_id(a, b) for a, b in zip(band["person_record_id_l"], band["person_record_id_r"])]
    settled = set(decisions.loc[decisions["decision"].isin(["match", "not a match"]), "pair_id"])
    band = band[~band["pair_id"].isin(settled)]
    columns = ["pair_id", "person_record_id_l", "person_record_id_r", "person_id_l", "person_id_r", "match_weight",
               "match_probability"]
    return band[columns].sort_values(["match_weight", "pair_id"], ascending=[False, True], ignore_index=True)


def queue_figures(n_pairs: int, n_records: int, decisions: pd.DataFrame, min_weight: float,
                  person_of: dict[str, str]) -> dict:
    """person_of: person_record_id -> person_id, at least for every record a decision names. A decision is
    applied when the index agrees with it; one is not when it names a record no longer linked, or a
    'match' another reviewer's 'not a match' refused (a must-link never breaks a cannot-link)."""
    decided = decisions[decisions["decision"].isin(["match", "not a match"])]
    left = decided["person_record_id_l"].map(person_of)
    right = decided["person_record_id_r"].map(person_of)
    applied = left.notna() & right.notna() & ((left == right) == (decided["decision"] == "match"))
    return {"review_pairs": int(n_pairs),
            "review_pairs_per_1000_records": round(1000 * n_pairs / max(int(n_records), 1), 2),
            "review_min_match_weight": float(min_weight),
            "review_decisions_applied": int(applied.sum()),
            "review_decisions_not_applied": int((~applied).sum())}


def build_queue(records: pa.Table, crosswalk: pd.DataFrame, pairs: pd.DataFrame, decisions: pd.DataFrame,
                model: dict, backend: LinkageBackend | None = None,
                min_weight: float = REVIEW_MIN_WEIGHT) -> ReviewQueue:
    """The whole queue (queue_band), with per-comparison weights."""
    band = queue_band(pairs, crosswalk, decisions, min_weight)
    names = [c["output_column_name"] for c in model["comparisons"]]
    if len(band):
        own = backend is None
        backend = backend or default_backend()
        try:
            weights = _comparison_weights(records, band, model, backend)
        finally:
            if own:
                backend.close()
        band = band.merge(weights, on="pair_id", how="left")
    else:
        for name in names:
            band[f"weight_{name}"] = pd.Series(dtype=float)
            band[f"gamma_{name}"] = pd.Series(dtype="int64")
    person_of = dict(zip(crosswalk["person_record_id"], crosswalk["person_id"]))
    return ReviewQueue(band, names, queue_figures(len(band), records.num_rows, decisions, min_weight, person_of))


def update_queue_in_place(con, scored: pd.DataFrame, crosswalk: pd.DataFrame, decisions: pd.DataFrame,
                          model: dict, run_id: str, touched: str, n_records: int,
                          min_weight: float = REVIEW_MIN_WEIGHT) -> ReviewQueue:
    """An incremental run's queue: the rows naming a redone record (temp table `touched`) are replaced
    by those from its rescored pairs (`scored`, intermediate columns retained); every queue pair is an
    edge above the merge threshold, so both its records were redone together. Other rows stay queued."""
    band = queue_band(scored, crosswalk, decisions, min_weight)
    names = [c["output_column_name"] for c in model["comparisons"]]
    if len(band):
        # per-comparison weights of the band's pairs only (most rescored pairs merged)
        queued = set(zip(band["person_record_id_l"], band["person_record_id_r"]))
        in_band = [pair in queued for pair in zip(scored["person_record_id_l"], scored["person_record_id_r"])]
        band = band.merge(comparison_weights(scored[in_band], model), on="pair_id", how="left")
    frame = band.assign(run_id=run_id, queued_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    con.execute(f"""delete from {QUEUE_TABLE} where person_record_id_l in (select person_record_id from {touched})
                    or person_record_id_r in (select person_record_id from {touched})""")
    if len(frame):
        con.register("__review_queue", frame)
        try:
            con.execute(f"insert into {QUEUE_TABLE} by name select * from __review_queue")
        finally:
            con.unregister("__review_queue")
    total = con.execute(f"select count(*) from {QUEUE_TABLE}").fetchall()[0][0]
    # the decisions' records: as the index held them, then as this run redid them
    named = sorted(set(decisions["person_record_id_l"]) | set(decisions["person_record_id_r"]))
    person_of = dict(con.execute(f"select person_record_id, person_id from {CROSSWALK_TABLE} "
                                 "where person_record_id in (select unnest(?))", [named]).fetchall()) if named else {}
    person_of.update(zip(crosswalk["person_record_id"], crosswalk["person_id"]))
    return ReviewQueue(band, names, queue_figures(total, n_records, decisions, min_weight, person_of))


def write_queue(con, queue: ReviewQueue, run_id: str) -> None:
    frame = queue.pairs.assign(run_id=run_id,
                               queued_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    con.execute(f"create schema if not exists {SCHEMA}")
    con.register("__review_queue", frame)
    try:
        con.execute(f"create or replace table {QUEUE_TABLE} as select * from __review_queue")
    finally:
        con.unregister("__review_queue")


# ---------------------------------------------------------------------------------------------- workbook

def _level_labels(model: dict) -> dict[str, dict[int, str]]:
    """comparison -> gamma -> level label (Splink numbers levels from the last, 'else' = 0; null = -1)."""
    out = {}
    for comparison in model["comparisons"]:
        levels = comparison["comparison_levels"]
        labels, gamma = {}, len([lv for lv in levels if not lv.get("is_null_level")]) - 1
        for level in levels:
            if level.get("is_null_level"):
                labels[-1] = level.get("label_for_charts", "null")
            else:
                labels[gamma] = level.get("label_for_charts", str(gamma))
                gamma -= 1
        out[comparison["output_column_name"]] = labels
    return out


def _persons_apart(con) -> dict[str, tuple[str, int, int]]:
    """Per queued pair: what differs between ALL the records of its two persons (the fields the clustering's
    anti-chaining rules compare), and each person's record count. Text of field names only, no values."""
    rows = con.execute(f"""
        with persons as (
            select crosswalk.person_id, count(*) as n_records,
                list_distinct(list(records.first_name_canonical)) as forenames,
                list_distinct(list(records.dob)) as dobs, count(*) - count(records.dob) as without_dob,
                list_distinct(list(records.sex)) as sexes, list_distinct(list(records.nhs_number)) as nhs,
                list_distinct(list(records.ni_number)) as ni, list_distinct(list(records.upn)) as upn,
                list_distinct(list(records.source_system)) as systems
            from {CROSSWALK_TABLE} as crosswalk
            inner join intermediate.int_person_records_standardised as records using (person_record_id)
            where crosswalk.person_id in (select person_id_l from {QUEUE_TABLE} union select person_id_r from {QUEUE_TABLE})
            group by crosswalk.person_id
        )
        select queue.pair_id, a.n_records, b.n_records,
            concat_ws('; ',
                case when len(a.forenames) > 0 and len(b.forenames) > 0
                     and not list_has_any(a.forenames, b.forenames) then 'different forenames' end,
                case when len(a.dobs) > 0 and len(b.dobs) > 0 and not list_has_any(a.dobs, b.dobs)
                     then 'different dates of birth' end,
                case when a.without_dob = a.n_records or b.without_dob = b.n_records
                     then 'no date of birth on one side' end,
                case when len(a.sexes) > 0 and len(b.sexes) > 0 and not list_has_any(a.sexes, b.sexes)
                     then 'different sex' end,
                case when len(a.nhs) > 0 and len(b.nhs) > 0 and not list_has_any(a.nhs, b.nhs)
                     then 'different NHS numbers' end,
                case when len(a.ni) > 0 and len(b.ni) > 0 and not list_has_any(a.ni, b.ni)
                     then 'different NI numbers' end,
                case when len(a.upn) > 0 and len(b.upn) > 0 and not list_has_any(a.upn, b.upn)
                     then 'different UPNs' end,
                case when list_has_any(a.systems, b.systems)
                     then 'both registered by ' || array_to_string(list_sort(list_intersect(a.systems, b.systems)), ', ')
                end)
        from {QUEUE_TABLE} as queue
        inner join persons as a on a.person_id = queue.person_id_l
        inner join persons as b on b.person_id = queue.person_id_r""").fetchall()
    return {pair: (why, int(n_a), int(n_b)) for pair, n_a, n_b, why in rows}


def export_workbook(con, out_dir: Path, model: dict) -> tuple[Path, int]:
    """Write the queue, both records side by side, to an .xlsx under out_dir. Returns (path, pairs)."""
    import xlsxwriter

    if not table_exists(con, QUEUE_TABLE):
        raise ReviewImportError("no review queue yet: materialise linkage/person_crosswalk first")
    queue = con.execute(f"select * from {QUEUE_TABLE} order by match_weight desc, pair_id").df()
    fields = ", ".join(DISPLAY_FIELDS)
    records = con.execute(f"""select person_record_id, {fields} from intermediate.int_person_records_standardised
        where person_record_id in (select person_record_id_l from {QUEUE_TABLE}
                                   union select person_record_id_r from {QUEUE_TABLE})""").df().set_index(
        "person_record_id")
    names = [c["output_column_name"] for c in model["comparisons"]]
    labels = _level_labels(model)
    apart = _persons_apart(con)
    # a pair decided 'unsure' stays queued: the reviewer sees that earlier look (the latest decision on record)
    note_column = ("note" if table_exists(con, DECISIONS_TABLE) and con.execute(
        "select count(*) from duckdb_columns() where schema_name = ? and table_name = ? and column_name = 'note'",
        DECISIONS_TABLE.split(".")).fetchall()[0][0] else "null as note")  # a table from before notes
    earlier = ({pair: (f"{decision} ({decided_at:%Y-%m-%d}" + (f", {reviewer})" if reviewer else ")"), note)
                for pair, decision, decided_at,
                reviewer, note in con.execute(f"""
                    select pair_id, decision, decided_at, reviewer, {note_column} from {DECISIONS_TABLE}
                    where pair_id in (select pair_id from {QUEUE_TABLE})
                    qualify row_number() over (partition by pair_id order by decided_at desc, imported_at desc,
                                               decision_id desc) = 1""").fetchall()}
               if table_exists(con, DECISIONS_TABLE) else {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # personal data: owner-only whatever the umask (as the demo key), the folder first so that no one else can
    # open the workbook while it is written
    out_dir.chmod(0o700)
    path = out_dir / f"review_{dt.datetime.now():%Y%m%d_%H%M%S}.xlsx"
    # when the reviewer's view was taken (UTC, as imported_at): import skips this copy's rows on pairs decided since
    exported_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    book = xlsxwriter.Workbook(str(path))
    try:
        sheet = book.add_worksheet(SHEET)
        head = book.add_format({"bold": True, "bg_color": "#DDE3F0", "border": 1, "text_wrap": True})
        side_a = book.add_format({"bg_color": "#F3F7FF"})
        side_b = book.add_format({"bg_color": "#FFF8EE"})
        decision_fmt = book.add_format({"bg_color": "#FFFFCC", "border": 1})
        header = ["pair_id", "decision", "reviewer", "note", "earlier decision", "earlier note", "match_probability",
                  "match_weight", "kept apart: the two persons' records", "records in person A", "records in person B"]
        header += [f"{n} weight" for n in names] + [f"{n} level" for n in names]
        for field in DISPLAY_FIELDS:
            header += [f"{field} A", f"{field} B"]
        header += ["person_record_id_l", "person_record_id_r", "exported_at"]
        sheet.write_row(0, 0, header, head)
        for i, row in enumerate(queue.itertuples(index=False), start=1):
            r = row._asdict()
            why, n_a, n_b = apart.get(r["pair_id"], ("", None, None))
            before, before_note = earlier.get(r["pair_id"], (None, None))
            values = [r["pair_id"], None, None, None, before, before_note, round(float(r["match_probability"]), 6),
                      round(float(r["match_weight"]), 3), why, n_a, n_b]
            values += [None if pd.isna(r.get(f"weight_{n}")) else float(r[f"weight_{n}"]) for n in names]
            values += [labels[n].get(int(r[f"gamma_{n}"]), "") if not pd.isna(r.get(f"gamma_{n}")) else ""
                       for n in names]
            a = records.loc[r["person_record_id_l"]] if r["person_record_id_l"] in records.index else None
            b = records.loc[r["person_record_id_r"]] if r["person_record_id_r"] in records.index else None
            sheet.write_row(i, 0, values)
            sheet.write_blank(i, 1, None, decision_fmt)
            col = len(values)
            for field in DISPLAY_FIELDS:
                for side, fmt in ((a, side_a), (b, side_b)):
                    value = None if side is None else side[field]
                    if value is None or (not isinstance(value, str) and pd.isna(value)):
                        text = ""
                    elif hasattr(value, "strftime"):
                        text = value.strftime("%Y-%m-%d")
                    else:
                        text = str(value)
                    sheet.write_string(i, col, text, fmt)
                    col += 1
            sheet.write_string(i, col, r["person_record_id_l"])
            sheet.write_string(i, col + 1, r["person_record_id_r"])
            sheet.write_string(i, col + 2, exported_at)
        last = max(len(queue), 1)
        sheet.data_validation(1, 1, last + 500, 1, {
            "validate": "list", "source": list(DECISIONS),
            "error_title": "Decision", "error_message": "Choose match, not a match or unsure."})
        sheet.freeze_panes(1, 2)
        sheet.set_column(0, 0, 18)
        sheet.set_column(1, 1, 13)
        sheet.autofilter(0, 0, last, len(header) - 1)
        notes = book.add_worksheet("how to")
        for i, line in enumerate([
            "One row per pair of records the model could not settle. Records A and B are side by side.",
            "Per-comparison weights: positive = evidence for the same person, negative = against.",
            "The model scored each pair high, but its two records are in two persons the clustering kept apart: "
            "'kept apart' says what differs between all the records of the two (twins differ in forename only; a "
            "same-name parent in date of birth). A 'match' merges the two persons whole.",
            "Fill 'decision' (match / not a match / unsure) and 'reviewer'; leave rows you did not review blank.",
            "Then: familyhub review import <this file>. Decisions apply on the next linkage run.",
            "Import a workbook soon: a pair decided by another import after this one was exported is skipped "
            "(export a fresh one to see it again).",
            "This workbook holds personal data: keep it in the restricted data folder; do not email it.",
        ]):
            notes.write_string(i, 0, line)
        notes.set_column(0, 0, 110)
    finally:
        book.close()
        if path.exists():
            path.chmod(0o600)
    return path, int(len(queue))
