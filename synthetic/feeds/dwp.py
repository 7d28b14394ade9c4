"""DWP out-of-work and disability benefit claims shared under the data-sharing agreement (clean, capitals)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import records
from ..dates import NEVER, from_ymd
from ..writers import Col, FeedData
from . import Context, members_at, pick

UC_FULL_SERVICE = 2019  # legacy claims (ESA, JSA, IS) still start before then and migrate later


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
    moved = migrates & (end < w1 - 30)
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
    # disability and carers' benefits for people with health needs
    hn = pd.concat([ctx.needs.of("mental_health"), ctx.needs.of("substance_misuse")])
    hn = hn[(rng.random(len(hn)) < 0.25)]
    pip = pd.DataFrame({"pid": hn["pid"], "benefit": "PIP", "start": hn["from"].to_numpy() + rng.integers(60, 300, len(hn)),
                        "end": NEVER})
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
