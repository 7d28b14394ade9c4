"""Schema drift never quotes delivered values: a CSV header that ran into its first record, a note typed in an XLSX
header cell, a JSONL key that is a person's name. Each fails its feed and lands nothing; the reason (raw._deliveries,
the asset's Failure, the event log) names the registry's missing columns and says how many unexpected columns there
are and where, without their text. An ordinary rename still names the column. The landing asset refuses a reason
that slipped an identifier-shaped value. Small hand-made files on a temporary DuckDB."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource

from orchestration.defs.landing import assets as landing_module
from orchestration.defs.landing.assets import NEWEST_FILE_LANDED, landing_asset_key, landing_assets
from orchestration.defs.landing.loader import FeedResult, FileResult, land_feed
from orchestration.lib.resources import SettingsResource

from tests.test_landing import (DWP, HOUSING, POLICE, con, count, dwp_row, housing_row, landing,  # noqa: F401
                                police_record, write_csv, write_housing)

# distinctive synthetic values (a person's names, date of birth, NI number, postcode): a reason quoting any of them,
# in any letter case, or the year of birth alone, is caught
FORENAME, SURNAME, DOB, NINO, POSTCODE = "Ottoline", "Quillfeather", "19770312", "ZZ998877D", "FH9 9ZQ"
VALUES = [FORENAME, SURNAME, DOB, NINO, POSTCODE, "1977"]


def leaked(text: str) -> list[str]:
    return [v for v in VALUES if v.casefold() in text.casefold()]


def failed_reason(con, feed, landing) -> str:
    """The one failure's reason, checked to be what raw._deliveries recorded, after nothing landed."""
    [failure] = land_feed(con, feed, landing).failures
    [(recorded,)] = con.execute("select reason from raw._deliveries where status = 'failed'").fetchall()
    assert recorded == failure.reason
    assert count(con, f"select count(*) from {feed.raw_table}") == 0
    return failure.reason


def header_run_into_record(folder):
    """The header's line break lost: its last name and the first record run together on line 1."""
    first = [NINO, SURNAME, FORENAME, DOB, POSTCODE, "UC", "20240105", "", "SEARCHING"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dwp_benefits_2026-10-31.csv").write_text(
        ",".join(DWP.header) + ",".join(first) + "\n" + ",".join(dwp_row()) + "\n")


def test_a_csv_header_run_into_its_first_record_is_not_quoted(con, landing):
    header_run_into_record(landing / "dwp_benefits")
    reason = failed_reason(con, DWP, landing)
    assert not leaked(reason)
    assert "missing columns ['CONDITIONALITY']" in reason  # registry text: named
    # the 9 fields of the run-on line from the header's 9th place on: counted and placed, not quoted
    assert "9 unexpected columns at positions 9, 10, 11, 12, 13, 14, 15, 16, 17 of the header" in reason
    assert "run into the first record" in reason and "unexpected columns [" not in reason


@pytest.mark.parametrize("where", ["in place of a column", "after the last column"])
def test_a_note_in_an_xlsx_header_cell_is_not_quoted(con, landing, where):
    note = f"{FORENAME} {SURNAME} now {POSTCODE}"  # short enough to pass for a header name, but for its postcode
    header = list(HOUSING.header)
    if where == "in place of a column":
        header[header.index("Lead Tenant Forename")] = note
    else:
        header.append(note)
    write_housing(landing / "housing_events" / "housing_2026-10-31.xlsx", [housing_row()], header=header)
    reason = failed_reason(con, HOUSING, landing)
    assert not leaked(reason)
    if where == "in place of a column":
        assert "missing columns ['Lead Tenant Forename']" in reason
        assert "1 unexpected column at position 4 of the header" in reason
    else:
        assert "missing columns" not in reason
        assert f"1 unexpected column at position {len(HOUSING.header) + 1} of the header" in reason
    assert "hold notes" in reason


