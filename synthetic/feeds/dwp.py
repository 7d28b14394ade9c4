"""DWP out-of-work and disability benefit claims shared under the data-sharing agreement (clean, capitals)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import records
from ..dates import NEVER, from_ymd
from ..writers import Col, FeedData
from . import Context, members_at, pick

UC_FULL_SERVICE = 2019  # legacy claims (ESA, JSA, IS) still start before then and migrate later
# PIP is awarded for a condition that has lasted 3 months and is expected to last 9 more (the required period
# condition): a claim for a shorter need is refused and leaves no award in the extract
PIP_MIN_NEED_DAYS = 365
# an award ends once the improvement is reported and DWP has reviewed it (the award review): 4 to 12 weeks after the
# need ends, never open-ended while the person has recovered
PIP_AWARD_END_LAG_DAYS = (28, 85)


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:dwp")
    pop, w0, w1 = ctx.pop, ctx.w0, ctx.w1
    p = pop.persons
    wl = ctx.needs.of("worklessness")
    k = 1 + (rng.random(len(wl)) < 0.35)
    rows = np.repeat(np.arange(len(wl)), k)
    e = wl.iloc[rows].reset_index(drop=True)
    frm, to = e["from"].to_numpy(), np.minimum(e["to"].to_numpy(), w1)
    span = np.maximum(to - frm, 30)
    second = pd.Series(rows).duplicated().to_numpy()
    start = np.where(second, frm + (span * rng.uniform(0.55, 0.7, len(e))).astype(np.int64), frm)
    end = np.where(second, to, frm + (span * rng.uniform(0.3, 0.5, len(e))).astype(np.int64))
    end = np.where(~second & (k[rows] == 1), to, end)
    # legacy benefits: some claims began before the window; of those covering a whole need, most move to UC at
    # "managed migration" part way through it, and the UC claim ends when the need does (a claim that outlived
    # the need would show a worklessness the person no longer has)
    legacy = (~second) & (rng.random(len(e)) < 0.22)
    start = np.where(legacy, start - rng.integers(30, 900, len(e)), start)
    benefit = np.where(legacy, pick(rng, ["ESA", "JSA", "IS"], [0.55, 0.25, 0.2], len(e)), "UC").astype(object)
    migrates = legacy & (k[rows] == 1) & (span > 60) & (rng.random(len(e)) < 0.6)
    end = np.where(migrates, frm + (span * rng.uniform(0.3, 0.7, len(e))).astype(np.int64), end)
    pid = e["pid"].to_numpy()
    need_end = np.where(to >= w1, NEVER, to)
    claims = pd.DataFrame({"pid": pid, "benefit": benefit, "start": start,
                           "end": np.where(end >= w1, NEVER, end)})
    # the UC claim starts the day after the legacy claim ends, however close to the extract date; a migration due on
    # the extract date itself has not happened yet, so the legacy claim is still open there
    due_later = migrates & (end + 1 >= w1)
    claims.loc[due_later, "end"] = NEVER
    moved = migrates & ~due_later
    claims = pd.concat([claims, pd.DataFrame({"pid": pid[moved], "benefit": "UC", "start": end[moved] + 1,
                                              "end": need_end[moved]})], ignore_index=True)
    # joint UC claims: the partner living with the claimant claims too
    uc = claims[claims["benefit"] == "UC"].reset_index(drop=True)
    hid = pop.membership["hid"].to_numpy()[pop.locate(uc["pid"].to_numpy(), uc["start"].to_numpy())]
    mem = members_at(pop, hid, uc["start"].to_numpy())
    partner = mem[(mem["age"] >= 18) & (mem["pid"].to_numpy() != uc["pid"].to_numpy()[mem["event"].to_numpy()])]
    partner = partner.drop_duplicates("event")
    partner = partner[rng.random(len(partner)) < 0.6]
    joint = uc.iloc[partner["event"].to_numpy()].assign(pid=partner["pid"].to_numpy())
    # a joint claim ends when the couple separates (either leaves the household): a partner who moved out no longer
    # shares the claimant's claim
    hid_j = hid[partner["event"].to_numpy()]
    stay = pop.membership.groupby(["pid", "hid"])["to"].max()
    left = np.minimum(stay.reindex(pd.MultiIndex.from_arrays([joint["pid"].to_numpy(), hid_j])).to_numpy(),
                      stay.reindex(pd.MultiIndex.from_arrays([uc["pid"].to_numpy()[partner["event"].to_numpy()],
                                                              hid_j])).to_numpy())
    joint = joint.assign(end=np.where(left < joint["end"].to_numpy(), left - 1, joint["end"].to_numpy()))
    joint = joint[joint["end"].to_numpy() >= joint["start"].to_numpy()]
    # disability and carers' benefits for people with health needs
    hn = pd.concat([ctx.needs.of("mental_health"), ctx.needs.of("substance_misuse")])
    hn = hn[(rng.random(len(hn)) < 0.25)]
    pip = pd.DataFrame({"pid": hn["pid"], "benefit": "PIP", "start": hn["from"].to_numpy() + rng.integers(60, 300, len(hn)),
                        "end": NEVER, "need_from": hn["from"].to_numpy(), "need_to": hn["to"].to_numpy()})
    pip = pip[(pip["need_to"] - pip["need_from"] >= PIP_MIN_NEED_DAYS) & (pip["start"] < pip["need_to"])]
    lag = ctx.rng_for("feed:dwp:pip_award_end").integers(*PIP_AWARD_END_LAG_DAYS, len(pip))
    pip_end = np.where(pip["need_to"].to_numpy() >= NEVER, NEVER, pip["need_to"].to_numpy() + lag)
    pip = pip.assign(end=np.where(pip_end >= w1, NEVER, pip_end))[["pid", "benefit", "start", "end"]]
    claims = pd.concat([claims, joint, pip], ignore_index=True)
    claims = claims[(claims["start"] < w1) & (claims["start"] >= from_ymd(np.array([2014]), np.array([1]), np.array([1]))[0])]
    claims = claims[p["ni_number"].to_numpy()[claims["pid"].to_numpy()] != ""]
    claims = claims[(claims["end"] >= w0)]
    # claims are filed on working days; order as DWP extracts (by NINO, then claim start)
    nino = p["ni_number"].to_numpy()[claims["pid"].to_numpy()]
    claims = claims.assign(nino=nino).sort_values(["nino", "start", "benefit"], kind="stable").reset_index(drop=True)
    n = len(claims)
    pid = claims["pid"].to_numpy()
    rec_date = np.minimum(claims["start"].to_numpy(), w1)
    ident, tags = records.identity(pop, pid, np.maximum(rec_date, w0), "dwp", rng)
    uc_mask = claims["benefit"].to_numpy() == "UC"
    cond = np.where(uc_mask, pick(rng, ["SEARCHING", "PREPARING", "PLANNING", "NO_WORK_REQUIREMENTS", "WORKING"],
                                  [0.45, 0.1, 0.08, 0.27, 0.1], n), "")
    upper = lambda a: np.char.upper(a.astype(str)).astype(object)  # noqa: E731
    return [FeedData(
        feed="dwp_benefits", file_prefix="dwp_benefits_", format="csv", ext="csv",
        cols=[
            Col("NINO", "str", claims["nino"].to_numpy()),
            Col("SURNAME", "str", upper(ident["surname"].to_numpy())),
            Col("FORENAME", "str", upper(ident["first"].to_numpy())),
            Col("DOB", "date", ident["dob"].to_numpy(), "%Y%m%d"),
            Col("POSTCODE", "str", ident["postcode"].to_numpy()),
            Col("BENEFIT", "str", claims["benefit"].to_numpy().astype(object)),
            Col("CLAIM_START", "date", claims["start"].to_numpy(), "%Y%m%d"),
            Col("CLAIM_END", "date", claims["end"].to_numpy(), "%Y%m%d"),
            Col("CONDITIONALITY", "str", cond.astype(object)),
        ],
        key=["NINO", "BENEFIT", "CLAIM_START"], pid=pid, hid=ident["hid"].to_numpy(), errors=tags.result(),
    )]
