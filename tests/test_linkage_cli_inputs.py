"""`familyhub link` / `match` read CSV, TSV, Excel, Parquet and JSON lines alike (linkage.match.read_list):
every column as text, the same clusters whatever the format, and one clear error, free of data values,
for a list that cannot be read as asked. Small hand-made synthetic lists only."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.match import ListError, read_list
from orchestration.cli import main

HEADER = ["Ref", "Given", "Family", "Born", "Zip", "Card"]
# A partner list that is not British: ids with leading zeros, French postcodes (one with a leading zero),
# a numeric card number. Records 0001/0002/0005 are one person; 0003 and 0004 are sisters.
PEOPLE = [
    ["0001", "Émile", "Dubois", dt.date(1984, 7, 12), "75011", 1234567890],
    ["0002", "Emile", "Dubois", dt.date(1984, 7, 12), "75011", None],
    ["0003", "Chloé", "Martin", dt.date(2001, 2, 27), "01000", 7654321098],
    ["0004", "Chloe", "Martin", dt.date(2003, 11, 5), "01000", None],
    ["0005", "EMILE", "DUBOIS", dt.date(1984, 7, 12), "75011", 1234567890],
    ["0006", "Lucas", "Bernard", dt.date(2010, 5, 5), "13001", None],
]
MAPS = ["--map", "first_name=Given", "--map", "surname=Family", "--map", "dob=Born", "--map", "postcode=Zip",
        "--map", "other_id=Card"]
MAPPING = {"first_name": "Given", "surname": "Family", "dob": "Born", "postcode": "Zip", "other_id": "Card"}
# what no message may show: every name and identifier in the list
VALUES = {str(v) for row in PEOPLE for v in row[1:] if v is not None and not isinstance(v, dt.date)}


def as_text(value) -> str:
    return "" if value is None else value.isoformat() if isinstance(value, dt.date) else str(value)


def write_csv(path: Path, rows=PEOPLE, header=HEADER, sep=",") -> Path:
    path.write_text("\n".join(sep.join(as_text(v) for v in row) for row in [header, *rows]) + "\n", encoding="utf-8")
    return path


def write_xlsx(path: Path, rows=PEOPLE, sheet="Clients") -> Path:
    """As a council's workbook holds them: ids and postcodes as text, dates as dates, card numbers as
    Excel floats, and one postcode typed as a number shown with a 00000 format."""
    book = openpyxl.Workbook()
    cover = book.active
    cover.title = "About"
    cover.append(["synthetic test list"])
    clients = book.create_sheet(sheet)
    clients.append(HEADER)
    for row in rows:
        ref, given, family, born, zip_code, card = row
        clients.append([ref, given, family, dt.datetime.combine(born, dt.time()), zip_code,
                        float(card) if card is not None else None])
    zero_padded = clients.cell(row=4, column=5)  # 0003's postcode 01000
    zero_padded.value, zero_padded.number_format = 1000, "00000"
    book.save(path)
    return path


def write_parquet(path: Path, rows=PEOPLE) -> Path:
    columns = list(zip(*rows))
    pq.write_table(pa.table({
        "Ref": pa.array(columns[0]), "Given": pa.array(columns[1]), "Family": pa.array(columns[2]),
        "Born": pa.array(columns[3], pa.date32()), "Zip": pa.array(columns[4]),
        # a nullable integer column stored as float, as pandas writes one
        "Card": pa.array([float(c) if c is not None else None for c in columns[5]], pa.float64()),
    }), path)
    return path


def write_jsonl(path: Path, rows=PEOPLE) -> Path:
    path.write_text("".join(json.dumps({h: (v.isoformat() if isinstance(v, dt.date) else v)
                                        for h, v in zip(HEADER, row)}) + "\n" for row in rows), encoding="utf-8")
    return path


WRITERS = {"csv": write_csv, "xlsx": write_xlsx, "parquet": write_parquet, "jsonl": write_jsonl,
           "tsv": lambda p: write_csv(p, sep="\t")}


def link(capsys, *args) -> tuple[int, str]:
    code = main(["link", *map(str, args)])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def test_every_format_reads_as_the_same_text(tmp_path):
    expected = read_list(write_csv(tmp_path / "clinic.csv"), "Ref", MAPPING)
    assert expected["record_id"].tolist() == ["0001", "0002", "0003", "0004", "0005", "0006"]
    assert expected.loc[0, "other_id"] == "1234567890" and expected.loc[2, "postcode"] == "01000"
    for suffix, write in WRITERS.items():
        folder = tmp_path / suffix
        folder.mkdir()
        frame = read_list(write(folder / f"clinic.{suffix}"), "Ref", MAPPING, sheet="Clients")
        pd.testing.assert_frame_equal(frame, expected, obj=suffix)
    # typed dates follow --dob-format, so they read like the dates typed in as text
    frame = read_list(tmp_path / "xlsx" / "clinic.xlsx", "Ref", MAPPING, sheet="Clients", dob_format="%d/%m/%Y")
    assert frame.loc[0, "dob"] == "12/07/1984"


def test_link_gives_the_same_clusters_from_csv_xlsx_parquet_and_jsonl(tmp_path, capsys):
    results = {}
    for suffix in ("csv", "xlsx", "parquet", "jsonl"):
        folder = tmp_path / suffix
        folder.mkdir()
        source = WRITERS[suffix](folder / f"clinic.{suffix}")
        out = folder / "clusters.csv"
        code, printed = link(capsys, "--input", source, "--sheet", "Clients", "--id", "Ref", *MAPS, "--out", out)
        assert code == 0, printed
        assert not any(value in printed for value in VALUES)
        results[suffix] = out.read_text()
    assert len(set(results.values())) == 1, "a format changed the clusters"
    clusters = pd.read_csv(tmp_path / "csv" / "clusters.csv", dtype=str)
    assert list(clusters.columns) == ["source", "record_id", "person_id"] and set(clusters["source"]) == {"clinic"}
    person = dict(zip(clusters["record_id"], clusters["person_id"]))
    assert person["0001"] == person["0002"] == person["0005"]
    assert len({person["0001"], person["0003"], person["0004"], person["0006"]}) == 4  # sisters stay apart


def test_sheet_and_separators(tmp_path):
    workbook = write_xlsx(tmp_path / "clinic.xlsx", sheet="Clients")
    with pytest.raises(ListError, match="no column"):  # the first sheet is the cover note
        read_list(workbook, "Ref", MAPPING)
    assert len(read_list(workbook, "Ref", MAPPING, sheet="Clients")) == len(PEOPLE)
    with pytest.raises(ListError, match="no sheet 'Missing'"):
        read_list(workbook, "Ref", MAPPING, sheet="Missing")
    semicolons = read_list(write_csv(tmp_path / "semi.txt", sep=";"), "Ref", MAPPING)
    assert semicolons["record_id"].tolist()[:2] == ["0001", "0002"] and semicolons.loc[0, "source"] == "semi"
    # a Windows-1252 export, a trailing blank row, and JSON lines with a blank line
    (tmp_path / "legacy.csv").write_bytes("Ref,Given\r\n0001,Chloé\r\n,\r\n".encode("cp1252"))
    assert read_list(tmp_path / "legacy.csv", "Ref", {"first_name": "Given"})["first_name"].tolist() == ["Chloé"]
    (tmp_path / "gaps.jsonl").write_text('{"Ref": 1, "Given": "A"}\n\n{"Ref": 2}\n')
    gaps = read_list(tmp_path / "gaps.jsonl", "Ref", {"first_name": "Given"})
    assert gaps["record_id"].tolist() == ["1", "2"] and gaps["first_name"].tolist() == ["A", None]
    # a .json array of objects, and Excel's 'Unicode text' export (UTF-16, tab-separated)
    (tmp_path / "array.json").write_text(json.dumps([{"Ref": "01", "Given": "A"}, {"Ref": 2.0, "Given": None}]))
    assert read_list(tmp_path / "array.json", "Ref", {"first_name": "Given"})["record_id"].tolist() == ["01", "2"]
    (tmp_path / "unicode.txt").write_text("Ref\tGiven\n0001\tChloé\n", encoding="utf-16")
    assert read_list(tmp_path / "unicode.txt", "Ref", {"first_name": "Given"})["first_name"].tolist() == ["Chloé"]


def test_lists_of_other_layouts_link_with_alternative_column_names(tmp_path, capsys):
    source = write_csv(tmp_path / "clinic.csv")
    # the same people from a system that names its columns otherwise
    other = pd.read_csv(source, dtype=str, keep_default_na=False).rename(
        columns={"Ref": "ClientNo", "Given": "Forename", "Family": "Surname", "Born": "DateOfBirth"})
    other["ClientNo"] = "b" + other["ClientNo"]
    other.to_csv(tmp_path / "school.csv", index=False)
    code, printed = link(capsys, "--input", source, "--input", tmp_path / "school.csv", "--id", "Ref|ClientNo",
                         "--map", "first_name=Given|Forename", "--map", "surname=Family|Surname",
                         "--map", "dob=Born|DateOfBirth", "--out", tmp_path / "clusters.csv")
    assert code == 0, printed
    clusters = pd.read_csv(tmp_path / "clusters.csv", dtype=str)
    person = dict(zip(clusters["source"] + "|" + clusters["record_id"], clusters["person_id"]))
    assert len(person) == 2 * len(PEOPLE)
    assert all(person[f"clinic|{row[0]}"] == person[f"school|b{row[0]}"] for row in PEOPLE)


def test_dialects_and_a_row_of_another_encoding_read_as_meant(tmp_path):
    # a UTF-8 list with one row pasted in from a Windows-1252 export: each row keeps its own letters
    (tmp_path / "mixed.csv").write_bytes("Ref,Given\n0001,Chloé\n".encode() + "0002,Émile\n".encode("cp1252"))
    assert read_list(tmp_path / "mixed.csv", "Ref", {"first_name": "Given"})["first_name"].tolist() == ["Chloé", "Émile"]
    # Excel's separator line, and a header written with a space after each comma (names quoted)
    (tmp_path / "excel.csv").write_text("sep=;\nRef;Given\n0001;Chloé\n", encoding="utf-8")
    assert read_list(tmp_path / "excel.csv", "Ref", {"first_name": "Given"})["first_name"].tolist() == ["Chloé"]
    (tmp_path / "spaced.csv").write_text('"Ref", "Given"\n"0001", "Chloé"\n', encoding="utf-8")
    spaced = read_list(tmp_path / "spaced.csv", "Ref", {"first_name": "Given"})
    assert spaced["record_id"].tolist() == ["0001"] and spaced["first_name"].tolist() == ["Chloé"]
    # rows are numbered as a spreadsheet shows them, the separator line included
    (tmp_path / "excel_dupes.csv").write_text("sep=,\nRef,Given\n0001,A\n0001,B\n", encoding="utf-8")
    with pytest.raises(ListError, match=r"rows 3, 4"):
        read_list(tmp_path / "excel_dupes.csv", "Ref", {"first_name": "Given"})
    for encoding in ("utf-8", "cp1252"):  # parsed from disk, or decoded line by line first
        (tmp_path / "excel_wide.csv").write_bytes("sep=,\nRef,Given\n0001,Émile\n0002,B,C\n".encode(encoding))
        with pytest.raises(ListError, match=r"line 4 has more fields"):
            read_list(tmp_path / "excel_wide.csv", "Ref", {"first_name": "Given"})
    # an old Mac export: lines end in CR alone
    (tmp_path / "mac.csv").write_bytes(b"Ref;Given\r0001;Emile\r0002;Chloe\r")
    assert read_list(tmp_path / "mac.csv", "Ref", {"first_name": "Given"})["record_id"].tolist() == ["0001", "0002"]


def unreadable(folder: Path) -> dict[str, tuple[Path, str]]:
    """file -> (path, what the error must say)."""
    files = {}
    (folder / "empty.csv").write_bytes(b"")
    files["empty csv"] = (folder / "empty.csv", "empty")
    (folder / "empty.jsonl").write_text("\n")
    files["empty jsonl"] = (folder / "empty.jsonl", "empty")
    files["header only"] = (write_csv(folder / "header.csv", rows=[]), "no rows")
    (folder / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    files["broken xlsx"] = (folder / "broken.xlsx", "not a readable Excel workbook")
    (folder / "broken.parquet").write_bytes(b"PAR1 truncated")
    files["broken parquet"] = (folder / "broken.parquet", "not a readable Parquet file")
    (folder / "broken.jsonl").write_text('{"Ref": "0001", "Given": "Émile"}\n{"Ref": "0002", "Given": \n')
    files["broken jsonl"] = (folder / "broken.jsonl", "line 2 is not one JSON object")
    write_xlsx(folder / "renamed.xlsx")
    files["workbook named .csv"] = ((folder / "renamed.xlsx").rename(folder / "renamed.csv"), "Excel workbook")
    files["unknown suffix"] = (write_csv(folder / "clinic.dat"), "unknown suffix '.dat'")
    files["missing"] = (folder / "absent.csv", "no such file")
    (folder / "quote.csv").write_text("Ref,Given\n0001,\"Emile\n0002,Chloe\n", encoding="utf-8")
    files["stray quote"] = (folder / "quote.csv", "a quote opened on line 2 is never closed")
    (folder / "wide.csv").write_text("Ref,Given\n0001,Emile\n0002,Chloe,Martin\n", encoding="utf-8")
    files["wide row"] = (folder / "wide.csv", "line 3 has more fields than the header")
    duplicated = [PEOPLE[0], PEOPLE[1], [*PEOPLE[0][:1], *PEOPLE[2][1:]], PEOPLE[3], PEOPLE[3]]
    files["repeated ids"] = (write_csv(folder / "dupes.csv", rows=duplicated),
                             "'Ref' repeats: 2 id(s) appear on more than one row (4 rows: rows 2, 4, 5, 6)")
    files["empty id"] = (write_csv(folder / "blank.csv", rows=[["", *PEOPLE[0][1:]], PEOPLE[1]]),
                         "'Ref' is empty on 1 row(s) (row 2)")
    return files


def test_bad_lists_get_one_clear_error_without_values(tmp_path, capsys):
    for case, (path, says) in unreadable(tmp_path).items():
        out = tmp_path / "clusters.csv"
        code, printed = link(capsys, "--input", path, "--id", "Ref", *MAPS, "--out", out)
        assert code == 2 and says in printed, (case, printed)
        assert printed.startswith("familyhub link: ") and printed.count("\n") == 1, case
        assert not any(value in printed for value in VALUES), case
        assert not out.exists(), case
    # missing columns are named, in every format, with no value from the file
    for suffix, write in WRITERS.items():
        source = write(tmp_path / f"list.{suffix}")
        code, printed = link(capsys, "--input", source, "--sheet", "Clients", "--id", "ref", "--map",
                             "surname=Nom", "--map", "first_name=Given", "--out", tmp_path / "clusters.csv")
        assert code == 2 and "no column(s) ['ref', 'Nom']" in printed and "'ref' is written 'Ref'" in printed, suffix
        assert not any(value in printed for value in VALUES), suffix
    # a headerless list: its first row would be the header, so column names are not echoed
    write_csv(tmp_path / "headerless.csv", rows=PEOPLE[1:], header=[as_text(v) for v in PEOPLE[0]])
    code, printed = link(capsys, "--input", tmp_path / "headerless.csv", "--id", "Ref", *MAPS,
                         "--out", tmp_path / "clusters.csv")
    assert code == 2 and "no column(s)" in printed and "Dubois" not in printed and "0001" not in printed


def test_bad_options_and_missing_warehouse_get_one_clear_error(tmp_path, capsys, monkeypatch):
    source = write_csv(tmp_path / "partner.csv")
    for options, says in (((*MAPS, "--dob-format", "%Q", "--out", tmp_path / "c.csv"), "--dob-format '%Q' is not"),
                          ((*MAPS, "--dob-format", "%d'%m", "--out", tmp_path / "c.csv"), "is not a date format"),
                          ((*MAPS, "--out", tmp_path), "is a folder"),
                          ((*MAPS, "--out", source), "is an input"),
                          ((*MAPS, "--out", source / "c.csv"), "its folder cannot be created")):
        code, printed = link(capsys, "--input", source, "--id", "Ref", *options)
        assert code == 2 and says in printed and printed.count("\n") == 1, (says, printed)
    assert source.read_text(encoding="utf-8").startswith("Ref,")  # not overwritten
    code = main(["match", "--input", str(source), "--input", str(source), "--id", "Ref", *MAPS,
                 "--out", str(tmp_path / "matched.csv")])
    assert code == 2 and "one --input at a time" in capsys.readouterr().err
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(tmp_path / "no_warehouse"))
    code = main(["match", "--input", str(source), "--id", "Ref", *MAPS, "--out", str(tmp_path / "matched.csv")])
    printed = capsys.readouterr().err
    assert code == 2 and "no warehouse there" in printed and not (tmp_path / "matched.csv").exists()
    for command in (["review", "export"], ["review", "import", str(source)]):  # said so, not "in use"
        assert main(command) == 2
        printed = capsys.readouterr().err
        assert "no warehouse at" in printed and "in use" not in printed, command
    assert not (tmp_path / "no_warehouse" / "warehouse.duckdb").exists()  # and none was created


def test_missing_value_markers_are_missing(tmp_path):
    """R's NA, SQL's NULL, Excel's #N/A or a dash in a cell are no value two records could share."""
    rows = [[f"{i:04}", "N/A" if i % 2 else "#N/A", "NULL", "NA" if i % 2 else "-", "NA", "null"] for i in range(4)]
    out = read_list(write_csv(tmp_path / "markers.csv", rows=rows), "Ref", MAPPING)
    assert out["record_id"].tolist() == ["0000", "0001", "0002", "0003"]
    assert out[list(MAPPING)].isna().all().all()
    # but NA is a surname too (Korean Na)
    rows = [["0001", "Min", "NA", "1990-01-02", "NA", ""]]
    out = read_list(write_csv(tmp_path / "na.csv", rows=rows), "Ref", MAPPING)
    assert out.loc[0, "surname"] == "NA" and out.loc[0, "postcode"] is None