@pytest.mark.parametrize("key", [f"{FORENAME} {SURNAME}", SURNAME])
def test_a_jsonl_key_that_is_a_name_is_not_quoted(con, landing, key):
    """An export keyed by the person's name instead of `surname`: the key is a value, whatever else it looks like."""
    folder = landing / "police_incidents"
    folder.mkdir(parents=True)
    records = [json.loads(police_record(incident_ref=f"I{i}")) for i in range(3)]
    for record in records:
        record[key] = record.pop("surname")
    (folder / "police_2026-10-31.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    reason = failed_reason(con, POLICE, landing)
    assert not leaked(reason)
    assert "missing columns [" in reason and "'surname'" in reason
    assert "1 unexpected key, not named" in reason and "unexpected columns [" not in reason


@pytest.mark.parametrize("feed_name", ["dwp_benefits", "housing_events", "police_incidents"])
def test_an_ordinary_rename_still_names_the_unexpected_column(con, landing, feed_name):
    if feed_name == "dwp_benefits":
        write_csv(landing / "dwp_benefits" / "dwp_benefits_x.csv",
                  ["NI_NUMBER" if h == "NINO" else h for h in DWP.header], [dwp_row()])
        feed, named = DWP, "['NI_NUMBER']"
    elif feed_name == "housing_events":
        write_housing(landing / "housing_events" / "housing_x.xlsx", [housing_row()],
                      header=["Tenant NI No" if h == "NI Number" else h for h in HOUSING.header])
        feed, named = HOUSING, "['Tenant NI No']"
    else:
        (landing / "police_incidents").mkdir(parents=True)
        record = json.loads(police_record())
        record["family_name"] = record.pop("surname")
        (landing / "police_incidents" / "police_x.jsonl").write_text(json.dumps(record) + "\n")
        feed, named = POLICE, "['family_name']"
    reason = failed_reason(con, feed, landing)
    assert f"unexpected columns {named}" in reason and "not named" not in reason


# --- the landing asset: its Failure and event log; a reason that slipped a value is refused -----------------

DWP_ASSET = next(a for a in landing_assets if a.key == landing_asset_key(DWP.name))


def materialize_dwp(tmp_path, instance) -> dg.ExecuteInProcessResult:
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
                 "settings": SettingsResource(data_dir=str(tmp_path))}
    return dg.materialize([DWP_ASSET], resources=resources, instance=instance, raise_on_error=False)


def failure_description(result) -> str:
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.error.message


def test_the_assets_failure_and_event_log_carry_no_value_of_a_run_on_header(tmp_path):
    header_run_into_record(tmp_path / "landing" / "dwp_benefits")
    with dg.instance_for_test() as instance:
        result = materialize_dwp(tmp_path, instance)
        logged = "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert not result.success
    description = failure_description(result)
    assert "missing columns ['CONDITIONALITY']" in description and "9 unexpected columns" in description
    assert not leaked(description) and logged and not leaked(logged)


def test_a_reason_carrying_an_identifier_is_withheld_from_failure_logs_and_check(tmp_path, monkeypatch):
    """The net under the loader: a reason that slipped a value (a future message, a bug) reaches no description or
    log line; the asset still fails, or warns, naming the file."""
    slipped = f"dwp_benefits: dwp_x.csv does not match the registry: unexpected columns ['{SURNAME} {POSTCODE}']"
    status = {"now": "failed"}

    def fake_land_feed(con, feed, landing_dir):
        from orchestration.defs.landing.loader import ensure_raw_schema

        ensure_raw_schema(con, [feed])
        return FeedResult(feed.name, [FileResult("dwp_x.csv", "dwp_benefits:0123456789abcdef", status["now"],
                                                 reason=slipped)])

    monkeypatch.setattr(landing_module, "land_feed", fake_land_feed)
    with dg.instance_for_test() as instance:
        failing = materialize_dwp(tmp_path, instance)
        status["now"] = "failed_before"  # the run after: passed over, the asset materialises with a warning
        passed_over = materialize_dwp(tmp_path, instance)
        logged = "\n".join(str(e) for run in (failing, passed_over) for e in instance.all_logs(run.run_id))
    description = failure_description(failing)
    assert not failing.success and "dwp_x.csv could not land: reason withheld" in description
    assert "dwp_benefits:0123456789abcdef" in description  # where the data team finds it
    assert passed_over.success
    [check] = [e for e in passed_over.get_asset_check_evaluations() if e.check_name == NEWEST_FILE_LANDED]
    assert not check.passed and "reason withheld" in check.description
    assert "reason withheld" in logged and not leaked(logged + description + check.description)


def test_loader_reasons_without_values_pass_through_unchanged(con, landing):
    """The net lets the loader's ordinary text by: a rename's reason reaches the Failure as the loader wrote it."""
    write_csv(landing / "dwp_benefits" / "dwp_benefits_y.csv",
              ["NI_NUMBER" if h == "NINO" else h for h in DWP.header], [dwp_row()])
    [failure] = land_feed(con, DWP, landing).failures
    assert landing_module.failure_line(DWP, failure) == failure.reason
    assert landing_module.checked_reason(FileResult("f.csv", "d", "landed", reason=f"dated {dt.date(2026, 9, 30)}")) \
        == "dated 2026-09-30"
