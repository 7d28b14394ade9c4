"""Latent needs: what is really going on in a family, which the feeds then partially observe.

Each household has a complexity factor z (drawn in population.py from deprivation, household type and
noise). Every need's probability is logistic in z, so needs co-occur the way they do in the field
(absence, domestic abuse, worklessness and social care involvement cluster in the same families).
A need has an interval [from, to) inside the window and, for some, a severity that decides how far
the events go (referral only .. looked after; arrears .. eviction).

Where the programme's support works (feeds/programme.py decides where, before any feed is built) it changes the
family's needs, the way the Supporting Families national evaluation describes the programme's effect (fewer new
episodes of need while and after a family is supported): 80% of the needs that would have arisen in the family
while its case is open and for a year after closure never arise (`prevented_by_support`), and the needs it had at
attachment end 3-15 months into support, if not sooner (`ended_by_support`). The share and the periods are this
generator's assumptions, not measured effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dates import NEVER, add_years
from .population import Population

# name: (level, min_age, max_age, share of eligible people/households with the need at some point in
#        2019-2026, z coefficient, male log-odds shift, duration in months (lo, hi)).
# Shares follow published rates: ~1 in 5 children referred to social care before age 5 (Bilson & Martin),
# persistent absence ~20% of pupils a year after 2021, suspensions ~2.5% of pupils a year, ~4% of adults in
# contact with secondary mental health services a year, ~0.7% of adults in drug/alcohol treatment a year,
# homelessness duties ~1.2% of households a year, youth justice first-time entrants and cautions.
NEEDS = {
    "domestic_abuse": ("household", None, None, 0.06, 1.0, 0.0, (3, 30)),
    "child_welfare": ("household", None, None, 0.13, 1.1, 0.0, (2, 24)),
    "parenting": ("household", None, None, 0.07, 0.8, 0.0, (3, 15)),
    "rent_arrears": ("household", None, None, 0.25, 0.9, 0.0, (2, 20)),
    "homelessness": ("household", None, None, 0.04, 1.0, 0.0, (1, 8)),
    "worklessness": ("person", 18, 66, 0.15, 0.9, 0.1, (3, 48)),
    "mental_health": ("person", 18, 90, 0.09, 0.7, -0.3, (3, 24)),
    "substance_misuse": ("person", 18, 65, 0.025, 0.9, 0.7, (4, 30)),
    "adult_offending": ("person", 18, 60, 0.035, 1.0, 1.3, (1, 36)),
    "asb": ("person", 12, 40, 0.025, 1.0, 0.8, (1, 18)),
    "youth_offending": ("person", 12, 17, 0.025, 1.1, 1.1, (3, 30)),
    "school_absence": ("person", 5, 15, 0.25, 0.8, 0.0, (6, 36)),
    "exclusion": ("person", 6, 15, 0.06, 1.0, 0.9, (3, 24)),
    "child_mental_health": ("person", 5, 17, 0.06, 0.5, -0.2, (4, 18)),
}
RE_REFERRAL = 0.22  # children's social care re-referrals within the window
SUPPORT_PREVENTS_SHARE = 0.8  # where support works: the share of the family's new needs that never arise ...
SUPPORT_PREVENTS_AFTER_CLOSURE_DAYS = 365  # ... from attachment to this long after closure (an assumption)
SUPPORT_ENDS_NEEDS_DAYS = (90, 456)  # and a need the family has at attachment ends 3-15 months after it, if not sooner


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def _intercept(z: np.ndarray, coef: float, share: float) -> float:
    """Intercept a with mean(sigmoid(a + coef*z)) = share over the eligible units (bisection on a sample)."""
    if len(z) == 0:
        return _logit(share)
    sample = z[:: max(1, len(z) // 50_000)]
    lo, hi = -15.0, 10.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if _sigmoid(mid + coef * sample).mean() < share:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass
class Needs:
    table: pd.DataFrame  # need, pid (-1 for household needs), hid, from, to, severity

    def of(self, need: str) -> pd.DataFrame:
        return self.table[self.table["need"] == need]


def build(pop: Population, rng_for) -> Needs:
    rng = rng_for("needs")
    p, hh = pop.persons, pop.households
    w0, w1 = pop.w0, pop.w1
    z_h = hh["z"].to_numpy()
    dob = p["dob"].to_numpy()
    hid0 = p["hid0"].to_numpy()
    # a person's own propensity on top of the family's
    z_p = z_h[hid0] + rng.normal(0, 0.5, len(p))
    male = p["sex"].to_numpy() == "M"
    frames = []

    # families: households with a child under 18 during the window
    child = dob > add_years(np.array([w1]), -18)[0]
    fam = np.zeros(len(hh), bool)
    fam[np.unique(hid0[child])] = True
    start = np.maximum(hh["start"].to_numpy(), w0)
    end = np.minimum(hh["end"].to_numpy(), w1)
    social = hh["tenure"].to_numpy() == "social"
    # membership is sorted by pid, so a household's first row is its lead (lowest pid)
    first_member = pop.membership.drop_duplicates("hid")
    lead_age_at_w1 = np.full(len(hh), 200.0)
    lead_age_at_w1[first_member["hid"].to_numpy()] = (w1 - dob[first_member["pid"].to_numpy()]) / 365.25

    for need, (level, lo_age, hi_age, base, coef, male_shift, (d_lo, d_hi)) in NEEDS.items():
        if level == "household":
            elig = fam & (end - start > 120)
            if need == "rent_arrears":
                elig = social & (end - start > 120)
            if need == "homelessness":  # families and working-age households, rarely pensioners
                elig = (end - start > 120) & (lead_age_at_w1 < 70)
            z = z_h
            lo, hi = start, end
        else:
            lo = np.maximum(add_years(dob, lo_age), w0)
            hi = np.minimum(add_years(dob, hi_age + 1), w1)
            elig = hi - lo > 90
            z = z_p + np.where(male, male_shift, 0.0)
        prob = _sigmoid(_intercept(z[elig], coef, base) + coef * z)
        has = elig & (rng.random(len(z)) < prob)
        idx = np.flatnonzero(has)
        onset = lo[idx] + (rng.random(len(idx)) * (hi[idx] - lo[idx] - 60)).astype(np.int64)
        dur = (rng.uniform(d_lo, d_hi, len(idx)) * 30.4).astype(np.int64)
        to = onset + dur
        to = np.where(to >= w1, NEVER, to)
        sev = z[idx] + rng.normal(0, 1, len(idx))
        severity = 1 + (sev > -0.2).astype(int) + (sev > 0.6) + (sev > 1.3) + (sev > 2.0)
        if level == "household":
            frames.append(pd.DataFrame({"need": need, "pid": -1, "hid": idx, "from": onset, "to": to,
                                        "severity": severity}))
        else:
            mrow = pop.locate(idx, onset)
            frames.append(pd.DataFrame({"need": need, "pid": idx, "hid": pop.membership["hid"].to_numpy()[mrow],
                                        "from": onset, "to": to, "severity": severity}))
    table = pd.concat(frames, ignore_index=True)
    # social care: a share of families are referred again after the first episode closes
    cw = table[(table["need"] == "child_welfare") & (table["to"] < w1 - 120)]
    again = cw[rng.random(len(cw)) < RE_REFERRAL].copy()
    again["from"] = again["to"].to_numpy() + rng.integers(60, 700, len(again))
    again["to"] = again["from"].to_numpy() + rng.integers(60, 700, len(again))
    again.loc[again["to"] >= w1, "to"] = NEVER
    table = pd.concat([table, again[again["from"] < w1 - 30]], ignore_index=True)
    # homelessness ends in a move: tie the need to the household's next move where there is one
    table = _align_homelessness(pop, table, rng)
    # perinatal mental health: some mothers in the year after a birth
    babies = p[p["born_in_window"].to_numpy()]
    mums = babies["mother_id"].to_numpy()
    bd = babies["dob"].to_numpy()
    pm = rng.random(len(mums)) < _sigmoid(_logit(0.08) + 0.6 * z_p[mums])
    on = bd[pm] + rng.integers(-60, 300, pm.sum())
    ok = on < w1 - 30
    perinatal = pd.DataFrame({"need": "perinatal_mental_health", "pid": mums[pm][ok],
                              "hid": hid0[mums[pm][ok]], "from": on[ok],
                              "to": np.where(on[ok] + 240 >= w1, NEVER, on[ok] + 240), "severity": 1})
    table = pd.concat([table, perinatal], ignore_index=True)
    table = table.sort_values(["need", "hid", "pid", "from"], kind="stable").reset_index(drop=True)
    return Needs(table)


def _align_homelessness(pop: Population, table: pd.DataFrame, rng) -> pd.DataFrame:
    ha = pop.hh_addr
    moves = ha[ha.duplicated("hid", keep="first")]  # every segment after a household's first is a move
    hm = table[table["need"] == "homelessness"]
    cand = hm.reset_index().merge(moves[["hid", "from"]].rename(columns={"from": "move"}), on="hid")
    cand = cand[cand["move"] > cand["from"]].sort_values(["index", "move"]).drop_duplicates("index")
    # the application comes 2-16 weeks before the move that resolves it
    table.loc[cand["index"].to_numpy(), "to"] = cand["move"].to_numpy()
    table.loc[cand["index"].to_numpy(), "from"] = np.maximum(
        cand["move"].to_numpy() - rng.integers(14, 112, len(cand)), pop.w0)
    return table


def onset_households(pop: Population, table: pd.DataFrame) -> np.ndarray:
    """The household each need arose in: a household need's own, a person's household on the need's first day."""
    pid = table["pid"].to_numpy()
    own = pid >= 0
    hid = table["hid"].to_numpy().copy()
    rows = pop.locate(pid[own], table["from"].to_numpy()[own])
    hid[own] = pop.membership["hid"].to_numpy()[rows]
    return hid


