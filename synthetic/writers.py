"""Delivery files: CSV/TSV, JSON lines and XLSX, written byte-for-byte deterministically, plus the
deliberately malformed rows a strict parser must reject, and the per-row truth.

Each feed module hands over a FeedData: typed columns in delivered order, the record key columns and
per-row truth (person, household, error tags). This module dedupes on the record key, corrupts a few
rows, formats, writes, and returns the truth rows.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .dates import TABLE_END, TABLE_START, excel_serial, fmt_dates, ymd

MAX_XLSX_ROWS = 1_000_000
MALFORMED_RATE = (0.001, 0.003)


@dataclass
class Col:
    name: str
    kind: str  # str | date | int | dec | ts
    values: np.ndarray
    fmt: str | None = None  # strptime format for date/ts in text formats; "2dp" for money


@dataclass
class FeedData:
    feed: str
    file_prefix: str  # e.g. "csc_persons_" -> csc_persons_2026-09-30.csv
    format: str  # csv | jsonl | xlsx
    ext: str
    cols: list[Col]
    key: list[str]
    pid: np.ndarray
    hid: np.ndarray
    errors: np.ndarray
    delimiter: str = ","
    encoding: str = "utf-8"
    newline: str = "\n"
    sheet: str | None = None
    creator: str = "Export"
    extra_truth: dict = field(default_factory=dict)


def _text(col: Col) -> np.ndarray:
    v = col.values
    if col.kind == "str":
        return np.asarray(v, dtype=object)
    if col.kind == "date":
        return fmt_dates(v, col.fmt or "%Y-%m-%d")
    if col.kind == "ts":
        secs = np.asarray(v, np.int64)
        ok = secs > -(10 ** 11)
        day = np.where(ok, secs // 86400, TABLE_END + 5)
        out = fmt_dates(day, (col.fmt or "%Y-%m-%dT%H:%M:%S").split("T")[0])
        tod = secs % 86400
        hms = np.array([f"T{h:02d}:{m:02d}:{s:02d}" for h, m, s in
                        zip((tod // 3600).tolist(), (tod // 60 % 60).tolist(), (tod % 60).tolist())], dtype=object)
        return np.where(ok, out + hms, "")
    vals = np.asarray(v, float)
    out = np.full(len(vals), "", dtype=object)
    ok = ~np.isnan(vals)
    if col.kind == "int":
        out[ok] = vals[ok].astype(np.int64).astype(str)
    elif col.fmt == "2dp":
        out[ok] = np.char.mod("%.2f", vals[ok])
    else:
        out[ok] = np.char.mod("%g", vals[ok]).astype(object)
    return out


def _impossible(fmt: str, year: int, rng) -> str:
    """A date text that looks right but cannot parse: 31 February, or a word."""
    if rng.random() < 0.3:
        return ["unknown", "TBC", "00/00/0000", "n/k"][int(rng.integers(0, 4))]
    text = fmt
    for tok, val in (("%Y", str(year)), ("%m", "02"), ("%d", "31"), ("%b", "Feb"), ("%H", "10"), ("%M", "15"),
                     ("%S", "00")):
        text = text.replace(tok, val)
    return text


def write_feed(data: FeedData, out_dir: Path, date_tag: str, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    n = len(data.pid)
    texts = {c.name: _text(c) for c in data.cols}
    key = texts[data.key[0]].copy()
    for k in data.key[1:]:
        key = key + "|" + texts[k]
    # record keys are unique: drop later repeats (the generator's own collisions, e.g. same-day claims)
    keep = ~pd.Series(key).duplicated().to_numpy()
    if not keep.all():
        idx = np.flatnonzero(keep)
        data.cols = [Col(c.name, c.kind, np.asarray(c.values)[idx], c.fmt) for c in data.cols]
        texts = {k: v[idx] for k, v in texts.items()}
        key, data.pid, data.hid, data.errors = key[idx], data.pid[idx], data.hid[idx], data.errors[idx]
        data.extra_truth = {k: np.asarray(v)[idx] for k, v in data.extra_truth.items()}
        n = len(idx)

    # malformed rows
    rate = rng.uniform(*MALFORMED_RATE)
    n_bad = min(n, max(1, int(round(n * rate)))) if n else 0
    bad_rows = np.sort(rng.choice(n, n_bad, replace=False)) if n_bad else np.array([], np.int64)
    typed = [c for c in data.cols if c.kind != "str"]
    kinds = ["value"] * 3 + (["fields"] if data.format == "csv" else ["json"] if data.format == "jsonl" else [])
    bad_kind = {}
    overrides: dict[tuple[int, str], str] = {}
    for r in bad_rows.tolist():
        kind = kinds[int(rng.integers(0, len(kinds)))]
        if kind == "value":
            col = typed[int(rng.integers(0, len(typed)))]
            if col.kind in ("int", "dec"):
                bad = ["n/a", "NULL", "-", "twelve"][int(rng.integers(0, 4))]
            else:
                val = np.asarray(col.values)[r]
                day = int(val // 86400) if col.kind == "ts" else int(val)
                year = int(ymd(np.array([day]))[0][0]) if TABLE_START <= day < TABLE_END else 2021
                fmt = col.fmt if data.format != "xlsx" else "%d/%m/%Y"
                bad = _impossible(fmt or "%Y-%m-%d", year, rng)
            overrides[(r, col.name)] = bad
            texts[col.name][r] = bad
            bad_kind[r] = f"bad {col.kind} in {col.name}"
        else:
            bad_kind[r] = "wrong field count" if kind == "fields" else "broken JSON"
    malformed = np.zeros(n, bool)
    malformed[bad_rows] = True

    # files: one normally; XLSX splits past the sheet row limit
    parts = [np.arange(n)]
    if data.format == "xlsx" and n > MAX_XLSX_ROWS:
        parts = np.array_split(np.arange(n), -(-n // MAX_XLSX_ROWS))
    feed_dir = out_dir / "landing" / data.feed
    feed_dir.mkdir(parents=True, exist_ok=True)
    truth_frames, files = [], []
    for i, rows in enumerate(parts):
        suffix = "" if len(parts) == 1 else f"_part{i + 1}"
        name = f"{data.file_prefix}{date_tag}{suffix}.{data.ext}"
        path = feed_dir / name
        if data.format == "csv":
            _write_csv(data, texts, rows, bad_rows, bad_kind, path, rng)
        elif data.format == "jsonl":
            _write_jsonl(data, texts, rows, bad_kind, path, rng)
        else:
            _write_xlsx(data, rows, overrides, path, date_tag)
        files.append(f"landing/{data.feed}/{name}")
        truth_frames.append(pd.DataFrame({
            "feed": data.feed, "file_name": name, "row_number": np.arange(1, len(rows) + 1, dtype=np.int64),
            "record_key": key[rows], "true_person_id": data.pid[rows].astype(np.int64),
            "true_household_id": data.hid[rows].astype(np.int64), "malformed": malformed[rows],
            "malformed_reason": np.array([bad_kind.get(r, "") for r in rows.tolist()], dtype=object),
            "errors": data.errors[rows],
            **{k: np.asarray(v)[rows] for k, v in data.extra_truth.items()},
        }))
    truth = pd.concat(truth_frames, ignore_index=True)
    summary = {"file": files[0], "files": files, "rows": int(n), "malformed_rows": int(malformed.sum())}
    return truth, summary


def _quote(values: np.ndarray, delimiter: str) -> np.ndarray:
    """CSV-quote the values that need it (a delimiter, quote or line break inside)."""
    specials = (delimiter, '"', "\r", "\n")
    joined = "\x00".join(values.tolist())  # one C-level scan instead of a regex per value
    if not any(ch in joined for ch in specials):
        return values
    v = values.copy()
    for i, x in enumerate(v.tolist()):
        if any(ch in x for ch in specials):
            v[i] = '"' + x.replace('"', '""') + '"'
    return v


def _write_csv(data, texts, rows, bad_rows, bad_kind, path, rng) -> None:
    d = data.delimiter
    cols = [_quote(texts[c.name][rows], d) if c.kind == "str" else texts[c.name][rows] for c in data.cols]
    line = cols[0].copy()
    for c in cols[1:]:
        line = line + d + c
    for r in bad_rows.tolist():
        if bad_kind.get(r) == "wrong field count":
            j = int(np.searchsorted(rows, r))
            if j < len(rows) and rows[j] == r:
                fields = line[j].split(d)
                if rng.random() < 0.5:  # an export cut short
                    line[j] = d.join(fields[: max(1, int(rng.integers(1, len(fields) - 1)))])
                else:  # a stray unquoted delimiter inside a value
                    k = int(rng.integers(1, len(fields)))
                    fields.insert(k, "")
                    line[j] = d.join(fields)
    header = d.join(c.name for c in data.cols)
    body = data.newline.join([header] + line.tolist()) + data.newline
    path.write_bytes(body.encode(data.encoding))


def _json_str(values: np.ndarray) -> np.ndarray:
    s = pd.Series(values, dtype=object).str.replace("\\", "\\\\", regex=False).str.replace('"', '\\"', regex=False)
    return ('"' + s + '"').to_numpy(dtype=object)


def _write_jsonl(data, texts, rows, bad_kind, path, rng) -> None:
    n = len(rows)
    line = np.full(n, "", dtype=object)
    for c in data.cols:
        v = texts[c.name][rows]
        present = v != ""
        frag = np.where(present, '"' + c.name + '": ' + _json_str(v), "")
        sep = np.where((line != "") & present, ", ", "")
        line = line + sep + frag  # null values are left out, as the RMS exporter does
    line = "{" + line + "}"
    for j, r in enumerate(rows.tolist()):
        if bad_kind.get(r) == "broken JSON":
            cut = int(rng.integers(len(line[j]) // 3, len(line[j]) - 2))
            line[j] = line[j][:cut]
    path.write_bytes(("\n".join(line.tolist()) + "\n").encode(data.encoding))


_XML_ESC = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(65 + rem) + s
    return s


def _xml_text(values: np.ndarray) -> np.ndarray:
    s = pd.Series(values, dtype=object)
    for a, b in _XML_ESC:
        s = s.str.replace(a, b, regex=False)
    return s.to_numpy(dtype=object)


def _write_xlsx(data: FeedData, rows: np.ndarray, overrides: dict, path: Path, date_tag: str) -> None:
    n = len(rows)
    rnum = (np.arange(2, n + 2)).astype(str).astype(object)
    row_xml = np.full(n, "", dtype=object)
    for i, c in enumerate(data.cols):
        ref = '<c r="' + _col_letter(i) + rnum + '"'
        v = np.asarray(c.values)[rows]
        if c.kind == "str":
            present = v != ""
            cell = np.where(present, ref + ' t="inlineStr"><is><t xml:space="preserve">' + _xml_text(v) + "</t></is></c>", "")
        elif c.kind == "date":
            present = (v > TABLE_START) & (v < TABLE_END)
            cell = np.where(present, ref + ' s="1"><v>' + excel_serial(v).astype(str).astype(object) + "</v></c>", "")
        else:
            present = ~np.isnan(v.astype(float))
            num = np.where(present, np.char.mod("%.2f" if c.fmt == "2dp" else "%g", np.nan_to_num(v.astype(float))), "")
            style = ' s="3"' if c.fmt == "2dp" else ""
            cell = np.where(present, ref + style + "><v>" + num.astype(object) + "</v></c>", "")
        # malformed: text typed into a date or number cell
        for (r, name), bad in overrides.items():
            j = int(np.searchsorted(rows, r))
            if name == c.name and j < n and rows[j] == r:
                cell[j] = f'<c r="{_col_letter(i)}{j + 2}" t="inlineStr"><is><t>{bad}</t></is></c>'
        row_xml = row_xml + cell
    header = "".join(f'<c r="{_col_letter(i)}1" t="inlineStr" s="2"><is><t>{c.name}</t></is></c>'
                     for i, c in enumerate(data.cols))
    last = _col_letter(len(data.cols) - 1)
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<dimension ref="A1:{last}{n + 1}"/><sheetData><row r="1">{header}</row>'
             + "".join(("<row r=\"" + rnum + "\">" + row_xml + "</row>").tolist())
             + "</sheetData></worksheet>")
    stamp = f"{date_tag}T06:00:00Z"
    ns_rel = "http://schemas.openxmlformats.org/package/2006/relationships"
    od = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
            "</Types>"),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{ns_rel}">'
            f'<Relationship Id="rId1" Type="{od}/officeDocument" Target="xl/workbook.xml"/>'
            f'<Relationship Id="rId2" Type="{ns_rel}/metadata/core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{od}/extended-properties" Target="docProps/app.xml"/>'
            "</Relationships>"),
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:creator>{data.creator}</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>"),
        "docProps/app.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            "<Application>Microsoft Excel</Application></Properties>"),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{od}">'
            f'<sheets><sheet name="{data.sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{ns_rel}">'
            f'<Relationship Id="rId1" Type="{od}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{od}/styles" Target="styles.xml"/>'
            "</Relationships>"),
        "xl/styles.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'),
        "xl/worksheets/sheet1.xml": sheet,
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            zf.writestr(info, text.encode("utf-8"), compresslevel=6)
