"""CSV and XLSX writers that give the same bytes for the same rows, and the per-period manifest.

Reproducible output, so a rerun for a past period can be proved identical by its sha256:
- rows are sorted by the spec's `sort_by` columns, then by every column, on their written text;
- CSV: UTF-8 without BOM, CRLF line endings (RFC 4180), minimal quoting, dates yyyy-mm-dd, decimals to a
  fixed number of places, flags Y/N, empty for null;
- XLSX (xlsxwriter): built in memory, so every zip member carries the fixed 1980-01-01 timestamp; the
  document's created date is fixed (the period end) instead of "now"; no other clock reaches the file.
Files are written to a temporary name and renamed, so a failed write never leaves half a file in the outbox.
A restricted return's files (personal data, outbox/<period>/restricted/) are owner-only, 0600 in a 0700 folder
whatever the umask; the pseudonymised files keep the umask's mode.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from returns.periods import Period
from returns.spec import ColumnSpec, ReturnSpec

CSV_LINE_END = "\r\n"
RESTRICTED_DIR = "restricted"
MANIFEST = "manifest.json"
XLSX_DATE_FORMAT = "yyyy-mm-dd"
MAX_COLUMN_WIDTH = 60
WIDTH_SAMPLE_ROWS = 2000


class ReturnShapeError(ValueError):
    """The rows handed to a writer do not have the spec's columns."""


# --- values ----------------------------------------------------------------------------------------------


def _is_null(value) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, list | tuple | dict | np.ndarray) else False
    except (TypeError, ValueError):
        return False