def test_match_reads_the_same_formats(tmp_path, capsys):
    """`match` shares read_list: a bad list stops it before the warehouse is opened."""
    source = write_parquet(tmp_path / "partner.parquet", rows=[PEOPLE[0], PEOPLE[0]])
    code = main(["match", "--input", str(source), "--id", "Ref", *MAPS, "--out", str(tmp_path / "matched.csv")])
    printed = capsys.readouterr().err
    assert code == 2 and "'Ref' repeats: 1 id(s)" in printed and "0001" not in printed
    assert not (tmp_path / "matched.csv").exists()


def test_link_finds_pairs_a_list_with_names_and_dob_only_can_show(tmp_path, capsys):
    """A list with names and DOB only: a pair with both names mistyped (no two of forename, surname and
    DOB equal) is still compared, through the list's own blocking on DOB; and a birth before 1900 is a
    date like any other, not a placeholder (a list may be historical)."""
    source = write_csv(tmp_path / "register.csv", header=["Ref", "Given", "Family", "Born"], rows=[
        ["1", "Jonathon", "Smyth", "1984-07-12"],
        ["2", "Johnathan", "Smith", "1984-07-12"],
        ["3", "Lucas", "Bernard", "2010-05-05"],
        ["4", "Amelia", "Okafor", "1885-03-04"],
        ["5", "Amelie", "Okafor", "1885-03-04"],
    ])
    out = tmp_path / "clusters.csv"
    code, printed = link(capsys, "--input", source, "--id", "Ref", "--map", "first_name=Given", "--map",
                         "surname=Family", "--map", "dob=Born", "--out", out)
    assert code == 0, printed
    person = dict(pd.read_csv(out, dtype=str)[["record_id", "person_id"]].itertuples(index=False))
    assert person["1"] == person["2"] and person["4"] == person["5"]
    assert len({person["1"], person["3"], person["4"]}) == 3


