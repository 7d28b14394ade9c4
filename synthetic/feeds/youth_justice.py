"""Youth justice service (ChildView-style): outcomes per young person, a cp1252 TSV from a Windows box."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import identifiers, records
from ..dates import add_years, ymd
from ..errors import PROFILES
from ..writers import Col, FeedData
from . import Context, pick, seq_ids, to_weekday

LADDER = ["COMMUNITY_RESOLUTION", "YOUTH_CAUTION", "YOUTH_CONDITIONAL_CAUTION", "REFERRAL_ORDER",
          "YOUTH_REHABILITATION_ORDER", "CUSTODY"]
CATEGORIES = (["VIOLENCE", "THEFT", "DRUGS", "CRIMINAL_DAMAGE", "PUBLIC_ORDER", "MOTORING", "OTHER"],
              [0.3, 0.2, 0.13, 0.12, 0.1, 0.08, 0.07])


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:youth_justice")
    pop, w1 = ctx.pop, ctx.w1
    yo = ctx.needs.of("youth_offending")
    k = 1 + rng.poisson(0.6 + 0.3 * yo["severity"].to_numpy())
    rows = np.repeat(np.arange(len(yo)), k)
    e = yo.iloc[rows].reset_index(drop=True)
    pid = e["pid"].to_numpy()
    adult = add_years(pop.persons["dob"].to_numpy()[pid], 18)
    end = np.minimum(np.minimum(e["to"].to_numpy(), adult), w1 - 1)
    d = to_weekday(e["from"].to_numpy() + (rng.random(len(e)) * np.maximum(end - e["from"].to_numpy(), 1)).astype(np.int64))
    x = pd.DataFrame({"pid": pid, "date": d}).sort_values(["pid", "date"], kind="stable").reset_index(drop=True)
    x = x[x["date"] < w1].reset_index(drop=True)
    n = len(x)
    # outcomes escalate with each further offence
    nth = x.groupby("pid").cumcount().to_numpy()
    first = rng.choice(4, n, p=[0.45, 0.3, 0.1, 0.15])
    step = np.minimum(first + nth + (rng.random(n) < 0.2), 5)
    step = np.where((step == 5) & (rng.random(n) < 0.6), 4, step)
    otype = np.array(LADDER, dtype=object)[step]
    pid = x["pid"].to_numpy()
    yj_ref, dup = records.system_ids(pid, x["date"].to_numpy(), "YJ{:05d}", rng, PROFILES["youth_justice"].duplicate,
                                     start=1_000)
    out_ref = seq_ids(x["date"].to_numpy(), "OUT{:06d}", 50_000, rng)
    ident, tags = records.identity(pop, pid, x["date"].to_numpy(), "youth_justice", rng)
    tags.add(dup, "duplicate_registration")
    pnc_known = ctx.shared.get("pnc", pd.Series(dtype=object))
    missing = np.setdiff1d(np.unique(pid), pnc_known.index.to_numpy())
    if len(missing):
        y2 = ymd(x.groupby("pid")["date"].min().reindex(missing).to_numpy())[0] % 100
        extra = pd.Series(identifiers.pnc_ids(y2, rng.choice(900_000, len(missing), replace=False) + 9_100_000),
                          index=missing)
        pnc_known = pd.concat([pnc_known, extra])
        ctx.shared["pnc"] = pnc_known
    pnc = np.where(rng.random(n) < 0.75, pnc_known.reindex(pid).to_numpy(), "").astype(object)
    sex = np.where(ident["sex"].to_numpy() == "F", "F", "M")
    return [FeedData(
        feed="yjs_outcomes", file_prefix="yjs_outcomes_", format="csv", ext="tsv", delimiter="\t",
        encoding="cp1252", newline="\r\n",
        cols=[
            Col("YJ Ref", "str", yj_ref),
            Col("Outcome Ref", "str", out_ref),
            Col("First Names", "str", (ident["first"] + np.where(ident["middle"] != "", " " + ident["middle"], "")).to_numpy()),
            Col("Surname", "str", ident["surname"].to_numpy()),
            Col("DOB", "date", ident["dob"].to_numpy(), "%d-%b-%Y"),
            Col("Sex", "str", sex.astype(object)),
            Col("Postcode", "str", ident["postcode"].to_numpy()),
            Col("PNC", "str", pnc),
            Col("Outcome Date", "date", x["date"].to_numpy(), "%d-%b-%Y"),
            Col("Outcome Type", "str", otype),
            Col("Offence Category", "str", pick(rng, *CATEGORIES, n)),
        ],
        key=["Outcome Ref"], pid=pid, hid=ident["hid"].to_numpy(), errors=tags.result(),
    )]
