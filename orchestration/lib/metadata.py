"""Dagster metadata and log lines without personal data.

Everything a run reports goes through `safe_metadata`: counts, figures, file names, delivery ids (file
hashes) and column names are fine (not person or record ids: see linkage/ids.py); a key or value that looks like a name, date of birth or identifier is refused,
so a careless call fails in tests instead of leaking into the Dagster UI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import dagster as dg

PERSONAL_KEY = re.compile(r"(name|dob|birth|nhs|nino|ni_number|upn|uprn|postcode|address|pnc)", re.I)
PERSONAL_VALUE = re.compile(
    r"\b\d{3}\s?\d{3}\s?\d{4}\b"  # NHS number
    r"|\b[A-Z]{2}\d{6}[A-D]\b"  # NI number
    r"|\b[A-Z]\d{12}\b"  # UPN
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"  # postcode
)


class PersonalDataInMetadata(ValueError):
    pass


def _check_text(key: str, text: str) -> None:
    if PERSONAL_VALUE.search(text):
        raise PersonalDataInMetadata(f"metadata {key!r} looks like it carries an identifier")


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
            _check_text(key, repr(value))
            out[key] = dg.MetadataValue.json(value)
        elif isinstance(value, dg.MetadataValue):
            out[key] = value
        else:
            raise TypeError(f"metadata {key!r}: unsupported type {type(value).__name__}")
    return out
