"""Landing edge cases that used to lose or corrupt data silently: an older extract landing after a newer one,
a re-sent file under a new name, byte-order marks, UTF-8 text in a cp1252 feed, Excel error cells, and a
field over the csv module's size limit. Small hand-made files on a temporary DuckDB; one dbt build."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time

import duckdb
import openpyxl
import pytest

from orchestration.defs.landing.loader import MAX_VALUE_CHARS, ensure_raw_schema, land_feed
from orchestration.lib.feeds import RegistryError, load_registry, registry

DWP = registry()["dwp_benefits"]  # csv, comma, yyyymmdd dates, key NINO + BENEFIT + CLAIM_START
YJS = registry()["yjs_outcomes"]  # tsv, cp1252
HOUSING = registry()["housing_events"]  # xlsx, sheet Events
POLICE = registry()["police_incidents"]  # jsonl


def dwp_row(nino="QQ123456C", end="", surname="Surname", benefit="UC"):
    return [nino, surname, "Forename", "19900101", "FH1 2AB", benefit, "20240105", end, "SEARCHING"]


def yjs_row(outcome_ref="OUT1", first_names="Zoë"):
    return ["YJ1", outcome_ref, first_names, "O'Brien", "03-Mar-2008", "F", "FH1 2AB", "", "04-Jan-2024",
            "REFERRAL_ORDER", "THEFT"]


def csv_bytes(header, rows, delimiter=",", encoding="utf-8", newline="\n") -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    return (newline.join(lines) + newline).encode(encoding)


def deliver(path, data: bytes, seconds_from_now: float = 0.0):
    """Write a file as a partner would, with its modification time (delivery order) set."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    moment = time.time() + seconds_from_now
    os.utime(path, (moment, moment))
    return path


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def landing(tmp_path):
    return tmp_path / "landing"


def rows(con, sql, params=()):
    return con.execute(sql, list(params)).fetchall()


# --- 1. versions follow the extract date in the file name, not landing order ----------------------------


def test_extract_date_comes_from_the_wildcard_part_of_the_file_name():
    assert DWP.extract_date("dwp_benefits_2026-10-31.csv") == dt.date(2026, 10, 31)
    assert DWP.extract_date("dwp_benefits_2026-09-01_to_2026-09-30.csv") == dt.date(2026, 9, 30)  # period end
    assert DWP.extract_date("dwp_benefits_latest.csv") is None
    assert DWP.extract_date("dwp_benefits_2026-13-01.csv") is None  # not a date
    compact = dataclasses.replace(DWP, file_date_format="%Y%m%d")
    assert compact.extract_date("dwp_benefits_20261031.csv") == dt.date(2026, 10, 31)
    assert compact.extract_date("dwp_benefits_2026103112.csv") is None  # digits run on: not this date


def test_registry_refuses_a_file_date_format_it_cannot_find(tmp_path):
    registry_file = tmp_path / "feeds.yml"
    registry_file.write_text("""feeds:
  some_feed:
    system: s
    record_key: [ID]
    file_pattern: "some_*.csv"
    format: csv
    file_date_format: "%d %H"
    columns:
      - {name: ID, type: string}
""")
    with pytest.raises(RegistryError, match="file_date_format"):
        load_registry(registry_file)


def test_an_older_extract_landing_after_a_newer_one_is_noted_and_does_not_replace_it(con, tmp_path, landing):
    from expectations.framework import measure_gate
    from linkage.warehouse import dbt_build

    folder = landing / "dwp_benefits"
    # the newer extract lands first; a resend of the older one arrives (and lands) after it
    deliver(folder / "dwp_benefits_2026-10-31.csv", csv_bytes(DWP.header, [dwp_row(end="20250301")]), -60)
    deliver(folder / "dwp_benefits_2026-09-30.csv",
            csv_bytes(DWP.header, [dwp_row(end="20240601"), dwp_row(nino="AB123456A")]), -30)
    result = land_feed(con, DWP, landing)
    assert [(f.file_name, f.status) for f in result.files] == [
        ("dwp_benefits_2026-10-31.csv", "landed"), ("dwp_benefits_2026-09-30.csv", "landed")]
    newer, older = result.files
    assert newer.reason is None and older.reason.startswith("older extract: dated 2026-09-30")
    assert rows(con, "select file_name, extract_date, reason is not null from raw._deliveries order by landed_at") == [
        ("dwp_benefits_2026-10-31.csv", dt.date(2026, 10, 31), False),
        ("dwp_benefits_2026-09-30.csv", dt.date(2026, 9, 30), True)]
    con.close()

    dbt_build(tmp_path, "stg_dwp__benefit_claims")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as staged:
        kept = dict(rows(staged, "select source_record_id, source_file_name from staging.stg_dwp__benefit_claims"))
        # the newer extract's version stands; the older file still gives the record only it carries
        assert kept == {"QQ123456C": "dwp_benefits_2026-10-31.csv", "AB123456A": "dwp_benefits_2026-09-30.csv"}
        assert rows(staged, "select end_date from staging.stg_dwp__benefit_claims "
                            "where source_record_id = 'QQ123456C'") == [(dt.date(2025, 3, 1),)]
        # the staged gate orders versions as staging does: every raw row accounted for
        plan = measure_gate(staged, "staged_gate", "stg_dwp__benefit_claims", feed="dwp_benefits")
    assert plan.metrics["raw__unaccounted_rows"] == 0
    assert (plan.counts["staged_rows"], plan.counts["superseded_rows"]) == (2, 1)


