"""Land partner-feed files into DuckDB schema `raw`, as the feed registry describes them.

One file lands in one transaction: its parsed rows go to raw.<feed>, rows that cannot be parsed go to
raw._rejects (feed, file, row number, reason, original text), and raw._deliveries records the file's
sha256 so that landing the same bytes again is a no-op. A file whose columns differ from the registry
lands nothing and raises SchemaDriftError naming the missing and extra columns.

Reasons name columns and formats, never values: the original text stays in the warehouse only.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.lib.feeds import PROVENANCE_COLUMNS, Column, Feed, raw_table_ddl

CHUNK_ROWS = 100_000
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes

DELIVERIES_DDL = """
create table if not exists raw._deliveries (
    delivery_id varchar, feed varchar, file_name varchar, file_sha256 varchar, file_bytes bigint,
    status varchar, rows_landed bigint, rows_rejected bigint, reason varchar, landed_at timestamp
)"""
REJECTS_DDL = """
create table if not exists raw._rejects (
    delivery_id varchar, feed varchar, file_name varchar, file_sha256 varchar, row_number bigint,
    reason varchar, original_text varchar, loaded_at timestamp
)"""


class LandingError(Exception):
    """A file that cannot land at all. Messages carry column names and counts, never values."""


class SchemaDriftError(LandingError):
    def __init__(self, feed: str, file_name: str, missing: list[str], extra: list[str]):
        self.missing, self.extra = missing, extra
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unexpected columns {extra}")
        super().__init__(f"{feed}: {file_name} does not match the registry: {'; '.join(parts)}")


@dataclass
class FileResult:
    file_name: str
    delivery_id: str
    status: str  # landed | skipped | failed
    rows_landed: int = 0
    rows_rejected: int = 0
    reason: str | None = None


@dataclass
class FeedResult:
    feed: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows_landed(self) -> int:
        return sum(f.rows_landed for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def failures(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_raw_schema(con: duckdb.DuckDBPyConnection, feeds: list[Feed] | None = None) -> None:
    con.execute("create schema if not exists raw")
    con.execute(DELIVERIES_DDL)
    con.execute(REJECTS_DDL)
    for feed in feeds or []:
        con.execute(raw_table_ddl(feed))


def feed_files(feed: Feed, landing_dir: Path) -> list[Path]:
    return sorted((landing_dir / feed.name).glob(feed.file_pattern))


def land_feed(con: duckdb.DuckDBPyConnection, feed: Feed, landing_dir: Path) -> FeedResult:
    """Land every file of one feed that has not landed before. Failures are reported, not raised."""
    ensure_raw_schema(con, [feed])
    result = FeedResult(feed.name)
    for path in feed_files(feed, landing_dir):
        result.files.append(land_file(con, feed, path))
    return result


def land_file(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path) -> FileResult:
    sha = file_sha256(path)
    delivery_id = f"{feed.name}:{sha[:16]}"
    already = _scalar(
        con, "select count(*) from raw._deliveries where feed = ? and file_sha256 = ? and status = 'landed'",
        [feed.name, sha])
    if already:
        return FileResult(path.name, delivery_id, "skipped")

    loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    context = _Context(feed, path.name, sha, delivery_id, loaded_at)
    con.execute("begin transaction")
    try:
        for chunk in _parsed_chunks(feed, path):
            _write_chunk(con, context, chunk)
        landed, rejected = context.rows_landed, context.rows_rejected
        _record_delivery(con, context, path, "landed", None)
        con.execute("commit")
        return FileResult(path.name, delivery_id, "landed", landed, rejected)
    except LandingError as exc:
        con.execute("rollback")
        _record_delivery(con, context, path, "failed", str(exc))
        return FileResult(path.name, delivery_id, "failed", reason=str(exc))
    except BaseException:
        con.execute("rollback")
        raise


@dataclass
class _Context:
    feed: Feed
    file_name: str
    sha: str
    delivery_id: str
    loaded_at: dt.datetime
    rows_landed: int = 0
    rows_rejected: int = 0


def _record_delivery(con, ctx: _Context, path: Path, status: str, reason: str | None) -> None:
    landed = ctx.rows_landed if status == "landed" else 0
    rejected = ctx.rows_rejected if status == "landed" else 0
    con.execute(
        "insert into raw._deliveries values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [ctx.delivery_id, ctx.feed.name, ctx.file_name, ctx.sha, path.stat().st_size, status, landed, rejected,
         reason, ctx.loaded_at],
    )


# --- parsing: every format becomes chunks of text columns plus structural rejects -----------------


@dataclass
class _Chunk:
    """Rows as text in registry column order, plus rows rejected before typing."""

    row_numbers: list[int]
    values: list[list[str | None]]  # one list per registry column
    rejects: list[tuple[int, str, str]]  # (row_number, reason, original_text)
    originals: list[str] | None = None  # the delivered text per row, where it cannot be rebuilt from the values


def _check_header(feed: Feed, file_name: str, header: list[str]) -> list[int]:
    """Position of each registry column in the delivered header; raise if they differ."""
    delivered = [h.strip() for h in header]
    expected = feed.header
    missing = [c for c in expected if c not in delivered]
    extra = [c for c in delivered if c not in expected]
    duplicated = sorted({c for c in delivered if delivered.count(c) > 1})
    if missing or extra:
        raise SchemaDriftError(feed.name, file_name, missing, extra)
    if duplicated:
        raise LandingError(f"{feed.name}: {file_name} repeats columns {duplicated}")
    return [delivered.index(c) for c in expected]


def _parsed_chunks(feed: Feed, path: Path) -> Iterator[_Chunk]:
    if path.stat().st_size == 0:
        raise LandingError(f"{feed.name}: {path.name} is empty (no header row)")
    if feed.format == "csv":
        yield from _csv_chunks(feed, path)
    elif feed.format == "jsonl":
        yield from _jsonl_chunks(feed, path)
    elif feed.format == "xlsx":
        yield from _xlsx_chunks(feed, path)
    else:  # the registry loader already refuses other formats
        raise LandingError(f"{feed.name}: unsupported format {feed.format}")


def _new_chunk(n_columns: int, keep_originals: bool = False) -> _Chunk:
    return _Chunk([], [[] for _ in range(n_columns)], [], [] if keep_originals else None)


def _csv_chunks(feed: Feed, path: Path) -> Iterator[_Chunk]:
    encoding = "utf-8-sig" if codecs.lookup(feed.encoding).name == "utf-8" else feed.encoding
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=feed.delimiter)
        header = next(reader, None)
        if header is None:
            raise LandingError(f"{feed.name}: {path.name} has no header row")
        if any(_BAD_BYTES.search(h) for h in header):
            raise LandingError(f"{feed.name}: {path.name} header is not valid {feed.encoding}")
        positions = _check_header(feed, path.name, header)
        width = len(header)
        chunk = _new_chunk(len(positions))
        for row_number, row in enumerate(reader, start=1):
            if len(row) != width:
                if not row:  # a blank line carries no data; the csv module yields []
                    continue
                chunk.rejects.append((row_number, f"expected {width} fields, found {len(row)}",
                                      _original(feed.delimiter.join(row))))
            elif _BAD_BYTES.search("".join(row)):
                chunk.rejects.append((row_number, f"bytes not valid in encoding {feed.encoding}",
                                      _original(feed.delimiter.join(row))))
            else:
                chunk.row_numbers.append(row_number)
                for column_values, position in zip(chunk.values, positions):
                    column_values.append(row[position])
            if len(chunk.row_numbers) + len(chunk.rejects) >= CHUNK_ROWS:
                yield chunk
                chunk = _new_chunk(len(positions))
        yield chunk


def _original(text: str) -> str:
    """Keep undecodable bytes visible (as \\xNN) rather than dropping them."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _jsonl_chunks(feed: Feed, path: Path) -> Iterator[_Chunk]:
    expected = feed.header
    seen_keys: set[str] = set()
    chunk = _new_chunk(len(expected), keep_originals=True)
    with open(path, "rb") as fh:
        for row_number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode(feed.encoding))
            except UnicodeDecodeError:
                chunk.rejects.append((row_number, f"bytes not valid in encoding {feed.encoding}",
                                      line.decode(feed.encoding, errors="backslashreplace").rstrip("\r\n")))
                continue
            except json.JSONDecodeError:
                chunk.rejects.append((row_number, "not valid JSON", line.decode(feed.encoding).rstrip("\r\n")))
                continue
            if not isinstance(record, dict):
                chunk.rejects.append((row_number, "JSON value is not an object", line.decode(feed.encoding).rstrip("\r\n")))
                continue
            seen_keys.update(record)
            chunk.row_numbers.append(row_number)
            chunk.originals.append(line.decode(feed.encoding).rstrip("\r\n"))
            for column_values, name in zip(chunk.values, expected):
                column_values.append(_as_text(record.get(name)))
            if len(chunk.row_numbers) + len(chunk.rejects) >= CHUNK_ROWS:
                _check_json_keys(feed, path.name, seen_keys)
                yield chunk
                chunk = _new_chunk(len(expected), keep_originals=True)
    _check_json_keys(feed, path.name, seen_keys)
    yield chunk


