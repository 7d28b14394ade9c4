"""The Supporting Families programme's own case records: families attached for support, all members.

A council attaches a family when it sees needs under three or more of the outcomes framework's headlines at
once: the household's latent needs and its members' own needs overlap, each gone on long enough to show in the
council's data, and a few weeks to months later (referral, screening, allocation) a lead practitioner is
attached, from April 2021 (Supporting Families) on, where a child lives. For a share of the cases support works,
and it changes the family's needs (needs.py): the needs it had at attachment end within 3-15 months, and most
new needs (an assumed 80%) never arise while the case is open and for a year after closure, the kind of effect
the programme's national evaluation reports (fewer new episodes of need), not a measured size. The case closes
once the family has been clear of every need for six months (the claim rule judges resolution over the six
months to closure) and the services involved have stepped down; while new needs keep coming it waits, at most a
year longer. Six months on, some of them are results claims. The other cases close after a while whatever the
needs, or are still open at the delivery date. Some families are attached again when their needs (those support
left) pile up again. `attach` runs before any feed is built (generate()), so every feed is built from the needs
support left; its draws come from streams of its own ("programme:cases", "needs:support"), the rest of this
feed's from "feed:programme".
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .. import needs as needs_mod
from .. import records
from ..dates import NEVER, to_days
from ..errors import PROFILES
from ..needs import SUPPORT_ENDS_NEEDS_DAYS, SUPPORT_PREVENTS_AFTER_CLOSURE_DAYS, Needs
from ..population import Population
from ..writers import Col, FeedData
from . import Context, members_at, seq_ids

SUPPORTING_FAMILIES_START = to_days(dt.date(2021, 4, 1))
# the outcomes framework headline each latent need falls under: a council counts headlines, not needs
NEED_HEADLINE = {
    "school_absence": "education", "exclusion": "education",
    "perinatal_mental_health": "early_years",
    "mental_health": "health", "child_mental_health": "health",
    "substance_misuse": "substance_use",
    "parenting": "relationships",
    "child_welfare": "safety",
    "adult_offending": "crime", "asb": "crime", "youth_offending": "crime",
    "domestic_abuse": "domestic_abuse",
    "rent_arrears": "housing", "homelessness": "housing",
    "worklessness": "finance",
}
MIN_HEADLINES = 3
ATTACH_SHARE = 0.9  # of families whose needs pile up, the share the council attaches (the rest it never reaches)
NOTICED_AFTER_DAYS = 90  # a need shows in a council's data (referrals, incidents, terms of absence) after a while
IDENTIFICATION_LAG = (14, 120)  # days from the needs piling up to attachment (referral, screening, allocation)
WORKS_SHARE = 0.7  # of the cases: support works (it ends the needs at attachment and prevents most new ones)
RESOLUTION_DAYS = 183  # the family stays clear of its needs this long before the case closes (the claim rule's
# resolution window at closure) ...
STEP_DOWN_DAYS = (14, 180)  # ... after the services involved have stepped down (discharges, plans ending, school
# terms of good attendance) and the closure review: a few weeks to a few months
WAIT_FOR_CLEAR_DAYS = 365  # at most this much longer while other needs keep the family from clearing
OTHER_SUPPORT_DAYS = (120, 540)  # how long the other cases stay open, whatever the needs
RETURN_SHARE = 0.35  # closed cases whose family is attached again when its needs pile up again
RETURN_AFTER_DAYS = 120  # earliest re-attachment after a closure
ASSESSMENT_MISSING_SHARE = 0.04  # cases that never record a whole-family assessment (nor, then, a plan)
PLAN_MISSING_SHARE = 0.03  # assessed cases that never record a family plan


def family_need_intervals(pop: Population, nd: pd.DataFrame) -> pd.DataFrame:
    """Latent need intervals (a needs table) as a household sees them: hid, need, headline, from, to. Household
    needs as they are; a person's need while the person lives in the household (a need moves with the person)."""
    household = nd[nd["pid"] < 0][["hid", "need", "from", "to"]]
    person = nd[nd["pid"] >= 0][["pid", "need", "from", "to"]].reset_index(drop=True)
    m = pop.membership[["pid", "hid", "from", "to"]].rename(columns={"from": "m_from", "to": "m_to"})
    x = person.merge(m, on="pid")
    x["from"] = np.maximum(x["from"].to_numpy(), x["m_from"].to_numpy())
    x["to"] = np.minimum(x["to"].to_numpy(), x["m_to"].to_numpy())
    x = x[x["from"] < x["to"]]
    out = pd.concat([household, x[["hid", "need", "from", "to"]]], ignore_index=True)
    out["headline"] = out["need"].map(NEED_HEADLINE)
    return out.sort_values(["hid", "from", "need", "to"], kind="stable").reset_index(drop=True)


