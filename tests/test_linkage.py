"""Person linkage on a 2,000-person synthetic run: accuracy recorded, hard cases, stable ids, the giant-cluster
check; and the issue's accuracy floors on the default demo data (30,000 persons, built outside Dagster).

The first run is the shared pipeline's (`built_pipeline`: it materialised the linkage assets, the intermediate
dbt models, person linkage and the check, through Dagster); the tests that rerun linkage or change its tables
work on a private copy of its data folder, one per module."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.lib.settings import Settings

INPUT = "intermediate.int_person_records_standardised"
# The floors, asserted on the default demo data (test_accuracy_floors_on_the_default_demo_data): there
# precision 0.99945 and recall 0.98963 with the committed model (see linkage/README.md). On this 2,000-person
# data a recall figure rests on ~1,400 true pairs, and one split four-record person moves it by 0.002.
PRECISION_FLOOR = 0.995
RECALL_FLOOR = 0.98
# the outputs of the person_linkage step (one multi-asset: rerun together)
PERSON_LINKAGE = ["linkage/person_crosswalk", "linkage/person_clusters", "linkage/pairwise_predictions",
                  "linkage/person_id_lineage", "linkage/review_queue"]


@pytest.fixture(scope="module")
def first_run_settings(built_pipeline):
    """The data folder the first run linked (read-only: its charts and review queue)."""
    return built_pipeline[0]


@pytest.fixture(scope="module")
def settings(first_run_settings, tmp_path_factory):
    """A private copy of the first run's data folder, for the tests that rerun linkage or change its tables."""
    import shutil

    copy = tmp_path_factory.mktemp("linkage") / "data"
    shutil.copytree(first_run_settings.data_dir, copy)
    return Settings(data_dir=copy, reporting_date=first_run_settings.reporting_date)


@pytest.fixture(scope="module")
def graph(dbt_manifest):
    from orchestration.defs.linkage.assets import linkage_assets, linkage_checks

    return [*linkage_assets, *linkage_checks]


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def materialize(graph, settings, instance, selection=None):
    from orchestration.lib.resources import build_resources

    return dg.materialize(graph, resources=build_resources(settings), instance=instance, selection=selection,
                          raise_on_error=False)


@pytest.fixture(scope="module")
def first_run(built_pipeline):
    """The shared pipeline's run, which linked these records first (its success is asserted there)."""
    return built_pipeline[2]


def query(settings, sql):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def crosswalk_metadata(result):
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == dg.AssetKey(["linkage", "person_crosswalk"])]
    return event.materialization.metadata


def test_linkage_assets_materialise_and_check_passes(first_run, settings):
    keys = {e.asset_key.to_user_string() for e in first_run.get_asset_materialization_events()}
    assert {"intermediate/int_person_records", "intermediate/int_person_records_standardised",
            "linkage/person_crosswalk", "linkage/person_clusters", "linkage/pairwise_predictions"} <= keys
    [check] = [e.event_specific_data for e in first_run.all_events
               if e.event_type_value == "ASSET_CHECK_EVALUATION"
               and e.event_specific_data.check_name == "no_giant_clusters"]
    assert check.passed
    counts = query(settings, """select (select count(*) from linkage.person_crosswalk) as crosswalk,
                                       (select count(*) from intermediate.int_person_records_standardised) as records,
                                       (select count(distinct person_id) from linkage.person_crosswalk) as persons,
                                       (select count(*) from linkage.person_clusters) as clusters""").iloc[0]
    assert counts["crosswalk"] == counts["records"] > 0
    assert counts["persons"] == counts["clusters"] < counts["records"]


def test_accuracy_is_recorded_and_precise(first_run):
    meta = crosswalk_metadata(first_run)
    assert meta["pairwise_precision"].value >= PRECISION_FLOOR
    accuracy = meta["accuracy"].value
    assert accuracy["evaluated_records"] == meta["person_records"].value  # every record has a truth label
    assert meta["evaluated_share"].value == 1.0
    assert meta["pairwise_recall"].value == accuracy["pairwise_recall"] > 0.95


