"""`familyhub link` and `familyhub match`: the project's linkage for any list.

    link_files([A.csv, B.xlsx], id_column, {"first_name": "Forename", ...}, out=clusters.csv)
    match_list(list.parquet, id_column, mapping, out=matched.csv, warehouse=.../warehouse.duckdb)

Lists are read by read_list: CSV / TSV / TXT, XLSX / XLSM, Parquet or JSON lines, every column as text.

Both standardise with linkage.standardise (the warehouse's rules, tolerant of non-UK formats) and score
with the project's Splink model (linkage/settings.py, committed as linkage/models/person_model.json).
`link` adds looser blocking rules within a comparison budget (LIST_BLOCKING_RULES: the committed ones
expect the warehouse's identifiers), re-estimates the model on the list itself when it has at least
`MIN_TRAIN_RECORDS` records (prior from deterministic rules, rescaled to the recall the list's own m
values give them; u by random sampling with a fixed seed, m by EM on the blocking rules whose columns the
list has; a step the data cannot support keeps the committed values), then clusters
with linkage.cluster (the anti-chaining rules; the same-system rules are off, since a partner file is
one 'system' whose duplicates are the point). `match` scores the list against the warehouse's person
index with the committed model (predict_between) and bands each row.

Nothing here prints a record's values: the summaries are counts.
"""

from __future__ import annotations

import calendar
import codecs
import copy
import csv
import datetime as dt
import json
import logging
import dataclasses
import io
import math
import os
import re
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import DuckDBBackend
from linkage.cluster import LIST_RULES, LOOSE_DOB_DAYS, cluster
from linkage.ids import assign_person_ids
from linkage.run import (MATCH_WEIGHT_THRESHOLD, NO_DOB_MATCH_WEIGHT_THRESHOLD, PAIR_COLUMNS, PAIR_FLOOR_WEIGHT,
                         _nodes)
from linkage.standardise import FIELDS, standardise
from linkage.train import DEFAULT_MODEL_PATH, SEED, U_MAX_PAIRS, load_model

MIN_TRAIN_RECORDS = 1000  # fewer: the committed u and m values (a short list's would be noise)
MIN_PRIOR_RECORDS = 200  # fewer: the committed prior too (a handful of pairs says little about the share)
LIST_COLUMNS = [*model_settings.INPUT_COLUMNS, "locality", "other_id"]

# Blocking rules a list adds to the committed ones. Those were chosen for the warehouse, whose records
# carry NHS / NI numbers, UPRNs and UK postcodes; a list with fewer fields is compared only where two of
# forename, surname and DOB agree exactly, so a typo in each of two of them hides a pair from scoring (on
# public benchmark lists mapped to names and DOB only, a fifth of the true pairs). Each rule is
# (left columns, right columns): equal keys, or the swapped names. A rule is added when the list has
# its columns and it makes at most LIST_RULE_MAX_COMPARISONS_PER_RECORD comparisons per record (counted
# exactly first); else its narrower fallbacks are tried in turn, so a large list is never flooded.
NAME_SOUNDEXES = ("first_name_soundex", "surname_soundex")