def _merged(intervals: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Union of overlapping or touching [from, to) intervals per key: keys + from, to."""
    x = intervals.sort_values([*keys, "from"], kind="stable")
    k = x[keys].to_numpy()
    new_key = np.ones(len(x), bool)
    new_key[1:] = (k[1:] != k[:-1]).any(axis=1)
    # running maximum of `to` within a key: a new interval starts where `from` passes it
    to = x["to"].to_numpy()
    key_id = np.cumsum(new_key)
    reach = pd.Series(to).groupby(key_id).cummax().to_numpy()
    starts = new_key.copy()
    starts[1:] |= x["from"].to_numpy()[1:] > reach[:-1]
    group = np.cumsum(starts)
    g = x.assign(_g=group).groupby("_g", sort=False)
    return pd.concat([g[keys].first(), g["from"].min(), g["to"].max()], axis=1).reset_index(drop=True)


def headline_runs(intervals: pd.DataFrame, min_headlines: int = MIN_HEADLINES) -> pd.DataFrame:
    """Periods [from, to) in which a household has needs under min_headlines or more headlines at once: hid, from,
    to."""
    per_headline = _merged(intervals, ["hid", "headline"])
    n = len(per_headline)
    edges = pd.DataFrame({
        "hid": np.concatenate([per_headline["hid"].to_numpy()] * 2),
        "t": np.concatenate([per_headline["from"].to_numpy(), per_headline["to"].to_numpy()]),
        "step": np.concatenate([np.ones(n, np.int64), -np.ones(n, np.int64)]),
    }).sort_values(["hid", "t", "step"], kind="stable")  # an end before a start on the same day: [from, to)
    active = edges.groupby("hid")["step"].cumsum().to_numpy()
    hid, t = edges["hid"].to_numpy(), edges["t"].to_numpy()
    # segment i runs from edge i to edge i+1 of the same household with `active` headlines
    seg = pd.DataFrame({"hid": hid, "from": t, "to": np.append(t[1:], NEVER)})
    same = np.append(hid[1:] == hid[:-1], False)
    seg = seg[same & (active >= min_headlines) & (seg["from"] < seg["to"]).to_numpy()]
    return _merged(seg, ["hid"])


def _first_attachments(ctx: Context, runs: pd.DataFrame, not_before: pd.Series, rng) -> pd.DataFrame:
    """Each household's first possible attachment in its runs on or after not_before[hid] (a household not in
    not_before is skipped): the needs have been piling up for the identification lag, the run is still on, and
    a child under 18 lives there. Returns hid, start."""
    lag = rng.integers(*IDENTIFICATION_LAG, len(runs))
    earliest = not_before.reindex(runs["hid"].to_numpy()).to_numpy()
    # needs that piled up before the programme (or the previous case) wait their turn: the lag counts from then
    start = np.maximum(runs["from"].to_numpy(), np.nan_to_num(earliest, nan=NEVER).astype(np.int64)) + lag
    ok = ~np.isnan(earliest) & (start < runs["to"].to_numpy()) & (start < ctx.w1 - 7)
    cand = pd.DataFrame({"hid": runs["hid"].to_numpy()[ok], "start": start[ok]})
    mem = members_at(ctx.pop, cand["hid"].to_numpy(), cand["start"].to_numpy())
    with_child = np.zeros(len(cand), bool)
    with_child[mem.loc[mem["age"] < 18, "event"].unique()] = True
    cand = cand[with_child].sort_values(["hid", "start"], kind="stable")
    return cand.drop_duplicates("hid").reset_index(drop=True)


def _headlines_at(intervals: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """Each case's latent needs active on its attachment date: case (row of cases), headline, to."""
    x = cases[["hid", "start"]].reset_index(names="case").merge(intervals, on="hid")
    return x[(x["from"] <= x["start"]) & (x["start"] < x["to"])][["case", "headline", "to"]]