def test_a_warehouse_landed_before_extract_dates_gets_them_from_its_file_names(con):
    con.execute("create schema raw")
    con.execute("""create table raw._deliveries (
        delivery_id varchar, feed varchar, file_name varchar, file_sha256 varchar, file_bytes bigint,
        status varchar, rows_landed bigint, rows_rejected bigint, reason varchar, landed_at timestamp)""")
    con.execute("""insert into raw._deliveries values
        ('dwp_benefits:1', 'dwp_benefits', 'dwp_benefits_2026-06-30.csv', 'a', 1, 'landed', 1, 0, null, now()),
        ('dwp_benefits:2', 'dwp_benefits', 'dwp_benefits_latest.csv', 'b', 1, 'landed', 1, 0, null, now())""")
    ensure_raw_schema(con, [DWP])
    assert rows(con, "select file_name, extract_date from raw._deliveries order by delivery_id") == [
        ("dwp_benefits_2026-06-30.csv", dt.date(2026, 6, 30)), ("dwp_benefits_latest.csv", None)]


# --- 2. a re-sent identical file under a new name is recorded, once, without landing rows twice -----------


def test_the_same_bytes_under_a_new_name_are_recorded_as_a_duplicate_once(con, landing):
    folder = landing / "dwp_benefits"
    original = deliver(folder / "dwp_benefits_2026-09-30.csv", csv_bytes(DWP.header, [dwp_row()]), -60)
    land_feed(con, DWP, landing)
    deliver(folder / "dwp_benefits_2026-09-30_resent.csv", original.read_bytes())
    result = land_feed(con, DWP, landing)
    resent = next(f for f in result.files if f.file_name == "dwp_benefits_2026-09-30_resent.csv")
    assert resent.status == "skipped" and resent.rows_landed == 0
    assert "dwp_benefits_2026-09-30.csv" in resent.reason
    recorded = rows(con, "select file_name, status, delivery_id, rows_landed, rows_rejected from raw._deliveries "
                         "order by landed_at")
    assert [(r[0], r[1], r[3], r[4]) for r in recorded] == [
        ("dwp_benefits_2026-09-30.csv", "landed", 1, 0), ("dwp_benefits_2026-09-30_resent.csv", "duplicate", 0, 0)]
    assert recorded[0][2] == recorded[1][2]  # the duplicate names the delivery it repeats
    assert rows(con, "select count(*) from raw.dwp_benefits") == [(1,)]
    # landing again: the original and the resend are both silent no-ops now
    again = land_feed(con, DWP, landing)
    assert again.count("skipped") == 2 and all(f.reason is None for f in again.files)
    assert rows(con, "select count(*) from raw._deliveries") == [(2,)]


# --- 3 and 4. byte-order marks, and UTF-8 text in a cp1252 feed ------------------------------------------


