"""What a source system records about a person on a date: the truth on that date, then that system's
recording errors. Also each system's own person ids, with realistic duplicate registrations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import errors
from .dates import MISSING, from_ymd, ymd
from .identifiers import mistype_digits
from .population import Population


class Tags:
    """Per-row error tags, joined with ';' for the truth table."""

    def __init__(self, n: int):
        self.values = np.full(n, "", dtype=object)

    def add(self, mask: np.ndarray, tag: str) -> None:
        if mask.any():
            self.values[mask] = self.values[mask] + tag + ";"

    def extend(self, other: "Tags") -> None:
        self.values = self.values + other.values

    def result(self) -> np.ndarray:
        return np.array([v.rstrip(";") for v in self.values.tolist()], dtype=object)


def identity(pop: Population, pids: np.ndarray, dates: np.ndarray, system: str,
             rng: np.random.Generator) -> tuple[pd.DataFrame, Tags]:
    """Recorded identity fields for (person, date) pairs, with the system's errors applied."""
    prof = errors.PROFILES[system]
    p = pop.persons
    n = len(pids)
    tags = Tags(n)
    pids = np.asarray(pids, np.int64)
    dates = np.asarray(dates, np.int64)
    r = lambda: rng.random(n)  # noqa: E731

    first = p["first_name"].to_numpy()[pids].copy()
    middle = p["middle_names"].to_numpy()[pids].copy()
    surname = pop.surname_on(pids, dates).copy()
    changed = p["surname_changed_date"].to_numpy()[pids] <= dates
    stale_sn = changed & (r() < prof.stale_surname)
    surname[stale_sn] = p["surname"].to_numpy()[pids[stale_sn]]
    tags.add(stale_sn, "stale_surname")

    # address: the segment on the date, or the one before it when the system has not caught up
    mrow = pop.locate(pids, dates)
    hid = pop.membership["hid"].to_numpy()[mrow]
    stale = r() < prof.stale_address
    prev = pop.previous(mrow)
    arow = np.where(stale, prev, mrow)
    addr = pop.membership["addr"].to_numpy()[arow]
    tags.add(stale & (prev != mrow), "stale_address")
    a = pop.addresses.iloc[np.searchsorted(pop.addresses.index.to_numpy(), addr)]
    line1 = a["line1"].to_numpy().copy()
    town = a["town"].to_numpy().copy()
    postcode = a["postcode"].to_numpy().copy()
    uprn = a["uprn"].to_numpy().astype(str).astype(object)

    # names
    nick = r() < prof.nickname
    if nick.any():
        new, ok = errors.nicknames(first[nick], rng)
        first[nick] = new
        nick[np.flatnonzero(nick)[~ok]] = False
    tags.add(nick, "nickname")
    t1 = r() < prof.typo
    first[t1] = errors.typo(first[t1], rng)
    tags.add(t1, "typo_forename")
    t2 = r() < prof.typo
    surname[t2] = errors.typo(surname[t2], rng)
    tags.add(t2, "typo_surname")
    sw = r() < prof.swap
    first[sw], surname[sw] = surname[sw], first[sw].copy()
    tags.add(sw, "name_swap")
    cv = r() < prof.case_variant
    first[cv] = errors.case_variants(first[cv], rng)
    surname[cv] = errors.case_variants(surname[cv], rng)
    tags.add(cv, "name_case")
    ws = r() < prof.whitespace
    surname[ws] = surname[ws] + np.where(rng.random(ws.sum()) < 0.8, " ", "  ")
    tags.add(ws, "whitespace")
    middle[r() < prof.middle_missing] = ""

    # dates of birth
    dob = p["dob"].to_numpy()[pids].copy()
    y, m, d = ymd(dob)
    tr = (r() < prof.dob_transpose) & (d <= 12) & (d != m)
    dob[tr] = from_ymd(y[tr], d[tr], m[tr])
    tags.add(tr, "dob_transposed")
    ph = r() < prof.dob_placeholder
    jan1 = from_ymd(y[ph], np.ones(ph.sum(), int), np.ones(ph.sum(), int))
    dob[ph] = np.where(rng.random(ph.sum()) < 0.7, jan1, from_ymd(np.array([1900]), np.array([1]), np.array([1]))[0])
    ph &= dob != p["dob"].to_numpy()[pids]
    tags.add(ph, "dob_placeholder")
    dm = r() < prof.dob_missing
    dob[dm] = MISSING
    tags.add(dm, "dob_missing")

    # postcodes and UPRNs
    pv = r() < prof.postcode_variant
    postcode[pv] = errors.postcode_variants(postcode[pv], rng)
    tags.add(pv, "postcode_format")
    pm = r() < prof.postcode_missing
    postcode[pm] = ""
    tags.add(pm, "postcode_missing")
    uprn[r() < prof.uprn_missing] = ""

    sex = p["sex"].to_numpy()[pids].copy()
    su = r() < prof.sex_unknown
    sex[su] = "U"

    # national identifiers
    nhs = p["nhs_number"].to_numpy()[pids].copy()
    ni = p["ni_number"].to_numpy()[pids].copy()
    miss = r() < prof.id_missing
    mist = (r() < prof.id_mistype) & ~miss
    nhs[mist] = mistype_digits(nhs[mist], rng)
    nhs[miss] = ""
    has_ni = ni != ""
    ni[mist & has_ni] = mistype_digits(ni[mist & has_ni], rng)
    ni[miss] = ""
    tags.add(mist, "id_mistyped")

    out = pd.DataFrame({
        "first": first, "middle": middle, "surname": surname, "dob": dob, "sex": sex,
        "line1": line1, "town": town, "postcode": postcode, "uprn": uprn,
        "nhs": nhs, "ni": ni, "hid": hid, "addr": addr,
    })
    return out, tags