def _clear_stretches(intervals: pd.DataFrame) -> pd.DataFrame:
    """Each household's stretches of one or more needs at once: hid, from, to, next_from (the next stretch's start,
    NEVER if none)."""
    stretches = _merged(intervals, ["hid"])
    next_from = stretches["from"].shift(-1, fill_value=NEVER).to_numpy()
    last = np.append(stretches["hid"].to_numpy()[1:] != stretches["hid"].to_numpy()[:-1], True)
    return stretches.assign(next_from=np.where(last, NEVER, next_from))


def _close(ctx: Context, intervals: pd.DataFrame, cases: pd.DataFrame, effect: "_Effect", rng) -> pd.DataFrame:
    """Close each case. Where support works (a share of the cases): it ends the needs at attachment within 3-15
    months (needs.ended_by_support) and prevents most new ones (needs.prevented_by_support), and the case closes
    once the family has been clear of every need left (those at attachment and any that arose all the same) for
    the resolution window and the services' step-down, waiting at most a year longer than the needs at attachment
    alone would take. Otherwise after a while, whatever the needs. A closure on or after the delivery date means
    the case is still open. Adds n (headlines at attachment), works and end; records the effect in `effect`."""
    active = _headlines_at(intervals, cases)
    n = active.groupby("case")["headline"].nunique().reindex(cases.index, fill_value=0).to_numpy()
    start = cases["start"].to_numpy()
    clear = RESOLUTION_DAYS + rng.integers(*STEP_DOWN_DAYS, len(cases))
    works = rng.random(len(cases)) < WORKS_SHARE
    hid = cases["hid"].to_numpy()
    # where support works the needs at attachment end within it, and closure is judged on the needs left once
    # support has prevented the family's new ones from attachment on; the needs that would arise after the effect
    # wears off (a year after closure) come back below, all later than the closure they could have delayed
    effect.end_needs(hid[works], start[works])
    prevented = effect.prevented(hid[works], start[works], np.full(works.sum(), NEVER))
    left = family_need_intervals(ctx.pop, effect.table(prevented))
    needs_end = _headlines_at(left, cases).groupby("case")["to"].max().reindex(cases.index, fill_value=NEVER)
    needs_end = needs_end.to_numpy()
    stretches = _clear_stretches(left)
    x = cases[["hid"]].assign(start=start, clear=clear).reset_index(names="case").merge(stretches, on="hid")
    x = x[(x["to"] > x["start"]) & (x["next_from"] - x["to"] >= x["clear"])]
    cleared = x.groupby("case")["to"].min().reindex(cases.index, fill_value=NEVER).to_numpy() + clear
    resolved = np.minimum(cleared, needs_end + clear + WAIT_FOR_CLEAR_DAYS)
    other = start + rng.integers(*OTHER_SUPPORT_DAYS, len(cases))
    end = np.where(works, np.maximum(resolved, start + OTHER_SUPPORT_DAYS[0]), other)
    end = np.where(end >= ctx.w1, NEVER, end)
    effect_ends = np.where(end[works] < NEVER, end[works] + SUPPORT_PREVENTS_AFTER_CLOSURE_DAYS, NEVER)
    effect.remove(effect.prevented(hid[works], start[works], effect_ends))
    return cases.assign(n=n, works=works, end=end)