@pytest.fixture(scope="module")
def demo_accuracy(tmp_path_factory):
    """The default demo's data (`familyhub demo`: its persons, seed and date) up to the standardised person
    records, linked in full with the committed model, scored against the synthetic truth (~25 s)."""
    from linkage.evaluate import accuracy, truth_labels, twin_pairs_merged
    from linkage.index import update_person_index
    from linkage.warehouse import build_standardised_warehouse
    from orchestration.cli import DEFAULT_DEMO_PERSONS, DEFAULT_SEED

    data_dir = build_standardised_warehouse(DEFAULT_DEMO_PERSONS, DEFAULT_SEED, tmp_path_factory.mktemp("demo_data"))
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        update_person_index(con, run_id="demo-accuracy", mode="full")
        crosswalk = con.execute("select person_record_id, person_id from linkage.person_crosswalk").df()
        labels = truth_labels(con, data_dir / "truth")
    finally:
        con.close()
    return accuracy(crosswalk, labels), twin_pairs_merged(crosswalk, labels, data_dir / "truth")


def test_accuracy_floors_on_the_default_demo_data(demo_accuracy):
    figures, hard = demo_accuracy
    assert figures["evaluated_share"] == 1.0 and figures["evaluated_records"] > 25_000
    assert figures["pairwise_precision"] >= PRECISION_FLOOR
    assert figures["pairwise_recall"] >= RECALL_FLOOR
    assert hard["twin_pairs_checked"] > 50 and hard["twin_pairs_merged"] == 0


def test_twins_and_same_name_father_son_stay_apart(first_run):
    hard = crosswalk_metadata(first_run)["hard_cases"].value
    assert hard["twin_pairs_checked"] > 0 and hard["father_son_pairs_checked"] > 0
    assert hard["twin_pairs_merged"] == 0
    assert hard["father_son_pairs_merged"] == 0


def test_standardised_records(first_run, settings):
    from synthetic.identifiers import is_valid_ni_number, is_valid_nhs_number, is_valid_upn

    df = query(settings, "select * from intermediate.int_person_records_standardised")
    assert df["person_record_id"].is_unique
    assert df.groupby(["source_system", "source_record_id"]).size().max() == 1
    assert all(is_valid_nhs_number(v) for v in df["nhs_number"].dropna())
    assert all(is_valid_ni_number(v) for v in df["ni_number"].dropna())
    assert all(is_valid_upn(v) for v in df["upn"].dropna())
    assert df["postcode"].dropna().str.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}").all()
    dobs = pd.to_datetime(df["dob"].dropna())
    assert not ((dobs.dt.month == 1) & (dobs.dt.day == 1)).any() and (dobs.dt.year > 1900).all()
    for column in ("first_name", "surname"):
        assert df[column].dropna().str.fullmatch(r"[A-Z][A-Z \-]*").all(), column
    assert (df["first_name_soundex"].dropna().str.fullmatch(r"[A-Z][0-9]{3}")).all()
    assert df["has_invalid_nhs_number"].any()  # the generator mistypes some: they are flagged, not kept


def test_person_ids_are_stable_across_reruns(first_run, graph, settings, instance):
    before = query(settings, "select * from linkage.person_crosswalk order by person_record_id")
    result = materialize(graph, settings, instance, selection=PERSON_LINKAGE)
    assert result.success
    after = query(settings, "select * from linkage.person_crosswalk order by person_record_id")
    pd.testing.assert_frame_equal(before, after)
    assert before["person_id"].str.fullmatch(r"FH[0-9A-F]{16}").all()
    # lineage: the first run created every id; the rerun on the same data changed none
    lineage = query(settings, "select run_id, change, count(*) as n, sum(n_records) as records "
                              "from linkage.person_id_lineage group by all")
    assert lineage["run_id"].nunique() == 1 and set(lineage["change"]) == {"new"}
    assert lineage["n"].iloc[0] == before["person_id"].nunique() and lineage["records"].iloc[0] == len(before)
    runs = query(settings, "select mode, mode_reason from linkage.linkage_runs order by recorded_at")
    assert runs.values.tolist()[-2:] == [
        ["full", "first run"], ["full", "nothing new, changed or withdrawn since the last run"]]