def test_a_date_of_birth_in_three_columns_reads_as_one(tmp_path, capsys):
    """A register that keeps year, month and day apart (as R's RLdata lists do): mapped as dob_year / dob_month /
    dob_day, it links on the whole date; a part that is missing or not a number leaves the year alone; the
    parts and a dob column together, or parts without a year, are refused."""
    header = ["Ref", "Given", "Family", "By", "Bm", "Bd"]
    source = write_csv(tmp_path / "register.csv", header=header, rows=[
        ["1", "Anna", "Berg", "1984", "3", "5"], ["2", "Anna", "Berg", "1984", "03", "05"],
        ["3", "Anna", "Berg", "1986", "7", "1"], ["4", "Jon", "Holm", "1990", "", ""],
        ["5", "Per", "Lund", "NA", "2", "3"]])
    parts = ["--map", "dob_year=By", "--map", "dob_month=Bm", "--map", "dob_day=Bd"]
    maps = ["--map", "first_name=Given", "--map", "surname=Family", *parts]
    read = read_list(source, "Ref", {"first_name": "Given", "dob_year": "By", "dob_month": "Bm", "dob_day": "Bd"})
    assert read["dob"].tolist() == ["1984-03-05", "1984-03-05", "1986-07-01", "1990", None]
    assert not {"dob_year", "dob_month", "dob_day"} & set(read.columns)
    out = tmp_path / "clusters.csv"
    code, printed = link(capsys, "--input", source, "--id", "Ref", *maps, "--out", out)
    assert code == 0, printed
    person = dict(pd.read_csv(out, dtype=str)[["record_id", "person_id"]].itertuples(index=False))
    assert person["1"] == person["2"] != person["3"]  # born two years apart: not one person
    for extra, says in ((["--map", "dob=By"], "as one column or as its parts"),
                        (["--map", "dob_day=Bd"], "needs --map dob_year")):
        given = [*maps, *extra] if extra[1].startswith("dob=") else ["--map", "first_name=Given", *extra]
        code, printed = link(capsys, "--input", source, "--id", "Ref", *given, "--out", tmp_path / "no.csv")
        assert code == 2 and says in printed and printed.count("\n") == 1, printed


