"""A feed whose newest file failed keeps showing a problem after the run that first failed it: the landing asset's
`newest_file_landed` check fails (WARN, not blocking) while that file is the newest, though landing passes it over
as failed_before and materialises; it passes once a later file lands. The asset also lists each file's sha256, the
loader's own hash, for the sensor. Small hand-made files on a temporary DuckDB."""

from __future__ import annotations

import hashlib

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.defs.landing.assets import NEWEST_FILE_LANDED, landing_asset_key, landing_assets
from orchestration.lib.resources import SettingsResource

from tests.test_landing_edge_cases import csv_bytes, deliver, dwp_row
from tests.test_landing_unmatched_files import DWP

DWP_ASSET = next(a for a in landing_assets if a.key == landing_asset_key(DWP.name))
DRIFTED = [h.replace("NINO", "NI_NO") for h in DWP.header]  # a renamed column: schema drift


@dg.asset(deps=[landing_asset_key(DWP.name)])
def dwp_downstream() -> int:
    """Stands in for staging: a warning check must not stop it."""
    return 1


def land(tmp_path, instance) -> dg.ExecuteInProcessResult:
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
                 "settings": SettingsResource(data_dir=str(tmp_path))}
    return dg.materialize([DWP_ASSET, dwp_downstream], resources=resources, instance=instance, raise_on_error=False)


def newest_file_landed(result) -> dg.AssetCheckEvaluation | None:
    found = [e for e in result.get_asset_check_evaluations() if e.check_name == NEWEST_FILE_LANDED]
    assert len(found) <= 1
    return found[0] if found else None


def materialised(result) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def test_the_check_fails_while_the_newest_file_failed_before_and_passes_once_a_later_file_lands(tmp_path):
    folder = tmp_path / "landing" / DWP.name
    good = deliver(folder / "dwp_benefits_2026-09-30.csv", csv_bytes(DWP.header, [dwp_row()]), -120)
    with dg.instance_for_test() as instance:
        first = land(tmp_path, instance)
        assert first.success
        assert newest_file_landed(first).passed
        # the sensor compares files on disk with these: the same hash the loader recorded
        [entry] = first.asset_materializations_for_node("raw__dwp_benefits")[0].metadata["files"].value
        assert entry["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()

        drifted = deliver(folder / "dwp_benefits_2026-10-31.csv", csv_bytes(DRIFTED, [dwp_row()]), -60)
        failing = land(tmp_path, instance)
        assert not failing.success and newest_file_landed(failing) is None  # a fresh failure fails the asset

        # the run after: the file is passed over as failed_before and the asset materialises, but not green
        again = land(tmp_path, instance)
        assert again.success and materialised(again) == {DWP_ASSET.key, dwp_downstream.key}  # WARN blocks nothing
        check = newest_file_landed(again)
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["newest_file"].value == drifted.name
        assert check.metadata["newest_file_status"].value == "failed_before"
        assert check.metadata["files_not_landed"].value == 1
        assert "did not land" in check.description and "missing columns ['NINO']" in check.description
        files = again.asset_materializations_for_node("raw__dwp_benefits")[0].metadata["files"].value
        assert {f["file"]: f["sha256"] for f in files}[drifted.name] == hashlib.sha256(drifted.read_bytes()).hexdigest()

        # still red on the next run while nothing replaces it
        assert not newest_file_landed(land(tmp_path, instance)).passed

        # a later good file: the bad one is still there (failed_before) but no longer the newest
        deliver(folder / "dwp_benefits_2026-11-30.csv", csv_bytes(DWP.header, [dwp_row(benefit="JSA")]))
        fixed = land(tmp_path, instance)
        assert fixed.success
        check = newest_file_landed(fixed)
        assert check.passed and check.metadata["newest_file"].value == "dwp_benefits_2026-11-30.csv"
        assert check.metadata["files_not_landed"].value == 1


def test_removing_the_failed_newest_file_clears_the_check(tmp_path):
    folder = tmp_path / "landing" / DWP.name
    deliver(folder / "dwp_benefits_2026-09-30.csv", csv_bytes(DWP.header, [dwp_row()]), -120)
    drifted = deliver(folder / "dwp_benefits_2026-10-31.csv", csv_bytes(DRIFTED, [dwp_row()]), -60)
    with dg.instance_for_test() as instance:
        assert not land(tmp_path, instance).success
        assert not newest_file_landed(land(tmp_path, instance)).passed
        drifted.unlink()
        assert newest_file_landed(land(tmp_path, instance)).passed


def test_the_check_is_declared_on_every_landing_asset_and_blocks_nothing():
    for asset in landing_assets:
        [spec] = [s for s in asset.check_specs if s.name == NEWEST_FILE_LANDED]
        assert spec.asset_key == asset.key and not spec.blocking