def test_person_ids_do_not_depend_on_row_order(first_run, settings):
    import pyarrow as pa

    from linkage.run import link_persons, read_records

    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        records = read_records(con)
    finally:
        con.close()
    shuffled = records.take(pa.array(np.random.default_rng(3).permutation(records.num_rows)))
    a = link_persons(records).crosswalk.sort_values("person_record_id", ignore_index=True)
    b = link_persons(shuffled).crosswalk.sort_values("person_record_id", ignore_index=True)
    pd.testing.assert_frame_equal(a, b)


def _chain(n: int, dobs: list[str | None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"{i:032x}" for i in range(n)]
    records = pd.DataFrame({"person_record_id": ids, "source_system": "police", "first_name_canonical": "A",
                            "surname": "B", "nhs_number": None, "ni_number": None, "upn": None, "dob": dobs,
                            "sex": "M"})
    edges = pd.DataFrame({"person_record_id_l": ids[:-1], "person_record_id_r": ids[1:],
                          "match_weight": np.full(n - 1, 20.0), "match_probability": 1.0})
    return records, edges


def test_clustering_refuses_to_chain_relatives_through_a_record_without_dob():
    from linkage.cluster import cluster

    # father (1970), a record with no DOB, son (2000), all one name at one address (police, event keyed
    # per nominal): connected components would make one person of them
    records, edges = _chain(3, ["19700301", None, "20000615"])
    records["source_system"] = ["police", "health", "education"]
    out = cluster(records, edges, threshold=6.0)
    assert out.cluster_of["cluster_root"].nunique() >= 2
    assert out.refused_merges >= 1
    # a twin pair (same DOB, different forenames) registered twice in one system stays apart
    twins, twin_edges = _chain(2, ["20150101", "20150101"])
    twins["first_name_canonical"] = ["AMELIA", "AVA"]
    assert cluster(twins, twin_edges, threshold=6.0).cluster_of["cluster_root"].nunique() == 2


def test_giant_cluster_check_fails_on_a_constructed_chain(tmp_path):
    from dagster_duckdb import DuckDBResource

    from linkage.cluster import cluster
    from linkage.ids import assign_person_ids
    from linkage.run import GIANT_CLUSTER_SIZE, LinkageResult, write_outputs
    from orchestration.defs.linkage.assets import no_giant_clusters

    # a chain of records with nothing that conflicts: the clustering has no reason to refuse, so the
    # bound is the last line of defence
    records, edges = _chain(GIANT_CLUSTER_SIZE + 5, [None] * (GIANT_CLUSTER_SIZE + 5))
    records["source_system"] = "housing"
    out = cluster(records, edges, threshold=6.0)
    crosswalk = out.cluster_of.assign(person_id=lambda d: assign_person_ids(d))
    clusters = crosswalk.groupby("person_id").size().rename("n_records").reset_index()
    database = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(database))
    write_outputs(con, LinkageResult(crosswalk=crosswalk, clusters=clusters, pairs=edges))
    con.close()
    result = no_giant_clusters(duckdb=DuckDBResource(database=str(database)))
    assert not result.passed
    assert result.metadata["giant_clusters"].value == 1
    assert result.metadata["largest_cluster_size"].value == GIANT_CLUSTER_SIZE + 5


def test_committed_model_loads_and_has_trained_parameters():
    from linkage.train import DEFAULT_MODEL_PATH

    model = json.loads(DEFAULT_MODEL_PATH.read_text())
    names = [c["output_column_name"] for c in model["comparisons"]]
    assert names == ["first_name", "surname", "dob", "location", "nhs_number", "ni_number", "pnc_id", "sex"]
    exact_first = model["comparisons"][0]["comparison_levels"][1]
    assert exact_first["tf_adjustment_column"] == "first_name"
    assert exact_first["m_probability"] > exact_first["u_probability"]