def test_a_dob_format_that_does_not_fit_the_list_is_reported(tmp_path, capsys):
    """Day-first dates read with --dob-format %Y-%m-%d keep only their years: the command says to check the
    format (it used to report only 'dates of birth give a year but no whole date')."""
    source = write_csv(tmp_path / "register.csv", header=["Ref", "Given", "Family", "Born"], rows=[
        ["1", "Jonathon", "Smyth", "12/07/1984"], ["2", "Lucas", "Bernard", "05/05/2010"],
        ["3", "Amelia", "Okafor", "04/03/1985"]])
    maps = ["--map", "first_name=Given", "--map", "surname=Family", "--map", "dob=Born"]
    code, printed = link(capsys, "--input", source, "--id", "Ref", *maps, "--dob-format", "%Y-%m-%d",
                         "--out", tmp_path / "wrong.csv")
    assert code == 0 and "check --dob-format against the list" in printed, printed
    code, printed = link(capsys, "--input", source, "--id", "Ref", *maps, "--dob-format", "%d/%m/%Y",
                         "--out", tmp_path / "right.csv")
    assert code == 0 and "check --dob-format" not in printed, printed


def test_list_blocking_rules_count_exactly_and_keep_to_the_budget(monkeypatch):
    from linkage import match
    from linkage.standardise import standardise

    rows = [("Ann", "Lee", "1990-03-04"), ("Anne", "Leigh", "1990-03-04"), ("Lee", "Ann", "1990-03-04"),
            ("Bob", "Ray", "1990-03-04"), ("Bob", "Ray", "1971-11-30"), ("Cy", None, None)]
    raw = pd.DataFrame([{"source": "s", "record_id": str(i), "first_name": f, "surname": s, "dob": d}
                        for i, (f, s, d) in enumerate(rows)])
    records = standardise(raw)
    frame = records.to_pandas()
    for ladder in match.LIST_BLOCKING_RULES:
        for left, right in ladder:
            if not {*left, *right} <= set(frame.columns):
                continue
            brute = sum(all(pd.notna(a[x]) and a[x] == b[y] for x, y in zip(left, right))
                        for i, a in frame.iterrows() for j, b in frame.iterrows() if i < j)
            assert match._comparisons(records, left, right) == brute, (left, right)
    present = match._present(records)
    assert 'l."dob" = r."dob"' in match.list_blocking_rules(records, present)  # 6 pairs for 6 records
    monkeypatch.setattr(match, "LIST_RULE_MAX_COMPARISONS_PER_RECORD", 0.5)  # 3 comparisons at most
    rules = match.list_blocking_rules(records, present)
    assert 'l."dob" = r."dob"' not in rules and 'l."dob" = r."dob" AND l."surname_soundex" = r."surname_soundex"' in rules