def system_ids(pids: np.ndarray, dates: np.ndarray, fmt: str, rng: np.random.Generator,
               duplicate_rate: float, start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One id per person in a system, numbered in order of first appearance; a share of people with
    two or more rows get a second registration used for their later rows (the duplicate problem).
    Returns (ids as text, duplicate-row mask)."""
    pids = np.asarray(pids, np.int64)
    n = len(pids)
    if n == 0:
        return np.array([], dtype=object), np.zeros(0, bool)
    order = np.lexsort((pids, dates))
    first_seen = pd.unique(pids[order])
    # a random gap between numbers, as systems number people across the whole county and beyond
    numbers = start + np.cumsum(rng.integers(1, 6, len(first_seen)))
    number_of = pd.Series(numbers, index=first_seen)
    num = number_of.reindex(pids).to_numpy()
    # duplicates: rows ranked by date within a person; the later half use the second registration
    df = pd.DataFrame({"pid": pids, "date": dates, "i": np.arange(n)}).sort_values(["pid", "date", "i"])
    df["rank"] = df.groupby("pid").cumcount()
    df["count"] = df.groupby("pid")["pid"].transform("size")
    multi = np.unique(df.loc[df["count"] > 1, "pid"].to_numpy())
    dup_people = multi[rng.random(len(multi)) < duplicate_rate]
    dup = np.zeros(n, bool)
    if len(dup_people):
        sel = df["pid"].isin(dup_people).to_numpy() & (df["rank"] >= (df["count"] + 1) // 2).to_numpy()
        dup[df["i"].to_numpy()[sel]] = True
        extra = numbers.max() + np.cumsum(rng.integers(1, 6, len(dup_people)))
        alt = pd.Series(extra, index=dup_people)
        num = np.where(dup, alt.reindex(pids).fillna(0).to_numpy().astype(np.int64), num)
    ids = np.array([fmt.format(v) for v in num.tolist()], dtype=object)
    return ids, dup
