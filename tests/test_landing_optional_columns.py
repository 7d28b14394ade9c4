"""Registry columns marked `may_be_absent`: a file without them lands with them empty and says so; a file
missing any other column is still schema drift, naming only that column."""

from __future__ import annotations

import datetime as dt

import duckdb
import openpyxl
import pytest

from orchestration.defs.landing.loader import land_feed
from orchestration.lib.feeds import RegistryError, _parse_feed, registry

PROGRAMME = registry()["programme_cases"]
ADDED = ["assessment_date", "plan_date"]


def _spec(fmt: str = "csv", **extra_column) -> dict:
    return {"system": "test", "record_key": ["ID"], "file_pattern": "t_*", "format": fmt,
            "columns": [{"name": "ID", "type": "string", "required": True},
                        {"name": "SEEN", "type": "date", "format": "excel" if fmt == "xlsx" else "%Y-%m-%d"},
                        {"name": "ADDED", "type": "string", "may_be_absent": True, **extra_column}]}


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _programme_file(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")


def _programme_row(with_added: bool) -> list[str]:
    row = {"family_case_id": "FC1", "member_id": "M1", "forename": "Forename", "surname": "Surname",
           "dob": "2015-03-04", "sex": "F", "postcode": "FH1 2AB", "role": "CHILD", "attached_date": "2025-01-06",
           "closed_date": "", "key_worker_id": "KW1", "intensity": "TARGETED",
           "assessment_date": "2025-01-20", "plan_date": "2025-02-03"}
    return [row[c] for c in PROGRAMME.header if with_added or c not in ADDED]


def test_the_programme_columns_added_in_2026_6_may_be_absent():
    assert [c.name for c in PROGRAMME.columns if c.may_be_absent] == ADDED


def test_a_programme_export_without_the_added_columns_lands_them_empty_and_says_so(con, tmp_path):
    landing = tmp_path / "landing"
    old_header = [c for c in PROGRAMME.header if c not in ADDED]
    _programme_file(landing / "programme_cases" / "programme_cases_2026-06-30.csv", old_header,
                    [_programme_row(False)])
    result = land_feed(con, PROGRAMME, landing)
    assert (result.count("landed"), result.rows_landed, result.rows_rejected) == (1, 1, 0)
    assert con.execute("select attached_date, assessment_date, plan_date from raw.programme_cases"
                       ).fetchall() == [(dt.date(2025, 1, 6), None, None)]
    [(reason,)] = con.execute("select reason from raw._deliveries where status = 'landed'").fetchall()
    assert f"columns {ADDED} not delivered" in reason
    # the next export carries them: they land, and no note is made
    _programme_file(landing / "programme_cases" / "programme_cases_2026-09-30.csv", PROGRAMME.header,
                    [_programme_row(True)])
    land_feed(con, PROGRAMME, landing)
    assert con.execute("select assessment_date, plan_date from raw.programme_cases where _file_name like '%09-30%'"
                       ).fetchall() == [(dt.date(2025, 1, 20), dt.date(2025, 2, 3))]
    assert con.execute("select reason from raw._deliveries where file_name like '%09-30%'").fetchall() == [(None,)]


def test_a_missing_column_that_may_not_be_absent_is_still_drift_naming_only_it(con, tmp_path):
    landing = tmp_path / "landing"
    header = [c for c in PROGRAMME.header if c not in ADDED and c != "intensity"]
    row = [v for c, v in zip([c for c in PROGRAMME.header if c not in ADDED], _programme_row(False))
           if c != "intensity"]
    _programme_file(landing / "programme_cases" / "programme_cases_2026-06-30.csv", header, [row])
    [failure] = land_feed(con, PROGRAMME, landing).failures
    assert "missing columns ['intensity']" in failure.reason
    assert not any(name in failure.reason for name in ADDED)
    assert con.execute("select count(*) from raw.programme_cases").fetchall()[0][0] == 0


def test_an_xlsx_without_the_column_lands_it_empty_and_an_error_cell_past_the_header_is_not_read_as_it(con, tmp_path):
    feed = _parse_feed("optional_xlsx", _spec("xlsx"))
    path = tmp_path / "landing" / "optional_xlsx" / "t_1.xlsx"
    path.parent.mkdir(parents=True)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["ID", "SEEN"])
    sheet.append(["A1", dt.datetime(2025, 5, 6)])
    sheet.append(["A2", dt.datetime(2025, 5, 7)])
    sheet.append(["A3", dt.datetime(2025, 5, 8), "#N/A"])  # an error cell in the first column past the header
    workbook.save(path)
    result = land_feed(con, feed, tmp_path / "landing")
    assert result.count("landed") == 1
    assert con.execute("select id, seen, added from raw.optional_xlsx where id <> 'A3' order by id").fetchall() == [
        ("A1", dt.date(2025, 5, 6), None), ("A2", dt.date(2025, 5, 7), None)]
    # the absent column reads a blank padded past the header, never a cell the sheet has there
    assert con.execute("select count(*) from raw.optional_xlsx where added is not null").fetchall()[0][0] == 0
    assert not [r for (r,) in con.execute("select reason from raw._rejects").fetchall() if "ADDED" in r]