def test_prior_follows_the_recall_the_lists_own_m_values_give():
    """The deterministic rules find a match when every column they need is present on both records and
    agrees exactly: with m(exact) 0.5 for each of two names and no gaps, one rule finds a quarter of the
    matches; two rules on separate columns miss only when both miss."""
    from linkage.match import deterministic_recall

    def comparison(column, m):
        return {"output_column_name": column, "comparison_levels": [
            {"sql_condition": f'"{column}_l" IS NULL OR "{column}_r" IS NULL', "is_null_level": True},
            {"sql_condition": f'"{column}_l" = "{column}_r"', "m_probability": m},
            {"sql_condition": "ELSE", "m_probability": 1 - m}]}

    model = {"comparisons": [comparison("first_name", 0.5), comparison("surname", 0.5),
                             comparison("other_id", 0.9)]}
    full = pa.table({"first_name": ["A", "B"], "surname": ["C", "D"], "other_id": ["1", "2"]})
    assert deterministic_recall(model, [{"first_name", "surname"}], full) == pytest.approx(0.25)
    assert deterministic_recall(model, [{"first_name", "surname"}, {"other_id"}], full) == pytest.approx(
        1 - 0.75 * 0.1)
    half_missing = full.set_column(2, "other_id", pa.array(["1", None]))
    assert deterministic_recall(model, [{"other_id"}], half_missing) == pytest.approx(0.25 * 0.9)
    assert deterministic_recall(model, [{"dob"}], full) is None  # no exact level to read