def _check_json_keys(feed: Feed, file_name: str, seen: set[str]) -> None:
    # JSON exporters omit null keys, so an optional key absent everywhere is not drift; an unknown key is,
    # and so is a required key that no record carries.
    extra = sorted(seen - set(feed.header))
    missing = [c.name for c in feed.columns if c.name not in seen and (extra or c.required)]
    if extra or missing:
        raise SchemaDriftError(feed.name, file_name, missing, extra)


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value, sort_keys=True)


def _xlsx_chunks(feed: Feed, path: Path) -> Iterator[_Chunk]:
    # calamine (Rust) reads a sheet ~10x faster than openpyxl's read-only mode; imported only for xlsx feeds
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for a broken or non-XLSX file
        raise LandingError(f"{feed.name}: {path.name} is not a readable XLSX workbook ({type(exc).__name__})") from None
    if feed.sheet and feed.sheet not in workbook.sheet_names:
        raise LandingError(f"{feed.name}: {path.name} has no sheet {feed.sheet!r} (sheets: {workbook.sheet_names})")
    sheet = workbook.get_sheet_by_name(feed.sheet) if feed.sheet else workbook.get_sheet_by_index(0)
    rows = sheet.iter_rows()
    header = next(rows, None)
    if header is None:
        raise LandingError(f"{feed.name}: {path.name} has no header row")
    header = ["" if h is None else str(h) for h in header]
    while header and header[-1] == "":  # trailing formatted-but-empty cells
        header.pop()
    positions = _check_header(feed, path.name, header)
    date_columns = {i for i, c in enumerate(feed.columns) if c.format == "excel"}
    chunk = _new_chunk(len(positions))
    for row_number, row in enumerate(rows, start=1):
        if all(v is None or v == "" for v in row):
            continue
        cells = list(row) + [None] * (len(header) - len(row))
        chunk.row_numbers.append(row_number)
        for index, (column_values, position) in enumerate(zip(chunk.values, positions)):
            value = cells[position]
            if index in date_columns and isinstance(value, dt.datetime):
                value = value.date()
            column_values.append(None if value == "" else _as_text(value))
        if len(chunk.row_numbers) >= CHUNK_ROWS:
            yield chunk
            chunk = _new_chunk(len(positions))
    yield chunk


