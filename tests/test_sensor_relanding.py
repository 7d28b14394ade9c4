"""The sensor and files that bring nothing new: a file copied into landing/<feed>/ again or touched (its bytes
already landed under its name) starts no run, and is hashed once, not on every tick; a file that failed is still
due until a run lists it as failed_before. Files that never land are warned about when their count changes, and
said once to be gone, not on every tick. Small hand-made files on a temporary DuckDB, the sensor evaluated
in-process with the cursor carried from tick to tick as the daemon does."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

import orchestration.defs.landing.sensors as sensors
from orchestration.defs.landing.assets import landing_asset_key, landing_assets
from orchestration.defs.landing.loader import file_sha256 as original
from orchestration.defs.landing.sensors import new_landing_files
from orchestration.lib.resources import SettingsResource

from tests.test_landing_edge_cases import csv_bytes, deliver, dwp_row
from tests.test_landing_unmatched_files import DWP, PERSONAL_NAME, dwp_file

DWP_KEY = landing_asset_key(DWP.name)


class Landing:
    """A data folder with the landing assets, the sensor, an instance, and the cursor the last tick left."""

    def __init__(self, data_dir, instance):
        self.data_dir, self.instance, self.cursor = data_dir, instance, None
        self.resources = {"duckdb": DuckDBResource(database=str(data_dir / "warehouse.duckdb")),
                          "settings": SettingsResource(data_dir=str(data_dir))}
        self.repo = dg.Definitions(assets=landing_assets, sensors=[new_landing_files],
                                   resources=self.resources).get_repository_def()
        self.folder = data_dir / "landing" / DWP.name

    def tick(self) -> dg.SensorExecutionData:
        with dg.build_sensor_context(instance=self.instance, repository_def=self.repo, cursor=self.cursor) as context:
            data = new_landing_files.evaluate_tick(context)
        self.cursor = data.cursor
        return data

    def land_dwp(self) -> dg.ExecuteInProcessResult:
        [asset] = [a for a in landing_assets if a.key == DWP_KEY]
        return dg.materialize([asset], resources=self.resources, instance=self.instance, raise_on_error=False)


@pytest.fixture
def landing(tmp_path, monkeypatch):
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(tmp_path))
    with dg.instance_for_test() as instance:
        yield Landing(tmp_path, instance)


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """Names of the files the sensor hashes."""
    names = []

    def counting(path):
        names.append(path.name)
        return original(path)

    monkeypatch.setattr(sensors, "file_sha256", counting, raising=False)
    return names


def touch(path, seconds_from_now: float = 5.0) -> None:
    moment = time.time() + seconds_from_now
    os.utime(path, (moment, moment))


def requested(tick: dg.SensorExecutionData) -> set[str]:
    return {f for r in tick.run_requests for f in r.tags["familyhub/feeds"].split(",") if f}


def test_a_file_copied_again_or_touched_starts_no_run_and_is_hashed_once(landing, hashed):
    first = dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-09-30.csv", seconds_from_now=-120)
    assert requested(landing.tick()) == {DWP.name}
    assert landing.land_dwp().success
    assert not landing.tick().run_requests

    # an operator copies the same file in again (new modification time), and touches it
    deliver(first, first.read_bytes(), seconds_from_now=5)
    tick = landing.tick()
    assert not tick.run_requests and tick.skip_message == "no new files in landing/"
    assert hashed == [first.name]
    touch(first, 10)
    assert not landing.tick().run_requests
    assert not landing.tick().run_requests
    assert hashed == [first.name, first.name], "hashed once per change, never on every tick"

    # new bytes under the same name, or a new file, are due as before
    deliver(first, csv_bytes(DWP.header, [dwp_row(benefit="JSA")]), seconds_from_now=15)
    assert requested(landing.tick()) == {DWP.name}
    assert landing.land_dwp().success
    assert not landing.tick().run_requests
    dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-10-31.csv", seconds_from_now=20)
    assert requested(landing.tick()) == {DWP.name}


def test_the_same_bytes_under_a_new_name_are_still_due(landing):
    """Landing records such a resend ('duplicate' in raw._deliveries), so it is no no-op."""
    first = dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-09-30.csv", seconds_from_now=-120)
    assert landing.land_dwp().success
    landing.tick()
    deliver(first.parent / "DWP_BENEFITS_2026-09-30.CSV", first.read_bytes(), seconds_from_now=5)
    assert requested(landing.tick()) == {DWP.name}


def test_a_file_that_failed_is_due_until_a_run_lists_it_as_failed_before(landing, hashed):
    dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-09-30.csv", seconds_from_now=-120)
    assert landing.land_dwp().success
    landing.tick()
    drifted = dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-10-31.csv",
                       header=[h.replace("NINO", "NI_NO") for h in DWP.header], seconds_from_now=5)
    assert requested(landing.tick()) == {DWP.name}
    assert not landing.land_dwp().success  # no materialisation lists the failed file
    hashed.clear()
    assert requested(landing.tick()) == {DWP.name}
    assert requested(landing.tick()) == {DWP.name}
    assert hashed == [], "the verdict holds while the files and the last landing are unchanged"

    assert landing.land_dwp().success  # passed over as failed_before: now listed
    touch(drifted, 10)
    assert not landing.tick().run_requests


def test_a_new_delivery_is_due_without_hashing_the_feeds_history(landing, hashed):
    """A feed keeps its old extracts in landing/: a new file is told by its name, not by hashing every file."""
    for month in ("06-30", "07-31", "08-31"):
        dwp_file(landing.data_dir / "landing", f"dwp_benefits_2026-{month}.csv", seconds_from_now=-120)
    assert landing.land_dwp().success
    landing.tick()
    dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-09-30.csv", seconds_from_now=5)
    hashed.clear()
    assert requested(landing.tick()) == {DWP.name}
    assert hashed == []


def test_removing_a_file_that_failed_is_due_so_its_check_can_pass(landing):
    dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-09-30.csv", seconds_from_now=-120)
    assert landing.land_dwp().success
    drifted = dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-10-31.csv",
                       header=[h.replace("NINO", "NI_NO") for h in DWP.header], seconds_from_now=5)
    assert not landing.land_dwp().success
    assert landing.land_dwp().success  # passed over as failed_before
    landing.tick()
    drifted.unlink()
    assert requested(landing.tick()) == {DWP.name}
    result = landing.land_dwp()
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "newest_file_landed"]
    assert check.passed


def test_a_cursor_of_the_older_format_is_read(landing):
    first = dwp_file(landing.data_dir / "landing", "dwp_benefits_2026-09-30.csv", seconds_from_now=-120)
    assert landing.land_dwp().success
    touch(first)
    landing.cursor = json.dumps({DWP.name: "digest of an older listing"})  # {feed: digest}, as before
    tick = landing.tick()
    assert not tick.run_requests and tick.skip_message == "no new files in landing/"
    assert json.loads(landing.cursor)["digests"][DWP.name] != "digest of an older listing"


def sensor_log(capfd) -> list[tuple[str, str]]:
    """(level, message) of each line the sensor logged since the last call."""
    # a sensor's log goes to the console handler of Dagster's own logger, which does not propagate to caplog
    lines = capfd.readouterr().err.splitlines()
    # (this harness has no staging assets: the warning that every feed lacks one is tested on its own, below)
    return [(level, line.split(f" - {level} - ", 1)[1]) for line in lines for level in ("WARNING", "INFO")
            if f" - {level} - " in line and sensors.NO_STAGING_MODEL not in line]


def test_feeds_without_a_staging_model_are_warned_about_once(landing, capfd):
    capfd.readouterr()
    landing.tick()
    warned = [line for line in capfd.readouterr().err.splitlines() if sensors.NO_STAGING_MODEL in line]
    assert len(warned) == 1 and "make parse" in warned[0] and "dwp_benefits" in warned[0]
    landing.tick()
    assert sensors.NO_STAGING_MODEL not in capfd.readouterr().err, "the same feeds: said once, not every tick"


def test_files_that_never_land_are_warned_about_when_their_count_changes_and_once_when_gone(landing, capfd):
    root = landing.data_dir / "landing"
    dwp_file(root, PERSONAL_NAME)
    deliver(root / "Jane_Doe_files" / "x.csv", b"a\n1\n")  # a folder no feed owns, named after a person
    capfd.readouterr()
    landing.tick()
    dwp_warning = "1 file in landing/dwp_benefits matches no feed's file pattern (expected e.g. dwp_benefits_*.csv)"
    other = ("1 file in a folder under landing/ that is no registered feed matches no feed's file pattern "
             "(expected e.g. landing/csc_persons/csc_persons_*.csv)")
    assert sorted(sensor_log(capfd)) == sorted([("WARNING", dwp_warning), ("WARNING", other)])

    landing.tick()
    landing.tick()
    assert sensor_log(capfd) == [], "nothing changed: nothing said"

    dwp_file(root, "dwp_benefits_2026-10-31.txt")
    landing.tick()
    assert sensor_log(capfd) == [
        ("WARNING", "2 files in landing/dwp_benefits match no feed's file pattern (expected e.g. dwp_benefits_*.csv)")]

    for path in [root / DWP.name / PERSONAL_NAME, root / DWP.name / "dwp_benefits_2026-10-31.txt",
                 root / "Jane_Doe_files" / "x.csv"]:
        path.unlink()
    landing.tick()
    assert sorted(sensor_log(capfd)) == [
        ("INFO", "0 files in a folder under landing/ that is no registered feed match no feed's file pattern "
                 "(expected e.g. landing/csc_persons/csc_persons_*.csv): the files warned about are gone"),
        ("INFO", "0 files in landing/dwp_benefits match no feed's file pattern (expected e.g. dwp_benefits_*.csv): "
                 "the files warned about are gone"),
    ]
    landing.tick()
    assert sensor_log(capfd) == []
    assert "Jane_Doe" not in landing.cursor  # the cursor shows in the UI: a folder's name may be a person's
