"""Truth tables (parquet) for evaluation only: who every feed row really is, and the world behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .dates import NEVER
from .needs import Needs
from .population import HTYPES, Population


def _dates(days: np.ndarray) -> pa.Array:
    d = np.asarray(days, np.int64)
    valid = (d > -100_000) & (d < NEVER)
    return pa.array(np.where(valid, d, 0).astype("int32"), type=pa.int32(), mask=~valid).cast(pa.date32())


def _ids(values: np.ndarray) -> pa.Array:
    v = np.asarray(values, np.int64)
    return pa.array(v, type=pa.int64(), mask=v < 0)


def _write(table: dict, path: Path) -> None:
    cols = {}
    for k, v in table.items():
        cols[k] = v if isinstance(v, pa.Array) else pa.array(v)
    pq.write_table(pa.table(cols), path, compression="zstd")


def write(pop: Population, needs: Needs, source_records: pd.DataFrame, upn: pd.Series, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    p = pop.persons
    n = len(p)
    upn_col = np.full(n, None, dtype=object)
    upn_col[upn.index.to_numpy()] = upn.to_numpy()
    blank = lambda a: np.where(a == "", None, a).astype(object)  # noqa: E731
    hh = pop.households
    _write({
        "true_person_id": pa.array(np.arange(n, dtype=np.int64)),
        "first_name": p["first_name"].to_numpy().astype(object),
        "middle_names": blank(p["middle_names"].to_numpy()),
        "surname": p["surname"].to_numpy().astype(object),  # at birth or at the window's start
        "current_surname": pop.surname_on(np.arange(n), np.full(n, pop.w1)).astype(object),
        "surname_changed_date": _dates(p["surname_changed_date"].to_numpy()),
        "birth_surname": p["birth_surname"].to_numpy().astype(object),
        "dob": _dates(p["dob"].to_numpy()),
        "sex": p["sex"].to_numpy().astype(object),
        "nhs_number": p["nhs_number"].to_numpy().astype(object),
        "ni_number": blank(p["ni_number"].to_numpy()),
        "upn": upn_col,
        "birth_household_id": _ids(p["hid0"].to_numpy()),
        "mother_id": _ids(p["mother_id"].to_numpy()),
        "father_id": _ids(p["father_id"].to_numpy()),
        "twin_group": _ids(p["twin_group"].to_numpy()),
        "father_same_name_of": _ids(p["father_same_name_of"].to_numpy()),
        "born_in_window": p["born_in_window"].to_numpy(),
        "naming_culture": np.array(["british", "south_asian", "east_european", "african", "european"],
                                   dtype=object)[p["culture"].to_numpy()],
    }, out / "persons.parquet")
    m = pop.membership
    a = pop.addresses.reindex(m["addr"].to_numpy())
    _write({
        "true_person_id": pa.array(m["pid"].to_numpy(np.int64)),
        "true_household_id": pa.array(m["hid"].to_numpy(np.int64)),
        "uprn": pa.array(a["uprn"].to_numpy(np.int64)),
        "postcode": a["postcode"].to_numpy().astype(object),
        "from_date": _dates(m["from"].to_numpy()),
        "to_date": _dates(m["to"].to_numpy()),
    }, out / "household_membership.parquet")
    _write({
        "true_household_id": pa.array(np.arange(len(hh), dtype=np.int64)),
        "household_type": np.array(HTYPES, dtype=object)[hh["htype"].to_numpy()],
        "tenure": hh["tenure"].to_numpy().astype(object),
        "complexity": hh["z"].to_numpy(float),
        "from_date": _dates(hh["start"].to_numpy()),
        "to_date": _dates(hh["end"].to_numpy()),
    }, out / "households.parquet")
    r = pop.relationships
    _write({
        "true_person_id": pa.array(r["pid"].to_numpy(np.int64)),
        "related_true_person_id": pa.array(r["related_pid"].to_numpy(np.int64)),
        "relationship": r["relationship"].to_numpy().astype(object),
        "from_date": _dates(r["from"].to_numpy()),
        "to_date": _dates(r["to"].to_numpy()),
    }, out / "relationships.parquet")
    t = needs.table
    _write({
        "true_household_id": _ids(t["hid"].to_numpy()),
        "true_person_id": _ids(t["pid"].to_numpy()),
        "need": t["need"].to_numpy().astype(object),
        "severity": pa.array(t["severity"].to_numpy(np.int64)),
        "from_date": _dates(t["from"].to_numpy()),
        "to_date": _dates(t["to"].to_numpy()),
    }, out / "needs.parquet")
    sr = source_records
    extra = {}
    if "related_true_person_id" in sr:
        extra["related_true_person_id"] = _ids(sr["related_true_person_id"].fillna(-1).to_numpy(np.int64))
    _write({
        "feed": sr["feed"].to_numpy().astype(object),
        "file_name": sr["file_name"].to_numpy().astype(object),
        "row_number": pa.array(sr["row_number"].to_numpy(np.int64)),
        "record_key": sr["record_key"].to_numpy().astype(object),
        "true_person_id": pa.array(sr["true_person_id"].to_numpy(np.int64)),
        "true_household_id": pa.array(sr["true_household_id"].to_numpy(np.int64)),
        "malformed": sr["malformed"].to_numpy(bool),
        "malformed_reason": blank(sr["malformed_reason"].to_numpy().astype(object)),
        "errors": blank(sr["errors"].to_numpy().astype(object)),
        **extra,
    }, out / "source_records.parquet")
    return _counts(pop, needs, sr)


def _counts(pop: Population, needs: Needs, sr: pd.DataFrame) -> dict:
    p = pop.persons
    err = sr["errors"].fillna("")
    tagged = err[err != ""]
    per_tag = tagged.str.split(";").explode().value_counts()
    tag_counts = {tag: int(per_tag.get(tag, 0)) for tag in
                  ["nickname", "typo_forename", "typo_surname", "name_swap", "name_case", "whitespace",
                   "dob_transposed", "dob_placeholder", "dob_missing", "stale_address", "stale_surname",
                   "postcode_format", "postcode_missing", "id_mistyped", "duplicate_registration"]}
    hh_moves = pop.hh_addr.duplicated("hid").sum()
    return {
        "households": int(len(pop.households)),
        "twins": int((p["twin_group"] >= 0).sum()),
        "father_son_same_name": int((p["father_same_name_of"] >= 0).sum()),
        "surname_changes": int((p["surname_changed_date"] < NEVER).sum()),
        "births_in_window": int(p["born_in_window"].sum()),
        "household_moves": int(hh_moves),
        "separations": int((pop.partnerships["to"] < NEVER).sum()),
        "new_partnerships": int((pop.partnerships["source"] == "new").sum()),
        "people_with_needs": int(needs.table.loc[needs.table["pid"] >= 0, "pid"].nunique()),
        "needs": {k: int(v) for k, v in needs.table["need"].value_counts().sort_index().items()},
        "feed_rows_with_errors": int(len(tagged)),
        "error_tags": tag_counts,
        "persons_in_feeds": int(sr["true_person_id"].nunique()),
    }