def _deliver(con, new_share_per_10k: int, changed: int, withdrawn: int) -> None:
    """Make the index's last run look as if some records arrived since (forgotten by it), some changed
    (a new postcode) and some were withdrawn (gone from the standardised records)."""
    con.execute(f"""create temp table forget as select person_record_id from {INPUT}
                    where hash(person_record_id || 'new') % 10000 < {new_share_per_10k}""")
    forget = "(select person_record_id from forget)"
    con.execute(f"delete from linkage.pairwise_predictions where person_record_id_l in {forget} "
                f"or person_record_id_r in {forget}")
    con.execute(f"delete from linkage.person_crosswalk where person_record_id in {forget}")
    con.execute(f"delete from linkage.linked_records where person_record_id in {forget}")
    con.execute("delete from linkage.person_clusters where person_id not in "
                "(select person_id from linkage.person_crosswalk)")
    con.execute(f"""update linkage.person_clusters c set n_records = n.n from (
                        select person_id, count(*) as n from linkage.person_crosswalk group by 1) n
                    where c.person_id = n.person_id""")
    # changed and withdrawn records are taken from persons with several records, where it matters, and
    # a few withdrawn persons with one record (their ids retire)
    def persons_with(condition: str) -> str:
        return f"""select c.person_record_id from linkage.person_crosswalk c join linkage.person_clusters p
                   using (person_id) where {condition} order by md5(c.person_record_id)"""

    con.execute(f"create temp table changed as {persons_with('p.n_records >= 3')} limit {changed}")
    con.execute(f"update {INPUT} set postcode = 'ZZ9 9ZZ' where person_record_id in (select * from changed)")
    con.execute(f"""create temp table withdrawn as
                    ({persons_with('p.n_records >= 3')} offset {changed} limit {withdrawn - 5})
                    union all ({persons_with('p.n_records = 1')} limit 5)""")
    con.execute(f"delete from {INPUT} where person_record_id in (select * from withdrawn)")


def test_incremental_update_gives_a_full_runs_index(first_run, settings, tmp_path):
    """A delivery of 2% new records, 15 changed and 15 withdrawn, updated in place, gives the index a full
    run gives from the same state: every record's person id, every pair and its merge decision, the
    clusters, the review queue and the lineage; and it redoes only the persons the delivery reaches."""
    import shutil

    from linkage.index import update_person_index

    tables = {"person_crosswalk": "person_record_id", "person_clusters": "person_id",
              "pairwise_predictions": "person_record_id_l, person_record_id_r", "review_queue": "pair_id",
              "linked_records": "person_record_id"}
    out = {}
    for mode in ("auto", "full"):
        path = tmp_path / f"{mode}.duckdb"
        shutil.copy(settings.warehouse, path)
        con = duckdb.connect(str(path))
        try:
            _deliver(con, 200, 15, 15)
            outcome = update_person_index(con, run_id=f"delivery-{mode}", mode=mode)
            out[mode] = {name: con.execute(f"select * exclude (run_id, queued_at) from linkage.{name} order by {key}"
                                           if name == "review_queue" else
                                           f"select * from linkage.{name} order by {key}").df()
                         for name, key in tables.items()}
            out[mode]["lineage"] = con.execute(
                "select change, person_id, related_person_id, n_records from linkage.person_id_lineage "
                f"where run_id = 'delivery-{mode}' order by all").df()
            out[mode]["figures"] = outcome.figures
            # the run's temp tables are gone: a next run on this connection cannot read a stale delta
            out[mode]["temp_tables"] = con.execute("select count(*) from duckdb_tables() where temporary and "
                                                   "starts_with(table_name, '__linkage_')").fetchall()[0][0]
        finally:
            con.close()
    incremental, full = out["auto"], out["full"]
    assert incremental["temp_tables"] == full["temp_tables"] == 0
    f = incremental["figures"]
    assert f["mode"] == "incremental" and full["figures"]["mode"] == "full"
    assert f["new_records"] > 20 and f["changed_records"] == 15 and f["removed_records"] == 15
    assert f["records_reclustered"] < f["person_records"] / 5  # the rest was not touched
    for name in ("person_crosswalk", "person_clusters", "linked_records", "lineage"):
        pd.testing.assert_frame_equal(incremental[name], full[name], obj=name)
    key = ["person_record_id_l", "person_record_id_r", "merged"]
    pd.testing.assert_frame_equal(incremental["pairwise_predictions"][key], full["pairwise_predictions"][key])
    # weights differ only where term frequencies drifted (pairs the delivery did not reach)
    queue_key = ["pair_id", "person_record_id_l", "person_record_id_r", "person_id_l", "person_id_r"]
    pd.testing.assert_frame_equal(incremental["review_queue"][queue_key], full["review_queue"][queue_key])
    assert (incremental["lineage"]["change"] == "retired").sum() == 5  # the withdrawn persons with one record


