"""One run of the person index against a warehouse: choose full or incremental, link, carry ids forward,
record lineage, rebuild the review queue, optionally draw the charts.

    outcome = update_person_index(con, run_id, mode="auto", charts_dir=None)

Full or incremental (`choose_mode`): incremental when the last run used the same model, the same
clustering rules (cluster.CLUSTER_RULES_VERSION) and the same review decisions and the delivery (records new,
changed or withdrawn since) is at most `INCREMENTAL_MAX_SHARE` of all, and so is everything delivered in place
since the last full run; otherwise full. An incremental run updates the index in place
(linkage.incremental): only the persons the delivery can reach are redone and rewritten. A full run on
unchanged data gives the same ids and no lineage rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from expectations.framework import transaction
from linkage import lineage, review
from linkage.cluster import CLUSTER_RULES_VERSION
from linkage.run import INPUT_TABLE, LinkageResult, link_persons, read_records, write_outputs
from linkage.train import DEFAULT_MODEL_PATH, load_meta, load_model, train

INCREMENTAL_MAX_SHARE = 0.10
MODES = ("auto", "full", "incremental")


@dataclass
class IndexOutcome:
    result: LinkageResult
    queue: review.ReviewQueue
    figures: dict  # counts and timings only
    charts: dict[str, Path]


def choose_mode(requested: str, previous: lineage.PreviousState, changes: dict, model_sha: str,
                decisions_sha: str, total_records: int) -> tuple[str, str]:
    """(mode, reason). 'incremental' is only ever an answer when it would give a full run's clusters."""
    if requested == "full":
        return "full", "asked for a full run"
    last = previous.last_run
    if not previous.has_index or last is None:
        return "full", "first run"
    if last.get("model_sha256") != model_sha:
        return "full", "model changed"
    if last.get("decisions_sha256") != decisions_sha:
        return "full", "review decisions changed"
    if last.get("cluster_rules_version") != CLUSTER_RULES_VERSION:
        return "full", "clustering rules changed"
    delivered = changes["new_records"] + changes["changed_records"] + changes["removed_records"]
    if not delivered:
        return "full", "nothing new, changed or withdrawn since the last run"
    if delivered > INCREMENTAL_MAX_SHARE * total_records:
        return "full", "delivery above the incremental share"
    # old pairs keep the term frequencies of their last scoring: after a tenth of the records has been
    # delivered in place, a full run rescoring them all bounds that drift
    if delivered + previous.delivered_in_place > INCREMENTAL_MAX_SHARE * total_records:
        return "full", "deliveries in place since the last full run above the incremental share"
    return "incremental", "records new, changed or withdrawn since the last run"


def _decision_spans(decisions: pd.DataFrame, previous: pd.DataFrame | None, crosswalk: pd.DataFrame) -> pd.DataFrame:
    """(previous id of one record, new id of the other, the pair and its decision) for every decided pair: a
    lineage row between those two ids was caused by that reviewer's decision."""
    columns = ["a", "b", "pair_id", "decision"]
    if previous is None or not len(decisions):
        return pd.DataFrame(columns=columns)
    before = dict(zip(previous["person_record_id"], previous["person_id"]))
    now = dict(zip(crosswalk["person_record_id"], crosswalk["person_id"]))
    rows = []
    applied = decisions[decisions["decision"].isin(["match", "not a match"])]  # 'unsure' leaves it to the model
    for left, right, pair, decision in zip(applied["person_record_id_l"], applied["person_record_id_r"],
                                           applied["pair_id"], applied["decision"]):
        rows += [(before.get(left), now.get(right), pair, decision), (before.get(right), now.get(left), pair, decision)]
    return pd.DataFrame(rows, columns=columns).dropna()


def update_person_index(con, run_id: str, mode: str = "auto", charts_dir: Path | None = None,
                        model_path: Path = DEFAULT_MODEL_PATH, retrain_dir: Path | None = None) -> IndexOutcome:
    """retrain_dir: train a model on today's records, save it there (with its meta) and use it for this run
    (a model change, so a full run); by default the committed model is used."""
    try:
        return _update_person_index(con, run_id, mode, charts_dir, model_path, retrain_dir)
    finally:
        _drop_run_tables(con)


def _drop_run_tables(con) -> None:
    """The run's temp tables (the delta, the redone records...): a later call on this connection starts
    from none of them."""
    names = [r[0] for r in con.execute("select table_name from duckdb_tables() where temporary "
                                       "and starts_with(table_name, '__linkage_')").fetchall()]
    for name in names:
        con.execute(f'drop table if exists temp.main."{name}"')


