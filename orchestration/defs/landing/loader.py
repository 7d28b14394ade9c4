"""Land partner-feed files into DuckDB schema `raw`, as the feed registry describes them.

One file lands in one transaction: its parsed rows go to raw.<feed>, rows that cannot be parsed go to
raw._rejects (feed, file, row number, reason, original text), and raw._deliveries records the file's
sha256 so that landing the same bytes again is a no-op (the same bytes under a new name are recorded once,
status 'duplicate', with no rows). A file whose columns differ from the registry lands nothing and raises
SchemaDriftError naming the missing columns, and the extra ones only when they read as column names (else counted
and placed: a header run into its first record, or a note in a header cell, is personal data).

Files of one feed land in delivery order (modification time, then name), and each delivery's _loaded_at is
strictly later than the feed's previous one. raw._deliveries also records each file's extract date (the date
in its name, Feed.extract_date): staging orders a record's versions by it, then by _loaded_at, so a resend of
an older extract landing late does not replace newer versions; landing notes such a delivery in its reason.
Row n of a CSV file is its physical line n + 1 (the header is line 1); a record whose quoted field runs over
several lines keeps the number of its first line. A quote that does not close (a stray one) costs its own line;
when it leaves that line short of the header's fields (a field broken over lines, its closing quote missing), the
lines that go on with that record are rejected with it, each naming the row it continues (_ShortRecord).

Reasons name columns, positions and formats, never values: the original text stays in the warehouse only.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.lib.deliveries import not_held, withdrawn_records
from orchestration.lib.feeds import PROVENANCE_COLUMNS, Column, Feed, raw_table_ddl, registry
from orchestration.lib.metadata import looks_personal

CHUNK_ROWS = 100_000
# A quoted CSV field may run over a few lines (an address or a note with line breaks); an opening quote that
# does not close within this many lines is a stray quote, and costs its own line (and, when its record is short of
# fields, the lines continuing it within this many lines: _ShortRecord).
MAX_RECORD_LINES = 10
UNBALANCED_QUOTE = "unbalanced quote: a quoted field opened on this line does not close on it"
NUL_BYTE = "a NUL byte (binary data, not text): kept here, shown as \\x00"
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes
# A value longer than this (Python csv's default field limit) rejects its row, naming the column; csv's own
# limit is lifted so that such a field costs its row, not the whole file.
MAX_VALUE_CHARS = 131_072
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

DELIVERIES_DDL = """
create table if not exists raw._deliveries (
    delivery_id varchar, feed varchar, file_name varchar, file_sha256 varchar, file_bytes bigint,
    status varchar, rows_landed bigint, rows_rejected bigint, reason varchar, landed_at timestamp,
    extract_date date, full_extract boolean
)"""
REJECTS_DDL = """
create table if not exists raw._rejects (
    delivery_id varchar, feed varchar, file_name varchar, file_sha256 varchar, row_number bigint,
    reason varchar, original_text varchar, loaded_at timestamp
)"""


class LandingError(Exception):
    """A file that cannot land at all. Messages carry column names and counts, never values."""


class SchemaDriftError(LandingError):
    """Delivered columns differ from the registry's.

    `missing` are registry names (our own text), always named. `extra` is delivered text: it is named only when the
    delivered header is plausibly a header (at least half of the registry's columns present) and every unexpected
    name is plausibly a column's name (_nameable). Otherwise the first row is probably data (a file without its
    header row), or the header ran into the first record or holds a note, and quoting it would put personal data
    into logs and raw._deliveries: the message then gives counts and, for a header, positions only.
    `positions` are the unexpected columns' 1-based places in the header (None for JSON keys); `key_shape` what
    an unexpected name must look like in full to be named (a JSON key: a field name, not a person's name).
    """

    def __init__(self, feed: str, file_name: str, missing: list[str], extra: list[str], *, found: int,
                 expected: int, not_a_header: str = "the first row does not look like a header (no header row?)",
                 explanation: str | None = None, positions: list[int] | None = None,
                 key_shape: re.Pattern[str] | None = None):
        self.missing = missing
        self.looks_like_header = 2 * found >= expected or not extra
        self.extra = extra if self.looks_like_header and _nameable(extra, len(missing), key_shape) else []
        parts = []
        if not self.looks_like_header:
            parts.append(f"{not_a_header}: {found} of the registry's {expected} columns found, "
                         f"{len(extra)} unrecognised")
        if missing:
            parts.append(f"missing columns {missing}")
        if self.extra:
            parts.append(f"unexpected columns {self.extra}")
        elif extra and self.looks_like_header:
            parts.append(_not_named(extra, positions))
        if explanation:
            parts.append(explanation)
        super().__init__(f"{feed}: {file_name} does not match the registry: {'; '.join(parts)}")


# An unexpected column is named in a drift message only if it reads as a column's name: at most this long, none
# of these shapes (a date, a run of digits, an email, a note's punctuation), no identifier (PERSONAL_VALUE), and at
# most MAX_NAMED_EXTRA more of them than columns missing (a renamed column is one for one; a header run into its
# first record brings a record's worth).
MAX_NAMED_CHARS = 40
MAX_NAMED_EXTRA = 2
_VALUE_SHAPE = re.compile(
    r"\d{3}"  # a run of digits: an id, a year, a phone number
    r"|\b\d{1,2}[-/. ]\d{1,2}[-/. ]\d{2}"  # 1/2/85, 01-02-1985
    r"|\b\d{1,2}[-/. ]?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[-/. ]?\d{2}"  # 12 Mar 85, 12-MAR-1985
    r"|@|[,;:!?]",  # an email; a note's punctuation
    re.I)


def _nameable(extra: list[str], n_missing: int, key_shape: re.Pattern[str] | None = None) -> bool:
    return len(extra) <= n_missing + MAX_NAMED_EXTRA and all(
        len(name) <= MAX_NAMED_CHARS and name.isprintable() and not _VALUE_SHAPE.search(name)
        and not looks_personal(name) and (key_shape is None or key_shape.fullmatch(name)) for name in extra)


def _not_named(extra: list[str], positions: list[int] | None) -> str:
    """Unexpected columns that may be values: how many and where, never their text."""
    if positions is None:  # JSON keys: a set over the file's records, in no order
        return (f"{_count(len(extra), 'unexpected key')}, not named as {'it does' if len(extra) == 1 else 'they do'} "
                "not look like field names (records keyed by a value such as a name or an id, or carrying notes?)")
    one = len(positions) == 1
    return (f"{_count(len(extra), 'unexpected column')} at position{'' if one else 's'} {_listed(positions)} of the "
            f"header, not named as {'it' if one else 'they'} may be values (the header may have run into the first "
            "record, or hold notes)")


@dataclass
class FileResult:
    file_name: str
    delivery_id: str
    # landed | skipped (these bytes landed before: under this name, or under another, then recorded once in
    # raw._deliveries as 'duplicate', the reason naming the file) | failed | failed_before (these bytes failed
    # before, for the same reason: not recorded again, and not a new failure until a different file arrives
    # or the registry changes)
    status: str
    rows_landed: int = 0
    rows_rejected: int = 0
    # why it failed; for a landed file, what the data team should know (an older extract, rows read as UTF-8)
    reason: str | None = None


@dataclass
class FeedResult:
    feed: str
    files: list[FileResult] = field(default_factory=list)
    # files in landing/<feed>/ whose names file_pattern does not match: not landed, reported as a count
    files_not_matching_pattern: int = 0

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
    _add_extract_dates(con)
    _add_full_extract_flags(con)
    con.execute(REJECTS_DDL)
    for feed in feeds or []:
        con.execute(raw_table_ddl(feed))
        _add_registry_columns(con, feed)


def _add_registry_columns(con: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    """A column the registry added to a feed since its raw table was created (e.g. programme_cases'
    assessment_date) is added to the table, null on the rows landed before it existed."""
    schema, table = feed.raw_table.split(".")
    present = {r[0] for r in con.execute("select column_name from duckdb_columns() where schema_name = ? "
                                         "and table_name = ?", [schema, table]).fetchall()}
    for column in feed.columns:
        if column.raw_name not in present:
            con.execute(f'alter table {feed.raw_table} add column "{column.raw_name}" {column.sql_type}')


def _add_extract_dates(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse landed before extract dates were recorded gets the column, filled from its files' names
    (else its older deliveries would sort by landing day, after every dated one)."""
    if _scalar(con, "select count(*) from duckdb_columns() where schema_name = 'raw' "
                    "and table_name = '_deliveries' and column_name = 'extract_date'"):
        return
    con.execute("alter table raw._deliveries add column extract_date date")
    feeds = registry()
    for feed_name, file_name in con.execute("select distinct feed, file_name from raw._deliveries").fetchall():
        extract_date = feeds[feed_name].extract_date(file_name) if feed_name in feeds else None
        if extract_date is not None:
            con.execute("update raw._deliveries set extract_date = ? where feed = ? and file_name = ?",
                        [extract_date, feed_name, file_name])


def _add_full_extract_flags(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse landed before full extracts were recorded gets the column."""
    if _scalar(con, "select count(*) from duckdb_columns() where schema_name = 'raw' "
                    "and table_name = '_deliveries' and column_name = 'full_extract'"):
        return
    # deliveries landed before are not taken as full extracts: a record they lack was never judged withdrawn, so
    # withdrawing starts with the feed's next full extract, which the raw gate judges and landing's note counts
    con.execute("alter table raw._deliveries add column full_extract boolean")
    con.execute("update raw._deliveries set full_extract = false")


def _plain_files(folder: Path) -> list[Path]:
    """The folder's files, not its subfolders; hidden ones (.DS_Store, an rsync upload in progress) are no delivery."""
    if not folder.is_dir():
        return []
    return [path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")]


def feed_files(feed: Feed, landing_dir: Path) -> list[Path]:
    """The feed's files in delivery order: when they were written, then by name (for equal times). File names
    match the feed's file_pattern regardless of letter case (Feed.matches)."""
    files = [(path.stat().st_mtime_ns, path.name, path)
             for path in _plain_files(landing_dir / feed.name) if feed.matches(path.name)]
    return [path for _, _, path in sorted(files, key=lambda f: f[:2])]


def files_not_matching_pattern(feed: Feed, landing_dir: Path) -> int:
    """How many files in landing/<feed>/ the feed's file_pattern does not match: they never land, so the feed's
    asset reports them (a count: a file's name may carry personal data)."""
    return sum(not feed.matches(path.name) for path in _plain_files(landing_dir / feed.name))


def unknown_landing_folders(landing_dir: Path, feeds: list[Feed]) -> dict[str, int]:
    """{folder under landing/ that is no registered feed: its file count} (none of them lands); '' counts the files
    directly in landing/. Folders without files are left out. Only a folder's own files count, as for a feed's
    folder: the sensor calls this on every tick, and a council's archive tree under landing/ is not to be walked."""
    if not landing_dir.is_dir():
        return {}
    names = {feed.name for feed in feeds}
    found = {"": len(_plain_files(landing_dir))}
    for folder in landing_dir.iterdir():
        if folder.is_dir() and folder.name not in names and not folder.name.startswith("."):
            found[folder.name] = len(_plain_files(folder))
    return {name: n for name, n in sorted(found.items()) if n}


def unlanded_message(folder: str, n_files: int, feeds: list[Feed]) -> str:
    """What to tell the data team about files in landing/<folder> ('' for landing/ itself) that no feed lands:
    counts, and a folder's name only when it is a feed's (or a feed's in another letter case); never a file's or
    another folder's name (a partner may name either after a person)."""
    files = f"{n_files} file in" if n_files == 1 else f"{n_files} files in"
    match = "matches" if n_files == 1 else "match"
    own = next((feed for feed in feeds if feed.name == folder), None)
    if own is not None:
        return f"{files} landing/{folder} {match} no feed's file pattern (expected e.g. {own.file_pattern})"
    # a folder spelt like a feed but for case (landing/CSC_Persons/): name the feed it was probably meant for
    recased = next((feed for feed in feeds if feed.name.lower() == folder.lower()), None)
    meant = recased or (feeds[0] if feeds else None)
    example = f" (expected e.g. landing/{meant.name}/{meant.file_pattern})" if meant else ""
    where = (f"landing/{folder}, which is no registered feed," if recased else
             "a folder under landing/ that is no registered feed" if folder else "landing/ itself")
    return f"{files} {where} {match} no feed's file pattern{example}"


def land_feed(con: duckdb.DuckDBPyConnection, feed: Feed, landing_dir: Path) -> FeedResult:
    """Land every file of one feed that has not landed before, in delivery order. Failures are reported, not raised."""
    ensure_raw_schema(con, [feed])
    # a registry upgrade reaches every feed's raw table at the first landing of any feed: staging (one dbt run)
    # reads them all, and would fail on a column a feed that did not land yet still lacks
    existing = {f"{schema}.{name}" for schema, name in con.execute(
        "select schema_name, table_name from duckdb_tables() where schema_name = 'raw'").fetchall()}
    for other in registry().values():
        if other.name != feed.name and other.raw_table in existing:
            _add_registry_columns(con, other)
    result = FeedResult(feed.name, files_not_matching_pattern=files_not_matching_pattern(feed, landing_dir))
    for path in feed_files(feed, landing_dir):
        result.files.append(land_file(con, feed, path))
    return result


def land_file(con: duckdb.DuckDBPyConnection, feed: Feed, path: Path) -> FileResult:
    sha = file_sha256(path)
    delivery_id = f"{feed.name}:{sha[:16]}"
    context = _Context(feed, path.name, sha, delivery_id, _next_loaded_at(con, feed), feed.extract_date(path.name))
    landed_before = con.execute(
        "select file_name, landed_at from raw._deliveries where feed = ? and file_sha256 = ? and status = 'landed' "
        "order by landed_at limit 1", [feed.name, sha]).fetchall()
    if landed_before:
        return _landed_before(con, context, path, *landed_before[0])

    older = _older_extract_note(con, context)
    context.notes += older
    must_carry = _optional_columns_delivered(con, feed)
    con.execute("begin transaction")
    try:
        for chunk in _parsed_chunks(feed, path, context.notes, must_carry):
            _write_chunk(con, context, chunk)
        landed, rejected = context.rows_landed, context.rows_rejected
        _record_delivery(con, context, path, "landed", "; ".join(context.notes) or None)
        if feed.is_full_extract and not older:  # an older extract withdraws nothing
            context.notes += _withdrawn_note(con, context)
            con.execute("update raw._deliveries set reason = ? where delivery_id = ? and status = 'landed'",
                        ["; ".join(context.notes) or None, delivery_id])
        note = "; ".join(context.notes) or None
        con.execute("commit")
        return FileResult(path.name, delivery_id, "landed", landed, rejected, reason=note)
    except LandingError as exc:
        con.execute("rollback")
        reason = str(exc)
        # The same bytes failing the same way again is not news: record it once. A different reason (the
        # registry changed, say) is recorded, and a fix that makes the file land lands it.
        failed_before = _scalar(
            con, "select count(*) from raw._deliveries where feed = ? and file_sha256 = ? and status = 'failed' "
                 "and reason = ?", [feed.name, sha, reason])
        if failed_before:
            return FileResult(path.name, delivery_id, "failed_before", reason=reason)
        _record_delivery(con, context, path, "failed", reason)
        return FileResult(path.name, delivery_id, "failed", reason=reason)
    except BaseException:
        con.execute("rollback")
        raise


def _landed_before(con, ctx: _Context, path: Path, first_file: str, first_landed_at: dt.datetime) -> FileResult:
    """These bytes landed before. Under this name: a silent no-op. Under another name (a resend, a copy): the
    arrival is recorded once, status 'duplicate' with the same delivery id, so the data team sees it came;
    no rows land twice."""
    seen = _scalar(con, "select count(*) from raw._deliveries where feed = ? and file_sha256 = ? and file_name = ? "
                        "and status in ('landed', 'duplicate')", [ctx.feed.name, ctx.sha, ctx.file_name])
    if seen:
        return FileResult(ctx.file_name, ctx.delivery_id, "skipped")
    reason = (f"duplicate: the same bytes as {first_file}, landed {first_landed_at:%Y-%m-%d %H:%M:%S}; "
              "no rows landed again")
    _record_delivery(con, ctx, path, "duplicate", reason)
    return FileResult(ctx.file_name, ctx.delivery_id, "skipped", reason=reason)


def _older_extract_note(con, ctx: _Context) -> list[str]:
    """A note when this file's extract is older than one already landed and not held in quarantine (a resend, a
    late transfer): staging keeps its rows only for records that no later extract carries."""
    latest = _scalar(con, "select max(coalesce(extract_date, cast(landed_at as date))) from raw._deliveries "
                          f"where feed = ? and status = 'landed' and {not_held(con, 'delivery_id')}", [ctx.feed.name])
    extracted_on = ctx.extract_date or ctx.loaded_at.date()
    if latest is None or extracted_on >= latest:
        return []
    return [f"older extract: dated {extracted_on} but a delivery dated {latest} has landed; its versions do not "
            "replace that delivery's"]


def _withdrawn_note(con, ctx: _Context) -> list[str]:
    """A full extract's note (counts only): how many records staged until now it does not carry, which leave
    staging once the raw gate passes it (withdrawn or re-keyed at source; the gate's full_extract_withdrawn_share
    blocks a file that drops too many); or, when rows were rejected, that it withdraws nothing yet."""
    staged, withdrawn = withdrawn_records(con, ctx.feed, ctx.delivery_id)
    if not staged:  # the feed's first delivery: nothing to withdraw
        return []
    if ctx.rows_rejected:
        return [f"full extract with {_count(ctx.rows_rejected, 'row')} rejected: it withdraws no record from staging "
                "until a full extract lands whole"]
    return [f"full extract: {_count(withdrawn, 'record')} staged until now not in it, which leave staging once the "
            "raw gate passes it"] if withdrawn else []


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _next_loaded_at(con: duckdb.DuckDBPyConnection, feed: Feed) -> dt.datetime:
    """Now, but strictly later than the feed's previous delivery: staging keeps the version with the latest
    _loaded_at, so two files landed within one clock tick (or after the clock stepped back) must not tie."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    previous = _scalar(con, "select max(landed_at) from raw._deliveries where feed = ?", [feed.name])
    if previous is not None and now <= previous:
        return previous + dt.timedelta(microseconds=1)
    return now


@dataclass
class _Context:
    feed: Feed
    file_name: str
    sha: str
    delivery_id: str
    loaded_at: dt.datetime
    extract_date: dt.date | None
    rows_landed: int = 0
    rows_rejected: int = 0
    notes: list[str] = field(default_factory=list)  # for the data team, in the delivery's reason


def _optional_columns_delivered(con: duckdb.DuckDBPyConnection, feed: Feed) -> frozenset[str]:
    """The feed's may_be_absent columns that earlier deliveries carried (a value landed): a file may leave one
    out only until the feed has sent it. After that its absence is drift: a full extract without it would
    otherwise replace every record's value with nothing. (land_feed has brought the raw table up to the
    registry, so every column is there.)"""
    optional = [c for c in feed.columns if c.may_be_absent]
    if not optional:
        return frozenset()
    counted = ", ".join(f'count("{c.raw_name}")' for c in optional)
    counts = con.execute(f"select {counted} from {feed.raw_table}").fetchall()[0]
    return frozenset(c.name for c, n in zip(optional, counts) if n)


def _delivered_before(columns: list[str]) -> str:
    return f"{columns} may be absent only until the feed has delivered them, and it has"


def _record_delivery(con, ctx: _Context, path: Path, status: str, reason: str | None) -> None:
    landed = ctx.rows_landed if status == "landed" else 0
    rejected = ctx.rows_rejected if status == "landed" else 0
    con.execute(
        "insert into raw._deliveries (delivery_id, feed, file_name, file_sha256, file_bytes, status, rows_landed, "
        "rows_rejected, reason, landed_at, extract_date, full_extract) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [ctx.delivery_id, ctx.feed.name, ctx.file_name, ctx.sha, path.stat().st_size, status, landed, rejected,
         reason, ctx.loaded_at, ctx.extract_date, ctx.feed.is_full_extract],
    )


# --- parsing: every format becomes chunks of text columns plus structural rejects -----------------


@dataclass
class _Chunk:
    """Rows as text in registry column order, plus rows rejected before typing."""

    row_numbers: list[int]
    values: list[list[str | None]]  # one list per registry column
    rejects: list[tuple[int, str, str]]  # (row_number, reason, original_text)
    originals: list[str] | None = None  # the delivered text per row (CSV, JSONL); XLSX rows are rebuilt
    # {row read as a record of its own: the row it follows, which an unbalanced quote left short of fields}: if
    # rejected, its reason says so (_write_chunk), as it may continue that row (CSV)
    follows: dict[int, int] = field(default_factory=dict)


def _check_header(feed: Feed, file_name: str, header: list[str], notes: list[str],
                  must_carry: frozenset[str] = frozenset()) -> list[int | None]:
    """Position of each registry column in the delivered header (None: a column that may be absent and is);
    raise if they differ. must_carry: may_be_absent columns this feed has delivered before (see
    _optional_columns_delivered): their absence is drift.

    A header's letter case carries no meaning (an export tool may lower-case it: `forename` for `FORENAME`), so a
    registry column not delivered verbatim takes the one delivered header equal to it but for case, noted in the
    delivery's reason; raw gets the registry's names. Only when that is unambiguous: a registry with two names
    equal but for case, or a header delivering one name twice in different cases, stays drift."""
    delivered = [h.strip() for h in header]
    expected = feed.header
    positions = {name: delivered.index(name) for name in expected if name in delivered}
    unclaimed = [i for i, h in enumerate(delivered) if h not in expected]
    recased = []
    for name in expected:
        if name in positions:
            continue
        same = [i for i in unclaimed if delivered[i].casefold() == name.casefold()]
        rivals = [other for other in expected if other.casefold() == name.casefold()]
        if len(same) == 1 and len(rivals) == 1:
            positions[name] = same[0]
            recased.append(name)
    taken = set(positions.values())
    optional = [c.name for c in feed.columns if c.may_be_absent and c.name not in positions]
    absent = [name for name in optional if name not in must_carry]
    missing = [c for c in expected if c not in positions and c not in absent]
    unexpected = [i for i, h in enumerate(delivered) if h not in expected and i not in taken]
    extra = [delivered[i] for i in unexpected]
    duplicated = sorted({c for c in delivered if delivered.count(c) > 1})
    if missing or extra:
        explanation = []
        if carried := [name for name in missing if name in must_carry]:
            explanation.append(_delivered_before(carried))
        if absent and extra:  # a misspelt optional column: name what it may have meant
            explanation.append(f"columns that may be absent, not delivered: {absent}")
        raise SchemaDriftError(feed.name, file_name, missing, extra, found=len(expected) - len(missing) - len(absent),
                               expected=len(expected), explanation="; ".join(explanation) or None,
                               positions=[i + 1 for i in unexpected])
    if duplicated:
        raise LandingError(f"{feed.name}: {file_name} repeats columns {duplicated}")
    if recased:
        # registry names only: the delivered spelling differs from them in case alone
        notes.append(f"header differs from the registry only in letter case for {_count(len(recased), 'column')} "
                     f"{recased}: landed under the registry's names")
    if absent:
        notes.append(f"columns {absent} not delivered (the registry allows it): landed empty")
    return [positions.get(c) for c in expected]


def _parsed_chunks(feed: Feed, path: Path, notes: list[str],
                   must_carry: frozenset[str] = frozenset()) -> Iterator[_Chunk]:
    """The file's rows in chunks; what the data team should know about how it was read goes into notes."""
    if path.stat().st_size == 0:
        raise LandingError(f"{feed.name}: {path.name} is empty (no header row)")
    if feed.format == "csv":
        yield from _csv_chunks(feed, path, notes, must_carry)
    elif feed.format == "jsonl":
        yield from _jsonl_chunks(feed, path, notes, must_carry)
    elif feed.format == "xlsx":
        yield from _xlsx_chunks(feed, path, notes, must_carry)
    else:  # the registry loader already refuses other formats
        raise LandingError(f"{feed.name}: unsupported format {feed.format}")


def _new_chunk(n_columns: int, keep_originals: bool = False) -> _Chunk:
    return _Chunk([], [[] for _ in range(n_columns)], [], [] if keep_originals else None)


def _lines_with_give_back(stream, given_back: list[str]) -> Iterator[str]:
    """The stream's lines, but lines put in `given_back` (the next one last) are read again first."""
    for line in stream:
        while given_back:
            yield given_back.pop()
        yield line
    while given_back:
        yield given_back.pop()


class _CsvRecords:
    """(physical line number, fields, delivered text) per CSV record, the header first.

    A line without a quote is split on the delimiter (what the csv module would do, faster). A line with one is
    parsed by the csv module; if a quoted field is still open at its end, the record may go on over the next
    lines, up to MAX_RECORD_LINES, if its quoting is well formed and it has the header's number of fields.
    Otherwise the opening quote is a stray one: fields is None for that line alone, and reading starts again
    on the next line, so a stray quote never swallows good rows (the lines after it that cannot be records are
    judged against it by _ShortRecord).
    """

    def __init__(self, feed: Feed, file_name: str, stream):
        self.feed, self.file_name, self.stream = feed, file_name, stream
        self.width: int | None = None  # known once the header is read

    def __iter__(self) -> Iterator[tuple[int, list[str] | None, str]]:
        delimiter = self.feed.delimiter
        given_back: list[str] = []
        number = 0
        while True:
            lines = _lines_with_give_back(self.stream, given_back)
            for line in lines:
                number += 1
                if '"' not in line:
                    text = line.rstrip("\r\n")
                    yield number, text.split(delimiter) if text else [], text
                    continue
                fields = self._parse(line, number)
                if not _still_open(fields):
                    yield number, fields, line.rstrip("\r\n")
                    continue
                span = [line]
                while len(span) < MAX_RECORD_LINES and _still_open(fields):
                    following = next(lines, None)
                    if following is None:
                        break
                    span.append(following)
                    fields = self._parse_span(span)
                if self._closes_cleanly(span, fields):
                    yield number, fields, "".join(span).rstrip("\r\n")
                    number += len(span) - 1
                else:
                    given_back.extend(reversed(span[1:]))
                    yield number, None, line.rstrip("\r\n")
            if not given_back:  # lines given back after the stream ran out are read by a fresh pass
                return

    def _parse(self, line: str, number: int) -> list[str]:
        try:
            return next(csv.reader((_terminated(line),), delimiter=self.feed.delimiter), [])
        except csv.Error as exc:  # csv's messages name limits and characters, never the text
            raise LandingError(f"{self.feed.name}: {self.file_name} line {number} cannot be read as CSV "
                               f"({exc})") from None

    def _parse_span(self, span: list[str]) -> list[str] | None:
        """The fields of a record read over several lines; None if they make more than one record."""
        try:
            records = list(csv.reader([*span[:-1], _terminated(span[-1])], delimiter=self.feed.delimiter))
        except csv.Error:  # e.g. the field limit, when a stray quote runs on
            return None
        return records[0] if len(records) == 1 else None

    def _closes_cleanly(self, span: list[str], fields: list[str] | None) -> bool:
        """Kept only if well formed: the non-strict reader would glue a stray quote to whatever follows it."""
        if fields is None or _still_open(fields) or (self.width is not None and len(fields) != self.width):
            return False
        try:
            return len(list(csv.reader(span, delimiter=self.feed.delimiter, strict=True))) == 1
        except csv.Error:
            return False


@dataclass
class _ShortRecord:
    """A row rejected for an unbalanced quote that holds only the start of a record, and the lines going on with it.

    A stray quote either sits in a whole record (a typo: the line has the header's fields, and the next line is a
    record of its own) or opens a field the sender broke over lines without closing it (an address typed as
    `"Flat 2`, a line break, `Main St,...`): the line then has fewer fields than the header, counted as the sender
    meant them (_fields_meant), and the record goes on over the next lines. While it is short of fields, and
    within MAX_RECORD_LINES lines, a following line whose field count is not the header's (it cannot be a record)
    is rejected as its continuation, its text kept: read alone, its text would be rejected for a field count
    that is not the reason, or, with extra delimiters in the broken field, land as a record of its own. A line
    with the header's number of fields is a plausible record and is judged as one, so a stray quote never
    swallows good rows; the delivery's reason names it for checking (and a reason rejecting it says it may
    continue the short row)."""

    row_number: int
    fields: int  # fields its lines hold so far, a field broken over a line break counted once

    def goes_on(self, row_number: int, width: int) -> bool:
        """Whether the record may go on at this row: still short of fields, and within MAX_RECORD_LINES lines."""
        return self.fields < width and row_number - self.row_number < MAX_RECORD_LINES

    def continued_by(self, n_fields: int, width: int) -> str:
        """The reason rejecting a line that goes on with this record."""
        return (f"continues row {self.row_number}, which an unbalanced quote left short of fields (a line break "
                f"inside a quoted field that does not close): {_count(n_fields, 'field')} on this line, not the "
                f"header's {width}")


def _fields_meant(text: str, delimiter: str) -> int:
    """How many fields a line rejected for an unbalanced quote holds as its sender meant it: the fields before the
    quote as read, and the open field's text split on the delimiter (its quote never closes, so the delimiters
    after it separate fields in the sender's file; one inside the broken field counts one too many)."""
    try:
        fields = next(csv.reader((text + "\n",), delimiter=delimiter), [])
    except csv.Error:
        return len(text.split(delimiter))
    if not _still_open(fields):
        return len(fields)
    return len(fields) - 1 + len(fields[-1].rstrip("\r\n").split(delimiter))


def _terminated(line: str) -> str:
    # the file's last line may have no line ending; with one, an open quote shows in the fields (below)
    return line if line.endswith(("\n", "\r")) else line + "\n"


def _still_open(fields: list[str] | None) -> bool:
    """A field ends with a line break only when a quote was still open at the end of the line."""
    return bool(fields) and fields[-1].endswith(("\n", "\r"))


def _is_utf(encoding: str) -> bool:
    return codecs.lookup(encoding).name.startswith("utf")


def _text_encoding(feed: Feed, path: Path, raw, notes: list[str]) -> str:
    """How to decode a text file, with `raw` positioned after any byte-order mark.

    A byte-order mark names the encoding, whatever the registry says (an Excel 'CSV UTF-8' or 'Unicode text'
    export of a cp1252 feed): it is not part of the first column's name. A feed declared in a single-byte
    encoding (cp1252) whose file is valid UTF-8 with non-ASCII text is read as UTF-8: read as cp1252, each
    accented letter would land as two wrong ones ('é' as 'Ã©') and nothing would flag it, while genuine cp1252
    text is almost never valid UTF-8 (an accented letter would have to be followed by a symbol such as '©').
    """
    head = raw.read(4)
    if head.startswith(codecs.BOM_UTF8):
        raw.seek(len(codecs.BOM_UTF8))
        return "utf-8"
    raw.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        notes.append("read as UTF-16 (byte-order mark)")
        return "utf-16"  # the codec reads the mark
    if _is_utf(feed.encoding) or not _valid_utf8_with_non_ascii(path):
        return feed.encoding
    notes.append(f"read as UTF-8: the file is valid UTF-8 with non-ASCII text, though the feed is {feed.encoding}")
    return "utf-8"


def _valid_utf8_with_non_ascii(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    non_ascii = False
    with open(path, "rb") as fh:
        try:
            for block in iter(lambda: fh.read(1 << 20), b""):
                non_ascii = non_ascii or not block.isascii()
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return non_ascii


def _utf8_reading(text: str, encoding: str) -> str | None:
    """A row decoded in a single-byte encoding, read as UTF-8 instead when its bytes are valid UTF-8 and not
    plain ASCII (the row is then UTF-8 in a file that is not); else None."""
    if text.isascii():
        return None
    try:
        return text.encode(encoding, errors="surrogateescape").decode("utf-8")
    except UnicodeError:
        return None


def _csv_chunks(feed: Feed, path: Path, notes: list[str], must_carry: frozenset[str]) -> Iterator[_Chunk]:
    with open(path, "rb") as raw:
        encoding = _text_encoding(feed, path, raw, notes)
        # in a file read in a single-byte encoding, a row that is valid UTF-8 is mixed-encoding text: rejected
        # (kept as UTF-8 in _rejects) rather than landed garbled
        mixed_rows = not _is_utf(encoding)
        stream = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        records = _CsvRecords(feed, path.name, stream)
        rows = iter(records)
        first = next(rows, None)
        if first is None:
            raise LandingError(f"{feed.name}: {path.name} has no header row")
        _, header, _ = first
        if header is None:
            raise LandingError(f"{feed.name}: {path.name} header row has an unbalanced quote")
        if any(_BAD_BYTES.search(h) for h in header):
            raise LandingError(f"{feed.name}: {path.name} header is not valid {encoding}")
        positions = _check_header(feed, path.name, header, notes, must_carry)
        width = records.width = len(header)
        # a column not delivered reads the blank appended to each row (one append a row, not a test a value)
        padded = None in positions
        positions = [width if p is None else p for p in positions]
        chunk = _new_chunk(len(positions), keep_originals=True)
        short: _ShortRecord | None = None  # the latest row an unbalanced quote left short of fields
        read_alone: list[int] = []  # rows with the header's fields following such a row: named in the notes
        for line_number, row, text in rows:
            row_number = line_number - 1  # the header is line 1
            if row is not None and not row:  # a blank line carries no data
                continue
            n_fields = len(row) if row is not None else _fields_meant(text, feed.delimiter)
            if short is not None and not short.goes_on(row_number, width):
                short = None
            if short is not None and n_fields == width:  # a plausible record, judged as one: it may continue it
                chunk.follows[row_number] = short.row_number
                read_alone.append(row_number)
                short = None
            if short is not None:  # not a record (its field count is not the header's): it goes on with the short one
                chunk.rejects.append((row_number, short.continued_by(n_fields, width), _original(text)))
                short.fields += n_fields - 1  # its first field goes on with the broken one
            elif row is None:
                chunk.rejects.append((row_number, UNBALANCED_QUOTE, _original(text)))
                if n_fields < width:  # only the start of a record: the next lines may go on with it
                    short = _ShortRecord(row_number, n_fields)
            elif len(row) != width:
                chunk.rejects.append((row_number, f"expected {width} fields, found {len(row)}", _original(text)))
            elif mixed_rows and (as_utf8 := _utf8_reading(text, encoding)) is not None:
                chunk.rejects.append((row_number, f"text is UTF-8 in a {encoding} file (mixed encodings): "
                                                  "not landed, as it would land garbled", _original(as_utf8)))
            elif _BAD_BYTES.search(text):
                chunk.rejects.append((row_number, f"bytes not valid in encoding {encoding}", _original(text)))
            elif "\x00" in text:  # no text format has NUL: binary data or corruption, which would land as a value
                chunk.rejects.append((row_number, NUL_BYTE, _original(text).replace("\x00", "\\x00")))
            else:
                chunk.row_numbers.append(row_number)
                chunk.originals.append(text)
                if padded:
                    row.append(None)
                for column_values, position in zip(chunk.values, positions):
                    column_values.append(row[position])
            if len(chunk.row_numbers) + len(chunk.rejects) >= CHUNK_ROWS:
                yield chunk
                chunk = _new_chunk(len(positions), keep_originals=True)
        if read_alone:
            notes.append(_read_alone_note(read_alone))
        yield chunk


def _read_alone_note(row_numbers: list[int]) -> str:
    """The delivery's note on rows judged as records though each follows a row that an unbalanced quote left short
    of fields (_ShortRecord): row numbers only, never values."""
    shown = _listed(row_numbers)
    if len(row_numbers) == 1:
        return (f"row {shown} has the header's fields and follows a row that an unbalanced quote left short of "
                "fields: judged as a record of its own; check that it does not continue that row")
    return (f"rows {shown} have the header's fields and each follows a row that an unbalanced quote left short of "
            "fields: judged as records of their own; check that none continues that row")


def _listed(numbers: list[int]) -> str:
    """Row numbers or positions for a message: the first ten, then how many more."""
    return ", ".join(str(n) for n in numbers[:10]) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def _original(text: str) -> str:
    """Keep undecodable bytes visible (as \\xNN) rather than dropping them."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _jsonl_chunks(feed: Feed, path: Path, notes: list[str], must_carry: frozenset[str]) -> Iterator[_Chunk]:
    expected = feed.header
    seen_keys: set[str] = set()
    chunk = _new_chunk(len(expected), keep_originals=True)
    with open(path, "rb") as fh:
        for row_number, line in enumerate(fh, start=1):
            if row_number == 1 and line.startswith(codecs.BOM_UTF8):  # an editor's byte-order mark, not JSON
                line = line[len(codecs.BOM_UTF8):]
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
    # JSON exporters omit null keys, so a key no record carries may only be empty; one the feed has delivered
    # before is not expected to be empty in a whole file
    unseen = [c.name for c in feed.columns if c.may_be_absent and c.name not in seen_keys]
    if carried := [name for name in unseen if name in must_carry]:
        raise SchemaDriftError(feed.name, path.name, carried, [], found=len(seen_keys & set(feed.header)),
                               expected=len(feed.header), explanation=_delivered_before(carried))
    if unseen:
        notes.append(f"keys {unseen} in no record (the registry allows it): landed empty")
    yield chunk


def _check_json_keys(feed: Feed, file_name: str, seen: set[str]) -> None:
    # JSON exporters omit null keys, so an optional key absent everywhere is not drift; an unknown key is,
    # and so is a required key that no record carries.
    extra = sorted(seen - set(feed.header))
    missing = [c.name for c in feed.columns
               if c.name not in seen and (c.required or (extra and not c.may_be_absent))]
    if extra or missing:
        raise SchemaDriftError(feed.name, file_name, missing, extra, found=len(seen & set(feed.header)),
                               expected=len(feed.header), not_a_header="the records' keys do not look like this feed's",
                               key_shape=_json_key_shape(feed))


def _json_key_shape(feed: Feed) -> re.Pattern[str]:
    """What an unknown JSON key must look like to be named: a field name in the registry's style (an exporter's
    keys are identifiers; a key with a space or, in a lower-case feed, a capital is more likely a person's name)."""
    lower = all(name == name.lower() for name in feed.header)
    return re.compile(r"[a-z_][a-z0-9_]*" if lower else r"[A-Za-z_][A-Za-z0-9_]*")


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


def _xlsx_chunks(feed: Feed, path: Path, notes: list[str], must_carry: frozenset[str]) -> Iterator[_Chunk]:
    # calamine (Rust) reads a sheet ~10x faster than openpyxl's read-only mode; imported only for xlsx feeds
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for a broken or non-XLSX file
        raise LandingError(f"{feed.name}: {path.name} is not a readable XLSX workbook ({type(exc).__name__})") from None
    if feed.sheet and feed.sheet not in workbook.sheet_names:
        # sheet names are the sender's free text (a sheet may be named after a family): count them only
        raise LandingError(f"{feed.name}: {path.name} has no sheet {feed.sheet!r} "
                           f"(it has {len(workbook.sheet_names)} other sheet(s))")
    sheet = workbook.get_sheet_by_name(feed.sheet) if feed.sheet else workbook.get_sheet_by_index(0)
    rows = sheet.iter_rows()
    header = next(rows, None)
    if header is None:
        raise LandingError(f"{feed.name}: {path.name} has no header row")
    header = ["" if h is None else str(h) for h in header]
    while header and header[-1] == "":  # trailing formatted-but-empty cells
        header.pop()
    positions = _check_header(feed, path.name, header, notes, must_carry)
    delivered = [p for p in positions if p is not None]
    positions = [len(header) if p is None else p for p in positions]  # the blank cell padded past the header
    date_columns = {i for i, c in enumerate(feed.columns) if c.format == "excel"}
    errors = _excel_error_cells(path, feed.sheet, sheet.start)
    chunk = _new_chunk(len(positions))
    for row_number, row in enumerate(rows, start=1):
        if row_number in errors:
            row = list(row)
            for position, code in errors[row_number].items():
                row += [None] * (position + 1 - len(row))
                row[position] = code
            in_columns = sorted(positions.index(p) for p in errors[row_number] if p in delivered)
            if in_columns:
                # calamine reads an error cell (#N/A, #VALUE!, #REF!, #DIV/0!) as blank: the row is not to be
                # trusted, so it goes to rejects, the codes in its rebuilt text
                reason = "; ".join(f"{feed.columns[i].name}: Excel error {errors[row_number][positions[i]]}"
                                   for i in in_columns)
                chunk.rejects.append((row_number, reason, "\t".join("" if v is None else _as_text(v) for v in row)))
                continue
        if all(v is None or v == "" for v in row):
            continue
        if any(v is not None and v != "" for v in row[len(header):]):
            # a value right of the last headed column belongs to no column: reject the row, as a CSV row
            # with too many fields is, rather than drop the value unseen
            filled = max(i for i, v in enumerate(row) if v is not None and v != "") + 1
            chunk.rejects.append((row_number, f"expected {len(header)} fields, found {filled}",
                                  "\t".join("" if v is None else _as_text(v) for v in row[:filled])))
            continue
        cells = list(row) + [None] * (len(header) + 1 - len(row))
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


def _excel_error_cells(path: Path, sheet_name: str | None, start: tuple[int, int] | None) -> dict[int, dict[int, str]]:
    """Error cells of the sheet, {row index as calamine iterates (0 = the sheet's first row): {column position
    within the row: code}}. calamine gives an error cell as '' (blank), so they are read from the sheet's XML
    (cells with t="e"): a streamed search first, and the XML parsed only when it finds one."""
    import zipfile
    from xml.etree import ElementTree

    relationships = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    try:
        with zipfile.ZipFile(path) as archive:
            workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
            sheets = [e for e in workbook.iter() if e.tag.endswith("}sheet")]
            sheet = next(s for s in sheets if s.get("name") == sheet_name) if sheet_name else sheets[0]
            rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
            target = next(r.get("Target") for r in rels if r.get("Id") == sheet.get(f"{relationships}id"))
            part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            if not _part_contains(archive, part, (b't="e"', b"t='e'")):
                return {}
            found: dict[int, dict[int, str]] = {}
            first_column = start[1] if start else 0
            with archive.open(part) as xml:
                for _, element in ElementTree.iterparse(xml):
                    if element.tag.endswith("}c") and element.get("t") == "e":
                        row, column = _cell_position(path, element.get("r"))
                        value = next((e.text for e in element if e.tag.endswith("}v")), None)
                        found.setdefault(row, {})[column - first_column] = value or "#ERROR"
                    elif element.tag.endswith("}row"):
                        element.clear()  # bounded memory on a large sheet
            return found
    except (KeyError, IndexError, StopIteration, ElementTree.ParseError, zipfile.BadZipFile):
        # calamine read it, but not as a standard XLSX package: error cells cannot be told from blanks
        raise LandingError(f"{path.name}: the sheet's cells cannot be checked for Excel error values "
                           "(not a standard XLSX package)") from None


def _part_contains(archive, part: str, needles: tuple[bytes, ...]) -> bool:
    overlap = max(len(n) for n in needles)
    tail = b""
    with archive.open(part) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            window = tail + block
            if any(n in window for n in needles):
                return True
            tail = window[-overlap:]
    return False


def _cell_position(path: Path, reference: str | None) -> tuple[int, int]:
    """'B3' -> (2, 1): zero-based row and column."""
    match = re.fullmatch(r"([A-Z]+)(\d+)", reference or "")
    if match is None:
        raise LandingError(f"{path.name}: an Excel error cell has no cell reference, so its row is unknown")
    column = 0
    for letter in match.group(1):
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(match.group(2)) - 1, column - 1


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
    checks = [f"when length({source}) > {MAX_VALUE_CHARS} then '{column.name}: value longer than "
              f"{MAX_VALUE_CHARS} characters'"]
    if column.required:
        checks.append(f"when {blank} then '{column.name}: required value missing'")
    if column.type != "string":
        expected = {"integer": "a whole number", "decimal": "a number"}.get(column.type)
        if expected is None:
            expected = "an Excel date" if column.format == "excel" else f"a {column.type} in format {column.format}"
        checks.append(f"when not ({blank}) and {typed} is null then '{column.name}: not {expected}'")
    return f"case {' '.join(checks)} end"


def _follows_short_row(short_row: int) -> str:
    return f"follows row {short_row}, which an unbalanced quote left short of fields (this row may continue it); "


def _write_chunk(con: duckdb.DuckDBPyConnection, ctx: _Context, chunk: _Chunk) -> None:
    feed = ctx.feed
    typed_follows: list[tuple[int, int]] = []
    if chunk.follows:  # a row judged alone though it may continue a short row before it: a reason rejecting it says so
        rejected_before_typing = {n for n, _, _ in chunk.rejects}
        typed_follows = [(n, short) for n, short in chunk.follows.items() if n not in rejected_before_typing]
        chunk.rejects = [(n, _follows_short_row(chunk.follows[n]) + reason if n in chunk.follows else reason, text)
                         for n, reason, text in chunk.rejects]
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
    else:  # XLSX rows have no delivered text: rebuilt from their cells, tab-separated
        separator = _sql_string("\t")
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
        if typed_follows:  # rare: only rows right after a stray quote's short row (no-op for those that landed)
            con.executemany("update raw._rejects set reason = ? || reason where delivery_id = ? and row_number = ?",
                            [[_follows_short_row(short), ctx.delivery_id, n] for n, short in typed_follows])
        ctx.rows_rejected += _scalar(con, "select count(*) from _landing_typed where reason <> ''")
    finally:
        con.unregister("_landing_chunk")
        con.execute("drop table if exists _landing_typed")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    # duckdb 2.0: fetchone() leaves the result open, and an open result blocks register(); fetchall() closes it.
    return con.execute(sql, params or []).fetchall()[0][0]


def _sql_string(text: str) -> str:
    return text.replace("'", "''")