# --- typing in DuckDB: one vectorised statement per chunk ------------------------------------------


def _typed_expression(column: Column, source: str) -> str:
    text = f"nullif(trim({source}), '')"
    if column.type == "string":
        return f"nullif({source}, '')"
    if column.type == "integer":
        return f"try_cast({text} as bigint)"
    if column.type == "decimal":
        return f"try_cast({text} as decimal(18,2))"
    fmt = "%Y-%m-%d" if column.format == "excel" else column.format
    parsed = f"try_strptime({text}, '{fmt}')"
    return f"cast({parsed} as date)" if column.type == "date" else parsed


def _problem(column: Column, source: str, typed: str) -> str:
    """SQL yielding a reason text when the column's value is unusable, else null."""
    blank = f"nullif(trim({source}), '') is null"
    checks = []
    if column.required:
        checks.append(f"when {blank} then '{column.name}: required value missing'")
    if column.type != "string":
        expected = {"integer": "a whole number", "decimal": "a number"}.get(column.type)
        if expected is None:
            expected = "an Excel date" if column.format == "excel" else f"a {column.type} in format {column.format}"
        checks.append(f"when not ({blank}) and {typed} is null then '{column.name}: not {expected}'")
    if not checks:
        return "null"
    return f"case {' '.join(checks)} end"


