"""Children's social care (Mosaic-style): person register, episodes, relationships."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import records
from ..dates import NEVER
from ..writers import Col, FeedData
from . import Context, members_at, pick

PRIMARY_NEED = (["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"],
                [0.55, 0.08, 0.04, 0.12, 0.14, 0.02, 0.01, 0.03, 0.01])
CP_CATEGORY = (["NEG", "EMO", "PHY", "SAB", "MUL"], [0.5, 0.36, 0.07, 0.04, 0.03])
REFERRAL_SOURCE = (["1A", "1B", "1C", "2A", "2B", "3A", "3B", "3C", "3D", "3E", "3F", "4", "5A", "5B", "5C", "5D",
                    "6", "7", "8", "9", "10"],
                   [0.03, 0.04, 0.01, 0.18, 0.02, 0.03, 0.03, 0.04, 0.02, 0.03, 0.02, 0.02, 0.05, 0.02, 0.02,
                    0.01, 0.29, 0.06, 0.02, 0.03, 0.01])
END_REASON = {
    "REF": (["NFA", "Progressed to assessment", "Signposted", "Step down to early help"], [0.3, 0.5, 0.1, 0.1]),
    "ASMT": (["NFA", "CIN plan", "Step down to early help", "Strategy discussion"], [0.35, 0.4, 0.2, 0.05]),
    "CIN": (["Case closed", "Step down to early help", "Transferred to CP", "Moved out of area"], [0.55, 0.25, 0.1, 0.1]),
    "CPP": (["Plan ended", "Child became looked after", "Transferred to another LA"], [0.8, 0.15, 0.05]),
    "LAC": (["E13", "E4A", "E11", "E41", "E8"], [0.35, 0.25, 0.15, 0.15, 0.1]),
}
# A plan lasts while the need does and closes at the first review after the need ends (it used to run 3-18 months
# whatever the need, often long after it). Child in need plans are reviewed every 6-12 weeks (one cycle per family).
CIN_REVIEW_DAYS = (42, 85)
# Child protection review conferences come 3 months after the plan starts and then at most every 6 months, but
# when the core group sees the risk gone the chair brings the review forward: the plan ends 2-8 weeks after.
CP_REVIEW_FORWARD_DAYS = (14, 57)
PLAN_MIN_DAYS = 42  # a protection plan runs six weeks at least (its core group's first review)


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:social_care")
    pop, w1 = ctx.pop, ctx.w1
    p = pop.persons
    cw = ctx.needs.of("child_welfare")
    da = ctx.needs.of("domestic_abuse")
    # police notifications of domestic abuse where children live bring referrals too
    da_ref = da[rng.random(len(da)) < 0.45]
    events = pd.DataFrame({
        "hid": np.concatenate([cw["hid"].to_numpy(), da_ref["hid"].to_numpy()]),
        "date": np.concatenate([cw["from"].to_numpy(), da_ref["from"].to_numpy() + rng.integers(1, 30, len(da_ref))]),
        "severity": np.concatenate([cw["severity"].to_numpy(), np.minimum(da_ref["severity"].to_numpy(), 4)]),
        "police": np.concatenate([np.zeros(len(cw), bool), np.ones(len(da_ref), bool)]),
        "need_to": np.concatenate([cw["to"].to_numpy(), da_ref["to"].to_numpy()]),  # the need the plans follow
    })
    events = events[events["date"] < w1 - 3].reset_index(drop=True)
    mem = members_at(pop, events["hid"].to_numpy(), events["date"].to_numpy())
    kids = mem[mem["age"] < 18].reset_index(drop=True)
    adults = mem[mem["age"] >= 18].reset_index(drop=True)
    ev = events.iloc[kids["event"].to_numpy()].reset_index(drop=True)
    n = len(kids)
    sev = ev["severity"].to_numpy()
    # not every child goes as deep as the most affected sibling
    sev = np.where(rng.random(n) < 0.2, np.maximum(sev - 1, 1), sev)
    d = ev["date"].to_numpy()
    rows = []

    def add(kind, start, end, mask):
        idx = np.flatnonzero(mask & (start < w1))
        e = np.where(end[idx] >= w1, NEVER, end[idx])
        rows.append(pd.DataFrame({"k": idx, "type": kind, "start": start[idx], "end": e}))

    ref_end = d + rng.integers(0, 4, n)
    add("REF", d, ref_end, np.ones(n, bool))
    a_start = ref_end + rng.integers(1, 8, n)
    a_end = a_start + rng.integers(10, 46, n)
    add("ASMT", a_start, a_end, sev >= 2)
    # plans end after the need, at a review (CIN_REVIEW_DAYS, CP_REVIEW_FORWARD_DAYS); the two duration draws
    # they used to take from the stream stay, so the draws after them (looked after, ids, identities) do not shift
    rng.integers(90, 540, n)
    review = ctx.rng_for("feed:social_care:plan_reviews")
    ev_cycle = review.integers(*CIN_REVIEW_DAYS, len(events))[kids["event"].to_numpy()]
    ev_forward = review.integers(*CP_REVIEW_FORWARD_DAYS, len(events))[kids["event"].to_numpy()]
    need_to = ev["need_to"].to_numpy()
    c_reviews = np.maximum(np.ceil((need_to - a_end) / ev_cycle), 1).astype(np.int64)  # reviews until the need ended
    c_end = np.where(need_to >= NEVER, NEVER, a_end + c_reviews * ev_cycle)
    add("CIN", a_end, c_end, sev >= 3)
    cp_start = a_end + rng.integers(5, 16, n)
    rng.integers(90, 700, n)
    cp_end = np.where(need_to >= NEVER, NEVER, np.maximum(need_to + ev_forward, cp_start + PLAN_MIN_DAYS))
    add("CPP", cp_start, cp_end, sev >= 4)
    l_start = cp_start + rng.integers(30, 400, n)
    add("LAC", l_start, l_start + rng.integers(60, 1500, n), (sev >= 5) & (rng.random(n) < 0.75))
    ep = pd.concat(rows, ignore_index=True)
    ep["pid"] = kids["pid"].to_numpy()[ep["k"].to_numpy()]
    ep["police"] = ev["police"].to_numpy()[ep["k"].to_numpy()]
    ep = ep.sort_values(["start", "pid", "type"], kind="stable").reset_index(drop=True)

    # adults linked to the children: parents and partners living with them, some absent fathers
    fathers = p["father_id"].to_numpy()[kids["pid"].to_numpy()]
    absent = (fathers >= 0) & (rng.random(n) < 0.3)
    reg = pd.concat([
        pd.DataFrame({"pid": ep["pid"], "date": ep["start"], "episode": np.arange(len(ep))}),
        pd.DataFrame({"pid": adults["pid"], "date": adults["date"], "episode": -1}),
        pd.DataFrame({"pid": fathers[absent], "date": kids["date"].to_numpy()[absent], "episode": -1}),
    ], ignore_index=True)
    reg = reg[reg["date"] < w1].reset_index(drop=True)
    ids, dup = records.system_ids(reg["pid"].to_numpy(), reg["date"].to_numpy(), "M{:07d}", rng,
                                  records.errors.PROFILES["social_care"].duplicate, start=10_000)
    reg["person_id"] = ids
    reg["dup"] = dup
    ep_ids = reg[reg["episode"] >= 0].sort_values("episode")["person_id"].to_numpy()

    # --- csc_episodes ---
    ne = len(ep)
    etype = ep["type"].to_numpy()
    pn = pick(rng, *PRIMARY_NEED, ne)
    cpc = pick(rng, *CP_CATEGORY, ne)
    src = pick(rng, *REFERRAL_SOURCE, ne)
    src = np.where(ep["police"].to_numpy(), "6", src)
    end_reason = np.full(ne, "", dtype=object)
    for kind, (opts, probs) in END_REASON.items():
        m = etype == kind
        end_reason[m] = pick(rng, opts, probs, m.sum())
    end_reason[ep["end"].to_numpy() >= NEVER] = ""
    episode_id = np.array([f"EP{v:08d}" for v in (1_200_000 + np.cumsum(rng.integers(1, 4, ne))).tolist()], dtype=object)
    hid_ep = pop.membership["hid"].to_numpy()[pop.locate(ep["pid"].to_numpy(), ep["start"].to_numpy())]
    episodes = FeedData(
        feed="csc_episodes", file_prefix="csc_episodes_", format="csv", ext="csv",
        cols=[
            Col("EPISODE_ID", "str", episode_id),
            Col("PERSON_ID", "str", ep_ids),
            Col("EPISODE_TYPE", "str", etype.astype(object)),
            Col("START_DATE", "date", ep["start"].to_numpy(), "%d/%m/%Y"),
            Col("END_DATE", "date", ep["end"].to_numpy(), "%d/%m/%Y"),
            Col("PRIMARY_NEED", "str", np.where(etype == "REF", "", pn).astype(object)),
            Col("CP_CATEGORY", "str", np.where(etype == "CPP", cpc, "").astype(object)),
            Col("REFERRAL_SOURCE", "str", np.where(etype == "REF", src, "").astype(object)),
            Col("END_REASON", "str", end_reason),
        ],
        key=["EPISODE_ID"], pid=ep["pid"].to_numpy(), hid=hid_ep, errors=np.full(ne, "", dtype=object),
    )

    # --- csc_persons: one row per PERSON_ID, as the register holds it on its last update ---
    per = (reg.sort_values(["person_id", "date"], kind="stable")
              .groupby("person_id", sort=True).agg(pid=("pid", "first"), first=("date", "min"),
                                                   last=("date", "max"), dup=("dup", "max")).reset_index())
    updated = np.minimum(per["last"].to_numpy() + rng.integers(0, 200, len(per)), w1)
    ident, tags = records.identity(pop, per["pid"].to_numpy(), updated, "social_care", rng)
    # adults' NHS numbers are recorded far less often than children's
    is_adult = (updated - p["dob"].to_numpy()[per["pid"].to_numpy()]) > 18 * 365
    nhs = np.where(is_adult & (rng.random(len(per)) < 0.5), "", ident["nhs"].to_numpy())
    gender = np.where(ident["sex"].to_numpy() == "U", np.where(rng.random(len(per)) < 0.1, "I", "U"), ident["sex"])
    tags.add(per["dup"].to_numpy(), "duplicate_registration")
    persons = FeedData(
        feed="csc_persons", file_prefix="csc_persons_", format="csv", ext="csv",
        cols=[
            Col("PERSON_ID", "str", per["person_id"].to_numpy()),
            Col("FORENAME", "str", ident["first"].to_numpy()),
            Col("MIDDLE_NAMES", "str", ident["middle"].to_numpy()),
            Col("SURNAME", "str", ident["surname"].to_numpy()),
            Col("DOB", "date", ident["dob"].to_numpy(), "%d/%m/%Y"),
            Col("GENDER", "str", gender.astype(object)),
            Col("ADDRESS_LINE_1", "str", ident["line1"].to_numpy()),
            Col("TOWN", "str", ident["town"].to_numpy()),
            Col("POSTCODE", "str", ident["postcode"].to_numpy()),
            Col("UPRN", "str", ident["uprn"].to_numpy()),
            Col("NHS_NUMBER", "str", nhs.astype(object)),
            Col("RECORD_UPDATED", "date", updated, "%d/%m/%Y"),
        ],
        key=["PERSON_ID"], pid=per["pid"].to_numpy(), hid=ident["hid"].to_numpy(), errors=tags.result(),
    )

    # --- csc_relationships: between people who both have a (first) PERSON_ID ---
    primary = per.sort_values(["pid", "first", "person_id"]).drop_duplicates("pid")
    pid_to_id = pd.Series(primary["person_id"].to_numpy(), index=primary["pid"].to_numpy())
    first_seen = pd.Series(primary["first"].to_numpy(), index=primary["pid"].to_numpy())
    child_ids = np.unique(ep["pid"].to_numpy())
    rel = pop.relationships
    rel = rel[rel["pid"].isin(child_ids) & rel["related_pid"].isin(pid_to_id.index)
              & rel["relationship"].isin(["MOTHER", "FATHER", "STEPFATHER", "SIBLING", "GRANDPARENT"])]
    rel = rel[rel["from"].to_numpy() < w1].drop_duplicates(["pid", "related_pid"]).reset_index(drop=True)
    nr = len(rel)
    code = rel["relationship"].to_numpy().astype(object)
    # practitioners record a mother's partner as FATHER, or fall back to OTHER / GUARDIAN
    u = rng.random(nr)
    code = np.where((code == "STEPFATHER") & (u < 0.15), "FATHER", code)
    code = np.where((code == "FATHER") & (u > 0.97), "OTHER", code)
    code = np.where((code == "GRANDPARENT") & (u > 0.8), "GUARDIAN", code)
    start = np.where(rng.random(nr) < 0.2, -10_000_000, rel["from"].to_numpy())
    end = np.where(rel["to"].to_numpy() < w1, rel["to"].to_numpy(), NEVER)
    rdate = first_seen.reindex(rel["pid"].to_numpy()).to_numpy()
    hid_r = pop.membership["hid"].to_numpy()[pop.locate(rel["pid"].to_numpy(), rdate)]
    order = np.lexsort((rel["related_pid"].to_numpy(), pid_to_id.reindex(rel["pid"].to_numpy()).to_numpy()))
    relationships = FeedData(
        feed="csc_relationships", file_prefix="csc_relationships_", format="csv", ext="csv",
        cols=[
            Col("PERSON_ID", "str", pid_to_id.reindex(rel["pid"].to_numpy()).to_numpy()[order]),
            Col("RELATED_PERSON_ID", "str", pid_to_id.reindex(rel["related_pid"].to_numpy()).to_numpy()[order]),
            Col("RELATIONSHIP", "str", code[order]),
            Col("START_DATE", "date", start[order], "%d/%m/%Y"),
            Col("END_DATE", "date", end[order], "%d/%m/%Y"),
        ],
        key=["PERSON_ID", "RELATED_PERSON_ID"], pid=rel["pid"].to_numpy()[order], hid=hid_r[order],
        errors=np.full(nr, "", dtype=object),
        extra_truth={"related_true_person_id": rel["related_pid"].to_numpy()[order]},
    )
    ep["need_to"] = ev["need_to"].to_numpy()[ep["k"].to_numpy()]
    ctx.shared["csc_step_down"] = ep[(ep["type"].isin(["REF", "ASMT"]))][["pid", "start", "need_to"]]
    return [persons, episodes, relationships]