class _Effect:
    """The latent needs as support leaves them: the needs table less the needs prevented so far, with the needs
    that support ended sooner."""

    def __init__(self, ctx: Context):
        self.pop = ctx.pop
        self.all = ctx.needs.table
        self.to = self.all["to"].to_numpy().copy()
        self.onset_hid = needs_mod.onset_households(ctx.pop, self.all)
        # draws per need, from a stream of their own: which cases prevent or end what never moves the other draws
        rng = ctx.rng_for("needs:support")
        self.draws = rng.random(len(self.all))
        self.days = rng.integers(*SUPPORT_ENDS_NEEDS_DAYS, len(self.all))
        self.kept = np.ones(len(self.all), bool)
        self.n_households = len(ctx.pop.households)

    def end_needs(self, hid: np.ndarray, start: np.ndarray) -> None:
        self.to = needs_mod.ended_by_support(self.pop, self.all, self.to, hid, start, self.days)

    def prevented(self, hid: np.ndarray, after: np.ndarray, before: np.ndarray) -> np.ndarray:
        return self.kept & needs_mod.prevented_by_support(self.all, self.onset_hid, self.draws, self.n_households,
                                                          hid, after, before)

    def table(self, also_prevented: np.ndarray | None = None) -> pd.DataFrame:
        keep = self.kept if also_prevented is None else self.kept & ~also_prevented
        return self.all.assign(to=self.to)[keep]

    def remove(self, prevented: np.ndarray) -> None:
        self.kept &= ~prevented


def _runs(intervals: pd.DataFrame) -> pd.DataFrame:
    """Periods in which a household's needs, each once it shows in the council's data, sit under 3+ headlines and
    the programme runs: hid, from, to."""
    noticed = intervals.assign(**{"from": intervals["from"] + NOTICED_AFTER_DAYS})
    runs = headline_runs(noticed[noticed["from"] < noticed["to"]])
    return runs[runs["to"] > SUPPORTING_FAMILIES_START].reset_index(drop=True)


