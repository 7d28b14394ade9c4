"""Landing: provenance, idempotent re-landing, rejects with reasons and original text, schema drift (never quoting
a header-less first row), delivery order and load times, stray quotes, files that failed before."""

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


def test_a_nul_byte_in_a_value_is_rejected_not_landed(con, landing):
    # binary data or corruption in one row of a CSV: that row goes to _rejects with the NUL shown, the rest land
    path = landing / "dwp_benefits" / "dwp_benefits_nul.csv"
    path.parent.mkdir(parents=True)
    good = ",".join(dwp_row()).encode()
    bad = ",".join(dwp_row(nino="AB123456A")).replace("Surname", "Sur\x00name").encode()
    path.write_bytes(",".join(DWP.header).encode() + b"\n" + good + b"\n" + bad + b"\n")
    result = land_feed(con, DWP, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 1)
    reason, text = con.execute("select reason, original_text from raw._rejects").fetchall()[0]
    assert reason.startswith("a NUL byte") and "Sur\\x00name" in text and "\x00" not in text
    assert con.execute("select count(*) from raw.dwp_benefits").fetchall()[0][0] == 1


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


def test_xlsx_a_value_right_of_the_header_rejects_its_row(con, landing):
    """A cell beyond the last headed column belongs to no column: the row is rejected with its cells, not
    landed with the value dropped."""
    write_housing(landing / "housing_events" / "housing_wide.xlsx",
                  [housing_row(), housing_row("E2") + [None, "stray note"], housing_row("E3") + [None, None]])
    result = land_feed(con, HOUSING, landing)
    assert (result.rows_landed, result.rows_rejected) == (2, 1)
    [(row_number, reason, text)] = con.execute("select row_number, reason, original_text from raw._rejects").fetchall()
    width = len(HOUSING.header)
    assert row_number == 2 and reason == f"expected {width} fields, found {width + 2}"
    assert text.split("\t")[-1] == "stray note" and "E2" in text.split("\t")


def test_xlsx_missing_sheet_fails(con, landing):
    path = landing / "housing_events" / "housing_2.xlsx"
    path.parent.mkdir(parents=True)
    workbook = openpyxl.Workbook()
    workbook.active.title = "Sheet1"
    workbook.save(path)
    [failure] = land_feed(con, HOUSING, landing).failures
    assert "no sheet 'Events'" in failure.reason


# --- a file without its header row: the drift message must not quote the first row (it is data) -------------

# distinctive synthetic values, so that a message quoting any of them is caught
HEADERLESS_VALUES = ["ZZ998877D", "Quillfeather", "Ottoline", "19770312", "FH9 9ZQ"]