def test_a_delivery_of_only_withdrawn_persons_retires_their_ids_in_place(first_run, settings, tmp_path):
    import shutil

    from linkage.index import update_person_index

    path = tmp_path / "withdrawn.duckdb"
    shutil.copy(settings.warehouse, path)
    con = duckdb.connect(str(path))
    try:
        _deliver(con, 0, 0, 5)  # five persons with one record each, withdrawn: nothing left to redo
        outcome = update_person_index(con, run_id="withdrawn")
        lineage = con.execute("select change, count(*) from linkage.person_id_lineage where run_id = 'withdrawn' "
                              "group by 1").fetchall()
        gone = con.execute("select count(*) from linkage.person_crosswalk semi join withdrawn using (person_record_id)"
                           ).fetchall()[0][0]
    finally:
        con.close()
    assert outcome.figures["mode"] == "incremental" and outcome.figures["records_reclustered"] == 0
    assert lineage == [("retired", 5)] and gone == 0


def test_a_salted_id_once_issued_is_never_issued_again(tmp_path):
    """In place, a new person whose plain and first salted ids were both issued before (then retired)
    gets the next salt, as a full run would."""
    from linkage.ids import person_id_for
    from linkage.incremental import _taken_ids

    con = duckdb.connect(str(tmp_path / "ids.duckdb"))
    try:
        con.execute("create schema linkage")
        con.execute("create table linkage.person_crosswalk as select 'root-a' as person_record_id, "
                    f"'{person_id_for('root-a')}' as person_id")
        con.execute("create table linkage.person_id_lineage as select 'merged' as change, "
                    f"'{person_id_for('root-a', 1)}' as person_id")
        assert _taken_ids(con, ["root-a", "root-b"]) == {person_id_for("root-a"), person_id_for("root-a", 1)}
    finally:
        con.close()


def _metadata(result, key):
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return event.materialization.metadata


def test_charts_and_review_queue_are_written(first_run, first_run_settings):
    settings = first_run_settings
    meta = crosswalk_metadata(first_run)
    for name in ("match_weights", "m_u_parameters", "comparison_viewer", "cluster_studio"):
        path = meta[f"chart_{name}"]
        assert isinstance(path, dg.PathMetadataValue)
        assert path.path.startswith(str(settings.artefacts_dir)) and Path(path.path).stat().st_size > 10_000
    queue = query(settings, "select * from linkage.review_queue")
    review_meta = _metadata(first_run, ["linkage", "review_queue"])
    assert review_meta["dagster/row_count"].value == len(queue) > 0
    assert 0 < review_meta["review_pairs_per_1000_records"].value < 50
    assert (queue["match_weight"] >= 6.0).all() and (queue["person_id_l"] != queue["person_id_r"]).all()
    weights = queue[[c for c in queue.columns if c.startswith("weight_")]]
    assert weights.shape[1] == 8 and weights.notna().all().all()
    # the per-comparison weights add up to the pair's weight (plus the prior)
    from linkage.train import load_model

    prior = load_model()["probability_two_random_records_match"]
    total = weights.sum(axis=1) + np.log2(prior / (1 - prior))
    assert np.allclose(total, queue["match_weight"], atol=0.01)


def test_asset_goes_incremental_when_only_new_records_arrived(first_run, graph, settings, instance):
    """Make the last run forget a few records (as if they arrived since): the next materialisation links
    only them, and the index comes out as it was."""
    before = query(settings, "select * from linkage.person_crosswalk order by person_record_id")
    con = duckdb.connect(str(settings.warehouse))
    try:
        # one record from each of 25 persons with several (a forgotten person's id was issued once and is
        # never reissued, so a forgotten singleton would come back under a new id)
        con.execute("""create temp table forget as select max(c.person_record_id) as person_record_id
                       from linkage.person_crosswalk c join linkage.person_clusters p using (person_id)
                       where p.n_records >= 2 group by person_id order by md5(person_id) limit 25""")
        forget = "(select person_record_id from forget)"
        con.execute(f"delete from linkage.pairwise_predictions where person_record_id_l in {forget} "
                    f"or person_record_id_r in {forget}")
        con.execute(f"delete from linkage.person_crosswalk where person_record_id in {forget}")
        con.execute(f"delete from linkage.linked_records where person_record_id in {forget}")
    finally:
        con.close()
    result = materialize(graph, settings, instance, selection=PERSON_LINKAGE)
    assert result.success
    meta = crosswalk_metadata(result)
    assert meta["mode"].value == "incremental" and meta["new_records"].value == 25
    # the model is unchanged: the charts drawn by the full run are kept, and still linked
    assert meta["charts_redrawn"].value is False and Path(meta["chart_cluster_studio"].path).exists()
    after = query(settings, "select * from linkage.person_crosswalk order by person_record_id")
    pd.testing.assert_frame_equal(before, after)