def attach(ctx: Context, rng=None) -> tuple[pd.DataFrame, Needs]:
    """The programme's cases and the needs support leaves. Cases: hid, start, end (NEVER = open), n (headlines
    active at attachment), works. Needs: ctx.needs less those support prevented, with those it ended sooner (see
    _close), from which every feed is then built. Each round (first attachments, then two of re-attachments) is
    judged on the needs earlier rounds left."""
    rng = rng if rng is not None else ctx.rng_for("programme:cases")
    effect = _Effect(ctx)
    intervals = family_need_intervals(ctx.pop, effect.table())
    runs = _runs(intervals)
    households = np.unique(runs["hid"].to_numpy())
    reached = households[rng.random(len(households)) < ATTACH_SHARE]
    first = _first_attachments(ctx, runs, pd.Series(SUPPORTING_FAMILIES_START, index=reached), rng)
    cases = _close(ctx, intervals, first, effect, rng)
    # families attached again: the next time their needs (those support left) pile up after the previous case closed
    previous = cases
    for _ in range(2):
        closed = previous[(previous["end"] < NEVER) & (rng.random(len(previous)) < RETURN_SHARE)]
        intervals = family_need_intervals(ctx.pop, effect.table())
        again = _first_attachments(ctx, _runs(intervals), closed.set_index("hid")["end"] + RETURN_AFTER_DAYS, rng)
        if again.empty:
            break
        previous = _close(ctx, intervals, again, effect, rng)
        cases = pd.concat([cases, previous], ignore_index=True)
    cases = cases.sort_values(["start", "hid"], kind="stable").reset_index(drop=True)
    return cases, Needs(effect.table().reset_index(drop=True))


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:programme")
    pop = ctx.pop
    # generate() decides the cases before any feed (support changes the needs every feed is built from)
    cases = ctx.shared["programme_cases"] if "programme_cases" in ctx.shared else attach(ctx)[0]
    n = cases["n"].to_numpy()
    intensity = np.select([n >= 5, n >= 4], ["INTENSIVE", "TARGETED"], "LIGHT_TOUCH")
    shuffle = rng.random(len(cases)) < 0.25
    intensity = np.where(shuffle, np.array(["INTENSIVE", "TARGETED", "LIGHT_TOUCH"])[rng.integers(0, 3, len(cases))],
                         intensity)
    mem = members_at(pop, cases["hid"].to_numpy(), cases["start"].to_numpy())
    lead = ctx.lead_of_household()
    c = cases.iloc[mem["event"].to_numpy()].reset_index(drop=True)
    role = np.where(mem["age"].to_numpy() < 18, "CHILD", "OTHER_ADULT").astype(object)
    role[mem["pid"].to_numpy() == lead[c["hid"].to_numpy()]] = "MAIN_CARER"
    case_id = seq_ids(cases["start"].to_numpy(), "SF{:06d}", 1_000, rng)[mem["event"].to_numpy()]
    pid = mem["pid"].to_numpy()
    member, dup = records.system_ids(pid, c["start"].to_numpy(), "FM{:06d}", rng, PROFILES["programme"].duplicate,
                                     start=5_000)
    ident, tags = records.identity(pop, pid, c["start"].to_numpy(), "programme", rng)
    tags.add(dup, "duplicate_registration")
    kw = np.array([f"KW{v:03d}" for v in rng.integers(1, 60, len(cases)).tolist()], dtype=object)
    kw = np.where(rng.random(len(cases)) < 0.05, "", kw)[mem["event"].to_numpy()]
    # the whole-family assessment 2-8 weeks after attachment, the family plan 1-4 weeks after it; a few cases
    # never record one, and neither is recorded before it happens (extract date) or after the case closed
    assessed = cases["start"].to_numpy() + rng.integers(14, 57, len(cases))
    planned = assessed + rng.integers(7, 29, len(cases))
    unassessed = rng.random(len(cases)) < ASSESSMENT_MISSING_SHARE
    unplanned = unassessed | (rng.random(len(cases)) < PLAN_MISSING_SHARE)
    last = np.minimum(cases["end"].to_numpy(), ctx.w1)
    assessed = np.where(unassessed | (assessed > last), NEVER, assessed)[mem["event"].to_numpy()]
    planned = np.where(unplanned | (planned > last), NEVER, planned)[mem["event"].to_numpy()]
    return [FeedData(
        feed="programme_cases", file_prefix="programme_cases_", format="csv", ext="csv",
        cols=[
            Col("family_case_id", "str", case_id),
            Col("member_id", "str", member),
            Col("forename", "str", ident["first"].to_numpy()),
            Col("surname", "str", ident["surname"].to_numpy()),
            Col("dob", "date", ident["dob"].to_numpy(), "%Y-%m-%d"),
            Col("sex", "str", ident["sex"].to_numpy()),
            Col("postcode", "str", ident["postcode"].to_numpy()),
            Col("role", "str", role),
            Col("attached_date", "date", c["start"].to_numpy(), "%Y-%m-%d"),
            Col("closed_date", "date", c["end"].to_numpy(), "%Y-%m-%d"),
            Col("key_worker_id", "str", kw),
            Col("intensity", "str", intensity[mem["event"].to_numpy()].astype(object)),
            Col("assessment_date", "date", assessed, "%Y-%m-%d"),
            Col("plan_date", "date", planned, "%Y-%m-%d"),
        ],
        key=["family_case_id", "member_id"], pid=pid, hid=c["hid"].to_numpy(), errors=tags.result(),
        extra_truth={"needs_count": c["n"].to_numpy()},
    )]
