"""The feed registry (orchestration/feeds.yml): load it, validate it, name raw tables and columns.

Everything that needs to know a feed's shape (landing, gates, staging tests, the generator's tests)
goes through this module, so the YAML stays the single description of each feed.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

REGISTRY_PATH = Path(__file__).resolve().parents[1] / "feeds.yml"

COLUMN_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DECIMAL(18,2)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
FORMATS = {"csv", "xlsx", "jsonl"}
# full: each file is the whole current set of records (a register); changes: each file adds or updates records
EXTRACT_KINDS = ("full", "changes")
DEFAULT_FILE_DATE_FORMAT = "%Y-%m-%d"
# what a column's `identifier` key may say it holds (expectations/identifiers.py checks each kind's format)
IDENTIFIER_KINDS = ("nhs_number", "ni_number", "upn", "postcode")
# strptime codes -> the text they match, to find a date inside a file name
_DATE_CODE_PATTERNS = {"%Y": r"\d{4}", "%y": r"\d{2}", "%m": r"\d{2}", "%d": r"\d{2}", "%b": r"[A-Za-z]{3}",
                       "%B": r"[A-Za-z]{3,9}"}

# Columns landing adds to every raw table, in this order.
PROVENANCE_COLUMNS = {
    "_delivery_id": "VARCHAR",
    "_file_name": "VARCHAR",
    "_file_sha256": "VARCHAR",
    "_row_number": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}


def raw_column_name(header: str) -> str:
    """Header text as delivered -> raw column name: 'Date of Birth' -> 'date_of_birth', 'LegalSurname' -> 'legal_surname'."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip())
    name = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    return re.sub(r"_+", "_", name)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    format: str | None = None
    required: bool = False
    codes: tuple[str, ...] | None = None
    # a column added to the registry that senders may not deliver yet: a file without it lands, the column
    # empty, and landing notes it (not schema drift)
    may_be_absent: bool = False
    # a date that is no event in the programme's window and may predate 2000 (a relationship's start): the raw
    # gate keeps its not-after-delivery bound but takes the DOB lower bound
    historic: bool = False
    # the identifier kind the column holds whatever its name (IDENTIFIER_KINDS); None: told by its raw name
    # (expectations/identifiers.py), so a column named nhs_number needs no key
    identifier: str | None = None

    @property
    def raw_name(self) -> str:
        return raw_column_name(self.name)

    @property
    def sql_type(self) -> str:
        return COLUMN_TYPES[self.type]


@dataclass(frozen=True)
class Feed:
    name: str
    system: str
    description: str
    file_pattern: str
    format: str
    columns: tuple[Column, ...]
    record_key: tuple[str, ...]
    delimiter: str = ","
    encoding: str = "utf-8"
    sheet: str | None = None
    file_date_format: str = DEFAULT_FILE_DATE_FORMAT
    extract: str = "changes"
    # False when each row's person record is the event's (no person id: housing): several records of one person
    # are expected in the system, so clustering does not hold it to one record per person
    person_keyed: bool = True
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def record_key_columns(self) -> tuple[str, ...]:
        """Raw column names of the record key."""
        return tuple(raw_column_name(name) for name in self.record_key)

    @property
    def is_full_extract(self) -> bool:
        """Each file holds every current record: staging reads no delivery older than the latest full one."""
        return self.extract == "full"

    @property
    def required_columns(self) -> list[Column]:
        return [c for c in self.columns if c.required]

    def extract_date(self, file_name: str) -> dt.date | None:
        """The extract date a delivery's file name carries: the last date in `file_date_format` within the part
        of the name that file_pattern's wildcards match ('csc_persons_2026-10-31.csv' -> 2026-10-31); None when
        there is none. Staging orders a record's versions by it, so a late resend of an older extract does not
        replace a newer one. The name's letter case does not matter, as in matches()."""
        wildcards = re.fullmatch(_glob_regex(self.file_pattern), file_name, re.IGNORECASE)
        if wildcards is None:
            return None
        found = None
        for part in wildcards.groups():
            for match in re.finditer(_date_regex(self.file_date_format), part):
                try:
                    found = dt.datetime.strptime(match.group(0), self.file_date_format).date()
                except ValueError:  # e.g. a month 13: not a date
                    continue
        return found

    def matches(self, file_name: str) -> bool:
        """Whether a file in landing/<feed>/ is one of this feed's: file_pattern matched regardless of letter case
        (a Windows export may name it CSC_PERSONS_2026-10-31.CSV; the name's case says nothing about content)."""
        return fnmatch.fnmatchcase(file_name.lower(), self.file_pattern.lower())