def test_review_decisions_apply_on_the_next_run(first_run, graph, settings, instance, monkeypatch, tmp_path):
    from openpyxl import load_workbook

    from orchestration.cli import main

    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(settings.data_dir))
    queue = query(settings, "select * from linkage.review_queue order by match_weight desc, pair_id")
    assert main(["review", "export"]) == 0
    [workbook] = sorted((settings.artefacts_dir / "review").glob("review_*.xlsx"))
    book = load_workbook(workbook)
    sheet = book["review"]
    header = [c.value for c in sheet[1]]
    assert {"pair_id", "decision", "first_name A", "first_name B", "dob A", "dob B", "surname weight",
            "exported_at"} <= set(header)
    assert sheet.max_row == len(queue) + 1
    # each pair's two persons: their sizes, and what sets all their records apart (field names, no values)
    index = {name: i for i, name in enumerate(header)}
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    sizes = [(row[index["records in person A"]], row[index["records in person B"]]) for row in rows]
    assert all(a >= 1 and b >= 1 for a, b in sizes)
    known = re.compile(r"(different (forenames|dates of birth|sex|NHS numbers|NI numbers|UPNs)"
                       r"|no date of birth on one side|both registered by [a-z_, ]+)")
    reasons = [row[index["kept apart: the two persons' records"]] or "" for row in rows]
    assert all(known.fullmatch(part) for why in reasons for part in why.split("; ") if why)
    assert sum(bool(why) for why in reasons) >= len(reasons) // 2  # most queued pairs differ on a ruled field
    [validation] = sheet.data_validations.dataValidation
    assert validation.type == "list" and "not a match" in validation.formula1

    # a reviewer says the top queued pair is one person, and (in a CSV) that a merged pair is not
    top = queue.iloc[0]
    column = {name: i + 1 for i, name in enumerate(header)}
    for row in range(2, sheet.max_row + 1):
        if sheet.cell(row, column["pair_id"]).value == top["pair_id"]:
            sheet.cell(row, column["decision"]).value = "match"
            sheet.cell(row, column["reviewer"]).value = "reviewer-1"
    book.save(workbook)
    merged = query(settings, """select p.person_record_id_l, p.person_record_id_r from linkage.pairwise_predictions p
        join linkage.person_crosswalk a on a.person_record_id = p.person_record_id_l
        join linkage.person_clusters c on c.person_id = a.person_id
        where p.merged and c.n_records = 2 order by p.person_record_id_l limit 1""").iloc[0]
    from linkage.review import pair_id

    split_pair = pair_id(merged["person_record_id_l"], merged["person_record_id_r"])
    decisions_csv = tmp_path / "decisions.csv"
    pd.DataFrame({"pair_id": [split_pair], "person_record_id_l": [merged["person_record_id_l"]],
                  "person_record_id_r": [merged["person_record_id_r"]], "decision": ["Not a match"]}).to_csv(
        decisions_csv, index=False)
    bad_csv = tmp_path / "bad.csv"
    pd.DataFrame({"pair_id": [top["pair_id"]], "decision": ["probably"]}).to_csv(bad_csv, index=False)
    assert main(["review", "import", str(bad_csv)]) == 2  # nothing recorded
    assert main(["review", "import", str(workbook)]) == 0
    assert main(["review", "import", str(decisions_csv), "--reviewer", "reviewer-2"]) == 0
    assert main(["review", "import", str(decisions_csv)]) == 0  # the same file twice: recorded once
    audit = query(settings, "select * from linkage.review_decisions order by reviewer")
    assert audit["decision"].tolist() == ["match", "not a match"]
    assert audit["reviewer"].tolist() == ["reviewer-1", "reviewer-2"]
    assert audit["source_file_name"].tolist() == [workbook.name, "decisions.csv"]
    assert audit["source_file_sha256"].str.fullmatch("[0-9a-f]{64}").all() and audit["decided_at"].notna().all()

    result = materialize(graph, settings, instance, selection=PERSON_LINKAGE)
    assert result.success
    meta = crosswalk_metadata(result)
    assert meta["mode"].value == "full" and meta["mode_reason"].value == "review decisions changed"
    assert meta["review_decisions_applied"].value == 2 and meta["review_decisions_not_applied"].value == 0
    person = query(settings, "select person_record_id, person_id from linkage.person_crosswalk").set_index(
        "person_record_id")["person_id"]
    assert person[top["person_record_id_l"]] == person[top["person_record_id_r"]]
    assert person[merged["person_record_id_l"]] != person[merged["person_record_id_r"]]
    assert top["pair_id"] not in set(query(settings, "select pair_id from linkage.review_queue")["pair_id"])
    run_id = result.run_id
    changes = query(settings, f"select change, reason from linkage.person_id_lineage where run_id = '{run_id}'")
    assert {"merged", "split"} <= set(changes["change"])
    assert changes.loc[changes["change"].isin(["merged", "split"]), "reason"].str.startswith("review decision").all()
    # each names the decision and its pair, which finds it (who, when, which file) in linkage.review_decisions
    reasons = set(changes["reason"])
    assert any(r.startswith(f"review decision: match, pair {top['pair_id']}") for r in reasons), reasons
    assert any(r.startswith(f"review decision: not a match, pair {split_pair}") for r in reasons), reasons

    # 'unsure' keeps a pair queued: the next workbook shows that earlier look beside the empty decision
    unsure = query(settings, "select pair_id, person_record_id_l, person_record_id_r from linkage.review_queue "
                             "order by pair_id limit 1").iloc[0]
    unsure_csv = tmp_path / "unsure.csv"
    pd.DataFrame([{**unsure.to_dict(), "decision": "unsure", "note": "ask the school"}]).to_csv(unsure_csv, index=False)
    assert main(["review", "import", str(unsure_csv), "--reviewer", "reviewer-3"]) == 0
    assert main(["review", "export"]) == 0
    latest = sorted((settings.artefacts_dir / "review").glob("review_*.xlsx"))[-1]
    sheet = load_workbook(latest, read_only=True)["review"]
    rows = list(sheet.iter_rows(values_only=True))
    index = {name: i for i, name in enumerate(rows[0])}
    [row] = [r for r in rows[1:] if r[index["pair_id"]] == unsure["pair_id"]]
    assert row[index["decision"]] is None and row[index["earlier note"]] == "ask the school"
    assert row[index["earlier decision"]].startswith("unsure (") and row[index["earlier decision"]].endswith(
        ", reviewer-3)")


