"""Linkage as Dagster assets: the intermediate dbt models, the person index and its checks.

    intermediate/int_person_records               (dbt: every person-bearing staging row, one vocabulary)
    intermediate/int_person_records_standardised  (dbt: one row per person record, standardised)
    linkage/person_crosswalk                      (Splink predict + anti-chaining clustering + stable ids)
    linkage/person_clusters, linkage/pairwise_predictions, linkage/person_id_lineage, linkage/review_queue
                                                  (written by the same step: linkage.index.update_person_index)

Checks: `no_giant_clusters` (blocking) on linkage/person_crosswalk.
Wire into Definitions with `assets=[..., *linkage_assets]`, `asset_checks=[*linkage_checks]`.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from orchestration.defs.dbt.assets import dbt_build, warn_if_manifest_stale
from orchestration.defs.dbt.project import dbt_project
from orchestration.lib.metadata import safe_metadata
from orchestration.lib.resources import SettingsResource, warehouse_connection
from orchestration.lib.translator import FamilyHubTranslator

LINKAGE_GROUP = "linkage"
STANDARDISED = dg.AssetKey(["intermediate", "int_person_records_standardised"])
PERSON_RECORDS = dg.AssetKey(["intermediate", "int_person_records"])
CROSSWALK = dg.AssetKey(["linkage", "person_crosswalk"])
CLUSTERS = dg.AssetKey(["linkage", "person_clusters"])
PAIRS = dg.AssetKey(["linkage", "pairwise_predictions"])
LINEAGE = dg.AssetKey(["linkage", "person_id_lineage"])
REVIEW_QUEUE = dg.AssetKey(["linkage", "review_queue"])


class PersonRecordsConfig(dg.Config):
    """full_refresh: restandardise every person record. A build otherwise redoes only the records whose rows
    changed (int_person_records_standardised is incremental, and redoes every record by itself when its model
    file, the macros it renders, the nickname seed or DuckDB change); the result is the same either way, so
    this is for a warehouse edited by hand."""

    full_refresh: bool = False


@dbt_assets(manifest=dbt_project.manifest_path, select="path:models/intermediate/person_records", name="intermediate",
            dagster_dbt_translator=FamilyHubTranslator(), project=dbt_project)
def intermediate_dbt(context: dg.AssetExecutionContext, config: PersonRecordsConfig, dbt: DbtCliResource,
                     settings: SettingsResource):
    settings.get().export_for_dbt()  # the profile reads the warehouse path of this run's settings
    warn_if_manifest_stale(context)
    yield from dbt_build(context, dbt, config.full_refresh)  # a failure names dbt nodes, never dbt's messages


class PersonLinkageConfig(dg.Config):
    """mode: auto | full | incremental (auto: in place when a small delivery of new, changed or withdrawn
    person records arrived and the model and review decisions are unchanged; see linkage/index.py).
    charts: Splink's HTML charts under artefacts/linkage/. retrain: train a model on today's records
    (saved under artefacts/linkage/model/, recorded in linkage.model_versions) and use it for this run
    instead of the committed one; the next run without it goes back to the committed model."""

    mode: str = "auto"
    charts: bool = True
    retrain: bool = False


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CROSSWALK, deps=[STANDARDISED, PERSON_RECORDS], group_name=LINKAGE_GROUP,
                     kinds={"splink", "duckdb"},
                     description="person_id <-> (source_system, source_record_id): the person index. "
                                 "person_id is stable: carried forward from the last run (see linkage/ids.py)."),
        dg.AssetSpec(CLUSTERS, deps=[STANDARDISED], group_name=LINKAGE_GROUP, kinds={"duckdb"},
                     description="One row per person_id: records, systems."),
        dg.AssetSpec(PAIRS, deps=[STANDARDISED], group_name=LINKAGE_GROUP, kinds={"duckdb"},
                     description="Scored record pairs at or above the floor weight, with whether each merged."),
        dg.AssetSpec(LINEAGE, deps=[STANDARDISED], group_name=LINKAGE_GROUP, kinds={"duckdb"},
                     description="Appended each run: person ids new, merged, split or retired, with run id and "
                                 "reason."),
        dg.AssetSpec(REVIEW_QUEUE, deps=[STANDARDISED], group_name=LINKAGE_GROUP, kinds={"duckdb"},
                     description="Pairs in the uncertain band with per-comparison weights, for clerical review "
                                 "(`familyhub review export`; decisions come back with `familyhub review import` "
                                 "into linkage.review_decisions and apply on the next run)."),
    ],
    name="person_linkage",
)
def person_linkage(context: dg.AssetExecutionContext, config: PersonLinkageConfig, duckdb: DuckDBResource,
                   settings: SettingsResource):
    from linkage.evaluate import accuracy, truth_labels, twin_pairs_merged
    from linkage.index import update_person_index

    cfg = settings.get()
    charts_dir = cfg.artefacts_dir / "linkage" if config.charts else None
    with warehouse_connection(duckdb) as con:
        outcome = update_person_index(con, run_id=context.run_id, mode=config.mode, charts_dir=charts_dir,
                                      retrain_dir=cfg.artefacts_dir / "linkage" / "model" if config.retrain else None)
        figures = dict(outcome.figures)  # of the whole index, in place or not
        # the model this run used, as linkage.model_versions records it (its sha, where from, when trained)
        model = con.execute("""
            select versions.model_sha256, versions.origin, versions.trained_at, versions.training_records
            from linkage.model_versions as versions
            inner join linkage.linkage_runs as runs on runs.model_sha256 = versions.model_sha256
            where runs.run_id = ?""", [context.run_id]).fetchall()
        if len(model) == 1:
            figures.update(zip(("model_sha256", "model_origin", "model_trained_at", "model_training_records"),
                               model[0]))
        truth = cfg.truth_dir / "source_records.parquet"
        if truth.exists():  # synthetic data: score the index against the generator's truth
            # an in-place run's result holds only the persons it redid
            crosswalk = (outcome.result.crosswalk if figures["mode"] == "full" else
                         con.execute("select person_id, person_record_id from linkage.person_crosswalk").df())
            labels = truth_labels(con, cfg.truth_dir)
            figures["accuracy"] = accuracy(crosswalk, labels)
            figures["hard_cases"] = twin_pairs_merged(crosswalk, labels, cfg.truth_dir)
    acc = figures.get("accuracy", {})
    context.log.info(
        f"{figures['mode']} run ({figures['mode_reason']}): {figures['person_records']} person records -> "
        f"{figures['persons']} persons; largest cluster {figures['largest_cluster_size']}; "
        f"{figures['review_pairs']} pairs to review"
        + (f"; precision {acc['pairwise_precision']}, recall {acc['pairwise_recall']}" if acc else ""))
    if acc and acc["evaluated_share"] < 1:
        context.log.warning(f"accuracy covers {acc['evaluated_share']:.1%} of the person records: the others have "
                            "no truth label (delivered in files the generator did not write)")
    flat = {k: v for k, v in figures.items() if k not in ("accuracy", "hard_cases")}
    for key in ("pairwise_precision", "pairwise_recall", "pairwise_f1", "persons_found_whole_share", "evaluated_share"):
        if key in acc:
            flat[key] = acc[key]
    if acc:
        flat["accuracy"] = acc
        flat["hard_cases"] = figures["hard_cases"]
    # paths only: the comparison viewer and cluster studio show record values and stay in the data folder
    chart_paths = {f"chart_{name}": dg.MetadataValue.path(str(path)) for name, path in outcome.charts.items()}
    yield dg.MaterializeResult(asset_key=CROSSWALK, metadata=safe_metadata(
        {**flat, **chart_paths, "dagster/row_count": figures["person_records"]}))
    yield dg.MaterializeResult(asset_key=CLUSTERS, metadata=safe_metadata(
        {"dagster/row_count": figures["persons"], "largest_cluster_size": figures["largest_cluster_size"]}))
    yield dg.MaterializeResult(asset_key=PAIRS, metadata=safe_metadata(
        {"dagster/row_count": figures["pairs_scored_above_floor"], "merged_pairs": figures["merged_pairs"]}))
    yield dg.MaterializeResult(asset_key=LINEAGE, metadata=safe_metadata(
        {k: figures[k] for k in ("person_ids_new", "person_ids_merged", "person_ids_split", "person_ids_retired",
                                 "mode", "mode_reason")}))
    yield dg.MaterializeResult(asset_key=REVIEW_QUEUE, metadata=safe_metadata(
        {"dagster/row_count": figures["review_pairs"],
         **{k: figures[k] for k in ("review_pairs_per_1000_records", "review_min_match_weight",
                                    "review_decisions_applied", "review_decisions_not_applied")}}))


@dg.asset_check(asset=CROSSWALK, name="no_giant_clusters", blocking=True,
                description="Fails when a person cluster holds more records than linkage.run.GIANT_CLUSTER_SIZE: "
                            "the signature of chaining (a household merged into one person).")
def no_giant_clusters(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    from linkage.run import GIANT_CLUSTER_SIZE, giant_clusters

    with warehouse_connection(duckdb) as con:
        found = giant_clusters(con, GIANT_CLUSTER_SIZE)
    return dg.AssetCheckResult(
        passed=found["giant_clusters"] == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=safe_metadata({**found, "bound": GIANT_CLUSTER_SIZE}),
    )


linkage_assets = [intermediate_dbt, person_linkage]
linkage_checks = [no_giant_clusters]
