"""Return specifications: one YAML file per return in returns/specs/, read into `ReturnSpec`.

A spec lists every column in file order with its type, whether it is required, its allowed values or
pattern, and where it comes from in the marts. The writers format values from the spec (so the files are
the same bytes every run) and the extract gate (expectations/extract_gate.py) validates rows against it.

Column types and how they are written:
  string   text as is                      integer  whole number, no separator
  code     one of `allowed`                decimal  fixed `decimals` places (default 2)
  date     ISO 8601 yyyy-mm-dd in CSV, a real date in XLSX
  flag     Y or N
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

SPECS_DIR = Path(__file__).resolve().parent / "specs"
TYPES = ("string", "code", "date", "integer", "decimal", "flag")
FLAG_VALUES = ("Y", "N")


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    description: str
    source: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    decimals: int = 2
    min_value: float | None = None
    max_value: float | None = None

    @property
    def allowed_values(self) -> tuple[str, ...] | None:
        return FLAG_VALUES if self.type == "flag" else self.allowed


@dataclass(frozen=True)
class ReturnSpec:
    name: str  # file stem and asset name, e.g. family_progress_data
    title: str
    spec_version: str
    grain: str
    restricted: bool  # carries personal data: written under outbox/<period>/restricted/ only
    unique_key: tuple[str, ...]
    sort_by: tuple[str, ...]
    sources: tuple[str, ...]
    assumptions: str
    columns: tuple[ColumnSpec, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _column(raw: dict, spec_name: str) -> ColumnSpec:
    missing = {"name", "type", "description", "source"} - set(raw)
    if missing:
        raise SpecError(f"{spec_name}: column {raw.get('name')!r} lacks {sorted(missing)}")
    if raw["type"] not in TYPES:
        raise SpecError(f"{spec_name}: column {raw['name']!r} has unknown type {raw['type']!r}; known: {TYPES}")
    if raw["type"] == "code" and not raw.get("allowed"):
        raise SpecError(f"{spec_name}: code column {raw['name']!r} needs `allowed` values")
    allowed = raw.get("allowed")
    return ColumnSpec(
        name=raw["name"], type=raw["type"], description=" ".join(str(raw["description"]).split()),
        source=str(raw["source"]), required=bool(raw.get("required", False)),
        allowed=tuple(str(v) for v in allowed) if allowed else None, pattern=raw.get("pattern"),
        decimals=int(raw.get("decimals", 2)), min_value=raw.get("min"), max_value=raw.get("max"))


def load_spec_file(path: Path) -> ReturnSpec:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    name = raw.get("return") or Path(path).stem
    columns = tuple(_column(c, name) for c in raw.get("columns") or [])
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise SpecError(f"{name}: duplicate column names")
    for key in ("unique_key", "sort_by"):
        unknown = set(raw.get(key) or []) - set(names)
        if unknown:
            raise SpecError(f"{name}: {key} names unknown columns {sorted(unknown)}")
    return ReturnSpec(
        name=name, title=raw["title"], spec_version=str(raw["spec_version"]), grain=raw["grain"],
        restricted=bool(raw.get("restricted", False)), unique_key=tuple(raw.get("unique_key") or ()),
        sort_by=tuple(raw.get("sort_by") or raw.get("unique_key") or ()), sources=tuple(raw.get("sources") or ()),
        assumptions=str(raw.get("assumptions", "")).strip(), columns=columns)


@cache
def load_specs() -> dict[str, ReturnSpec]:
    specs = {}
    for path in sorted(SPECS_DIR.glob("*.yml")):
        spec = load_spec_file(path)
        specs[spec.name] = spec
    return specs


def get_spec(name: str) -> ReturnSpec:
    specs = load_specs()
    if name not in specs:
        raise KeyError(f"no return spec {name!r}; known: {sorted(specs)}")
    return specs[name]
