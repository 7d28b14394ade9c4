"""Dagster metadata and log lines without personal data.

Everything a run reports goes through `safe_metadata`: counts, figures, file names, delivery ids (file
hashes) and column names are fine (not person or record ids: see linkage/ids.py); a key or value that looks like a name, date of birth or identifier is refused,
so a careless call fails in tests instead of leaking into the Dagster UI. Strings are checked wherever they sit:
inside lists and dicts, and inside a MetadataValue built by the caller. Free text that is no metadata (a
dg.Failure or check description, a log line built from a loader's reason) goes through `safe_text`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import dagster as dg

PERSONAL_KEY = re.compile(r"(name|dob|birth|nhs|nino|ni_number|upn|uprn|postcode|address|pnc)", re.I)
# Any letter case (a postcode typed in lower case is still one). Inline (?i), not re.I: expectations/extract_gate.py
# runs this pattern's text in DuckDB, which must match the same values.
PERSONAL_VALUE = re.compile(
    r"(?i)"
    r"\b\d{3}[\s-]?\d{3}[\s-]?\d{4}\b"  # NHS number: 10 digits, or 3-3-4 with spaces or dashes
    r"|\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"  # NI number, also printed spaced (QQ 12 34 56 C)
    r"|\b[A-Z]\d{12}\b"  # UPN
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"  # postcode
)


class PersonalDataInMetadata(ValueError):
    pass


def looks_personal(text: str) -> bool:
    """Whether the text carries a value shaped like an NHS / NI number, UPN or postcode."""
    return PERSONAL_VALUE.search(text) is not None


def _check_text(key: str, text: str) -> None:
    if looks_personal(text):
        raise PersonalDataInMetadata(f"metadata {key!r} looks like it carries an identifier")


def safe_text(text: str, withheld: str) -> str:
    """Free text for a log line or a Failure / check description, which Dagster shows as is: the text, or
    `withheld` in its place when it carries an identifier-shaped value. Refused whole, as safe_metadata refuses a
    value, not masked: the words around such a value (a name beside a postcode) cannot be checked, and raising
    here would swap a feed's own failure, or a warning, for an unrelated error."""
    return withheld if looks_personal(text) else text


def safe_metadata(values: Mapping[str, object]) -> dict[str, dg.MetadataValue]:
    out: dict[str, dg.MetadataValue] = {}
    for key, value in values.items():
        if PERSONAL_KEY.search(key) and not key.endswith(("_count", "_rows", "_share")):
            raise PersonalDataInMetadata(f"metadata key {key!r} names a personal field")
        if isinstance(value, bool | int | float) or value is None:
            out[key] = dg.MetadataValue.int(value) if isinstance(value, int) and not isinstance(value, bool) else value
        elif isinstance(value, str):
            _check_text(key, value)
            out[key] = dg.MetadataValue.text(value)
        elif isinstance(value, Mapping | list):
            _check_text(key, repr(value))  # one pass over every string nested in it, keys included
            out[key] = dg.MetadataValue.json(value)
        elif isinstance(value, dg.MetadataValue):
            # a caller's own text, json, path, url or markdown value: its strings are checked like any other
            if isinstance(inner := getattr(value, "value", None), str | Mapping | list | tuple):
                _check_text(key, inner if isinstance(inner, str) else repr(inner))
            out[key] = value
        else:
            raise TypeError(f"metadata {key!r}: unsupported type {type(value).__name__}")
    return out
