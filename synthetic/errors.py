"""Recording errors, per source system, and the string corruptions that produce them.

Rates are per row and per field. They are set from what practitioners report about each kind of
system: police and housing are keyed fast from what people say at the door (noisy, nicknames, stale
addresses); DWP and the school census are validated national collections (clean); social care,
early help, health and the programme sit between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import names


@dataclass(frozen=True)
class Profile:
    typo: float  # per name field: one substitution / deletion / insertion / transposition
    nickname: float  # known-as name or spelling variant instead of the legal forename
    swap: float  # forename and surname in each other's fields
    dob_transpose: float  # day and month swapped (only possible when day <= 12)
    dob_placeholder: float  # 01/01/YYYY or 1900-01-01 typed when the date was not known
    dob_missing: float
    stale_address: float  # the previous address, not the one on the record date
    postcode_variant: float  # no space, lower case, extra spaces
    postcode_missing: float
    case_variant: float  # NAME IN CAPITALS or all lower case
    whitespace: float  # trailing (or leading) spaces
    stale_surname: float  # after a surname change, the system still has the old surname
    id_missing: float  # NHS / NI number not recorded
    id_mistype: float  # one digit wrong or two adjacent digits swapped
    middle_missing: float
    duplicate: float  # share of people registered twice under two ids in this system
    uprn_missing: float
    sex_unknown: float


PROFILES = {
    "social_care": Profile(0.015, 0.03, 0.004, 0.008, 0.004, 0.01, 0.04, 0.05, 0.02, 0.02, 0.01, 0.35,
                           0.22, 0.01, 0.3, 0.02, 0.3, 0.005),
    "early_help": Profile(0.025, 0.08, 0.008, 0.012, 0.008, 0.02, 0.05, 0.1, 0.03, 0.03, 0.03, 0.4,
                          1.0, 0.0, 1.0, 0.03, 1.0, 0.01),
    "education": Profile(0.004, 0.004, 0.001, 0.002, 0.0, 0.0, 0.03, 0.01, 0.005, 0.0, 0.002, 0.2,
                         1.0, 0.0, 0.35, 0.004, 0.15, 0.0),
    "police": Profile(0.05, 0.10, 0.02, 0.02, 0.02, 0.03, 0.08, 0.15, 0.08, 0.05, 0.03, 0.5,
                      1.0, 0.0, 1.0, 0.04, 1.0, 0.01),
    "youth_justice": Profile(0.02, 0.05, 0.005, 0.01, 0.005, 0.005, 0.05, 0.05, 0.03, 0.02, 0.02, 0.3,
                             1.0, 0.0, 1.0, 0.02, 1.0, 0.0),
    "dwp": Profile(0.003, 0.002, 0.0005, 0.001, 0.0, 0.0, 0.03, 0.01, 0.005, 0.0, 0.0, 0.1,
                   0.0, 0.0, 1.0, 0.0, 1.0, 0.0),
    "health": Profile(0.02, 0.02, 0.005, 0.01, 0.005, 0.01, 0.05, 0.05, 0.03, 0.02, 0.01, 0.3,
                      0.06, 0.015, 1.0, 0.02, 1.0, 0.01),
    "housing": Profile(0.04, 0.06, 0.015, 0.02, 0.02, 0.04, 0.0, 0.1, 0.02, 0.05, 0.04, 0.45,
                       0.3, 0.015, 1.0, 0.0, 0.15, 0.0),
    "programme": Profile(0.015, 0.08, 0.005, 0.01, 0.005, 0.01, 0.03, 0.05, 0.02, 0.02, 0.02, 0.3,
                         1.0, 0.0, 1.0, 0.015, 1.0, 0.0),
}

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def typo(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One edit per value: substitution, deletion, insertion (doubled letter) or adjacent transposition."""
    out = values.copy()
    ops = rng.integers(0, 4, len(values))
    pos_u = rng.random(len(values))
    letters = _LETTERS[rng.integers(0, 26, len(values))]
    for i, v in enumerate(values.tolist()):
        if len(v) < 3:
            continue
        # keep the first letter in most typos: keyers rarely get the initial wrong
        j = 1 + int(pos_u[i] * (len(v) - 1))
        op = ops[i]
        if op == 0:
            c = letters[i] if v[j] != letters[i] else ("e" if v[j] != "e" else "a")
            new = v[:j] + (c.upper() if v[j].isupper() else c) + v[j + 1:]
        elif op == 1:
            new = v[:j] + v[j + 1:]
        elif op == 2:
            new = v[:j] + v[j] + v[j:]
        else:
            j = min(j, len(v) - 2)
            new = v[:j] + v[j + 1] + v[j] + v[j + 2:] if v[j] != v[j + 1] else v[:j] + v[j + 1:]
        out[i] = new
    return out


def nicknames(first: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Replace forenames with a pet form (seeds/nicknames.csv, kind nickname); returns (values, changed mask)."""
    lookup, flat = names.variant_lookup()
    oc = np.array([lookup.get(v, (0, 0)) for v in first.tolist()], dtype=np.int64).reshape(-1, 2)
    has = oc[:, 1] > 0
    pick = oc[:, 0] + (rng.random(len(first)) * np.maximum(oc[:, 1], 1)).astype(np.int64)
    out = first.copy()
    out[has] = flat[pick[has]]
    return out, has


def postcode_variants(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(0, 4, len(values))
    nospace = np.array([v.replace(" ", "") for v in values.tolist()], dtype=object)
    return np.select(
        [kind == 0, kind == 1, kind == 2],
        [nospace, np.char.lower(values.astype(str)).astype(object),
         np.array([v.replace(" ", "  ") for v in values.tolist()], dtype=object)],
        np.char.lower(nospace.astype(str)).astype(object) if len(values) else nospace,
    )


def case_variants(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    upper = rng.random(len(values)) < 0.75
    s = values.astype(str)
    return np.where(upper, np.char.upper(s), np.char.lower(s)).astype(object)
