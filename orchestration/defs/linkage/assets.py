"""Linkage as Dagster assets: the intermediate dbt models, the person index and its checks.

    intermediate/int_person_records               (dbt: every person-bearing staging row, one vocabulary)
    intermediate/int_person_records_standardised  (dbt: one row per person record, standardised)
    linkage/person_crosswalk                      (Splink predict + anti-chaining clustering + stable ids)
    linkage/person_clusters, linkage/pairwise_predictions (written by the same step)

Checks: `no_giant_clusters` (blocking) on linkage/person_crosswalk.
Wire into Definitions with `assets=[..., *linkage_assets]`, `asset_checks=[*linkage_checks]`.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from orchestration.defs.dbt.project import dbt_project
from orchestration.lib.metadata import safe_metadata
from orchestration.lib.resources import SettingsResource
from orchestration.lib.translator import FamilyHubTranslator

LINKAGE_GROUP = "linkage"
STANDARDISED = dg.AssetKey(["intermediate", "int_person_records_standardised"])
PERSON_RECORDS = dg.AssetKey(["intermediate", "int_person_records"])
CROSSWALK = dg.AssetKey(["linkage", "person_crosswalk"])
CLUSTERS = dg.AssetKey(["linkage", "person_clusters"])
PAIRS = dg.AssetKey(["linkage", "pairwise_predictions"])


@dbt_assets(manifest=dbt_project.manifest_path, select="path:models/intermediate/person_records", name="intermediate",
            dagster_dbt_translator=FamilyHubTranslator(), project=dbt_project)
def intermediate_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: SettingsResource):
    settings.get().export_for_dbt()  # the profile reads the warehouse path of this run's settings
    yield from dbt.cli(["build"], context=context).stream()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(CROSSWALK, deps=[STANDARDISED, PERSON_RECORDS], group_name=LINKAGE_GROUP, kinds={"splink", "duckdb"},
                     description="person_id <-> (source_system, source_record_id): the person index. "
                                 "person_id is stable: derived from the cluster's smallest hashed record id."),
        dg.AssetSpec(CLUSTERS, deps=[STANDARDISED], group_name=LINKAGE_GROUP, kinds={"duckdb"},
                     description="One row per person_id: records, systems."),
        dg.AssetSpec(PAIRS, deps=[STANDARDISED], group_name=LINKAGE_GROUP, kinds={"duckdb"},
                     description="Scored record pairs at or above the floor weight, with whether each merged."),
    ],
    name="person_linkage",
)
def person_linkage(context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: SettingsResource):
    from linkage.evaluate import accuracy, truth_labels, twin_pairs_merged
    from linkage.run import link_persons, read_records, write_outputs

    cfg = settings.get()
    with duckdb.get_connection() as con:
        records = read_records(con)
    result = link_persons(records)
    with duckdb.get_connection() as con:
        write_outputs(con, result)
        figures = dict(result.figures)
        truth = cfg.truth_dir / "source_records.parquet"
        if truth.exists():
            labels = truth_labels(con, cfg.truth_dir)
            figures["accuracy"] = accuracy(result.crosswalk, labels)
            figures["hard_cases"] = twin_pairs_merged(result.crosswalk, labels, cfg.truth_dir)
    acc = figures.get("accuracy", {})
    context.log.info(
        f"{figures['person_records']} person records -> {figures['persons']} persons; largest cluster "
        f"{figures['largest_cluster_size']}" + (f"; precision {acc['pairwise_precision']}, recall "
                                                 f"{acc['pairwise_recall']}" if acc else ""))
    flat = {k: v for k, v in figures.items() if k not in ("accuracy", "hard_cases")}
    for key in ("pairwise_precision", "pairwise_recall", "pairwise_f1", "persons_found_whole_share"):
        if key in acc:
            flat[key] = acc[key]
    if acc:
        flat["accuracy"] = acc
        flat["hard_cases"] = figures["hard_cases"]
    yield dg.MaterializeResult(asset_key=CROSSWALK, metadata=safe_metadata(
        {**flat, "dagster/row_count": int(len(result.crosswalk))}))
    yield dg.MaterializeResult(asset_key=CLUSTERS, metadata=safe_metadata(
        {"dagster/row_count": int(len(result.clusters)), "largest_cluster_size": figures["largest_cluster_size"]}))
    yield dg.MaterializeResult(asset_key=PAIRS, metadata=safe_metadata(
        {"dagster/row_count": int(len(result.pairs)), "merged_pairs": int(result.pairs["merged"].sum())}))


@dg.asset_check(asset=CROSSWALK, name="no_giant_clusters", blocking=True,
                description="Fails when a person cluster holds more records than linkage.run.GIANT_CLUSTER_SIZE: "
                            "the signature of chaining (a household merged into one person).")
def no_giant_clusters(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    from linkage.run import GIANT_CLUSTER_SIZE, giant_clusters

    with duckdb.get_connection() as con:
        found = giant_clusters(con, GIANT_CLUSTER_SIZE)
    return dg.AssetCheckResult(
        passed=found["giant_clusters"] == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=safe_metadata({**found, "bound": GIANT_CLUSTER_SIZE}),
    )


linkage_assets = [intermediate_dbt, person_linkage]
linkage_checks = [no_giant_clusters]