def write_headerless(feed_name, landing):
    nino, surname, forename, dob, postcode = HEADERLESS_VALUES
    folder = landing / feed_name
    if feed_name == "dwp_benefits":
        rows = [[nino, surname, forename, dob, postcode, "UC", "20240105", "", "SEARCHING"], dwp_row()]
        folder.mkdir(parents=True)
        (folder / "dwp_benefits_nohdr.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    elif feed_name == "housing_events":
        first = ["T9", "E9", "100090000009", forename, surname, dt.datetime(1977, 3, 12), nino, "1 Road", postcode,
                 "RENT_ARREARS", dt.datetime(2024, 2, 1), 10.0]
        write_housing(folder / "housing_nohdr.xlsx", [housing_row()], header=first)
    else:  # police: an export keyed by person instead of one flat object per line
        folder.mkdir(parents=True)
        (folder / "police_nohdr.jsonl").write_text(
            json.dumps({nino: {"surname": surname, "forename": forename}}) + "\n")


@pytest.mark.parametrize("feed_name", ["dwp_benefits", "housing_events", "police_incidents"])
def test_a_file_without_its_header_row_fails_without_quoting_its_first_row(con, landing, feed_name):
    feed = registry()[feed_name]
    write_headerless(feed_name, landing)
    [failure] = land_feed(con, feed, landing).failures
    [(recorded,)] = con.execute("select reason from raw._deliveries where status = 'failed'").fetchall()
    assert recorded == failure.reason
    assert "registry" in failure.reason and "unexpected columns" not in failure.reason
    assert not [v for v in HEADERLESS_VALUES if v in failure.reason]
    assert "1977" not in failure.reason  # nor the date of birth in another shape
    if feed_name != "police_incidents":
        assert "no header row?" in failure.reason
        assert f"0 of the registry's {len(feed.columns)} columns found" in failure.reason
        assert f"missing columns {feed.header}" in failure.reason  # registry text: safe to name
    assert count(con, f"select count(*) from {feed.raw_table}") == 0


def test_a_header_with_one_unknown_column_still_names_it(con, landing):
    header = DWP.header + ["EXTRA_FLAG"]
    write_csv(landing / "dwp_benefits" / "dwp_benefits_x.csv", header, [dwp_row() + ["Y"]])
    [failure] = land_feed(con, DWP, landing).failures
    assert "unexpected columns ['EXTRA_FLAG']" in failure.reason and "no header row" not in failure.reason


def test_landing_asset_failure_and_event_log_carry_no_first_row_values(tmp_path):
    from tests.test_landing_unmatched_files import materialize_dwp

    write_headerless("dwp_benefits", tmp_path / "landing")
    result, logged = materialize_dwp(tmp_path)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "no header row?" in str(failure.event_specific_data.error)
    leaked = [v for v in HEADERLESS_VALUES for text in logged if v in text]
    assert logged and not leaked


# --- several deliveries of one feed in one run: the later file's version wins in staging -----------------


def set_mtime(path, seconds_from_now):
    import os
    import time

    moment = time.time() + seconds_from_now
    os.utime(path, (moment, moment))


def test_files_land_in_delivery_order_with_strictly_later_load_times(con, landing):
    folder = landing / "dwp_benefits"
    # delivered first, but its name sorts last: delivery order is the files' modification time
    write_csv(folder / "dwp_benefits_b.csv", DWP.header, [dwp_row()])
    write_csv(folder / "dwp_benefits_a.csv", DWP.header, [dwp_row(benefit="ESA")])
    set_mtime(folder / "dwp_benefits_b.csv", -60)
    set_mtime(folder / "dwp_benefits_a.csv", -30)
    result = land_feed(con, DWP, landing)
    assert [f.file_name for f in result.files] == ["dwp_benefits_b.csv", "dwp_benefits_a.csv"]
    first, second = con.execute("select landed_at from raw._deliveries order by landed_at").fetchall()
    assert first[0] < second[0]
    assert con.execute("select _file_name from raw.dwp_benefits order by _loaded_at desc limit 1").fetchone()[0] \
        == "dwp_benefits_a.csv"
    # a clock that steps back (or a previous delivery stamped in the future) still gives a later time
    future = dt.datetime.now() + dt.timedelta(days=1)
    con.execute("update raw._deliveries set landed_at = ? where file_name = 'dwp_benefits_a.csv'", [future])
    write_csv(folder / "dwp_benefits_c.csv", DWP.header, [dwp_row(benefit="JSA")])
    land_feed(con, DWP, landing)
    latest = con.execute("select landed_at from raw._deliveries where file_name = 'dwp_benefits_c.csv'").fetchone()[0]
    assert latest == future + dt.timedelta(microseconds=1)


def test_two_deliveries_in_one_run_staging_keeps_the_newer_files_version(con, tmp_path, landing):
    from linkage.warehouse import dbt_build

    folder = landing / "dwp_benefits"
    # the same claim in both files; in the older file it sits on a later row, so a tie on _loaded_at
    # would let the older file's version win on row number
    write_csv(folder / "dwp_benefits_2026-09-30.csv", DWP.header,
              [dwp_row(nino="AB123456A"), dwp_row(nino="CD123456B"), dwp_row(end="20240601")])
    write_csv(folder / "dwp_benefits_2026-12-31.csv", DWP.header, [dwp_row(end="20250301")])
    set_mtime(folder / "dwp_benefits_2026-09-30.csv", -60)
    result = land_feed(con, DWP, landing)
    assert result.count("landed") == 2
    con.close()
    dbt_build(tmp_path, "stg_dwp__benefit_claims")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as staged:
        [(end_date, file_name)] = staged.execute(
            "select end_date, source_file_name from staging.stg_dwp__benefit_claims "
            "where source_record_id = 'QQ123456C'").fetchall()
    assert (end_date, file_name) == (dt.date(2025, 3, 1), "dwp_benefits_2026-12-31.csv")


# --- stray quotes cost only their own line; other unreadable CSV fails the file with a clear message -------


def test_a_stray_opening_quote_in_a_large_file_rejects_only_its_line(con, landing):
    rows = [dwp_row(nino=f"QQ{i:06d}C") for i in range(1, 5601)]
    rows[9][1] = '"' + rows[9][1]  # row 10: an opening quote that never closes
    rows[5598][2] = '"' + rows[5598][2]  # and on the last but one row, with the file's end in sight
    write_csv(landing / "dwp_benefits" / "dwp_benefits_big.csv", DWP.header, rows)
    result = land_feed(con, DWP, landing)
    assert (result.count("landed"), result.rows_landed, result.rows_rejected) == (1, 5598, 2)
    rejects = con.execute("select row_number, reason, original_text from raw._rejects order by 1").fetchall()
    assert [(n, text) for n, _, text in rejects] == [(10, ",".join(rows[9])), (5599, ",".join(rows[5598]))]
    assert {reason for _, reason, _ in rejects} == {
        "unbalanced quote: a quoted field opened on this line does not close on it"}
    numbers = [r[0] for r in con.execute("select _row_number from raw.dwp_benefits order by 1").fetchall()]
    assert numbers == [n for n in range(1, 5601) if n not in (10, 5599)]
    # each row keeps its own values: row n carries the n-th NI number
    assert count(con, "select count(*) from raw.dwp_benefits where nino <> printf('QQ%06dC', _row_number)") == 0


def test_a_stray_quote_in_a_small_file_keeps_the_following_rows_and_their_line_numbers(con, landing):
    quoted = '"Smith, Jones"'  # a well-quoted field further on, which the stray quote must not pair with
    lines = [
        ",".join(dwp_row(nino="AB000001A")),
        ",".join(dwp_row(nino="AB000002A")).replace("Surname", '"Surname'),  # stray opening quote
        ",".join(dwp_row(nino="AB000003A")),
        ",".join(dwp_row(nino="AB000004A")).replace("Surname", quoted),
        ",".join(dwp_row(nino="AB000005A", start="20240231")).replace("Surname", quoted),  # bad date
        ",".join(dwp_row(nino="AB000006A")).replace("Surname", '"Line one\nline two"'),  # a field over 2 lines
        ",".join(dwp_row(nino="AB000007A")),
        ",".join(dwp_row(nino="AB000008A")).replace("SEARCHING", '"SEARCHING'),  # last line, no line ending
    ]
    path = landing / "dwp_benefits" / "dwp_benefits_q.csv"
    path.parent.mkdir(parents=True)
    path.write_text(",".join(DWP.header) + "\n" + "\n".join(lines))
    result = land_feed(con, DWP, landing)
    assert (result.rows_landed, result.rows_rejected) == (5, 3)
    landed = con.execute("select nino, _row_number, surname from raw.dwp_benefits order by 2").fetchall()
    # row n is line n + 1; the record over two lines keeps its first line's number
    assert [(n, r) for n, r, _ in landed] == [("AB000001A", 1), ("AB000003A", 3), ("AB000004A", 4),
                                             ("AB000006A", 6), ("AB000007A", 8)]
    assert landed[2][2] == "Smith, Jones" and landed[3][2] == "Line one\nline two"
    rejects = con.execute("select row_number, reason, original_text from raw._rejects order by 1").fetchall()
    assert [r[0] for r in rejects] == [2, 5, 9]
    unbalanced = "unbalanced quote: a quoted field opened on this line does not close on it"
    assert [r[1] for r in rejects] == [unbalanced, "CLAIM_START: not a date in format %Y%m%d", unbalanced]
    # rejects keep the text as delivered, quotes included
    assert [r[2] for r in rejects] == [lines[1], lines[4], lines[7]]


def test_a_file_that_failed_is_recorded_once_and_a_different_file_lands(con, landing):
    write_headerless("dwp_benefits", landing)
    assert land_feed(con, DWP, landing).count("failed") == 1
    again = land_feed(con, DWP, landing)
    assert (again.count("failed"), again.count("failed_before")) == (0, 1)
    assert count(con, "select count(*) from raw._deliveries where status = 'failed'") == 1
    # the partner sends the file again, with its header: it lands
    write_csv(landing / "dwp_benefits" / "dwp_benefits_nohdr.csv", DWP.header, [dwp_row()])
    fixed = land_feed(con, DWP, landing)
    assert (fixed.count("landed"), fixed.rows_landed) == (1, 1)