def prevented_by_support(table: pd.DataFrame, onset_hid: np.ndarray, draws: np.ndarray, n_households: int,
                         hid: np.ndarray, after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Which needs support prevents: those arising in household hid[i] (its own, and its members' while they live
    there) after day after[i] and before day before[i], where the need's own uniform draw is under
    SUPPORT_PREVENTS_SHARE (a per-need draw, so which needs a window covers never moves the others). One window per
    household (hid unique). Needs already going at `after` are untouched."""
    lo = np.full(n_households, NEVER, np.int64)
    hi = np.full(n_households, NEVER, np.int64)
    lo[hid] = after
    hi[hid] = before
    onset = table["from"].to_numpy()
    return (onset > lo[onset_hid]) & (onset < hi[onset_hid]) & (draws < SUPPORT_PREVENTS_SHARE)


def ended_by_support(pop: Population, table: pd.DataFrame, to: np.ndarray, hid: np.ndarray, start: np.ndarray,
                     days: np.ndarray) -> np.ndarray:
    """`to` (one end per row of table) with the needs present in household hid[i] on day start[i] (its own, and
    those of the people living there then) ended by start[i] + days[row] at the latest (days: one per row); an end
    on or after the window's end stays NEVER (still going at the delivery date)."""
    cases = pd.DataFrame({"hid": hid, "start": start})
    m = pop.membership[["pid", "hid", "from", "to"]].rename(columns={"from": "m_from", "to": "m_to"})
    members = cases.merge(m, on="hid")
    members = members[(members["m_from"] <= members["start"]) & (members["start"] < members["m_to"])]
    rows = pd.DataFrame({"row": np.arange(len(table)), "pid": table["pid"].to_numpy(),
                         "hid": table["hid"].to_numpy(), "from": table["from"].to_numpy(), "to": to})
    own = rows[rows["pid"] < 0].merge(cases, on="hid")
    theirs = rows[rows["pid"] >= 0].drop(columns="hid").merge(members[["pid", "start"]], on="pid")
    x = pd.concat([own, theirs], ignore_index=True)
    x = x[(x["from"] <= x["start"]) & (x["start"] < x["to"])]
    out = to.copy()
    row = x["row"].to_numpy()
    np.minimum.at(out, row, x["start"].to_numpy() + days[row])
    return np.where(out >= pop.w1, NEVER, out)