def _glob_regex(pattern: str) -> str:
    """A file_pattern glob as a regex with one group per wildcard."""
    return "".join("(.*)" if c == "*" else "(.)" if c == "?" else re.escape(c) for c in pattern)


def _date_regex(date_format: str) -> str:
    parts = re.split(r"(%[a-zA-Z])", date_format)
    body = "".join(_DATE_CODE_PATTERNS.get(p, re.escape(p)) for p in parts if p)
    return rf"(?<!\d){body}(?!\d)"


class RegistryError(ValueError):
    pass


def _flag(feed: str, column: dict, key: str) -> bool:
    """A yes/no setting: a YAML boolean, never a string (bool('false') is True)."""
    value = column.get(key, False)
    if not isinstance(value, bool):
        raise RegistryError(f"feed {feed}: column {column.get('name')!r} has {key}: {value!r}, not true or false")
    return value


def _feed_flag(feed: str, spec: dict, key: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise RegistryError(f"feed {feed}: {key}: {value!r}, not true or false")
    return value


def _identifier(feed: str, column: dict) -> str | None:
    """A column's `identifier` key: one of IDENTIFIER_KINDS, on a string column (the raw gate checks no other)."""
    kind = column.get("identifier")
    if kind is None:
        return None
    if kind not in IDENTIFIER_KINDS:
        raise RegistryError(f"feed {feed}: column {column.get('name')!r} has identifier: {kind!r}, not one of "
                            f"{list(IDENTIFIER_KINDS)}")
    if column["type"] != "string":
        raise RegistryError(f"feed {feed}: column {column.get('name')!r} has identifier: {kind} but type "
                            f"{column['type']}; an identifier column is type string")
    return kind


# every key a feed and a column may have: a misspelt one (`identifer:`) would otherwise silently drop its check
FEED_KEYS = frozenset({"system", "description", "file_pattern", "format", "columns", "record_key", "delimiter",
                       "encoding", "sheet", "file_date_format", "extract", "person_keyed"})
COLUMN_KEYS = frozenset({"name", "type", "format", "required", "codes", "may_be_absent", "historic", "identifier"})


def _parse_feed(name: str, spec: dict) -> Feed:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise RegistryError(f"feed name {name!r} must be snake_case")
    if unknown := sorted(set(spec) - FEED_KEYS):
        raise RegistryError(f"feed {name}: unknown keys {unknown} (a feed's keys are {sorted(FEED_KEYS)})")
    for col in spec.get("columns") or []:
        if unknown := sorted(set(col) - COLUMN_KEYS):
            raise RegistryError(f"feed {name}: column {col.get('name')!r} has unknown keys {unknown} (a column's "
                                f"keys are {sorted(COLUMN_KEYS)})")
    missing = {"system", "record_key", "file_pattern", "format", "columns"} - spec.keys()
    if missing:
        raise RegistryError(f"feed {name}: missing keys {sorted(missing)}")
    if spec["format"] not in FORMATS:
        raise RegistryError(f"feed {name}: format {spec['format']!r} not one of {sorted(FORMATS)}")
    columns = []
    for col in spec["columns"]:
        if col.get("type") not in COLUMN_TYPES:
            raise RegistryError(f"feed {name}: column {col.get('name')!r} has unknown type {col.get('type')!r}")
        if col["type"] in {"date", "timestamp"} and not col.get("format"):
            raise RegistryError(f"feed {name}: column {col['name']!r} needs a date format")
        if col.get("format") == "excel" and spec["format"] != "xlsx":
            raise RegistryError(f"feed {name}: column {col['name']!r} uses format 'excel' outside an xlsx feed")
        codes = col.get("codes")
        columns.append(
            Column(
                name=str(col["name"]),
                type=col["type"],
                format=col.get("format"),
                required=bool(col.get("required", False)),
                codes=tuple(str(c) for c in codes) if codes else None,
                may_be_absent=_flag(name, col, "may_be_absent"),
                historic=_flag(name, col, "historic"),
                identifier=_identifier(name, col),
            )
        )
        if columns[-1].historic and columns[-1].type not in {"date", "timestamp"}:
            raise RegistryError(f"feed {name}: column {col['name']!r} has historic: true but type {col['type']}; "
                                "only a date or timestamp column can be historic")
        if columns[-1].may_be_absent and (columns[-1].required or columns[-1].name in spec["record_key"]):
            raise RegistryError(f"feed {name}: column {col['name']!r} may be absent, so it cannot be required "
                                "or part of the record key")
    unknown_key = [k for k in spec["record_key"] if k not in {c.name for c in columns}]
    if unknown_key:
        raise RegistryError(f"feed {name}: record_key names unknown columns {unknown_key}")
    raw_names = [c.raw_name for c in columns]
    if len(set(raw_names)) != len(raw_names):
        raise RegistryError(f"feed {name}: two columns share a raw name")
    file_date_format = str(spec.get("file_date_format", DEFAULT_FILE_DATE_FORMAT))
    unknown_codes = set(re.findall(r"%[a-zA-Z]", file_date_format)) - set(_DATE_CODE_PATTERNS)
    if unknown_codes or not re.search(r"%[Yy]", file_date_format):
        raise RegistryError(f"feed {name}: file_date_format needs a year and only the codes "
                            f"{sorted(_DATE_CODE_PATTERNS)}")
    extract = str(spec.get("extract", "changes"))
    if extract not in EXTRACT_KINDS:
        raise RegistryError(f"feed {name}: extract {extract!r} not one of {list(EXTRACT_KINDS)}")
    return Feed(
        name=name,
        system=spec["system"],
        description=spec.get("description", ""),
        file_pattern=spec["file_pattern"],
        format=spec["format"],
        columns=tuple(columns),
        record_key=tuple(str(k) for k in spec["record_key"]),
        delimiter=spec.get("delimiter", ","),
        encoding=spec.get("encoding", "utf-8"),
        sheet=spec.get("sheet"),
        file_date_format=file_date_format,
        extract=extract,
        person_keyed=_feed_flag(name, spec, "person_keyed", True),
    )


def load_registry(path: Path | str = REGISTRY_PATH) -> dict[str, Feed]:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    feeds = {name: _parse_feed(name, spec) for name, spec in doc["feeds"].items()}
    # clustering's one-record-per-system rule is per source system, so a system's feeds must agree on it
    for system in {f.system for f in feeds.values()}:
        keyed = {f.name: f.person_keyed for f in feeds.values() if f.system == system}
        if len(set(keyed.values())) > 1:
            raise RegistryError(f"system {system}: feeds {sorted(n for n, k in keyed.items() if not k)} have "
                                f"person_keyed: false but {sorted(n for n, k in keyed.items() if k)} do not; "
                                "clustering tells the two kinds apart by system, so give them different systems")
    return feeds


def event_keyed_systems(feeds: dict[str, Feed] | None = None) -> frozenset[str]:
    """Source systems whose feeds are marked `person_keyed: false`: one person record per event, so clustering
    expects several records of one person there (linkage/cluster.py)."""
    return frozenset(f.system for f in (registry() if feeds is None else feeds).values() if not f.person_keyed)


@lru_cache(maxsize=1)
def registry() -> dict[str, Feed]:
    """The project's registry, parsed once per process."""
    return load_registry()


def raw_table_ddl(feed: Feed) -> str:
    cols = [f'"{c.raw_name}" {c.sql_type}' for c in feed.columns]
    cols += [f'"{name}" {sql_type}' for name, sql_type in PROVENANCE_COLUMNS.items()]
    return f"create table if not exists {feed.raw_table} ({', '.join(cols)})"