def typed_value(column: ColumnSpec, value):
    """The value as the writers hold it: date, int, float, or str (None for null)."""
    if _is_null(value):
        return None
    kind = column.type
    if kind == "date":
        if isinstance(value, pd.Timestamp | dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value)[:10])
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return round(float(value), column.decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    if kind == "flag":
        if isinstance(value, bool | np.bool_):  # a nullable boolean column reaches pandas as numpy bools
            return "Y" if value else "N"
        return str(value)
    if isinstance(value, list | tuple | np.ndarray):  # DuckDB lists reach pandas as numpy arrays
        return ";".join(str(v) for v in value)  # evidence lists: one cell, semicolon-separated, in list order
    return str(value)


def text_value(column: ColumnSpec, value) -> str:
    """A typed value as it is written to CSV."""
    if value is None:
        return ""
    if column.type == "date":
        return value.isoformat()
    if column.type == "decimal":
        return f"{value:.{column.decimals}f}"
    return str(value)


@dataclass
class Table:
    """Rows ready to write: typed values in column order, sorted reproducibly."""

    columns: tuple[ColumnSpec, ...]
    rows: list[tuple]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def conform(columns: Sequence[ColumnSpec], frame: pd.DataFrame, sort_by: Sequence[str] = ()) -> Table:
    names = [c.name for c in columns]
    missing = [n for n in names if n not in frame.columns]
    unexpected = [n for n in frame.columns if n not in names]
    if missing or unexpected:
        raise ReturnShapeError(f"columns differ from the spec: missing {missing}, unexpected {unexpected}")
    columns = tuple(columns)
    rows = [tuple(typed_value(c, v) for c, v in zip(columns, values, strict=True))
            for values in frame[names].itertuples(index=False, name=None)]
    positions = [names.index(n) for n in sort_by]

    def key(row):
        text = [text_value(c, v) for c, v in zip(columns, row, strict=True)]
        return [text[p] for p in positions] + text

    rows.sort(key=key)
    return Table(columns=columns, rows=rows)


def conform_return(spec: ReturnSpec, frame: pd.DataFrame) -> Table:
    return conform(spec.columns, frame, spec.sort_by)


# --- files -----------------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes, *, owner_only: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if owner_only:  # as the demo key; the folder first, so no one else can open the file while it is written
        path.parent.chmod(0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    if owner_only:
        temporary.chmod(0o600)  # before the rename: the file never has another mode under its own name
    os.replace(temporary, path)


def csv_bytes(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=CSV_LINE_END, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(table.names)
    for row in table.rows:
        writer.writerow([text_value(c, v) for c, v in zip(table.columns, row, strict=True)])
    return buffer.getvalue().encode("utf-8")


def write_csv(path: Path, table: Table, *, owner_only: bool = False) -> Path:
    _atomic_write(path, csv_bytes(table), owner_only=owner_only)
    return path


@dataclass
class Sheet:
    name: str  # at most 31 characters (Excel)
    table: Table
    widths: dict[str, int] = field(default_factory=dict)


def _width(column: ColumnSpec, table: Table, index: int) -> int:
    longest = len(column.name)
    for row in table.rows[:WIDTH_SAMPLE_ROWS]:
        value = row[index]
        if value is not None:
            longest = max(longest, len(text_value(column, value)))
    return min(MAX_COLUMN_WIDTH, longest + 2)


def xlsx_bytes(sheets: Sequence[Sheet], *, title: str, created: dt.datetime, subject: str = "") -> bytes:
    """One workbook: per sheet a bold, filled, wrapped header row, frozen under the header, an autofilter
    over the data, widths fitted to the content, dates as real Excel dates, numbers as numbers, and a print
    layout one page wide."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {
        "in_memory": True,  # zip members get the fixed 1980-01-01 timestamp, not the temp files' mtime
        "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
        "default_date_format": XLSX_DATE_FORMAT,
    })
    workbook.set_properties({"title": title, "subject": subject, "author": "Family Data Hub", "created": created})
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1, "text_wrap": True,
                                  "valign": "top"})
    formats = {"date": workbook.add_format({"num_format": XLSX_DATE_FORMAT}),
               "integer": workbook.add_format({"num_format": "0"})}
    for sheet in sheets:
        worksheet = workbook.add_worksheet(sheet.name[:31])
        columns = sheet.table.columns
        for index, column in enumerate(columns):
            worksheet.write_string(0, index, column.name, header)
            width = sheet.widths.get(column.name) or _width(column, sheet.table, index)
            worksheet.set_column(index, index, width)
        for row_number, row in enumerate(sheet.table.rows, start=1):
            for index, (column, value) in enumerate(zip(columns, row, strict=True)):
                if value is None:
                    continue
                if column.type == "date":
                    worksheet.write_datetime(row_number, index,
                                             dt.datetime.combine(value, dt.time()), formats["date"])
                elif column.type == "integer":
                    worksheet.write_number(row_number, index, value, formats["integer"])
                elif column.type == "decimal":
                    decimal_format = formats.setdefault(
                        f"decimal{column.decimals}",
                        workbook.add_format({"num_format": "0." + "0" * column.decimals if column.decimals else "0"}))
                    worksheet.write_number(row_number, index, value, decimal_format)
                else:
                    worksheet.write_string(row_number, index, value)
        worksheet.freeze_panes(1, 0)
        # Printed (or saved as PDF): landscape A4, every column on one page width, the header on every page.
        worksheet.set_landscape()
        worksheet.set_paper(9)
        worksheet.fit_to_pages(1, 0)
        worksheet.repeat_rows(0)
        worksheet.set_footer("&L&A&R&P / &N")
        if columns:
            worksheet.autofilter(0, 0, max(len(sheet.table.rows), 1), len(columns) - 1)
    workbook.close()
    return buffer.getvalue()


def write_xlsx(path: Path, sheets: Sequence[Sheet], *, title: str, created: dt.datetime, subject: str = "",
               owner_only: bool = False) -> Path:
    _atomic_write(path, xlsx_bytes(sheets, title=title, created=created, subject=subject), owner_only=owner_only)
    return path


# --- a return's files and the manifest -----------------------------------------------------------------------


def fixed_created(period: Period) -> dt.datetime:
    """The workbook's created date: the period end, so reruns match byte for byte."""
    return dt.datetime.combine(period.end, dt.time())


def return_dir(outbox_dir: Path, period: Period, spec: ReturnSpec) -> Path:
    """outbox/<period>/ for pseudonymised returns; outbox/<period>/restricted/ for a return with personal data."""
    base = Path(outbox_dir) / period.label
    return base / RESTRICTED_DIR if spec.restricted else base


def spec_table(spec: ReturnSpec) -> Table:
    """The specification as rows, for the XLSX's second sheet."""
    cols = tuple(ColumnSpec(name=n, type="string", description="", source="") for n in
                 ("column", "type", "required", "allowed_values", "pattern", "source", "description"))
    rows = [(c.name, c.type, "Y" if c.required else "N", ";".join(c.allowed_values or ()) or None,
             c.pattern, c.source, c.description) for c in spec.columns]
    return Table(columns=cols, rows=rows)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    relative: str  # to outbox/<period>/
    rows: int
    sha256: str
    bytes: int


def write_return(outbox_dir: Path, period: Period, spec: ReturnSpec, table: Table) -> list[WrittenFile]:
    """<name>_<period>.csv and .xlsx (data sheet + specification sheet) in the return's folder: a restricted
    return's owner-only."""
    folder = return_dir(outbox_dir, period, spec)
    stem = f"{spec.name}_{period.label}"
    csv_path = write_csv(folder / f"{stem}.csv", table, owner_only=spec.restricted)
    xlsx_path = write_xlsx(
        folder / f"{stem}.xlsx",
        [Sheet(name=spec.title[:31], table=table), Sheet(name="Specification", table=spec_table(spec))],
        title=f"{spec.title} {period.label}", subject=f"spec version {spec.spec_version}",
        created=fixed_created(period), owner_only=spec.restricted)
    base = Path(outbox_dir) / period.label
    return [WrittenFile(path=p, relative=p.relative_to(base).as_posix(), rows=len(table.rows),
                        sha256=sha256_file(p), bytes=p.stat().st_size) for p in (csv_path, xlsx_path)]


def update_manifest(outbox_dir: Path, period: Period, name: str, files: Sequence[WrittenFile], *,
                    spec_version: str, run_id: str, extra: dict | None = None) -> Path:
    """outbox/<period>/manifest.json: one entry per return (or workbook), replaced when it is rewritten;
    the other entries are kept. Row counts, sha256 and sizes per file, spec version, the Dagster run id."""
    path = Path(outbox_dir) / period.label / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    manifest.update({"period": period.label, "period_start": period.start.isoformat(),
                     "period_end": period.end.isoformat()})
    entries = manifest.setdefault("returns", {})
    entries[name] = {
        "spec_version": spec_version,
        "run_id": run_id,
        "files": [{"path": f.relative, "rows": f.rows, "sha256": f.sha256, "bytes": f.bytes} for f in files],
        **(extra or {}),
    }
    _atomic_write(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return path


def verify_manifest(outbox_dir: Path, period: Period) -> dict[str, bool]:
    """Each file the manifest lists -> whether its sha256 still matches."""
    path = Path(outbox_dir) / period.label / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    base = path.parent
    return {f["path"]: (base / f["path"]).exists() and sha256_file(base / f["path"]) == f["sha256"]
            for entry in manifest["returns"].values() for f in entry["files"]}