def _write_chunk(con: duckdb.DuckDBPyConnection, ctx: _Context, chunk: _Chunk) -> None:
    feed = ctx.feed
    if chunk.rejects:
        con.executemany(
            "insert into raw._rejects values (?, ?, ?, ?, ?, ?, ?, ?)",
            [[ctx.delivery_id, feed.name, ctx.file_name, ctx.sha, n, reason, text, ctx.loaded_at]
             for n, reason, text in chunk.rejects],
        )
        ctx.rows_rejected += len(chunk.rejects)
    if not chunk.row_numbers:
        return

    names = [f"c{i}" for i in range(len(feed.columns))]
    arrays = [pa.array(chunk.row_numbers, pa.int64())] + [pa.array(v, pa.string()) for v in chunk.values]
    if chunk.originals is not None:
        arrays.append(pa.array(chunk.originals, pa.string()))
        original = "delivered_text"
    else:  # CSV and XLSX rows are rebuilt from their fields
        separator = _sql_string(feed.delimiter if feed.format == "csv" else "\t")
        original = f"concat_ws('{separator}', " + ", ".join(f"coalesce({n}, '')" for n in names) + ")"
    incoming = pa.Table.from_arrays(
        arrays, names=["row_number", *names] + (["delivered_text"] if chunk.originals is not None else []))
    con.register("_landing_chunk", incoming)
    try:
        typed = [_typed_expression(c, n) for c, n in zip(feed.columns, names)]
        problems = [_problem(c, n, t) for c, n, t in zip(feed.columns, names, typed)]
        con.execute(f"""
            create or replace temp table _landing_typed as
            select row_number,
                   {', '.join(f'{t} as t{i}' for i, t in enumerate(typed))},
                   concat_ws('; ', {', '.join(problems)}) as reason,
                   {original} as original_text
            from _landing_chunk
        """)
        raw_columns = ", ".join(f'"{c.raw_name}"' for c in feed.columns)
        provenance = ", ".join(f'"{p}"' for p in PROVENANCE_COLUMNS)
        con.execute(
            f"""insert into {feed.raw_table} ({raw_columns}, {provenance})
                select {', '.join(f't{i}' for i in range(len(feed.columns)))}, ?, ?, ?, row_number, ?
                from _landing_typed where reason = '' order by row_number""",
            [ctx.delivery_id, ctx.file_name, ctx.sha, ctx.loaded_at],
        )
        ctx.rows_landed += _scalar(con, "select count(*) from _landing_typed where reason = ''")
        con.execute(
            """insert into raw._rejects
               select ?, ?, ?, ?, row_number, reason, original_text, ?
               from _landing_typed where reason <> '' order by row_number""",
            [ctx.delivery_id, feed.name, ctx.file_name, ctx.sha, ctx.loaded_at],
        )
        ctx.rows_rejected += _scalar(con, "select count(*) from _landing_typed where reason <> ''")
    finally:
        con.unregister("_landing_chunk")
        con.execute("drop table if exists _landing_typed")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    # duckdb 2.0: fetchone() leaves the result open, and an open result blocks register(); fetchall() closes it.
    return con.execute(sql, params or []).fetchall()[0][0]


def _sql_string(text: str) -> str:
    return text.replace("'", "''")