def test_match_command_finds_people_in_the_index(first_run, settings, monkeypatch, tmp_path, capsys):
    from orchestration.cli import main

    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(settings.data_dir))
    rows = query(settings, """select r.record_key as ref, r.first_name, r.surname, strftime(r.dob, '%d/%m/%Y') as dob,
                                     r.postcode, c.person_id
        from intermediate.int_person_records r join linkage.person_crosswalk c using (person_record_id)
        where r.source_system = 'health' and r.dob is not null order by r.record_key limit 60""")
    rows = rows.drop_duplicates("ref")
    partner = tmp_path / "partner.csv"
    stranger = pd.DataFrame([{"ref": "zz-1", "first_name": "Qwerty", "surname": "Uiopasdf", "dob": "01/02/1931",
                              "postcode": "ZZ99 9ZZ"}])
    # the same people with both names mistyped at their first letter: no two of forename, surname and DOB agree,
    # nor a soundex, so only the list's own blocking rules (DOB) compare them with the index
    def mistype(name: str) -> str:
        return ("Q" if name[0].upper() != "Q" else "Z") + name[1:]
    typos = rows.head(20).assign(ref=lambda d: "t-" + d["ref"], first_name=lambda d: d["first_name"].map(mistype),
                                 surname=lambda d: d["surname"].map(mistype))
    pd.concat([rows.drop(columns="person_id"), typos.drop(columns="person_id"), stranger]).to_csv(partner, index=False)
    out = tmp_path / "matched.csv"
    # --id as COL1|COL2: matched.csv names its id column after the one the list has
    code = main(["match", "--input", str(partner), "--id", "Ref|ref", "--map", "first_name=first_name", "--map",
                 "surname=surname", "--map", "dob=dob", "--map", "postcode=postcode", "--map", "other_id=ref",
                 "--dob-format", "%d/%m/%Y", "--out", str(out)])
    assert code == 0
    # a mapped field the index's model cannot compare is named, not silently dropped
    said = capsys.readouterr()
    assert "not compared (the person index's model has no comparison for them): other_id" in said.out + said.err
    matched = pd.read_csv(out, dtype=str).set_index("ref")
    assert list(matched.columns) == ["person_id", "match_probability", "match_weight", "band", "candidates"]
    assert matched.loc["zz-1", "band"] == "no match" and pd.isna(matched.loc["zz-1", "person_id"])
    # the stranger shares no blocking key with anyone: no probability or weight, not a score of 0
    assert matched.loc["zz-1", "candidates"] == "0"
    assert matched.loc["zz-1", ["match_probability", "match_weight"]].isna().all()
    found = matched.loc[rows["ref"]]
    truth = rows.set_index("ref")["person_id"]
    is_match = found["band"] == "match"
    assert is_match.mean() >= 0.9
    assert (found.loc[is_match, "person_id"] == truth[is_match[is_match].index]).all()
    mistyped = matched.loc[typos["ref"]]
    right = mistyped["person_id"].to_numpy() == typos["person_id"].to_numpy()
    assert right.sum() >= 16 and (mistyped.loc[~right, "band"] != "match").all(), int(right.sum())
    assert rows["surname"].iloc[0] not in said.out + said.err


