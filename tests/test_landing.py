"""Landing: provenance, idempotent re-landing, rejects with reasons and original text, schema drift."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import openpyxl
import pytest

from orchestration.defs.landing.loader import land_feed
from orchestration.lib.feeds import registry

DWP = registry()["dwp_benefits"]  # csv, comma, yyyymmdd dates
POLICE = registry()["police_incidents"]  # jsonl
HOUSING = registry()["housing_events"]  # xlsx
YJS = registry()["yjs_outcomes"]  # tsv, cp1252


def dwp_row(nino="QQ123456C", start="20240105", end="", benefit="UC"):
    return [nino, "Surname", "Forename", "19900101", "FH1 2AB", benefit, start, end, "SEARCHING"]


def write_csv(path, header, rows, delimiter=",", encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def landing(tmp_path):
    return tmp_path / "landing"


def count(con, sql, params=()):
    return con.execute(sql, list(params)).fetchone()[0]


def test_csv_lands_typed_rows_with_provenance(con, landing):
    write_csv(landing / "dwp_benefits" / "dwp_benefits_2026-09-30.csv", DWP.header,
              [dwp_row(), dwp_row(nino="AB123456A", end="20250101")])
    result = land_feed(con, DWP, landing)
    assert (result.rows_landed, result.rows_rejected, result.count("landed")) == (2, 0, 1)
    rows = con.execute(
        "select claim_start, claim_end, _row_number, _file_name, _delivery_id, length(_file_sha256) "
        "from raw.dwp_benefits order by _row_number").fetchall()
    assert rows[0][0] == dt.date(2024, 1, 5) and rows[0][1] is None
    assert rows[1][1] == dt.date(2025, 1, 1)
    assert [r[2] for r in rows] == [1, 2]
    assert {r[3] for r in rows} == {"dwp_benefits_2026-09-30.csv"}
    assert rows[0][4].startswith("dwp_benefits:") and rows[0][5] == 64
    assert count(con, "select count(*) from raw._deliveries where status = 'landed'") == 1


def test_relanding_the_same_file_is_a_no_op_and_a_new_file_appends(con, landing):
    path = landing / "dwp_benefits" / "dwp_benefits_2026-06-30.csv"
    write_csv(path, DWP.header, [dwp_row()])
    land_feed(con, DWP, landing)
    again = land_feed(con, DWP, landing)
    assert again.count("skipped") == 1 and again.rows_landed == 0
    assert count(con, "select count(*) from raw.dwp_benefits") == 1
    # the same bytes under another name are the same delivery
    (landing / "dwp_benefits" / "dwp_benefits_copy.csv").write_bytes(path.read_bytes())
    assert land_feed(con, DWP, landing).count("skipped") == 2
    write_csv(landing / "dwp_benefits" / "dwp_benefits_2026-09-30.csv", DWP.header, [dwp_row(), dwp_row("AB123456A")])
    third = land_feed(con, DWP, landing)
    assert third.count("landed") == 1 and third.rows_landed == 2
    assert count(con, "select count(*) from raw.dwp_benefits") == 3
    assert count(con, "select count(distinct _delivery_id) from raw.dwp_benefits") == 2


def test_unparseable_rows_go_to_rejects_with_reason_and_original_text(con, landing):
    rows = [
        dwp_row(),
        dwp_row(start="20240231"),  # no such date
        dwp_row(start=""),  # required value missing
        dwp_row()[:5],  # truncated line
        dwp_row(nino="CD123456B", end="unknown"),
    ]
    write_csv(landing / "dwp_benefits" / "dwp_benefits_1.csv", DWP.header, rows)
    result = land_feed(con, DWP, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 4)
    rejects = con.execute(
        "select row_number, reason, original_text from raw._rejects order by row_number").fetchall()
    assert [r[0] for r in rejects] == [2, 3, 4, 5]
    reasons = {r[0]: r[1] for r in rejects}
    assert reasons[2] == "CLAIM_START: not a date in format %Y%m%d"
    assert reasons[3] == "CLAIM_START: required value missing"
    assert reasons[4] == "expected 9 fields, found 5"
    assert reasons[5] == "CLAIM_END: not a date in format %Y%m%d"
    assert rejects[0][2] == ",".join(rows[1])  # the row as delivered, kept whole
    assert rejects[2][2] == ",".join(rows[3])
    # reasons never carry the values themselves
    assert not any("20240231" in r[1] or "unknown" in r[1] for r in rejects)


def test_raw_plus_rejects_accounts_for_every_row(con, landing):
    rows = [dwp_row(start="2024010" + str(i % 10)) for i in range(1, 200)]
    write_csv(landing / "dwp_benefits" / "dwp_benefits_x.csv", DWP.header, rows)
    result = land_feed(con, DWP, landing)
    assert result.rows_landed + result.rows_rejected == len(rows)
    assert result.rows_rejected == count(con, "select count(*) from raw._rejects") > 0


def test_renamed_column_fails_the_file_naming_the_columns_and_lands_nothing(con, landing):
    header = ["NI_NUMBER" if h == "NINO" else h for h in DWP.header]
    write_csv(landing / "dwp_benefits" / "dwp_benefits_2.csv", header, [dwp_row()])
    result = land_feed(con, DWP, landing)
    [failure] = result.failures
    assert "missing columns ['NINO']" in failure.reason and "unexpected columns ['NI_NUMBER']" in failure.reason
    assert count(con, "select count(*) from raw.dwp_benefits") == 0
    assert count(con, "select count(*) from raw._deliveries where status = 'failed'") == 1
    # once the supplier fixes the file, the same feed lands
    write_csv(landing / "dwp_benefits" / "dwp_benefits_2.csv", DWP.header, [dwp_row()])
    assert land_feed(con, DWP, landing).rows_landed == 1


def test_reordered_columns_still_land_by_name(con, landing):
    order = list(reversed(range(len(DWP.header))))
    write_csv(landing / "dwp_benefits" / "dwp_benefits_r.csv", [DWP.header[i] for i in order],
              [[dwp_row()[i] for i in order]])
    assert land_feed(con, DWP, landing).rows_landed == 1
    assert count(con, "select count(*) from raw.dwp_benefits where nino = 'QQ123456C' and benefit = 'UC'") == 1


def test_empty_file_fails_with_a_clear_message(con, landing):
    path = landing / "dwp_benefits" / "dwp_benefits_empty.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    [failure] = land_feed(con, DWP, landing).failures
    assert "is empty" in failure.reason


def test_bytes_in_the_wrong_encoding_are_rejected_per_row(con, landing):
    # a utf-8 feed delivered with one cp1252 row: that row is rejected, the rest land
    path = landing / "dwp_benefits" / "dwp_benefits_enc.csv"
    path.parent.mkdir(parents=True)
    good = ",".join(dwp_row()).encode()
    bad = ",".join(dwp_row(nino="AB123456A")).replace("Surname", "Zoë").encode("cp1252")
    path.write_bytes(",".join(DWP.header).encode() + b"\n" + good + b"\n" + bad + b"\n")
    result = land_feed(con, DWP, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 1)
    reason, text = con.execute("select reason, original_text from raw._rejects").fetchone()
    assert reason == "bytes not valid in encoding utf-8" and "\\xeb" in text


def test_cp1252_tab_separated_feed_decodes(con, landing):
    row = ["YJ1", "OUT1", "Zoë", "O'Brien", "03-Mar-2008", "F", "FH1 2AB", "", "04-Jan-2024",
           "REFERRAL_ORDER", "THEFT"]
    write_csv(landing / "yjs_outcomes" / "yjs_outcomes_1.tsv", YJS.header, [row], delimiter="\t", encoding="cp1252")
    assert land_feed(con, YJS, landing).rows_landed == 1
    dob, first = con.execute("select dob, first_names from raw.yjs_outcomes").fetchone()
    assert dob == dt.date(2008, 3, 3) and first.endswith("ë")


def police_record(**overrides):
    record = {"nominal_ref": "N1", "incident_ref": "I1", "forename": "A", "surname": "B",
              "date_of_birth": "1990-01-01", "sex": "F", "postcode": "FH1 2AB", "occurred_at": "2024-03-01T22:15:00",
              "incident_type": "DOMESTIC", "domestic_abuse_flag": "Y", "role": "VICTIM"}
    record.update(overrides)
    return json.dumps(record)


def test_jsonl_rejects_broken_lines_and_keeps_the_line(con, landing):
    path = landing / "police_incidents" / "police_1.jsonl"
    path.parent.mkdir(parents=True)
    lines = [police_record(), '{"nominal_ref": "N2", "incident_', police_record(incident_ref="I3", occurred_at="yesterday")]
    path.write_text("\n".join(lines) + "\n")
    result = land_feed(con, POLICE, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 2)
    rejects = con.execute("select row_number, reason, original_text from raw._rejects order by 1").fetchall()
    assert rejects[0][:2] == (2, "not valid JSON") and rejects[0][2] == lines[1]
    assert rejects[1][:2] == (3, "occurred_at: not a timestamp in format %Y-%m-%dT%H:%M:%S")
    assert rejects[1][2] == lines[2]
    assert con.execute("select occurred_at from raw.police_incidents").fetchone()[0] == dt.datetime(2024, 3, 1, 22, 15)


def test_jsonl_unknown_key_is_schema_drift(con, landing):
    path = landing / "police_incidents" / "police_2.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(police_record() + "\n" + police_record(incident_ref="I2", ethnicity="X") + "\n")
    [failure] = land_feed(con, POLICE, landing).failures
    assert "unexpected columns ['ethnicity']" in failure.reason
    assert count(con, "select count(*) from raw.police_incidents") == 0


def write_housing(path, rows, header=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Events"
    sheet.append(header or HOUSING.header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def housing_row(event_ref="E1", event_date=dt.datetime(2024, 2, 1), arrears=1234.5):
    return ["T1", event_ref, "100090000001", "A", "B", dt.datetime(1985, 5, 6), "AB123456A", "1 Road",
            "FH1 2AB", "RENT_ARREARS", event_date, arrears]


def test_xlsx_lands_native_dates_and_rejects_text_in_a_date_cell(con, landing):
    write_housing(landing / "housing_events" / "housing_1.xlsx",
                  [housing_row(), housing_row("E2", event_date="not known"), housing_row("E3", arrears="n/a")])
    result = land_feed(con, HOUSING, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 2)
    event_date, balance, dob = con.execute(
        "select event_date, arrears_balance, lead_tenant_dob from raw.housing_events").fetchone()
    assert event_date == dt.date(2024, 2, 1) and float(balance) == 1234.5 and dob == dt.date(1985, 5, 6)
    reasons = [r[0] for r in con.execute("select reason from raw._rejects order by row_number").fetchall()]
    assert reasons == ["Event Date: not an Excel date", "Arrears Balance: not a number"]


def test_xlsx_missing_sheet_fails(con, landing):
    path = landing / "housing_events" / "housing_2.xlsx"
    path.parent.mkdir(parents=True)
    workbook = openpyxl.Workbook()
    workbook.active.title = "Sheet1"
    workbook.save(path)
    [failure] = land_feed(con, HOUSING, landing).failures
    assert "no sheet 'Events'" in failure.reason