def _update_person_index(con, run_id: str, mode: str, charts_dir: Path | None, model_path: Path,
                         retrain_dir: Path | None) -> IndexOutcome:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    started = time.perf_counter()
    origin = "committed" if Path(model_path) == DEFAULT_MODEL_PATH else str(model_path)
    if retrain_dir is not None:
        model_path = Path(retrain_dir) / "person_model.json"
        train(read_records(con), model_path)
        origin = f"retrained by run {run_id}"
    previous = lineage.read_previous(con, crosswalk=False)
    decisions = review.latest_decisions(con)
    must_link, cannot_link = review.constraints(decisions)
    model = load_model(model_path)
    model_sha = lineage.model_fingerprint(model)
    model_version = (model_sha, load_meta(model_path), origin)
    decisions_sha = review.decisions_fingerprint(decisions)
    changes = lineage.record_changes(con, INPUT_TABLE)
    total = con.execute(f"select count(*) from {INPUT_TABLE}").fetchall()[0][0]
    chosen, why = choose_mode(mode, previous, changes, model_sha, decisions_sha, total)
    if chosen == "incremental":
        return _update_in_place(con, run_id, why, model, model_version, decisions, decisions_sha, must_link,
                                cannot_link, changes, charts_dir, started)

    previous = lineage.read_previous(con)
    records = read_records(con)
    result = link_persons(records, model_path=model_path, previous=previous.crosswalk, issued=previous.issued,
                          must_link=must_link, cannot_link=cannot_link)
    link_seconds = time.perf_counter() - started

    started = time.perf_counter()
    queue = review.build_queue(records, result.crosswalk, result.pairs, decisions, model)
    review_seconds = time.perf_counter() - started

    f = result.figures
    run = _run_row(chosen, why, model_sha, decisions_sha, f, changes, link_seconds)
    spans = _decision_spans(decisions, previous.crosswalk, result.crosswalk)
    # one transaction: a failure leaves the last index, its lineage and its queue as they were
    with transaction(con):
        lineage.write_run(con, run_id, result.lineage, run, INPUT_TABLE, spans, context=f"{chosen} run")
        lineage.record_model_version(con, run_id, *model_version)
        write_outputs(con, result)
        review.write_queue(con, queue, run_id)
    return _outcome(result, queue, f, chosen, why, changes, link_seconds, review_seconds, charts_dir, model,
                    records)


def _run_row(chosen: str, why: str, model_sha: str, decisions_sha: str, f: dict, changes: dict,
             link_seconds: float) -> dict:
    return {"mode": chosen, "mode_reason": why, "model_sha256": model_sha, "decisions_sha256": decisions_sha,
            "cluster_rules_version": CLUSTER_RULES_VERSION, "person_records": f["person_records"],
            "persons": f["persons"], **changes,
            "person_ids_new": f["person_ids_new"], "person_ids_merged": f["person_ids_merged"],
            "person_ids_split": f["person_ids_split"], "person_ids_retired": f["person_ids_retired"],
            "link_seconds": round(link_seconds, 3)}


def _update_in_place(con, run_id: str, why: str, model: dict, model_version: tuple, decisions: pd.DataFrame,
                     decisions_sha: str, must_link: pd.DataFrame, cannot_link: pd.DataFrame, changes: dict,
                     charts_dir: Path | None, started: float) -> IndexOutcome:
    from linkage import incremental

    link = incremental.link_delta(con, model, must_link=must_link, cannot_link=cannot_link)
    result = link.result
    link_seconds = time.perf_counter() - started
    f = result.figures
    spans = _decision_spans(decisions, link.previous, result.crosswalk)
    with transaction(con):
        review_started = time.perf_counter()
        lineage.write_run(con, run_id, result.lineage, {}, INPUT_TABLE, spans, context="incremental run",
                          in_place=incremental.TOUCHED)
        incremental.write_delta(con, link)
        f.update(incremental.index_figures(con))
        queue = review.update_queue_in_place(con, link.scored, result.crosswalk, decisions, model, run_id,
                                             incremental.TOUCHED, f["person_records"])
        review_seconds = time.perf_counter() - review_started
        lineage.append_run(con, run_id, _run_row("incremental", why, model_version[0], decisions_sha, f, changes,
                                                 link_seconds))
        lineage.record_model_version(con, run_id, *model_version)
    # the model is the one the charts were drawn from and the persons changed are few: keep the last
    # charts (an in-place run at 1M would otherwise spend twice its own time redrawing them)
    from linkage.charts import chart_paths

    kept = chart_paths(charts_dir) if charts_dir is not None else {}
    if kept and all(path.exists() for path in kept.values()):
        outcome = _outcome(result, queue, f, "incremental", why, changes, link_seconds, review_seconds, None,
                           model, None, con)
        outcome.charts.update(kept)
        outcome.figures["charts_redrawn"] = False
        return outcome
    records = read_records(con) if charts_dir is not None else None
    return _outcome(result, queue, f, "incremental", why, changes, link_seconds, review_seconds, charts_dir,
                    model, records, con)


def read_index(con) -> LinkageResult:
    """The whole index as the warehouse holds it now (crosswalk, clusters, pairs)."""
    from linkage.run import SCHEMA

    frames = {name: con.execute(f"select * from {SCHEMA}.{name}").df()
              for name in ("person_crosswalk", "person_clusters", "pairwise_predictions")}
    return LinkageResult(crosswalk=frames["person_crosswalk"].sort_values(["person_id", "person_record_id"],
                                                                          ignore_index=True),
                         clusters=frames["person_clusters"].sort_values("person_id", ignore_index=True),
                         pairs=frames["pairwise_predictions"])


def _outcome(result: LinkageResult, queue: review.ReviewQueue, f: dict, chosen: str, why: str, changes: dict,
             link_seconds: float, review_seconds: float, charts_dir: Path | None, model: dict, records,
             con=None) -> IndexOutcome:
    charts: dict[str, Path] = {}
    chart_seconds = 0.0
    if charts_dir is not None:
        from linkage.charts import write_charts

        started = time.perf_counter()
        whole = read_index(con) if con is not None else result  # an in-place run holds only what it redid
        whole_queue = (review.ReviewQueue(con.execute(f"select * from {review.QUEUE_TABLE} "
                                                      "order by match_weight desc, pair_id").df(),
                                          queue.comparisons, queue.figures) if con is not None else queue)
        charts = write_charts(Path(charts_dir), model, records, whole, whole_queue)
        chart_seconds = time.perf_counter() - started
    figures = {**f, "mode": chosen, "mode_reason": why, **changes, **queue.figures,
               "link_seconds": round(link_seconds, 3), "review_queue_seconds": round(review_seconds, 3),
               "chart_seconds": round(chart_seconds, 3), "charts_redrawn": bool(charts)}
    return IndexOutcome(result=result, queue=queue, figures=figures, charts=charts)
