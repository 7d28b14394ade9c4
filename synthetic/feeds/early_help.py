"""Early help case system: one row per family member per episode (XLSX export, sheet "Episodes")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import records
from ..dates import MISSING, NEVER
from ..errors import PROFILES
from ..writers import Col, FeedData
from . import Context, close_after_need, members_at, pick, seq_ids

CLOSURE = (["Outcomes Met", "Stepped Up", "Disengaged", "Moved Away", "Other"], [0.55, 0.1, 0.15, 0.05, 0.15])
# an episode closes at the first team-around-the-family review after the need behind it eased (reviews every 6-12
# weeks), or earlier when it ends first; it used to run 2-13 months whatever the need, often long after it
REVIEW_AFTER_NEED_DAYS = (7, 85)
MIN_EPISODE_DAYS = 42  # an episode once open runs at least to its first review


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:early_help")
    pop, w0, w1 = ctx.pop, ctx.w0, ctx.w1
    nd = ctx.needs
    hid_of = lambda pid, d: pop.membership["hid"].to_numpy()[pop.locate(pid, d)]  # noqa: E731
    triggers = []

    def add(hids, dates, issues, need_to):
        triggers.append(pd.DataFrame({"hid": hids, "date": dates, "issue": issues, "need_to": need_to}))

    par = nd.of("parenting")
    add(par["hid"].to_numpy(), par["from"].to_numpy(),
        pick(rng, ["Parenting", "Parental Conflict", "Behaviour"], [0.5, 0.3, 0.2], len(par)), par["to"].to_numpy())
    ab = nd.of("school_absence")
    ab = ab[rng.random(len(ab)) < 0.15]
    add(ab["hid"].to_numpy(), ab["from"].to_numpy() + 30, np.full(len(ab), "School Attendance", dtype=object),
        ab["to"].to_numpy())
    da = nd.of("domestic_abuse")
    da = da[rng.random(len(da)) < 0.25]
    add(da["hid"].to_numpy(), da["from"].to_numpy() + 20, np.full(len(da), "Domestic Abuse", dtype=object),
        da["to"].to_numpy())
    sd = ctx.shared.get("csc_step_down")
    if sd is not None and len(sd):
        sd = sd.drop_duplicates("pid")
        sd = sd[rng.random(len(sd)) < 0.25]
        add(hid_of(sd["pid"].to_numpy(), sd["start"].to_numpy()), sd["start"].to_numpy() + 40,
            pick(rng, ["Parenting", "Behaviour", "Domestic Abuse", "Other"], [0.4, 0.3, 0.2, 0.1], len(sd)),
            sd["need_to"].to_numpy())
    for need, issue in (("mental_health", "Mental Health"), ("substance_misuse", "Substance Misuse"),
                        ("rent_arrears", "Housing"), ("worklessness", "Financial")):
        t = nd.of(need)
        t = t[rng.random(len(t)) < 0.05]
        add(t["hid"].to_numpy(), t["from"].to_numpy() + 45, np.full(len(t), issue, dtype=object), t["to"].to_numpy())
    ev = pd.concat(triggers, ignore_index=True)
    ev["start"] = ev["date"] + rng.integers(7, 60, len(ev))
    ev = ev[(ev["start"] < w1 - 5) & (ev["start"] >= w0)]
    ev = ev.sort_values(["hid", "start"], kind="stable").reset_index(drop=True)
    ev["end"] = ev["start"] + rng.integers(60, 400, len(ev))
    review = ctx.rng_for("feed:early_help:review").integers(*REVIEW_AFTER_NEED_DAYS, len(ev))
    need_to = ev["need_to"].to_numpy()
    ev["end"] = close_after_need(ev["end"].to_numpy(), ev["start"].to_numpy() + MIN_EPISODE_DAYS, need_to, review)
    # one open episode per family at a time: drop triggers during a running episode
    prev_end = ev.groupby("hid")["end"].shift(1).fillna(-1).to_numpy()
    ev = ev[ev["start"].to_numpy() > prev_end].reset_index(drop=True)
    mem = members_at(pop, ev["hid"].to_numpy(), ev["start"].to_numpy())
    # only families with a child (or a baby due) are worked with
    has_child = mem[mem["age"] < 18].groupby("event").size()
    births = pop.persons[pop.persons["born_in_window"]]
    bh = pd.DataFrame({"pid": births.index.to_numpy(), "hid": births["hid0"].to_numpy(), "dob": births["dob"].to_numpy()})
    unborn = ev.reset_index().rename(columns={"index": "event"}).merge(bh, on="hid")
    unborn = unborn[(unborn["dob"] > unborn["start"]) & (unborn["dob"] < unborn["start"] + 200)]
    keep_ev = np.union1d(has_child.index.to_numpy(), unborn["event"].to_numpy())
    mem = mem[mem["event"].isin(keep_ev)]
    unborn = unborn[unborn["event"].isin(keep_ev)]
    lead = ctx.lead_of_household()
    role = np.where(mem["age"].to_numpy() < 18, "Child", "Other Adult").astype(object)
    role[mem["pid"].to_numpy() == lead[ev["hid"].to_numpy()[mem["event"].to_numpy()]]] = "Lead Adult"
    rows = pd.concat([
        pd.DataFrame({"event": mem["event"], "pid": mem["pid"], "role": role}),
        pd.DataFrame({"event": unborn["event"], "pid": unborn["pid"], "role": "Unborn"}),
    ], ignore_index=True)
    rows = rows.sort_values(["event", "role", "pid"], kind="stable").reset_index(drop=True)
    e = ev.iloc[rows["event"].to_numpy()].reset_index(drop=True)
    n = len(rows)
    start = e["start"].to_numpy()
    end = e["end"].to_numpy()
    end = np.where(end >= w1, NEVER, end)
    closure = np.where(end < NEVER, pick(rng, *CLOSURE, n), "")
    ev_end_closure = pd.Series(closure).groupby(rows["event"].to_numpy()).transform("first").to_numpy()
    case_ref = seq_ids(ev["start"].to_numpy(), "EHC{:06d}", 20_000, rng)[rows["event"].to_numpy()]
    pid = rows["pid"].to_numpy()
    client, dup = records.system_ids(pid, start, "EH-{:06d}", rng, PROFILES["early_help"].duplicate, start=1_000)
    ident, tags = records.identity(pop, pid, start, "early_help", rng)
    tags.add(dup, "duplicate_registration")
    is_unborn = rows["role"].to_numpy() == "Unborn"
    first = np.where(is_unborn, "", ident["first"].to_numpy())
    # an unborn child is recorded under the mother's surname and without a date of birth
    mum = pop.persons["mother_id"].to_numpy()[pid]
    mum_sn = pop.surname_on(np.where(is_unborn, mum, pid), start)
    last = np.where(is_unborn, mum_sn, ident["surname"].to_numpy())
    dob = np.where(is_unborn, MISSING, ident["dob"].to_numpy())
    sex = np.where(is_unborn | (ident["sex"].to_numpy() == "U"), "Unknown",
                   np.where(ident["sex"].to_numpy() == "M", "Male", "Female"))
    issue = e["issue"].to_numpy()
    return [FeedData(
        feed="early_help_episodes", file_prefix="early_help_", format="xlsx", ext="xlsx", sheet="Episodes",
        creator="Fernshire Early Help Module",
        cols=[
            Col("Case Ref", "str", case_ref),
            Col("Client ID", "str", client),
            Col("First Name", "str", first.astype(object)),
            Col("Last Name", "str", last.astype(object)),
            Col("Date of Birth", "date", dob),
            Col("Sex", "str", sex.astype(object)),
            Col("Address Line 1", "str", ident["line1"].to_numpy()),
            Col("Town", "str", ident["town"].to_numpy()),
            Col("Post Code", "str", ident["postcode"].to_numpy()),
            Col("Role in Family", "str", rows["role"].to_numpy().astype(object)),
            Col("Episode Start", "date", start),
            Col("Episode End", "date", end),
            Col("Presenting Issue", "str", issue.astype(object)),
            Col("Closure Reason", "str", ev_end_closure.astype(object)),
        ],
        key=["Case Ref", "Client ID"], pid=pid, hid=e["hid"].to_numpy(), errors=tags.result(),
    )]
