"""One run of the person index against a warehouse: choose full or incremental, link, carry ids forward,
record lineage, rebuild the review queue, optionally draw the charts.

    outcome = update_person_index(con, run_id, mode="auto", charts_dir=None)

Full or incremental (`choose_mode`): incremental when the last run used the same model and the same
review decisions, no record it linked has changed or gone, and the new records are at most
`INCREMENTAL_MAX_SHARE` of all; otherwise full. A full run on unchanged data gives the same ids and no
lineage rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linkage import lineage, review
from linkage.run import INPUT_TABLE, LinkageResult, link_persons, read_records, write_outputs
from linkage.train import DEFAULT_MODEL_PATH, load_model

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
    if previous.crosswalk is None or last is None:
        return "full", "first run"
    if last.get("model_sha256") != model_sha:
        return "full", "model changed"
    if last.get("decisions_sha256") != decisions_sha:
        return "full", "review decisions changed"
    if changes["changed_records"] or changes["removed_records"]:
        return "full", "records changed or withdrawn"
    if not changes["new_records"]:
        return "full", "no new records"
    if changes["new_records"] > INCREMENTAL_MAX_SHARE * total_records:
        return "full", "new records above the incremental share"
    return "incremental", "only new records since the last run"


def _decision_spans(decisions: pd.DataFrame, previous: pd.DataFrame | None, crosswalk: pd.DataFrame) -> pd.DataFrame:
    """(previous id of one record, new id of the other) for every decided pair: a lineage row between
    those two ids was caused by a reviewer."""
    if previous is None or not len(decisions):
        return pd.DataFrame(columns=["a", "b"])
    before = dict(zip(previous["person_record_id"], previous["person_id"]))
    now = dict(zip(crosswalk["person_record_id"], crosswalk["person_id"]))
    rows = []
    for left, right in zip(decisions["person_record_id_l"], decisions["person_record_id_r"]):
        rows += [(before.get(left), now.get(right)), (before.get(right), now.get(left))]
    return pd.DataFrame(rows, columns=["a", "b"]).dropna()


def update_person_index(con, run_id: str, mode: str = "auto", charts_dir: Path | None = None,
                        model_path: Path = DEFAULT_MODEL_PATH) -> IndexOutcome:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    started = time.perf_counter()
    records = read_records(con)
    previous = lineage.read_previous(con)
    decisions = review.latest_decisions(con)
    must_link, cannot_link = review.constraints(decisions)
    model = load_model(model_path)
    model_sha = lineage.model_fingerprint(model)
    decisions_sha = review.decisions_fingerprint(decisions)
    changes = lineage.record_changes(con, INPUT_TABLE)
    chosen, why = choose_mode(mode, previous, changes, model_sha, decisions_sha, records.num_rows)
    if chosen == "incremental":
        from linkage.incremental import link_incremental

        previous_pairs = con.execute("select * from linkage.pairwise_predictions").df()
        result = link_incremental(records, lineage.new_record_ids(con, INPUT_TABLE), previous_pairs,
                                  previous.crosswalk, model, previous.issued, must_link, cannot_link)
    else:
        result = link_persons(records, model_path=model_path, previous=previous.crosswalk, issued=previous.issued,
                              must_link=must_link, cannot_link=cannot_link)
    link_seconds = time.perf_counter() - started

    started = time.perf_counter()
    queue = review.build_queue(records, result.crosswalk, result.pairs, decisions, model)
    review_seconds = time.perf_counter() - started

    f = result.figures
    run = {"mode": chosen, "mode_reason": why, "model_sha256": model_sha, "decisions_sha256": decisions_sha,
           "person_records": f["person_records"], "persons": f["persons"], **changes,
           "person_ids_new": f["person_ids_new"], "person_ids_merged": f["person_ids_merged"],
           "person_ids_split": f["person_ids_split"], "person_ids_retired": f["person_ids_retired"],
           "link_seconds": round(link_seconds, 3)}
    spans = _decision_spans(decisions, previous.crosswalk, result.crosswalk)
    # one transaction: a failure leaves the last index, its lineage and its queue as they were
    con.execute("begin transaction")
    try:
        lineage.write_run(con, run_id, result.lineage, run, INPUT_TABLE, spans, context=f"{chosen} run")
        write_outputs(con, result)
        review.write_queue(con, queue, run_id)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise

    charts: dict[str, Path] = {}
    chart_seconds = 0.0
    if charts_dir is not None:
        from linkage.charts import write_charts

        started = time.perf_counter()
        charts = write_charts(Path(charts_dir), model, records, result, queue)
        chart_seconds = time.perf_counter() - started
    figures = {**f, "mode": chosen, "mode_reason": why, **changes, **queue.figures,
               "link_seconds": round(link_seconds, 3), "review_queue_seconds": round(review_seconds, 3),
               "chart_seconds": round(chart_seconds, 3)}
    return IndexOutcome(result=result, queue=queue, figures=figures, charts=charts)
