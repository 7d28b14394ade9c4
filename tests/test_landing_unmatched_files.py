"""Files that used to be ignored silently: a name whose letter case differs from the feed's file_pattern lands;
a file that still matches no pattern, or sits in a folder that is no registered feed, is reported (counts and
folder names, never file names) and changes nothing; a header differing from the registry only in letter case
lands under the registry's names, with a note. Small hand-made files on a temporary DuckDB."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import openpyxl
from dagster_duckdb import DuckDBResource

from orchestration.defs.landing.assets import landing_asset_key, landing_assets
from orchestration.defs.landing.loader import land_feed
from orchestration.defs.landing.sensors import NO_STAGING_MODEL, new_landing_files
from orchestration.lib.feeds import registry
from orchestration.lib.resources import SettingsResource

from tests.test_landing_edge_cases import HOUSING, con, csv_bytes, deliver, dwp_row, landing, rows  # noqa: F401 (fixtures)

DWP = registry()["dwp_benefits"]  # csv, comma, file_pattern dwp_benefits_*.csv
# a partner may name a file after a person: such a name must never reach a log, metadata or raw._deliveries
PERSONAL_NAME = "notes_for_Jane_Doe_2026-10-31.csv"




def dwp_file(landing, name, header=None, seconds_from_now=0.0):
    return deliver(landing / "dwp_benefits" / name, csv_bytes(header or DWP.header, [dwp_row()]), seconds_from_now)


def materialize_dwp(tmp_path):
    """(result, log texts) of the dwp_benefits landing asset run on tmp_path/landing."""
    [asset] = [a for a in landing_assets if a.key == landing_asset_key("dwp_benefits")]
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
                 "settings": SettingsResource(data_dir=str(tmp_path))}
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources=resources, instance=instance, raise_on_error=False)
        logged = [str(e) for e in instance.all_logs(result.run_id)]
    return result, logged


# --- 1a. a file name's letter case says nothing about its content ---------------------------------------


def test_extract_date_and_matching_ignore_the_names_letter_case():
    assert DWP.matches("DWP_BENEFITS_2026-10-31.CSV") and DWP.matches("Dwp_Benefits_2026-10-31.csv")
    assert not DWP.matches("dwp_benefits_2026-10-31.csv.bak") and not DWP.matches("benefits_2026-10-31.csv")
    assert DWP.extract_date("DWP_BENEFITS_2026-10-31.CSV") == dt.date(2026, 10, 31)


def test_an_upper_case_windows_export_lands_with_its_extract_date(con, landing):
    dwp_file(landing, "DWP_BENEFITS_2026-10-31.CSV")
    result = land_feed(con, DWP, landing)
    assert [f.status for f in result.files] == ["landed"] and result.files_not_matching_pattern == 0
    assert rows(con, "select status, extract_date from raw._deliveries") == [("landed", dt.date(2026, 10, 31))]
    assert rows(con, "select count(*), min(_file_name) from raw.dwp_benefits") == [(1, "DWP_BENEFITS_2026-10-31.CSV")]


def test_the_same_bytes_under_an_upper_case_name_are_a_duplicate_not_a_second_delivery(con, landing):
    dwp_file(landing, "dwp_benefits_2026-10-31.csv", seconds_from_now=-60)
    dwp_file(landing, "DWP_BENEFITS_2026-10-31.CSV")
    land_feed(con, DWP, landing)
    assert rows(con, "select status from raw._deliveries order by landed_at") == [("landed",), ("duplicate",)]
    assert rows(con, "select count(*) from raw.dwp_benefits") == [(1,)]


# --- 1b. files nobody lands are reported, as counts --------------------------------------------------------


def test_a_file_matching_no_pattern_is_counted_and_changes_nothing(con, landing):
    dwp_file(landing, "dwp_benefits_2026-10-31.csv")
    dwp_file(landing, PERSONAL_NAME)
    (landing / "dwp_benefits" / ".DS_Store").write_bytes(b"\0")  # a system file, not a delivery
    result = land_feed(con, DWP, landing)
    assert result.files_not_matching_pattern == 1
    assert [f.file_name for f in result.files] == ["dwp_benefits_2026-10-31.csv"]
    assert rows(con, "select file_name from raw._deliveries") == [("dwp_benefits_2026-10-31.csv",)]
    assert rows(con, "select count(*) from raw._rejects") == [(0,)]


def test_the_landing_asset_warns_and_counts_unmatched_files_without_naming_them(tmp_path):
    dwp_file(tmp_path / "landing", "dwp_benefits_2026-10-31.csv")
    dwp_file(tmp_path / "landing", PERSONAL_NAME)
    dwp_file(tmp_path / "landing", "dwp_benefits_2026-10-31.txt")
    result, logged = materialize_dwp(tmp_path)
    assert result.success
    [materialization] = result.asset_materializations_for_node("raw__dwp_benefits")
    assert materialization.metadata["files_not_matching_pattern"].value == 2
    assert materialization.metadata["files_landed"].value == 1
    assert any("2 files in landing/dwp_benefits match no feed's file pattern (expected e.g. dwp_benefits_*.csv)"
               in text for text in logged)
    assert not [text for text in logged if "Jane_Doe" in text or "2026-10-31.txt" in text]
    assert "Jane_Doe" not in str(materialization.metadata)


def test_the_sensor_reports_files_that_never_land_with_counts_once_per_tick(tmp_path, monkeypatch, capfd):
    landing = tmp_path / "landing"
    deliver(landing / "unknown_feed" / "x.csv", b"a\n1\n")
    deliver(landing / "unknown_feed" / "sub" / PERSONAL_NAME, b"a\n1\n")
    deliver(landing / "CSC_Persons" / "csc_persons_2026-10-31.csv", b"a\n1\n")  # a feed's folder, mis-cased
    (landing / "empty_folder").mkdir()
    dwp_file(landing, PERSONAL_NAME)  # in a feed's folder: no run starts for it, so the sensor says so too
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(tmp_path))
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
                 "settings": SettingsResource(data_dir=str(tmp_path))}
    repo = dg.Definitions(assets=landing_assets, sensors=[new_landing_files], resources=resources).get_repository_def()
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, repository_def=repo) as context:
            tick = new_landing_files.evaluate_tick(context)
    # a sensor's log goes to the console handler of Dagster's own logger, which does not propagate to caplog
    logged = capfd.readouterr().err
    warned = [line.split(" - WARNING - ", 1)[1] for line in logged.splitlines()
              if " - WARNING - " in line and NO_STAGING_MODEL not in line]  # this graph has no staging assets
    assert sorted(warned) == [
        # unknown_feed's own file only: its subfolder is not walked
        "1 file in a folder under landing/ that is no registered feed matches no feed's file pattern "
        "(expected e.g. landing/csc_persons/csc_persons_*.csv)",
        "1 file in landing/CSC_Persons, which is no registered feed, matches no feed's file pattern "
        "(expected e.g. landing/csc_persons/csc_persons_*.csv)",
        "1 file in landing/dwp_benefits matches no feed's file pattern (expected e.g. dwp_benefits_*.csv)",
    ]
    assert "Jane_Doe" not in logged and "unknown_feed" not in logged  # a folder's name may be a person's too
    # nothing else changes: no run requested, nothing landed
    assert not tick.run_requests and tick.skip_message == "no new files in landing/"
    assert not (tmp_path / "warehouse.duckdb").exists()


# --- 2. a header's letter case carries no meaning ---------------------------------------------------------


def test_a_lower_case_header_lands_under_the_registrys_names_with_a_note(con, landing):
    dwp_file(landing, "dwp_benefits_2026-10-31.csv", header=[h.lower() for h in DWP.header])
    [landed] = land_feed(con, DWP, landing).files
    assert landed.status == "landed", landed.reason
    assert rows(con, "select nino, benefit, claim_start from raw.dwp_benefits") == [
        ("QQ123456C", "UC", dt.date(2024, 1, 5))]
    [(reason,)] = rows(con, "select reason from raw._deliveries")
    assert reason.startswith(f"header differs from the registry only in letter case for 9 columns {DWP.header}")


def test_an_xlsx_header_in_mixed_case_lands(con, landing):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = HOUSING.sheet
    sheet.append([h.upper() if i % 2 else h.lower() for i, h in enumerate(HOUSING.header)])
    path = landing / HOUSING.name / "housing_2026-10-31.xlsx"
    path.parent.mkdir(parents=True)
    workbook.save(path)
    [result] = land_feed(con, HOUSING, landing).files
    assert result.status == "landed" and "only in letter case" in result.reason


def test_a_lower_case_header_with_a_renamed_column_names_that_column_not_a_missing_header(con, landing):
    header = [h.lower() for h in DWP.header]
    header[0] = "ni_no"
    dwp_file(landing, "dwp_benefits_2026-10-31.csv", header=header)
    [failure] = land_feed(con, DWP, landing).failures
    assert "missing columns ['NINO']" in failure.reason and "unexpected columns ['ni_no']" in failure.reason
    assert "no header row" not in failure.reason
    assert rows(con, "select count(*) from raw.dwp_benefits") == [(0,)]


def test_a_column_delivered_twice_in_different_cases_is_drift_not_a_guess(con, landing):
    dwp_file(landing, "dwp_benefits_2026-10-31.csv", header=[*DWP.header, "nino"])
    [failure] = land_feed(con, DWP, landing).failures
    assert "unexpected columns ['nino']" in failure.reason
