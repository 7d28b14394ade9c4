"""The Supporting Families programme's own case records: families attached for support, all members."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import records
from ..dates import NEVER
from ..errors import PROFILES
from ..writers import Col, FeedData
from . import Context, members_at, seq_ids


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:programme")
    pop, w0, w1 = ctx.pop, ctx.w0, ctx.w1
    nd = ctx.needs.table
    # needs per family: household needs plus the needs of people who lived there at onset
    first = nd.sort_values(["hid", "from", "need"], kind="stable").drop_duplicates(["hid", "need"])
    rank = first.groupby("hid").cumcount().to_numpy()
    fam_needs = pd.DataFrame({"n": first.groupby("hid").size()})
    fam_needs["third"] = first[rank == 2].set_index("hid")["from"].reindex(fam_needs.index)
    eligible = fam_needs[fam_needs["n"] >= 3]
    attach = eligible[rng.random(len(eligible)) < 0.25]
    start = np.maximum(attach["third"].to_numpy().astype(np.int64) + rng.integers(14, 180, len(attach)), w0 + 400)
    cases = pd.DataFrame({"hid": attach.index.to_numpy(), "start": start, "n": attach["n"].to_numpy()})
    # some families come back for a second attachment
    again = cases[rng.random(len(cases)) < 0.12].copy()
    again["start"] = again["start"].to_numpy() + rng.integers(400, 900, len(again))
    cases = pd.concat([cases, again], ignore_index=True)
    cases = cases[cases["start"] < w1 - 7].sort_values(["start", "hid"], kind="stable").reset_index(drop=True)
    cases["end"] = cases["start"] + rng.integers(120, 540, len(cases))
    cases.loc[cases["end"] >= w1, "end"] = NEVER
    intensity = np.select([cases["n"].to_numpy() >= 5, cases["n"].to_numpy() >= 4], ["INTENSIVE", "TARGETED"],
                          "LIGHT_TOUCH")
    shuffle = rng.random(len(cases)) < 0.25
    intensity = np.where(shuffle, np.array(["INTENSIVE", "TARGETED", "LIGHT_TOUCH"])[rng.integers(0, 3, len(cases))],
                         intensity)
    mem = members_at(pop, cases["hid"].to_numpy(), cases["start"].to_numpy())
    has_child = mem[mem["age"] < 18]["event"].unique()
    mem = mem[mem["event"].isin(has_child)].reset_index(drop=True)
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
        ],
        key=["family_case_id", "member_id"], pid=pid, hid=c["hid"].to_numpy(), errors=tags.result(),
        extra_truth={"needs_count": c["n"].to_numpy()},
    )]