def test_the_model_used_is_versioned_and_a_retrain_is_used_once_then_the_committed_model_again(
        first_run, graph, settings, instance):
    """Every run records its model in linkage.model_versions with the training meta; `retrain: true` trains
    on today's records into the data folder (never over the committed file) and that run is a full one."""
    from orchestration.lib.resources import build_resources

    from linkage.train import DEFAULT_MODEL_PATH, load_meta

    committed = load_meta(DEFAULT_MODEL_PATH)
    before = DEFAULT_MODEL_PATH.read_bytes()
    config = {"ops": {"person_linkage": {"config": {"retrain": True, "charts": False}}}}
    retrained = dg.materialize(graph, resources=build_resources(settings), instance=instance,
                               selection=PERSON_LINKAGE, run_config=config, raise_on_error=False)
    assert retrained.success
    assert crosswalk_metadata(retrained)["mode_reason"].value == "model changed"
    again = materialize(graph, settings, instance, selection=PERSON_LINKAGE)
    assert crosswalk_metadata(again)["mode_reason"].value == "model changed"  # back to the committed model
    # each run's metadata names its model, as linkage.model_versions records it
    meta = {name: crosswalk_metadata(result) for name, result in (("retrained", retrained), ("again", again))}
    assert meta["retrained"]["model_origin"].value == f"retrained by run {retrained.run_id}"
    assert (meta["again"]["model_origin"].value, meta["again"]["model_trained_at"].value) == (
        "committed", committed["trained_at"])
    assert meta["again"]["model_sha256"].value != meta["retrained"]["model_sha256"].value
    assert DEFAULT_MODEL_PATH.read_bytes() == before
    versions = query(settings, "select * from linkage.model_versions order by first_used_at")
    assert versions["origin"].tolist() == ["committed", f"retrained by run {retrained.run_id}"]
    row = versions.iloc[0]
    assert (row["training_fingerprint"], row["training_records"]) == (committed["training_fingerprint"], 19665)
    records = query(settings, f"select count(*) as n from {INPUT}")["n"].iloc[0]
    assert versions.iloc[1]["training_records"] == records
    assert (settings.artefacts_dir / "linkage" / "model" / "person_model.meta.json").exists()