@pytest.mark.parametrize("encoding, bom", [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe")])
def test_a_byte_order_mark_names_the_encoding_and_is_not_part_of_the_header(con, landing, encoding, bom):
    # Excel's 'CSV UTF-8' and 'Unicode text' exports of the cp1252 feed
    data = bom + csv_bytes(YJS.header, [yjs_row()], delimiter="\t", encoding=encoding, newline="\r\n")
    deliver(landing / "yjs_outcomes" / "yjs_outcomes_2026-09-30.tsv", data)
    result = land_feed(con, YJS, landing)
    assert (result.count("landed"), result.rows_landed, result.rows_rejected) == (1, 1, 0)
    assert rows(con, "select yj_ref, first_names from raw.yjs_outcomes") == [("YJ1", "Zoë")]


def test_a_byte_order_mark_on_a_jsonl_file_is_not_a_broken_first_line(con, landing):
    record = ('{"nominal_ref": "N1", "incident_ref": "I1", "occurred_at": "2024-03-01T22:15:00", '
              '"incident_type": "DOMESTIC", "role": "VICTIM"}')
    deliver(landing / "police_incidents" / "police_2026-09-30.jsonl", b"\xef\xbb\xbf" + record.encode() + b"\n")
    result = land_feed(con, POLICE, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 0)


def test_a_utf8_file_in_the_cp1252_feed_is_read_as_utf8_and_noted(con, landing):
    data = csv_bytes(YJS.header, [yjs_row(), yjs_row("OUT2", "Zoé-Chloë")], delimiter="\t", encoding="utf-8")
    deliver(landing / "yjs_outcomes" / "yjs_outcomes_2026-09-30.tsv", data)
    [delivered] = land_feed(con, YJS, landing).files
    assert (delivered.rows_landed, delivered.rows_rejected) == (2, 0)
    assert "read as UTF-8" in delivered.reason
    assert rows(con, "select first_names from raw.yjs_outcomes order by outcome_ref") == [("Zoë",), ("Zoé-Chloë",)]
    assert rows(con, "select count(*) from raw.yjs_outcomes where first_names like '%Ã%'") == [(0,)]
    assert rows(con, "select reason like '%read as UTF-8%' from raw._deliveries") == [(True,)]


def test_a_cp1252_file_still_reads_as_cp1252_and_its_utf8_rows_are_rejected_not_garbled(con, landing):
    cp1252_rows = csv_bytes(YJS.header, [yjs_row("OUT1", "Zoë"), yjs_row("OUT2", "Renée")], delimiter="\t",
                            encoding="cp1252")
    utf8_row = "\t".join(yjs_row("OUT3", "Chloë")).encode("utf-8") + b"\n"  # one row pasted from a UTF-8 tool
    deliver(landing / "yjs_outcomes" / "yjs_outcomes_2026-09-30.tsv", cp1252_rows + utf8_row)
    [delivered] = land_feed(con, YJS, landing).files
    assert (delivered.rows_landed, delivered.rows_rejected) == (2, 1)
    assert rows(con, "select first_names from raw.yjs_outcomes order by outcome_ref") == [("Zoë",), ("Renée",)]
    [(row_number, reason, text)] = rows(con, "select row_number, reason, original_text from raw._rejects")
    assert row_number == 3 and reason.startswith("text is UTF-8 in a cp1252 file (mixed encodings)")
    assert "Chloë" in text  # kept as delivered, readable


# --- 5. Excel error cells go to rejects, not into raw as blanks ------------------------------------------


def housing_row(event_ref="E1", event_type="RENT_ARREARS", arrears=1234.5):
    return ["T1", event_ref, "100090000001", "A", "B", dt.datetime(1985, 5, 6), "AB123456A", "1 Road",
            "FH1 2AB", event_type, dt.datetime(2024, 2, 1), arrears]


def test_excel_error_cells_reject_their_row_naming_column_and_code(con, landing):
    path = landing / "housing_events" / "housing_2026-09-30.xlsx"
    path.parent.mkdir(parents=True)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Events"
    sheet.append(HOUSING.header)
    for row in [housing_row(), housing_row("E2", event_type="#N/A"), housing_row("E3", arrears="#VALUE!"),
                housing_row("E4")]:
        sheet.append(row)  # openpyxl stores '#N/A' and '#VALUE!' as error cells (t="e")
    workbook.save(path)
    result = land_feed(con, HOUSING, landing)
    assert (result.rows_landed, result.rows_rejected) == (2, 2)
    assert rows(con, "select event_ref from raw.housing_events order by event_ref") == [("E1",), ("E4",)]
    rejected = rows(con, "select row_number, reason, original_text from raw._rejects order by row_number")
    assert [(r[0], r[1]) for r in rejected] == [(2, "Event Type: Excel error #N/A"),
                                                (3, "Arrears Balance: Excel error #VALUE!")]
    assert "#N/A" in rejected[0][2].split("\t")


def test_a_formula_cell_with_a_cached_error_rejects_its_row(con, landing):
    import xlsxwriter

    path = landing / "housing_events" / "housing_2026-09-30.xlsx"
    path.parent.mkdir(parents=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("Events")
    dates = workbook.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_row(0, 0, HOUSING.header)
    for index, event_ref in enumerate(["E1", "E2"], start=1):
        row = housing_row(event_ref)
        sheet.write_row(index, 0, row[:5])
        sheet.write_datetime(index, 5, row[5], dates)
        sheet.write_row(index, 6, row[6:10])
        sheet.write_datetime(index, 10, row[10], dates)
        sheet.write_number(index, 11, row[11])
    sheet.write_formula(2, 11, "=1/0", None, "#DIV/0!")  # as Excel saves it: the formula and its cached error
    workbook.close()
    result = land_feed(con, HOUSING, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 1)
    assert rows(con, "select row_number, reason from raw._rejects") == [(2, "Arrears Balance: Excel error #DIV/0!")]


# --- 6. a field over the csv module's limit costs its row, not the file ----------------------------------


@pytest.mark.parametrize("quoted", [True, False])
def test_a_value_over_the_size_limit_rejects_its_row_and_the_file_lands(con, landing, quoted):
    long_value = "x" * (MAX_VALUE_CHARS + 1)
    rows_delivered = [dwp_row(), dwp_row(nino="AB123456A", surname=f'"{long_value}"' if quoted else long_value),
                      dwp_row(nino="CD123456B")]
    deliver(landing / "dwp_benefits" / "dwp_benefits_2026-09-30.csv", csv_bytes(DWP.header, rows_delivered))
    [delivered] = land_feed(con, DWP, landing).files
    assert (delivered.status, delivered.rows_landed, delivered.rows_rejected) == ("landed", 2, 1)
    [(row_number, reason, length)] = rows(con, "select row_number, reason, length(original_text) from raw._rejects")
    assert (row_number, reason) == (2, f"SURNAME: value longer than {MAX_VALUE_CHARS} characters")
    assert length > MAX_VALUE_CHARS  # the delivered text is kept whole


# --- the landing asset reports what raw._deliveries records ----------------------------------------------


def test_the_landing_asset_reports_an_older_extract_and_a_resend_in_metadata_and_warnings(tmp_path, landing):
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from orchestration.defs.landing.assets import landing_asset_key, landing_assets
    from orchestration.lib.resources import SettingsResource

    folder = landing / "dwp_benefits"
    deliver(folder / "dwp_benefits_2026-10-31.csv", csv_bytes(DWP.header, [dwp_row(end="20250301")]), -60)
    older = deliver(folder / "dwp_benefits_2026-09-30.csv", csv_bytes(DWP.header, [dwp_row()]), -30)
    deliver(folder / "dwp_benefits_2026-09-30_resent.csv", older.read_bytes())
    [asset] = [a for a in landing_assets if a.key == landing_asset_key("dwp_benefits")]
    resources = {"duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
                 "settings": SettingsResource(data_dir=str(tmp_path))}
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources=resources, instance=instance)
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == 30]  # logging.WARNING
    [materialization] = result.asset_materializations_for_node(asset.node_def.name)
    notes = {f["file"]: f.get("note", "") for f in materialization.metadata["files"].value}
    assert notes["dwp_benefits_2026-10-31.csv"] == ""
    assert notes["dwp_benefits_2026-09-30.csv"].startswith("older extract")
    assert notes["dwp_benefits_2026-09-30_resent.csv"].startswith("duplicate")
    assert sum("older extract" in w for w in warnings) == 1 and sum("duplicate" in w for w in warnings) == 1


# --- a column the registry adds to a feed reaches a raw table created before it -----------------------------------


def test_a_registry_column_added_later_is_added_to_the_raw_table(con, landing):
    before = dataclasses.replace(DWP, columns=DWP.columns[:-1])  # the registry before its last column existed
    deliver(landing / "dwp_benefits" / "dwp_benefits_2026-08-31.csv",
            csv_bytes(before.header, [dwp_row()[:-1]]), seconds_from_now=-60)
    assert land_feed(con, before, landing).rows_landed == 1
    added = DWP.columns[-1].raw_name
    deliver(landing / "dwp_benefits" / "dwp_benefits_2026-09-30.csv", csv_bytes(DWP.header, [dwp_row(nino="AB123456A")]))
    result = land_feed(con, DWP, landing)
    assert (result.rows_landed, result.rows_rejected) == (1, 0)
    # the first file's row has no value for the new column; the second file's row has its value
    assert rows(con, f'select _file_name, "{added}" is null from {DWP.raw_table} order by 1') == [
        ("dwp_benefits_2026-08-31.csv", True), ("dwp_benefits_2026-09-30.csv", False)]


def test_any_landing_brings_every_raw_table_up_to_the_registry(con, landing):
    """Staging reads every raw table: a column the registry gained must be there before the feed itself next
    lands (a run the sensor starts for another feed would otherwise fail in dbt)."""
    before = dataclasses.replace(DWP, columns=DWP.columns[:-1])
    deliver(landing / "dwp_benefits" / "dwp_benefits_2026-08-31.csv", csv_bytes(before.header, [dwp_row()[:-1]]))
    land_feed(con, before, landing)
    added = DWP.columns[-1].raw_name
    columns = f"select count(*) from duckdb_columns() where table_name = 'dwp_benefits' and column_name = '{added}'"
    assert rows(con, columns) == [(0,)]
    deliver(landing / "yjs_outcomes" / "yjs_outcomes_2026-09-30.tsv",
            csv_bytes(YJS.header, [yjs_row()], delimiter="\t", encoding="cp1252"))
    land_feed(con, YJS, landing)  # another feed lands
    assert rows(con, columns) == [(1,)]