def _same(*columns: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return columns, columns


LIST_BLOCKING_RULES = [
    # names both mistyped (or one missing), DOB right
    [_same("dob"), _same("dob", "surname_soundex"), _same("dob", "first_name_soundex")],
    # names that sound alike, DOB mistyped or missing
    [_same(*NAME_SOUNDEXES), _same(*NAME_SOUNDEXES, "dob_year")],
    # forename and surname swapped, and one of them mistyped
    [(NAME_SOUNDEXES, NAME_SOUNDEXES[::-1])],
    # same postcode, surname sounds alike: forename and DOB both wrong or missing
    [_same("postcode", "surname_soundex")],
    # the year of birth with one name: the other name wrong or missing, the day and month wrong or unknown
    [_same("surname_soundex", "dob_year")],
    [_same("first_name_canonical", "dob_year")],
    # the same town and surname: forename and DOB both wrong or missing, no postcode
    [_same("locality", "surname")],
]
LIST_RULE_MAX_COMPARISONS_PER_RECORD = 20


class ListError(ValueError):
    """A list that cannot be linked as asked; the message names files, columns and row numbers only."""


TEXT_SUFFIXES = {".csv": None, ".txt": None, ".tsv": "\t"}  # None: sniff the separator from the header line
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet",)
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
LIST_SUFFIXES = (*TEXT_SUFFIXES, *WORKBOOK_SUFFIXES, *PARQUET_SUFFIXES, *JSON_SUFFIXES)
SNIFFED_SEPARATORS = ",;\t|"
ZERO_PADDED_FORMAT = re.compile(r"0+")  # an Excel number format such as 00000 that shows leading zeros
SHOWN_ROWS = 10  # row numbers quoted in an error


# a date of birth in three columns (a register's year, month and day): read as one ISO dob
DOB_PARTS = ("dob_year", "dob_month", "dob_day")
# an age in whole years instead of a date of birth (a voter roll, a census): read as a year of birth, on the
# date the ages were taken (--age-on)
AGE = "age"
OLDEST_AGE = 130


def parse_mapping(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        field, sep, column = item.partition("=")
        field = field.strip().lower()
        if not sep or not column.strip():
            raise ListError(f"--map {item!r}: expected FIELD=COLUMN")
        if field not in (*FIELDS, *DOB_PARTS, AGE):
            raise ListError(f"--map {field!r}: FIELD must be one of {', '.join((*FIELDS, *DOB_PARTS, AGE))}")
        if field in mapping:
            raise ListError(f"--map {field!r} is given twice: map each field to one column")
        mapping[field] = column.strip()
    if not mapping:
        raise ListError("give at least one --map FIELD=COLUMN")
    parts = [f for f in DOB_PARTS if f in mapping]
    if parts and "dob" in mapping:
        raise ListError(f"--map dob and --map {parts[0]}: map the date of birth as one column or as its parts")
    if parts and "dob_year" not in mapping:
        raise ListError(f"--map {parts[0]} needs --map dob_year (a day and month without a year say too little)")
    if AGE in mapping and ("dob" in mapping or parts):
        raise ListError(f"--map age and --map {'dob' if 'dob' in mapping else parts[0]}: map the date of birth or "
                        "the age, not both")
    return mapping


def refuse_dob_format_with_age(mapping: dict[str, str], dob_format: str | None) -> None:
    if dob_format and AGE in mapping:
        raise ListError("--dob-format reads a date of birth: an age (--map age) takes none (see --age-on)")


def dob_from_age(age: pd.Series, age_on: dt.date) -> pd.Series:
    """A year of birth as text (compared as a year alone) from an age in whole years on age_on: a person aged a
    on day d of year y was born in y - a once their birthday has passed, else y - a - 1, so the more likely of
    the two by how much of y has gone. Missing for anything but a whole number from 0 to OLDEST_AGE (42.0, as a
    spreadsheet writes it, is 42; so are 42 years, 42 yrs and 42y)."""
    days = 366 if calendar.isleap(age_on.year) else 365
    passed = (age_on.timetuple().tm_yday - 1) / days >= 0.5  # 1 July is not past half the year, leap or not
    out = []
    for value in age:
        text = _whole_number_text(value)
        out.append(f"{age_on.year - int(text) - (0 if passed else 1):04d}"
                   if text is not None and int(text) <= OLDEST_AGE else None)
    return pd.Series(out, index=age.index, dtype=object)


def _whole_number_text(value) -> str | None:
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"([0-9]{1,3})(?:[.]0+)? *(?:Y|YR|YRS|YEAR|YEARS|YO|Y/O)?[.]?", value.strip().upper())
    return match.group(1) if match else None


def _alternatives(spec: str) -> list[str]:
    return [name.strip() for name in spec.split("|")]


def _column_in(names: list[str], spec: str) -> str:
    """COL, or the first of COL1|COL2|... this file has (lists of other layouts linked in one run)."""
    if spec in names:
        return spec
    return next((name for name in _alternatives(spec) if name in names), spec)


def dob_from_parts(year: pd.Series, month: pd.Series | None, day: pd.Series | None) -> pd.Series:
    """The dob as text from its parts: YYYY-MM-DD when all three are whole numbers (a date that does not exist,
    31 February, is then read as its year, as a mistyped date is); the year alone when month or day is missing
    or not a number (compared as a year); missing without a four-digit year."""
    def number(part: pd.Series | None) -> list[int | None]:
        if part is None:
            return [None] * len(year)
        return [int(v) if isinstance(v, str) and v.isdigit() and len(v) <= 4 else None for v in part]

    out = []
    for y, m, d in zip(number(year), number(month), number(day), strict=True):
        if y is None or not 1000 <= y <= 9999:
            out.append(None)
        elif m is not None and d is not None and 1 <= m <= 12 and 1 <= d <= 31:
            out.append(f"{y:04d}-{m:02d}-{d:02d}")
        else:
            out.append(f"{y:04d}")
    return pd.Series(out, index=year.index, dtype=object)


def _cell_text(value, date_format: str | None = None) -> str:
    """One typed value (Excel, Parquet, JSON) as the text a CSV would hold: integers without a trailing .0
    (Excel stores every number as a float), dates as ISO (or date_format, for the column mapped to dob, so
    typed and typed-in dates read alike), missing as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            return ""
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.strftime(date_format) if date_format else value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.strftime(date_format) if date_format else value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def decode_text(data: bytes) -> str:
    """UTF-16 (Excel's 'Unicode text') by its byte-order mark; else UTF-8, line by line where the whole is not:
    a line that is not UTF-8 is Windows-1252 (then Latin-1), so one pasted row of another encoding garbles only
    itself, not every accented name of the file."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    decoded = []
    for line in lines:
        for encoding in ("utf-8", "cp1252", "latin-1"):
            try:
                decoded.append(line.decode(encoding))
                break
            except UnicodeDecodeError:
                continue
    return "\n".join(decoded)


def _is_utf8(path: Path) -> bool:
    """The whole file is UTF-8 (checked a megabyte at a time, not held)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_delimited_text(path: Path, separator: str | None) -> tuple[list, pd.DataFrame]:
    """Delimited text (see decode_text for the encoding); the separator, unless the suffix fixes it, is the one of
    , ; tab | the header line uses, or the one Excel's `sep=;` first line names. A header written `a, b, c` (a
    space after each separator) has its fields' leading spaces skipped. A file wholly in UTF-8 or UTF-16 is
    parsed from disk; only a mixed one is decoded in memory first."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    encoding = ("utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig" if _is_utf8(path) else None)
    text = None if encoding else decode_text(path.read_bytes())
    start = head.decode(encoding, errors="ignore") if encoding else text[:1 << 16]
    first_row = 1  # the header's row number, as a spreadsheet counts
    hint = re.match(r'"?sep=(.)"?\r?\n', start)
    if hint:
        separator, first_row = hint.group(1), 2
        start = start[hint.end():]
        if text is not None:
            text = text[hint.end():]
    header_line = re.match(r"[^\r\n]*", start).group(0)  # a Mac export ends its lines with CR alone
    if separator is None:
        try:
            separator = csv.Sniffer().sniff(header_line, delimiters=SNIFFED_SEPARATORS).delimiter
        except csv.Error:  # one column, or nothing to tell them apart
            separator = ","
    spaced = header_line.count(separator) > 0 and header_line.count(separator) == header_line.count(separator + " ")
    try:
        frame = pd.read_csv(path if text is None else io.StringIO(text), encoding=encoding, header=None, dtype=str,
                            keep_default_na=False, na_filter=False, sep=separator, skipinitialspace=spaced,
                            skiprows=1 if hint and text is None else 0)
    except pd.errors.EmptyDataError:
        return [], pd.DataFrame()
    except pd.errors.ParserError as exc:
        # pandas' own message may quote the data: only its line number is passed on (a "row" counts from 0)
        found = re.search(r"(line|row) (\d+)", str(exc))
        counted_from = 1 if hint and text is None else first_row  # pandas counts the lines it skipped
        where = int(found.group(2)) + counted_from - (found.group(1) == "line") if found else None
        reason = ("" if where is None else f" (a quote opened on line {where} is never closed)"
                  if "EOF inside string" in str(exc) else f" (line {where} has more fields than the header)")
        raise ListError(f"{path.name}: not readable as delimited text{reason}") from None
    frame = frame.fillna("")  # a short row's missing fields
    if frame.empty:
        return [], frame
    header = frame.iloc[0].tolist()
    body = frame.iloc[1:]
    body.index = np.arange(first_row + 1, first_row + len(frame))  # as a spreadsheet numbers them
    body.columns = range(body.shape[1])
    return header, body


def _read_workbook(path: Path, sheet: str | None, date_formats: dict[str, str]) -> tuple[list, pd.DataFrame]:
    """The named sheet, else the first: its first non-empty row is the header."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = book.worksheets
        if sheet is not None:
            if sheet not in book.sheetnames:
                raise ListError(f"{path.name}: no sheet {sheet!r}; its sheets are {book.sheetnames}")
            worksheet = book[sheet]
        elif sheets:
            worksheet = sheets[0]
        else:
            raise ListError(f"{path.name}: the workbook has no worksheet")
        worksheet.reset_dimensions()  # some writers record a wrong used range, which read-only mode trusts
        header, formats, rows, numbers = None, {}, [], []
        for number, cells in enumerate(worksheet.iter_rows(), start=1):
            if header is None:
                if any(c.value not in (None, "") for c in cells):
                    header = [_cell_text(c.value).strip() for c in cells]
                    formats = {i: date_formats.get(name) for i, name in enumerate(header)}
                continue
            rows.append([_workbook_cell_text(c, formats.get(i)) for i, c in enumerate(cells)])
            numbers.append(number)
    finally:
        book.close()
    if header is None:
        return [], pd.DataFrame()
    width = max([len(header), *map(len, rows)])
    body = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], index=numbers, columns=range(width), dtype=object)
    return header + [""] * (width - len(header)), body


def _workbook_cell_text(cell, date_format: str | None) -> str:
    value = getattr(cell, "value", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        number_format = getattr(cell, "number_format", "General") or "General"
        if ZERO_PADDED_FORMAT.fullmatch(number_format):  # an id typed as a number and shown zero-padded
            return str(int(value)).zfill(len(number_format))
    return _cell_text(value, date_format)


def _read_parquet(path: Path, date_formats: dict[str, str]) -> tuple[list, pd.DataFrame]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    header = list(table.column_names)
    columns = {}
    for i, name in enumerate(header):
        column = table.column(i)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            columns[i] = column.fill_null("").to_pylist()
        else:
            date_format = date_formats.get(str(name).strip())
            columns[i] = [_cell_text(v, date_format) for v in column.to_pylist()]
    body = pd.DataFrame(columns, index=np.arange(1, table.num_rows + 1), dtype=object)
    return header, body


def _read_json(path: Path) -> tuple[list, pd.DataFrame, str]:
    """JSON lines (one object per line), or a JSON array of objects; the header is every key, in the
    order first seen."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ListError(f"{path.name}: JSON must be UTF-8") from None
    records: list = []
    numbers: list[int] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ListError(f"{path.name}: not valid JSON (line {exc.lineno})") from None
        numbers = list(range(1, len(records) + 1))
        unit = "record"
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise ListError(f"{path.name}: line {number} is not one JSON object (expected JSON lines, "
                                "or an array of objects)") from None
            numbers.append(number)
        unit = "line"
    bad = [n for n, r in zip(numbers, records) if not isinstance(r, dict)]
    if bad:
        raise ListError(f"{path.name}: {unit} {bad[0]} is not a JSON object ({len(bad)} such)")
    header = list(dict.fromkeys(k for r in records for k in r))
    body = pd.DataFrame({i: [_cell_text(r.get(k)) for r in records] for i, k in enumerate(header)},
                        index=numbers, dtype=object)
    return header, body, unit


def _sniff_kind(path: Path) -> str:
    """The reader the suffix names; a file whose first bytes say otherwise gets an error naming what it is."""
    with path.open("rb") as handle:
        magic = handle.read(8)
    suffix = path.suffix.lower()
    looks = ("workbook" if magic.startswith(b"PK\x03\x04") else "parquet" if magic.startswith(b"PAR1")
             else "xls" if magic.startswith(b"\xd0\xcf\x11\xe0") else None)
    if suffix == ".xls" or (looks == "xls" and suffix in WORKBOOK_SUFFIXES):
        raise ListError(f"{path.name}: an old-format .xls workbook: save it as .xlsx (or CSV)")
    if suffix in TEXT_SUFFIXES or suffix in JSON_SUFFIXES:
        if looks is not None:
            named = {"workbook": "an Excel workbook (.xlsx)", "parquet": "Parquet", "xls": "an .xls workbook"}
            raise ListError(f"{path.name}: the file is {named[looks]}, not text: rename it to its format's suffix")
        return "text" if suffix in TEXT_SUFFIXES else "json"
    if suffix in WORKBOOK_SUFFIXES:
        if looks != "workbook" and magic:
            raise ListError(f"{path.name}: not an Excel workbook (.xlsx files are zip archives)")
        return "workbook"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise ListError(f"{path.name}: unknown suffix {path.suffix!r}; lists are read from {', '.join(LIST_SUFFIXES)}")


def _rows(numbers, unit: str) -> str:
    """'rows 2, 5, ...': where to look, never what is there."""
    numbers = list(numbers)
    shown = ", ".join(str(n) for n in numbers[:SHOWN_ROWS]) + (", ..." if len(numbers) > SHOWN_ROWS else "")
    return f"{unit}{'s' if len(numbers) > 1 else ''} {shown}"


def read_list(path: Path, id_column: str, mapping: dict[str, str], source: str | None = None,
              sheet: str | None = None, dob_format: str | None = None,
              age_on: dt.date | None = None) -> pd.DataFrame:
    """source, record_id and the mapped fields, as text, from a CSV / TSV / TXT (delimited text), XLSX / XLSM
    (`sheet`, else the first), Parquet, or JSON / JSONL / NDJSON file, chosen by suffix. Every column is
    read as text: leading zeros stay; typed dates become ISO text (dob_format for the dob column, when
    given); whole numbers lose Excel's .0. Rows with every cell empty are skipped. An age becomes a year of
    birth as at age_on (default: today). The id column as found (the one of COL1|COL2 this file has) is
    `attrs["id_column"]`. Errors name the file, columns and row numbers, never a value."""
    path = Path(path)
    if not path.exists():
        raise ListError(f"{path}: no such file")
    if not path.is_file():
        raise ListError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise ListError(f"{path.name}: the file is empty")
    kind = "file"
    try:
        kind = _sniff_kind(path)
        date_formats = ({column: dob_format for column in [mapping["dob"], *_alternatives(mapping["dob"])]}
                        if dob_format and "dob" in mapping else {})
        unit = "row"  # spreadsheet rows, the header being row 1; JSON counts lines or records
        if kind == "text":
            header, body = read_delimited_text(path, TEXT_SUFFIXES[path.suffix.lower()])
        elif kind == "workbook":
            header, body = _read_workbook(path, sheet, date_formats)
        elif kind == "parquet":
            header, body = _read_parquet(path, date_formats)
        else:
            header, body, unit = _read_json(path)
    except PermissionError:
        raise ListError(f"{path}: cannot be read (permission denied)") from None
    except ListError:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt file: the library's own message may quote its content
        named = {"workbook": "Excel workbook", "parquet": "Parquet file"}.get(kind, "file")
        raise ListError(f"{path.name}: not a readable {named} ({type(exc).__name__})") from None
    if not header:
        raise ListError(f"{path.name}: the file is empty")
    names = [str(name).strip() for name in header]
    id_column = _column_in(names, id_column)
    mapping = {field: _column_in(names, column) for field, column in mapping.items()}
    wanted = list(dict.fromkeys([id_column, *mapping.values()]))
    missing = [c for c in wanted if c not in names]
    if missing:
        near = {c: [n for n in names if n.casefold() == c.casefold()] for c in missing}
        hints = "; ".join(f"{c!r} is written {n[0]!r} there" for c, n in near.items() if len(n) == 1)
        raise ListError(f"{path.name}: no column(s) {missing} among its {len(names)} columns (names must match "
                        "exactly" + (f": {hints}" if hints else "") + ")")
    twice = [c for c in wanted if names.count(c) > 1]
    if twice:
        raise ListError(f"{path.name}: column(s) {twice} appear more than once in the header: rename the copies")
    position = {name: names.index(name) for name in wanted}
    body = body.reindex(columns=range(len(names)), fill_value="").astype(object)
    body = body.where(body.notna(), "").astype(str)
    body = body[(body.apply(lambda column: column.str.strip()) != "").any(axis=1)]  # wholly blank rows
    if body.empty:
        raise ListError(f"{path.name}: a header but no rows")
    ids = body[position[id_column]].str.strip()
    empty = ids.index[(ids == "").to_numpy()]
    if len(empty):
        raise ListError(f"{path.name}: {id_column!r} is empty on {len(empty)} {unit}(s) "
                        f"({_rows(empty, unit)})")
    repeated = ids.duplicated(keep=False).to_numpy()
    if repeated.any():
        raise ListError(f"{path.name}: {id_column!r} repeats: {ids[repeated].nunique()} id(s) appear on more than "
                        f"one {unit} ({int(repeated.sum())} {unit}s: {_rows(ids.index[repeated], unit)}); "
                        "each record needs its own id")
    out = pd.DataFrame({"source": source or path.stem, "record_id": ids.to_numpy()})
    for field, column in mapping.items():
        values = body[position[column]].str.strip().to_numpy()
        # NA is a surname too (Korean Na): in a name only the spelt-out markers count
        markers = [t for t in MISSING_TOKENS if t != "NA"] if field in NAME_FIELDS else MISSING_TOKENS
        out[field] = pd.Series(values, dtype=object).where((values != "") & ~np.isin(values, markers), None)
    if "dob_year" in out:
        parts = [out.pop(f) if f in out else None for f in DOB_PARTS]
        out["dob"] = dob_from_parts(*parts)
    if AGE in out:
        ages = out.pop(AGE)
        out["dob"] = dob_from_age(ages, age_on or dt.date.today())
        out.attrs["ages_not_read"] = int((ages.notna() & out["dob"].isna()).sum())
    out.attrs["id_column"] = id_column
    return out


# what a cell says when it has no value (R's NA, SQL's NULL, Excel's #N/A, a dash): missing, not a value
# that two records could share
MISSING_TOKENS = ["NA", "N/A", "n/a", "#N/A", "NULL", "null", "Null", "NaN", "nan", "None", "none", "-", "--", "?"]
NAME_FIELDS = frozenset({"first_name", "middle_names", "surname", "full_name"})


def check_output_path(path: Path, option: str, inputs: list[Path] = ()) -> None:
    """Before any work: an output the run could not write, or one that would overwrite an input, is an
    error now, not a traceback after the whole run."""
    path = Path(path)
    if path.is_dir():
        raise ListError(f"{option} {path}: is a folder; give a file name")
    if any(path.resolve() == Path(given).resolve() for given in inputs):
        raise ListError(f"{option} {path}: is an input; give another file name")
    existing = next(folder for folder in path.absolute().parents if folder.exists())  # the run creates the rest
    if not existing.is_dir():
        raise ListError(f"{option} {path}: its folder cannot be created ({existing.name} is a file)")
    try:  # a file made and dropped at once: what the run will need, whoever runs it (root passes os.access)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ListError(f"{option} {path}: cannot be written there ({exc.strerror})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ListError(f"{option} {path}: not writable")


def probability_to_weight(probability: float) -> float:
    if not 0 < probability < 1:
        raise ListError("--threshold is a probability strictly between 0 and 1")
    return math.log2(probability / (1 - probability))


def _present(records: pa.Table) -> set[str]:
    """Columns with at least two non-null values (anything less cannot block or train)."""
    return {c for c in records.column_names if records[c].null_count <= records.num_rows - 2}


def _list_level(sql: str, label: str, m: float, u: float, tf: str | None = None) -> dict:
    level = {"sql_condition": sql, "label_for_charts": label, "m_probability": m, "u_probability": u}
    if tf:
        level.update(tf_adjustment_column=tf, tf_adjustment_weight=1.0)
    return level


# A DOB a few weeks out: in a partner list (keyed from a form, a phone call, an estimate) commoner than
# in the warehouse's feeds. The starting m and u (for a list too short to train) are those of a
# one-character typo and of two random adults' DOBs falling within a month of each other.
DOB_WITHIN_A_MONTH = _list_level('abs(date_diff(\'day\', "dob_l", "dob_r")) <= 31', "Within 31 days", 0.01, 0.002)
# A list's date that is not whole keeps its year (linkage.standardise: a 1 January standing for a year alone,
# a date whose day or month does not parse): two records whose years agree, one date not whole, are
# compared on the year; when both years are known and differ, the DOBs disagree (the level for all others).
DOB_YEAR_ONLY_NULL = ('("dob_l" IS NULL OR "dob_r" IS NULL) AND ("dob_year_l" IS NULL OR "dob_year_r" IS NULL)')
DOB_SAME_YEAR_DATE_UNKNOWN = _list_level('("dob_l" IS NULL OR "dob_r" IS NULL) AND "dob_year_l" = "dob_year_r"',
                                         "Same year, a date not whole", 0.5, 0.02)
# a year alone is often an estimate (an age, a census's 'born about'): one person's are a year apart too, as the
# clustering allows (linkage.cluster.YEAR_SPAN); u as two adults' years of birth one apart
DOB_NEXT_YEAR_DATE_UNKNOWN = _list_level('("dob_l" IS NULL OR "dob_r" IS NULL) AND '
                                         'abs("dob_year_l" - "dob_year_r") = 1',
                                         "Years one apart, a date not whole", 0.1, 0.035)


def _locality_comparison() -> dict:
    """Town or suburb: exact (term frequency: a city of millions says little), then a near spelling. The
    starting values suit a list of a few dozen towns."""
    return {"output_column_name": "locality", "comparison_description": "Locality: exact (tf), Jaro-Winkler",
            "comparison_levels": [
                {"sql_condition": '"locality_l" IS NULL OR "locality_r" IS NULL',
                 "label_for_charts": "locality is NULL", "is_null_level": True},
                _list_level('"locality_l" = "locality_r"', "Exact match", 0.85, 0.05, tf="locality"),
                _list_level('jaro_winkler_similarity("locality_l", "locality_r") >= 0.9', "Jaro-Winkler >= 0.9",
                            0.08, 0.01),
                _list_level("ELSE", "All other comparisons", 0.07, 0.94)]}


IDENTIFIER_FIELDS = frozenset({"nhs_number", "ni_number", "upn", "other_id"})
IDENTIFIER_ONLY_EXACT_U = 1e-6  # see list_model
# what `match` reads but cannot use: the committed model compares none of these (`link` adds other_id and locality)
# (an age is a year of birth alone, which the index's DOB comparison has no level for: it blocks only)
MATCH_FIELDS_NOT_COMPARED = frozenset({"middle_names", "locality", "other_id", "suffix", AGE})
DESCRIPTIVE_FIELDS = frozenset({"first_name", "surname", "dob", "sex", "address_line", "locality", "postcode", "uprn"})


def list_model(present: set[str], term_frequencies: bool = True) -> dict:
    """The committed model, plus an `other_id` comparison (starting from the NHS number's parameters) and
    blocking rule when the list has one, a locality comparison when it has one, and a DOB level for a
    date a few weeks out. term_frequencies=False drops the term-frequency adjustments: in a short list
    every name looks common, so they would swamp the committed u values."""
    model = copy.deepcopy(load_model(DEFAULT_MODEL_PATH))
    [dob] = [c for c in model["comparisons"] if c["output_column_name"] == "dob"]
    labels = [level["label_for_charts"] for level in dob["comparison_levels"]]
    dob["comparison_levels"].insert(labels.index("Same year"), dict(DOB_WITHIN_A_MONTH))
    dob["comparison_levels"].insert(labels.index("Same year") + 1, dict(DOB_SAME_YEAR_DATE_UNKNOWN))
    dob["comparison_levels"].insert(labels.index("Same year") + 2, dict(DOB_NEXT_YEAR_DATE_UNKNOWN))
    [null_level] = [level for level in dob["comparison_levels"] if level.get("is_null_level")]
    null_level["sql_condition"] = DOB_YEAR_ONLY_NULL
    if "locality" in present:
        model["comparisons"].append(_locality_comparison())
    if "other_id" in present:
        [nhs] = [c for c in model["comparisons"] if c["output_column_name"] == "nhs_number"]
        other = json.loads(json.dumps(nhs).replace("nhs_number", "other_id"))
        model["comparisons"].append(other)
        model["blocking_rules_to_generate_predictions"].insert(
            0, {"blocking_rule": 'l."other_id" = r."other_id"', "sql_dialect": "duckdb"})
    if not present & DESCRIPTIVE_FIELDS:
        # identifiers only: random pairs that share an id are mostly the list's own duplicates, so the
        # u a list measures equals its prior and every weight would be 0 (p = 0.5). Fixed instead, at what a
        # unique id gives (only a typo makes two people share one), so that a shared id is enough on its
        # own: the warehouse's NHS-number u (mothers' numbers on babies' records) left a list with fewer
        # duplicates, so a lower prior, just under the threshold (0 of 439 pairs linked)
        for comparison in model["comparisons"]:
            if comparison["output_column_name"] in IDENTIFIER_FIELDS:
                for level in comparison["comparison_levels"]:
                    if level.get("label_for_charts") == "Exact match":
                        level.update(u_probability=IDENTIFIER_ONLY_EXACT_U, fix_u_probability=True)
    if not term_frequencies:
        for comparison in model["comparisons"]:
            for level in comparison["comparison_levels"]:
                level.pop("tf_adjustment_column", None)
                level.pop("tf_adjustment_weight", None)
    return model


def _blocking_sql(left: tuple[str, ...], right: tuple[str, ...]) -> str:
    return " AND ".join(f'l."{a}" = r."{b}"' for a, b in zip(left, right))


def _comparisons(records: pa.Table, left: tuple[str, ...], right: tuple[str, ...],
                 against: pa.Table | None = None) -> int:
    """How many pairs the rule l.left = r.right compares (each unordered pair once; a NULL key matches
    nothing). The rules are symmetric (equal keys, or swapped ones), so joining the key counts counts each
    pair twice, plus each record that meets the rule with itself. against: pairs of a record of the list and
    one of this other table (the person index) instead, each once."""
    import duckdb

    columns = sorted({*left, *right})
    con = duckdb.connect(":memory:")
    try:
        for name, table in (("keys", records), ("other_keys", against if against is not None else records)):
            con.register(f"{name}_arrow", table.select(columns))
            con.execute(f"create temp table {name} as select * from {name}_arrow where "
                        + " and ".join(f'"{c}" is not null' for c in columns))

        def counts(side: tuple[str, ...], table: str) -> str:
            return ("select " + ", ".join(f'"{c}" as k{i}' for i, c in enumerate(side))
                    + f", count(*) as n from {table} group by all")

        on = " and ".join(f"a.k{i} = b.k{i}" for i in range(len(left)))
        itself = " and ".join(f'"{a}" = "{b}"' for a, b in zip(left, right))
        [(joined,)] = con.execute(f"select coalesce(sum(a.n * b.n), 0)::hugeint from ({counts(left, 'keys')}) a "
                                  f"join ({counts(right, 'other_keys')}) b on {on}").fetchall()
        if against is not None:
            return int(joined)
        [(with_itself,)] = con.execute(f"select count(*) from keys where {itself}").fetchall()
    finally:
        con.close()
    return int((joined - with_itself) // 2)


def list_blocking_rules(records: pa.Table, present: set[str], against: pa.Table | None = None) -> list[str]:
    """The LIST_BLOCKING_RULES this list can use within the comparison budget, as SQL. against: the table the
    list is matched to (`match`: the person index), whose columns the rules must have too."""
    budget = LIST_RULE_MAX_COMPARISONS_PER_RECORD * max(records.num_rows, 1)
    if against is not None:
        present = present & set(against.column_names)
    rules = []
    for ladder in LIST_BLOCKING_RULES:
        for left, right in ladder:
            if {*left, *right} <= present and _comparisons(records, left, right, against) <= budget:
                rules.append(_blocking_sql(left, right))
                break
    return rules


# A committed rule (chosen for the warehouse: forename + surname) that compares more pairs than this per record of
# a list is narrowed by the first of NARROWING_COLUMNS that brings it within, and an EM session is sampled
# (sampled_to_budget): a fourth audit's roll of 100,000 records with common given names (MARIA, JOSE) compared 19
# million pairs on forename + surname and took 190 s and 6.6 GB; a list of rarer names keeps its rules whole.
COMMITTED_RULE_MAX_COMPARISONS_PER_RECORD = 50
NARROWING_COLUMNS = ("dob_year", "postcode_outward", "locality")
EQUAL_KEY = re.compile(r'\(?l\."(\w+)" = r\."\1"\)?')


def equal_key_columns(sql: str) -> tuple[str, ...] | None:
    """The columns of a rule that only asks for equal keys (l."a" = r."a" AND ...), else None."""
    found = [EQUAL_KEY.fullmatch(part.strip()) for part in sql.split(" AND ")]
    return tuple(f.group(1) for f in found) if all(found) else None


def narrowed_to_budget(records: pa.Table, columns: tuple[str, ...], present: set[str]) -> tuple[str, ...]:
    """columns, or with a NARROWING_COLUMNS column added when they compare too many pairs
    (COMMITTED_RULE_MAX_COMPARISONS_PER_RECORD): the first that fits, else the last tried."""
    budget = COMMITTED_RULE_MAX_COMPARISONS_PER_RECORD * max(records.num_rows, 1)
    if not set(columns) <= present or _comparisons(records, columns, columns) <= budget:
        return columns
    narrowed = columns
    for extra in NARROWING_COLUMNS:
        if extra in present and extra not in columns:
            narrowed = (*columns, extra)
            if _comparisons(records, narrowed, narrowed) <= budget:
                break
    return narrowed


def sampled_to_budget(records: pa.Table, rule) -> tuple:
    """An EM session's rule, or, when it compares more pairs than the budget (COMMITTED_RULE_MAX_COMPARISONS_PER_
    RECORD), the same rule on a sample of its pairs: those whose records fall in the same of k buckets of their id,
    1 in k of them whatever their agreement. Not narrowed by a column as prediction is: EM trains no comparison
    that reads a column its rule blocks on, and the year of birth left DOB untrained (a review: recall 0.84 ->
    0.75). Returns (rule, k)."""
    columns = tuple(sorted(_rule_columns(rule)))
    budget = COMMITTED_RULE_MAX_COMPARISONS_PER_RECORD * max(records.num_rows, 1)
    pairs = _comparisons(records, columns, columns)
    if pairs <= budget:
        return rule, 1
    k = math.ceil(pairs / budget)
    return (_blocking_sql(columns, columns)
            + f' AND hash(l."person_record_id") % {k} = hash(r."person_record_id") % {k}'), k


def narrow_prediction_rules(model: dict, records: pa.Table, present: set[str]) -> None:
    """The model's prediction rules, each within the list's budget (narrowed_to_budget), in place."""
    for rule in model["blocking_rules_to_generate_predictions"]:
        columns = equal_key_columns(rule["blocking_rule"])
        if columns is not None:
            narrowed = narrowed_to_budget(records, columns, present)
            if narrowed != columns:
                rule["blocking_rule"] = _blocking_sql(narrowed, narrowed)


def _rule_columns(rule) -> set[str]:
    sql = rule.get_blocking_rule("duckdb").blocking_rule_sql if hasattr(rule, "get_blocking_rule") else str(rule)
    return {c for c in LIST_COLUMNS if f'"{c}"' in sql or f".{c} " in f"{sql} "}


MIN_IDENTIFIED_SHARE = 0.5
TRAINING_IDENTIFIERS = ("nhs_number", "ni_number", "other_id")


def identified_share(records: pa.Table, present: set[str]) -> float:
    """The share of records holding one of the identifiers the training sessions block on."""
    import pyarrow.compute as pc

    columns = [c for c in TRAINING_IDENTIFIERS if c in present]
    if not columns or not records.num_rows:
        return 0.0
    held = pc.is_valid(records[columns[0]])
    for column in columns[1:]:
        held = pc.or_(held, pc.is_valid(records[column]))
    return pc.sum(held).as_py() / records.num_rows


def train_on_list(records: pa.Table, model: dict, backend: DuckDBBackend, present: set[str],
                  prior_only: bool = False) -> tuple[dict, list[str]]:
    """Re-estimate the model on the list; returns (model, the steps that ran). prior_only: only the
    share of pairs that match (a list too short for u and m keeps the committed ones)."""
    from splink import block_on

    starting = copy.deepcopy(model)
    loaded = backend.load(records.select(LIST_COLUMNS), "list_train")
    linker = backend.linker(loaded, model)
    # Splink warns for each level a list cannot train (e.g. no NI numbers): expected here
    logging.getLogger("splink").setLevel(logging.ERROR)
    steps = []
    deterministic = [r for r in model_settings.DETERMINISTIC_RULES if _rule_columns(r) <= present]
    if "other_id" in present:
        deterministic.append(block_on("other_id"))
    if not deterministic and {"first_name", "surname", "address_line"} <= present:
        # no DOB and no identifier: names at one address line (and postcode). Else the prior stayed the
        # warehouse's, whatever the list's size, and two records of one person agreeing on names and address
        # scored p = 0.84. Not names and postcode alone: strangers and relatives share those (README)
        deterministic.append(block_on("first_name", "surname", "address_line",
                                      *(["postcode"] if "postcode" in present else [])))
    if deterministic:
        try:
            linker.training.estimate_probability_two_random_records_match(
                deterministic, recall=model_settings.DETERMINISTIC_RECALL)
            # a list in which no two records agree on a deterministic rule gives 0, which no weight can
            # overcome (and Splink fails on its logarithm): that is no evidence of no duplicates either
            if linker.misc.save_model_to_json()["probability_two_random_records_match"] > 0:
                steps.append("prior")
            else:
                linker = backend.linker(loaded, model, validate=False)
        except Exception:  # noqa: BLE001 - no deterministic matches: keep the committed prior
            pass
    if prior_only:
        sessions = []
    else:
        linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
        steps.append("u")
        sessions = [*model_settings.TRAINING_BLOCKING_RULES, block_on("other_id")]
        if identified_share(records, present) < MIN_IDENTIFIED_SHARE:
            # too few identifiers for their sessions to learn names and DOB (pairs sharing one may be a
            # mother and the baby carrying her number): block on what the list has
            sessions += [block_on("first_name", "surname"), block_on("dob", "postcode_outward"), block_on("dob")]
    for rule in sessions:
        if not _rule_columns(rule) <= present:
            continue
        name = "em:" + "+".join(sorted(_rule_columns(rule)))
        rule, sampled = sampled_to_budget(records, rule)
        before = linker.misc.save_model_to_json()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
            steps.append(name + (f" (1 pair in {sampled})" if sampled > 1 else ""))
        except Exception:  # noqa: BLE001 - too few pairs for this rule, or EM drove an m to 0: keep the m values
            # a failed session leaves the comparisons it blocks on out of the linker's model (Splink puts them
            # back only when a session succeeds): go on from the model as it was before it
            linker = backend.linker(loaded, before, validate=False)
    trained = linker.misc.save_model_to_json()
    keep_starting_location_m(trained, starting)
    floor_moved_m(trained)
    if "prior" in steps:
        recall = deterministic_recall(trained, [_rule_columns(r) for r in deterministic], records)
        if recall is not None:
            # the prior was (pairs the rules find) / DETERMINISTIC_RECALL: rescale it to the recall the
            # list's own m values give
            trained["probability_two_random_records_match"] = min(
                trained["probability_two_random_records_match"] * model_settings.DETERMINISTIC_RECALL / recall,
                MAX_PRIOR)
            steps.append("prior-recall")
    return trained, steps


# People move: at least this share of one person's pairs of records give different addresses or towns. An EM
# session that leaves only the location comparisons to estimate (blocked on names and DOB, say) can drive the
# m of 'All other comparisons' towards 0, which makes a move a veto of 30 match weights (a partner list with
# towns lost 10 points of recall that way).
MOVED_MIN_M = 0.05
LOCATION_COMPARISONS = ("location", "locality")


# ... and at most this share: more, and EM took pairs of strangers for matches. Blocked on forename and surname
# alone (a list without DOBs), in a list of common names most pairs in a block are namesakes who live apart; EM
# then learned that matches give different addresses (m 0.93), and an address shared by two records of one
# person weighed so little that a fourth audit's list of 4,000 persons linked none of its 2,000 true pairs.
MOVED_MAX_M = 0.5


def keep_starting_location_m(model: dict, starting: dict) -> None:
    """Where training left the m of a move (the location comparisons' last level) above MOVED_MAX_M, put back
    that comparison's starting m values (the committed model's, or the list's own defaults), in place."""
    before = {c["output_column_name"]: c for c in starting["comparisons"]}
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        moved = comparison["comparison_levels"][-1]
        if (name in LOCATION_COMPARISONS and name in before and (moved.get("m_probability") or 0) > MOVED_MAX_M
                and len(before[name]["comparison_levels"]) == len(comparison["comparison_levels"])):
            for level, start in zip(comparison["comparison_levels"], before[name]["comparison_levels"]):
                if "m_probability" in start:
                    level["m_probability"] = start["m_probability"]


def floor_moved_m(model: dict) -> None:
    """Raise the trained m of a move (the location comparisons' last level) to MOVED_MIN_M, in place."""
    for comparison in model["comparisons"]:
        if comparison["output_column_name"] in LOCATION_COMPARISONS:
            moved = comparison["comparison_levels"][-1]
            if moved.get("label_for_charts") == "All other comparisons" and moved.get("m_probability") is not None:
                moved["m_probability"] = max(moved["m_probability"], MOVED_MIN_M)


EXACT_LEVEL = re.compile(r'"(\w+)_l" = "\1_r"')
MIN_DETERMINISTIC_RECALL = 0.05
MAX_PRIOR = 0.5


def deterministic_recall(model: dict, rules: list[set[str]], records: pa.Table) -> float | None:
    """The share of true matches the deterministic rules (each: the columns it requires equal) find,
    as the trained model sees it: a rule finds a match when each of its columns is present on both
    records ((1 - the column's null share)^2) and agrees exactly (the m of its exact level); rules on
    disjoint columns fire independently. The committed DETERMINISTIC_RECALL is a guess for the
    warehouse's feeds, where exact agreement is common; a list with more typos or gaps has a lower
    recall, and a prior estimated with the guess would put every weight too low. None when a rule's
    column has no exact level."""
    exact_m = {}
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            found = EXACT_LEVEL.fullmatch(level.get("sql_condition", "").strip())
            if found and level.get("m_probability") is not None:
                exact_m.setdefault(found.group(1), level["m_probability"])
    if not rules or not all(columns and columns <= exact_m.keys() for columns in rules):
        return None
    missed = 1.0
    for columns in rules:
        finds = 1.0
        for column in columns:
            present = 1 - records[column].null_count / max(records.num_rows, 1)
            finds *= present ** 2 * exact_m[column]
        missed *= 1 - finds
    return max(1 - missed, MIN_DETERMINISTIC_RECALL)


# A list's DOBs are "loose" (a difference under a year then no longer refuses a merge: see
# linkage.cluster.ClusterRules.loose_dobs) when, among its matched pairs whose DOBs are within a year,
# fewer than this share agree exactly, transposed or within a typo. The warehouse's feeds agree on 0.99+,
# FEBRL's lists on 0.98-0.99, Splink's fake_1000 demo list on 0.66. Pairs further apart are left out of the
# share: a mother and the baby carrying her NHS number, or a father and a same-name son, are not
# evidence of loose DOBs.
DOB_RELIABLE_SHARE = 0.9
DOB_AGREEING_LEVELS = ("Exact match", "Day and month transposed", "One character different")
DOB_NEAR_LEVELS = ("Within 31 days", "Same year")
MIN_SAME_NAME_PAIRS = 20


def dob_agreement_among_same_names(records: pa.Table) -> float | None:
    """For a list too short to train: among pairs with the same forename and surname and DOBs within a
    year of each other (in a short list nearly all the same person), the share whose DOBs agree as
    dob_agreement_share counts it. None when there are fewer than MIN_SAME_NAME_PAIRS such pairs."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.register("records", records.select(["person_record_id", "first_name", "surname", "dob"]))
        total, agreeing = con.execute(f"""
            select count(*), count(*) filter (where l.dob = r.dob
                or (year(l.dob) = year(r.dob) and month(l.dob) = day(r.dob) and day(l.dob) = month(r.dob))
                or damerau_levenshtein(strftime(l.dob, '%Y%m%d'), strftime(r.dob, '%Y%m%d')) <= 1)
            from records l join records r on l.first_name = r.first_name and l.surname = r.surname
                and l.person_record_id < r.person_record_id
            where abs(date_diff('day', l.dob, r.dob)) <= {LOOSE_DOB_DAYS}""").fetchall()[0]
    finally:
        con.close()
    return agreeing / total if total >= MIN_SAME_NAME_PAIRS else None


# A trained list's DOB agreement (dob_agreement_share) is judged only where the list shows duplicates to learn it
# from: pairs agreeing exactly on forename, surname and DOB, at least this many and this share of its records.
# Else the m values (and the prior rescaled by them) come from EM on pairs nearly all of different people, and
# 50,000 distinct people with 100 duplicates came out "loose" (0.66), which dropped the DOB veto and merged 18
# pairs of strangers (precision 0.81 against 0.95).
LOOSE_DOBS_MIN_EXACT_PAIRS = 50
LOOSE_DOBS_MIN_EXACT_SHARE = 0.005


def shows_duplicates(records: pa.Table) -> bool:
    """Enough pairs of the list agree exactly on forename, surname and DOB (see LOOSE_DOBS_MIN_EXACT_PAIRS)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.register("records", records.select(["first_name", "surname", "dob"]))
        [(pairs,)] = con.execute("""select coalesce(sum(n * (n - 1) // 2), 0) from (select count(*) as n from records
            where first_name is not null and surname is not null and dob is not null
            group by first_name, surname, dob)""").fetchall()
    finally:
        con.close()
    return pairs >= max(LOOSE_DOBS_MIN_EXACT_PAIRS, LOOSE_DOBS_MIN_EXACT_SHARE * records.num_rows)


def near_dob_days(model: dict) -> int:
    """31 when the trained model counts a DOB a few weeks out ('Within 31 days') as evidence of one person
    (its m above its u), else 0: clustering then does not refuse what the model links."""
    [dob] = [c for c in model["comparisons"] if c["output_column_name"] == "dob"]
    for level in dob["comparison_levels"]:
        if level.get("label_for_charts") == DOB_WITHIN_A_MONTH["label_for_charts"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            return 31 if m is not None and u is not None and m > u else 0
    return 0


def dob_agreement_share(model: dict) -> float:
    """Among matches whose DOBs are near (agreeing, within 31 days or in the same year), the share that
    agree, by the model's m probabilities."""
    [dob] = [c for c in model["comparisons"] if c["output_column_name"] == "dob"]
    m = {level.get("label_for_charts"): level.get("m_probability") or 0.0 for level in dob["comparison_levels"]}
    agreeing = sum(m.get(label, 0.0) for label in DOB_AGREEING_LEVELS)
    near = agreeing + sum(m.get(label, 0.0) for label in DOB_NEAR_LEVELS)
    return agreeing / near if near else 1.0


def exact_duplicates(records: pa.Table, present: set[str]) -> pd.DataFrame:
    """Must-link pairs (person_record_id_l, person_record_id_r): records identical on every field the list
    maps, where those give a forename, a surname and a DOB or an identifier. The same person whatever the
    model says: a list of many identical rows makes every u 1 and every weight 0 (1,500 copies of one
    row stayed 1,500 persons)."""
    fields = sorted(present & (DESCRIPTIVE_FIELDS | IDENTIFIER_FIELDS | {"middle_names", "generation"}))
    keys = [f for f in ("dob", *sorted(IDENTIFIER_FIELDS)) if f in fields]
    if not {"first_name", "surname"} <= set(fields) or not keys:
        return pd.DataFrame(columns=PAIR_COLUMNS[:2])
    frame = records.select(["person_record_id", *fields]).to_pandas()
    frame = frame[frame["first_name"].notna() & frame["surname"].notna() & frame[keys].notna().any(axis=1)]
    first = frame.groupby(fields, dropna=False, sort=False)["person_record_id"].transform("first")
    pairs = pd.DataFrame({"person_record_id_l": first, "person_record_id_r": frame["person_record_id"]})
    return pairs[pairs["person_record_id_l"] != pairs["person_record_id_r"]].reset_index(drop=True)


def link_files(inputs: list[Path], id_column: str, mapping: dict[str, str], out: Path,
               pairs_out: Path | None = None, dob_format: str | None = None,
               threshold: float | None = None, sheet: str | None = None,
               age_on: list[dt.date] | None = None) -> dict:
    """Deduplicate one list or link and deduplicate several. Writes clusters.csv (source, record_id,
    person_id) and optionally pairs.csv. age_on: the date a mapped age was taken, one for every input or one
    per input in order (default: today). Returns counts and timings."""
    started = time.perf_counter()
    ages_on = ages_taken_on(age_on, len(inputs), AGE in mapping)
    refuse_dob_format_with_age(mapping, dob_format)
    check_output_path(out, "--out", inputs)
    if pairs_out is not None:
        check_output_path(pairs_out, "--pairs-out", [*inputs, out])
    stems = [Path(p).stem for p in inputs]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise ListError(f"inputs share the file name stem {repeated[0]!r}, which `source` in the output would "
                        "not tell apart: give each list its own file name")
    lists = [read_list(p, id_column, mapping, sheet=sheet, dob_format=dob_format, age_on=on)
             for p, on in zip(inputs, ages_on, strict=True)]
    ages_not_read = sum(frame.attrs.get("ages_not_read", 0) for frame in lists)
    raw = pd.concat(lists, ignore_index=True)
    records = standardise(raw, dob_format)
    present = _present(records)
    trainable = records.num_rows >= MIN_TRAIN_RECORDS
    weight = probability_to_weight(threshold) if threshold is not None else MATCH_WEIGHT_THRESHOLD
    model = list_model(present, term_frequencies=trainable)
    narrow_prediction_rules(model, records, present)
    added_rules = list_blocking_rules(records, present)
    model["blocking_rules_to_generate_predictions"] += [{"blocking_rule": rule, "sql_dialect": "duckdb"}
                                                        for rule in added_rules]
    backend = DuckDBBackend()
    try:
        steps: list[str] = []
        if records.num_rows >= MIN_PRIOR_RECORDS:
            model, steps = train_on_list(records, model, backend, present, prior_only=not trainable)
        linker = backend.linker(backend.load(records.select(LIST_COLUMNS), "list_records"), model)
        predictions = linker.inference.predict(threshold_match_weight=min(PAIR_FLOOR_WEIGHT, weight),
                                               warning_mode="never")
        pairs = backend.to_arrow(predictions).select(PAIR_COLUMNS).to_pandas()
    finally:
        backend.close()
    # A record without DOB is held to the threshold, not the warehouse's higher no-DOB bar: in a list it
    # is a person's only record, not one of many feeds' (the bar cost 7-10 points of recall on public
    # lists with names and DOB only, for no precision).
    dob_agreement = dob_agreement_share(model)
    if not trainable and "dob" in present:
        measured = dob_agreement_among_same_names(records)
        dob_agreement = dob_agreement if measured is None else measured
    rules = dataclasses.replace(LIST_RULES, loose_dobs=dob_agreement < DOB_RELIABLE_SHARE
                                and (not trainable or shows_duplicates(records)),
                                near_dob_days=near_dob_days(model), surnames_only=surnames_only(records))
    clustered = cluster(_nodes(records), pairs, weight, weight, must_link=exact_duplicates(records, present),
                        rules=rules)
    cluster_of = clustered.cluster_of.assign(person_id=lambda d: assign_person_ids(d))
    meta = records.select(["person_record_id", "source_system", "source_record_id"]).to_pandas()
    result = meta.merge(cluster_of, on="person_record_id").rename(
        columns={"source_system": "source", "source_record_id": "record_id"})
    result = result[["source", "record_id", "person_id"]].sort_values(["source", "record_id"], ignore_index=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    if pairs_out is not None:
        side = meta.set_index("person_record_id")
        person_of = cluster_of.set_index("person_record_id")["person_id"]
        table = pd.DataFrame({
            "source_l": side.loc[pairs["person_record_id_l"], "source_system"].to_numpy(),
            "record_id_l": side.loc[pairs["person_record_id_l"], "source_record_id"].to_numpy(),
            "source_r": side.loc[pairs["person_record_id_r"], "source_system"].to_numpy(),
            "record_id_r": side.loc[pairs["person_record_id_r"], "source_record_id"].to_numpy(),
            "match_probability": pairs["match_probability"].round(6).to_numpy(),
            # the clustering's answer: a pair scored high may still be refused (twins, a DOB or id conflict)
            "linked": (pairs["person_record_id_l"].map(person_of) == pairs["person_record_id_r"].map(person_of))
            .to_numpy(),
        }).sort_values(["match_probability", "source_l", "record_id_l", "source_r", "record_id_r"],
                       ascending=[False, True, True, True, True])
        Path(pairs_out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(pairs_out, index=False)
    return {"inputs": len(inputs), "records": int(records.num_rows), "persons": int(result["person_id"].nunique()),
            "pairs_scored": int(len(pairs)),
            "pairs_at_or_above_threshold": int((pairs["match_weight"] >= weight).sum()),
            "match_weight_threshold": round(weight, 3), "trained": steps, "list_blocking_rules": len(added_rules),
            "dob_agreement_share": round(dob_agreement, 3), "loose_dobs": rules.loose_dobs,
            "near_dob_days": rules.near_dob_days,
            **standardised_figures(records), "dob_given_as": dob_given_as(mapping), "ages_not_read": ages_not_read,
            "seconds": round(time.perf_counter() - started, 2)}


def surnames_only(records: pa.Table) -> frozenset[str]:
    """The words the list gives as surnames and never as forenames (SMITH-JONES gives two): in the middle-name
    field such a word is a maternal or maiden surname, not a given name (the clustering's middle-name rule)."""
    def words(column: str) -> set[str]:
        names = pd.Series(records[column].to_numpy(zero_copy_only=False)).dropna()
        return set(names.str.replace("-", " ").str.split().explode().dropna())

    forenames = words("first_name") | (words("forename_middles") if "forename_middles" in records.column_names
                                       else set())
    return frozenset(words("surname") - forenames)


def dob_given_as(mapping: dict[str, str]) -> str | None:
    """How the list gives dates of birth: 'date' (one column), 'parts' (dob_year...), 'age', or None."""
    if "dob" in mapping:
        return "date"
    if "dob_year" in mapping:
        return "parts"
    return "age" if AGE in mapping else None


def ages_taken_on(age_on: list[dt.date] | None, inputs: int, age_mapped: bool) -> list[dt.date | None]:
    """The date each input's ages were taken: one given for all, one per input, or none (today)."""
    if not age_on:
        return [None] * inputs
    if max(age_on) > dt.date.today():
        raise ListError("--age-on is a date to come: give the date the ages were taken")
    if not age_mapped:
        raise ListError("--age-on is given but no --map age=COLUMN")
    if len(age_on) == 1:
        return list(age_on) * inputs
    if len(age_on) != inputs:
        raise ListError(f"--age-on is given {len(age_on)} times for {inputs} inputs: give it once for all, or once "
                        "per --input in the same order")
    return list(age_on)


def standardised_figures(records: pa.Table) -> dict[str, int]:
    """Values the standardisation could not use: counts only."""
    def count(column: str) -> int:
        return int(np.sum(records[column].to_numpy(zero_copy_only=False)))

    unparsed = records["has_unparsed_dob"].to_numpy(zero_copy_only=False)
    with_year = unparsed & pd.notna(records["dob_year"].to_numpy(zero_copy_only=False))
    return {"unparsed_dates_of_birth": int(np.sum(unparsed & ~with_year)),
            "year_only_dates_of_birth": int(np.sum(with_year)),
            "placeholder_dates_of_birth": count("has_placeholder_dob"),
            "placeholder_identifiers": count("has_placeholder_identifier"),
            "placeholder_names": count("has_placeholder_name"),
            "identifiers_with_digits_lost": count("has_lost_identifier_digits"),
            # a forename split into given names (JOHN PAUL: the words after it are kept whether split or not)
            "forenames_split": int(np.sum(pd.notna(records["forename_middles"].to_numpy(zero_copy_only=False))
                                          & ~pd.Series(records["first_name"].to_numpy(zero_copy_only=False))
                                          .str.contains("[ -]", na=False).to_numpy())),
            "generations_given": records.num_rows - records["generation"].null_count}


def band_of(best: float, runner_up: float, threshold: float) -> str:
    if best >= threshold and runner_up < threshold:
        return "match"
    if best >= PAIR_FLOOR_WEIGHT:
        return "review"  # a weaker candidate, or two persons above the threshold
    return "no match"


def match_list(path: Path, id_column: str, mapping: dict[str, str], out: Path, warehouse: Path,
               dob_format: str | None = None, threshold: float | None = None, sheet: str | None = None,
               age_on: dt.date | None = None) -> dict:
    """Each row of the list: its best person_id in the warehouse's index, the probability and a band
    ('match' / 'review' / 'no match'). Writes <id column>, person_id, match_probability, match_weight,
    band, candidates (the id column as list_<id column> when it has one of the others' names)."""
    import duckdb

    from linkage.incremental import tf_columns
    from linkage.run import read_records

    started = time.perf_counter()
    check_output_path(out, "--out", [path])
    [age_on] = ages_taken_on([age_on] if age_on else None, 1, AGE in mapping)
    refuse_dob_format_with_age(mapping, dob_format)
    raw = read_list(path, id_column, mapping, source="list", sheet=sheet, dob_format=dob_format, age_on=age_on)
    id_column = raw.attrs["id_column"]  # the one of COL1|COL2 the list has: the output's column is named so
    # the warehouse's placeholder DOBs (1 January) are placeholders here too: a list record must not
    # compare a DOB its index counterpart was never given
    records = standardise(raw, dob_format, jan1_is_placeholder=True, uprn_zeros_stripped=False)
    if not Path(warehouse).is_file():
        raise ListError(f"{warehouse}: no warehouse there (run `familyhub demo` or the pipeline first, or set "
                        "FAMILYHUB_DATA_DIR)")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise ListError(f"{warehouse}: cannot be opened ({type(exc).__name__})") from None
    try:
        index = read_records(con)
        crosswalk = con.execute("select person_record_id, person_id from linkage.person_crosswalk").df()
    except duckdb.Error as exc:
        raise ListError(f"{warehouse}: no person index yet (materialise linkage/person_crosswalk first)") from exc
    finally:
        con.close()
    model = load_model(DEFAULT_MODEL_PATH)
    index = index.select(model_settings.INPUT_COLUMNS)
    # the committed rules compare a pair only when two of forename, surname and DOB agree: a row with both
    # names mistyped was never compared (42 of 50 in an audit); the list's own rules, within their budget
    model["blocking_rules_to_generate_predictions"] += [
        {"blocking_rule": rule, "sql_dialect": "duckdb"} for rule in list_blocking_rules(records, _present(records),
                                                                                          against=index)]
    backend = DuckDBBackend()
    try:
        indexed = backend.load(index, "index_records")
        linker = backend.linker(indexed, model)
        for column in tf_columns(model):  # term frequencies of the index, as its own run used
            linker.table_management.compute_tf_table(column)
        listed = backend.load(records.select(model_settings.INPUT_COLUMNS), "list_records")
        pairs = backend.to_arrow(linker.inference.predict_between(
            indexed, listed, threshold_match_weight=-10, warning_mode="never")).select(PAIR_COLUMNS).to_pandas()
    finally:
        backend.close()
    list_ids = set(records["person_record_id"].to_pylist())
    left_is_list = pairs["person_record_id_l"].isin(list_ids).to_numpy()
    pairs["list_record"] = np.where(left_is_list, pairs["person_record_id_l"], pairs["person_record_id_r"])
    pairs["index_record"] = np.where(left_is_list, pairs["person_record_id_r"], pairs["person_record_id_l"])
    pairs = pairs.merge(crosswalk, left_on="index_record", right_on="person_record_id", how="inner")
    per_person = (pairs.groupby(["list_record", "person_id"], as_index=False)
                  .agg(match_weight=("match_weight", "max"), match_probability=("match_probability", "max"))
                  .sort_values(["list_record", "match_weight", "person_id"], ascending=[True, False, True]))
    per_person["rank"] = per_person.groupby("list_record").cumcount()
    best = per_person[per_person["rank"] == 0].set_index("list_record")
    second = per_person[per_person["rank"] == 1].set_index("list_record")["match_weight"]
    candidates = per_person.groupby("list_record").size()
    has_dob = dict(zip(records["person_record_id"].to_pylist(), pd.notna(records["dob"].to_pandas()).tolist()))
    weight = probability_to_weight(threshold) if threshold is not None else MATCH_WEIGHT_THRESHOLD
    rows = []
    meta = records.select(["person_record_id", "source_record_id"]).to_pandas()
    for rid, record_id in zip(meta["person_record_id"], meta["source_record_id"]):
        bar = weight if has_dob[rid] else max(weight, NO_DOB_MATCH_WEIGHT_THRESHOLD)
        if rid in best.index:
            b = best.loc[rid]
            band = band_of(float(b["match_weight"]), float(second.get(rid, -np.inf)), bar)
            rows.append((record_id, b["person_id"] if band != "no match" else None,
                         round(float(b["match_probability"]), 6), round(float(b["match_weight"]), 3), band,
                         int(candidates[rid])))
        else:
            rows.append((record_id, None, None, None, "no match", 0))  # no candidate: nothing was scored
    outputs = ["person_id", "match_probability", "match_weight", "band", "candidates"]
    id_output = f"list_{id_column}" if id_column in outputs else id_column  # an id column called person_id
    result = pd.DataFrame(rows, columns=[id_output, *outputs]).sort_values(id_output, ignore_index=True)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    counts = result["band"].value_counts()
    return {"records": int(len(result)), "index_person_records": int(index.num_rows),
            "match": int(counts.get("match", 0)), "review": int(counts.get("review", 0)),
            "no_match": int(counts.get("no match", 0)), "match_weight_threshold": round(weight, 3),
            # mapped, but the index's model has no comparison for them (fields, not values)
            "fields_not_compared": sorted(set(mapping) & MATCH_FIELDS_NOT_COMPARED),
            "dob_given_as": dob_given_as(mapping), "ages_not_read": raw.attrs.get("ages_not_read", 0),
            **standardised_figures(records), "seconds": round(time.perf_counter() - started, 2)}
