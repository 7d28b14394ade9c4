"""Which columns are identifiers, dates of birth and event dates, and how to tell a well-formed one.

Decided by raw column name, once, here, unless the feed registry says otherwise: a column's `identifier` key
names its kind whatever its name (nhs_no), and `historic: true` marks a date that may predate 2000. Each
identifier kind has a DuckDB SQL expression (what the gates run, vectorised over the whole delivery) and a
Python twin (for tests and callers); tests keep the two in step.
"""

from __future__ import annotations

import re

from orchestration.lib.feeds import Column

# raw column name -> identifier kind: the defaults, so a column named so needs no registry key. A feed that
# spells an identifier otherwise says so in feeds.yml (`identifier: nhs_number`), not here.
IDENTIFIER_COLUMNS: dict[str, str] = {
    "nhs_number": "nhs_number",
    "nino": "ni_number",
    "ni_number": "ni_number",
    "upn": "upn",
    "postcode": "postcode",
    "post_code": "postcode",
}
DOB_COLUMNS = {"dob", "date_of_birth", "birth_date"}  # and any name ending in "_dob" (lead_tenant_dob)

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
NI_BAD_PREFIXES = ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")
NI_PATTERN = "[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]"  # D F I Q U V never in the prefix, O never second
POSTCODE_PATTERN = "[A-Z]{1,2}[0-9][A-Z0-9]? *[0-9][A-Z]{2}"
UPN_PATTERN = f"[{UPN_LETTERS}][0-9]{{11}}[0-9{UPN_LETTERS}]"  # a letter last marks a temporary UPN

DESCRIPTIONS = {
    "nhs_number": "10 digits (spaces/hyphens ignored), the 10th a valid modulus-11 check digit",
    "ni_number": "National Insurance number pattern: allocatable 2-letter prefix, 6 digits, suffix A-D",
    "upn": "13 characters with a valid DfE check letter (weights 2..13 over characters 2-13, mod 23)",
    "postcode": "UK postcode shape (outward code, optional space, inward code)",
}


def identifier_kind(column: Column | str) -> str | None:
    """The identifier kind a column holds: its registry `identifier` key, else told by its raw name."""
    if isinstance(column, Column):
        return column.identifier or IDENTIFIER_COLUMNS.get(column.raw_name)
    return IDENTIFIER_COLUMNS.get(column)


def is_historic(column: Column) -> bool:
    """A date column marked `historic: true` in the registry: not an event in the programme's window, it may
    legitimately predate 2000 (it keeps the "not after the delivery" bound but takes the DOB lower bound, 1900)."""
    return column.historic


def is_dob(column: Column | str) -> bool:
    name = column if isinstance(column, str) else column.raw_name
    return name in DOB_COLUMNS or name.endswith("_dob")


# --- SQL (DuckDB): a boolean expression, true when the non-null value is well formed ---------------


def valid_sql(kind: str, expr: str) -> str:
    if kind == "nhs_number":
        d = f"regexp_replace({expr}, '[\\s-]', '', 'g')"
        weighted = " + ".join(f"{11 - i} * try_cast(substr({d}, {i}, 1) as integer)" for i in range(1, 10))
        check = f"try_cast(substr({d}, 10, 1) as integer)"
        return (f"(case when regexp_full_match({d}, '[0-9]{{10}}') "
                f"then (11 - ({weighted}) % 11) % 11 = {check} else false end)")
    if kind == "ni_number":
        n = f"upper(regexp_replace({expr}, '\\s', '', 'g'))"
        bad = ", ".join(f"'{p}'" for p in NI_BAD_PREFIXES)
        return f"(regexp_full_match({n}, '{NI_PATTERN}') and substr({n}, 1, 2) not in ({bad}))"
    if kind == "upn":
        u = f"upper(trim({expr}))"

        def value(i: int) -> str:
            ch = f"substr({u}, {i}, 1)"
            return f"(case when {ch} between '0' and '9' then ascii({ch}) - 48 else strpos('{UPN_LETTERS}', {ch}) - 1 end)"

        weighted = " + ".join(f"{i} * {value(i)}" for i in range(2, 14))
        return (f"(case when regexp_full_match({u}, '{UPN_PATTERN}') "
                f"then substr('{UPN_LETTERS}', (({weighted}) % 23) + 1, 1) = substr({u}, 1, 1) else false end)")
    if kind == "postcode":
        return f"regexp_full_match(upper(trim({expr})), '{POSTCODE_PATTERN}')"
    raise ValueError(f"unknown identifier kind {kind!r}")


# --- Python twins ----------------------------------------------------------------------------------


def is_valid(kind: str, value: str | None) -> bool:
    if value is None:
        return False
    text = str(value)
    if kind == "nhs_number":
        digits = re.sub(r"[\s-]", "", text)
        if not re.fullmatch(r"[0-9]{10}", digits):
            return False
        total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
        return (11 - total % 11) % 11 == int(digits[9])
    if kind == "ni_number":
        n = re.sub(r"\s", "", text).upper()
        return bool(re.fullmatch(NI_PATTERN, n)) and n[:2] not in NI_BAD_PREFIXES
    if kind == "upn":
        u = text.strip().upper()
        if not re.fullmatch(UPN_PATTERN, u):
            return False
        total = sum(i * (int(ch) if ch.isdigit() else UPN_LETTERS.index(ch)) for i, ch in zip(range(2, 14), u[1:]))
        return UPN_LETTERS[total % 23] == u[0]
    if kind == "postcode":
        return bool(re.fullmatch(POSTCODE_PATTERN, text.strip().upper()))
    raise ValueError(f"unknown identifier kind {kind!r}")
