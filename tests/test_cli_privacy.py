"""`familyhub sql` errors hide the values DuckDB quotes (privacy review finding 4), and `familyhub review import`
of a decisions file with no rows says so instead of crashing. A small warehouse of synthetic rows, no pipeline."""

from __future__ import annotations

import duckdb
import pytest

from linkage.review import import_decisions, pair_id
from orchestration.cli import main

# synthetic values shaped like those a failing cast quotes: a name, an NHS number (the NHS's own example), a
# postcode (ZZ99: no real area), an academic year typed wrong, free text with a quote of its own, a birth date
ROW = {"surname": "Testperson", "nhs": 9434765919, "postcode": "ZZ99 3AA", "academic_year": "2O21/22",
       "reason": "parents' request", "dob": "2014-13-02", "sex": "M"}
VALUES = ["Testperson", "9434765919", "ZZ99 3AA", "2O21", "parents", "request", "2014-13-02", "2014"]
# what the CLI reads of every import, whichever way it ended
NOTHING_IMPORTED = {"decisions_imported": 0, "rows_without_decision": 0, "already_imported": 0,
                    "repeated_decisions_skipped": 0, "decided_since_export_skipped": 0,
                    "decisions_older_than_the_pairs_latest": 0}


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(tmp_path))
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema raw")
    con.execute("create table raw.people as select ?::varchar as surname, ?::bigint as nhs, ?::varchar as postcode, "
                "?::varchar as academic_year, ?::varchar as reason, ?::varchar as dob, ?::varchar as sex",
                list(ROW.values()))
    con.close()
    return tmp_path


@pytest.mark.parametrize(("query", "kept"), [
    # Conversion Error: the value quoted, the target type and the column cast kept
    ("select academic_year::integer from raw.people",
     "ConversionException: Conversion Error: Could not convert string '***' to INT32 when casting from source "
     "column academic_year"),
    ("select cast(left(academic_year, 4) as integer) from raw.people", "Could not convert string '***' to INT32"),
    ("select surname::date from raw.people", "when casting from source column surname"),
    ("select reason::integer from raw.people", "when casting from source column reason"),  # "parents' request"
    # out of range: DuckDB gives the value as a bare number
    ("select nhs::integer from raw.people", "out of range for the destination type INT32"),
    ("select nhs * 1000000000 from raw.people", "OutOfRangeException: Out of Range Error: Overflow in multiplication"),
    # Invalid Input Error: the value in double quotes
    ("select strptime(dob, '%Y-%m-%d') from raw.people", "InvalidInputException: Invalid Input Error: Could not parse"),
    ("select json(surname) from raw.people", "Malformed JSON"),
    # unquoted, but shaped like an identifier
    ("select error(postcode) from raw.people", "InvalidInputException: Invalid Input Error: ***"),
], ids=["cast", "cast_part", "date", "quote_in_value", "out_of_range", "overflow", "strptime", "json", "error"])
def test_sql_errors_keep_the_query_shape_and_hide_the_values(warehouse, capsys, query, kept):
    assert main(["sql", query]) == 2
    printed = capsys.readouterr().err
    assert len(printed.splitlines()) == 1 and kept in printed and printed.rstrip().endswith("(values hidden)")
    assert not [value for value in VALUES if value in printed]


def test_sql_errors_keep_the_names_the_query_gave(warehouse, capsys):
    """What the analyst typed (a table, a column, the statement) is no row's value: it stays, quoted or not."""
    def error(query: str) -> str:
        assert main(["sql", query]) == 2
        return capsys.readouterr().err

    assert error("select * from raw.no_such_table") == (
        "familyhub sql: CatalogException: Catalog Error: Table with name no_such_table does not exist!\n")
    assert error("select * from nowhere.no_such_table") == (
        'familyhub sql: CatalogException: Catalog Error: Table with name "nowhere.no_such_table" does not exist '
        'because schema "nowhere" does not exist.\n')
    assert error("select surnme from raw.people") == (
        'familyhub sql: BinderException: Binder Error: Referenced column "surnme" not found in FROM clause!\n')
    assert 'statement of type "DELETE"' in error("delete from raw.people")  # read-only
    assert "to DECIMAL(4,2) when casting from source column nhs" in error("select nhs::decimal(4, 2) from raw.people")
    # a value the query has only in another case (an alias m) is still a row's: hidden
    assert "string '***' to INT32 when casting from source column sex" in error("select sex::integer m from raw.people")
    # ... and one the analyst typed is theirs
    assert "string 'M' to INT32" in error("select sex::integer from raw.people where sex = 'M'")


def test_review_import_of_a_file_with_a_header_and_no_rows_records_nothing_and_says_so(warehouse, tmp_path, capsys):
    empty = tmp_path / "decisions.csv"
    empty.write_text("pair_id,person_record_id_l,person_record_id_r,decision,reviewer\n", encoding="utf-8")
    assert main(["review", "import", str(empty)]) == 0
    out = capsys.readouterr().out
    assert "0 decisions: decisions.csv has no rows under its header; nothing was recorded" in out

    # every return of import_decisions gives the keys the CLI reads: no rows, blank rows, imported, imported before
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"))
    try:
        assert import_decisions(con, empty, reviewer="r1") == NOTHING_IMPORTED
        left, right = "rec-left", "rec-right"
        blank = tmp_path / "blank.csv"
        blank.write_text(f"pair_id,person_record_id_l,person_record_id_r,decision\n{pair_id(left, right)},{left},"
                         f"{right},\n", encoding="utf-8")
        assert import_decisions(con, blank, reviewer="r1") == {**NOTHING_IMPORTED, "rows_without_decision": 1}
        decided = tmp_path / "decided.csv"
        decided.write_text(f"pair_id,person_record_id_l,person_record_id_r,decision\n{pair_id(left, right)},{left},"
                           f"{right},not a match\n", encoding="utf-8")
        assert import_decisions(con, decided, reviewer="r1") == {**NOTHING_IMPORTED, "decisions_imported": 1}
        assert import_decisions(con, decided, reviewer="r1") == {**NOTHING_IMPORTED, "already_imported": 1}
    finally:
        con.close()
    assert main(["review", "import", str(blank)]) == 0  # the rows left blank are still counted as before
    assert "0 decisions recorded in linkage.review_decisions (1 rows left blank)" in capsys.readouterr().out