def test_a_column_that_may_be_absent_cannot_be_required_or_keyed():
    with pytest.raises(RegistryError, match="cannot be required"):
        _parse_feed("bad", _spec(required=True))
    keyed = _spec()
    keyed["record_key"] = ["ID", "ADDED"]
    with pytest.raises(RegistryError, match="record key"):
        _parse_feed("bad", keyed)


def test_once_the_feed_has_delivered_the_column_a_full_extract_without_it_is_drift(con, tmp_path):
    """A full extract replaces every record: one without the columns, after the feed had sent them, would
    blank every case's dates and so every claim."""
    landing = tmp_path / "landing"
    _programme_file(landing / "programme_cases" / "programme_cases_2026-07-31.csv", PROGRAMME.header,
                    [_programme_row(True)])
    assert land_feed(con, PROGRAMME, landing).count("landed") == 1
    _programme_file(landing / "programme_cases" / "programme_cases_2026-08-31.csv",
                    [c for c in PROGRAMME.header if c not in ADDED], [_programme_row(False)])
    [failure] = land_feed(con, PROGRAMME, landing).failures
    assert f"missing columns {ADDED}" in failure.reason and "only until the feed has delivered them" in failure.reason
    assert con.execute("select count(*), count(assessment_date) from raw.programme_cases").fetchall() == [(1, 1)]


def test_a_misspelt_optional_column_is_drift_that_names_what_it_may_have_meant(con, tmp_path):
    landing = tmp_path / "landing"
    header = [("assesment_date" if c == "assessment_date" else c) for c in PROGRAMME.header]
    _programme_file(landing / "programme_cases" / "programme_cases_2026-06-30.csv", header, [_programme_row(True)])
    [failure] = land_feed(con, PROGRAMME, landing).failures
    assert "unexpected columns ['assesment_date']" in failure.reason
    assert "may be absent, not delivered: ['assessment_date']" in failure.reason


def test_a_jsonl_key_in_no_record_lands_empty_with_a_note_until_the_feed_has_sent_it(con, tmp_path):
    import json

    feed = _parse_feed("optional_jsonl", _spec("jsonl"))
    folder = tmp_path / "landing" / "optional_jsonl"
    folder.mkdir(parents=True)
    (folder / "t_1.jsonl").write_text(json.dumps({"ID": "A1", "SEEN": "2025-05-06"}) + "\n")
    first = land_feed(con, feed, tmp_path / "landing")
    assert first.rows_landed == 1 and "keys ['ADDED'] in no record" in first.files[0].reason
    (folder / "t_2.jsonl").write_text(json.dumps({"ID": "A2", "SEEN": "2025-05-07", "ADDED": "x"}) + "\n")
    assert land_feed(con, feed, tmp_path / "landing").rows_landed == 1
    (folder / "t_3.jsonl").write_text(json.dumps({"ID": "A3", "SEEN": "2025-05-08"}) + "\n")
    [failure] = land_feed(con, feed, tmp_path / "landing").failures
    assert "missing columns ['ADDED']" in failure.reason


def test_the_flag_is_a_yaml_boolean_not_a_string():
    with pytest.raises(RegistryError, match="not true or false"):
        _parse_feed("bad", _spec(may_be_absent="false"))
