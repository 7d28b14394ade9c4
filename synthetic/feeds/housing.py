"""Housing management (arrears, notices, evictions) and homelessness applications: an XLSX export with
one row per event, identified only by the lead tenant's details (no person id)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import records
from ..writers import Col, FeedData
from . import Context, seq_ids, to_weekday

LADDER = ["RENT_ARREARS", "NOSP", "NTQ", "POSSESSION_ORDER", "EVICTION"]


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:housing")
    pop, w0, w1 = ctx.pop, ctx.w0, ctx.w1
    lead = ctx.lead_of_household()
    frames = []
    # arrears escalate: arrears letters, then notice of seeking possession, notice to quit, order, eviction
    ra = ctx.needs.of("rent_arrears")
    n_letters = 1 + rng.poisson(1.2, len(ra))
    rows = np.repeat(np.arange(len(ra)), n_letters)
    e = ra.iloc[rows].reset_index(drop=True)
    span = np.maximum(np.minimum(e["to"].to_numpy(), w1) - e["from"].to_numpy(), 30)
    d = e["from"].to_numpy() + (rng.random(len(e)) * span * 0.5).astype(np.int64)
    frames.append(pd.DataFrame({"hid": e["hid"].to_numpy(), "date": d, "type": "RENT_ARREARS",
                                "balance": np.round(rng.gamma(2.0, 350.0, len(e)), 2)}))
    sev = ra["severity"].to_numpy()
    base = ra["from"].to_numpy()
    for level in range(1, 4):
        m = sev >= level + 2
        d = base[m] + rng.integers(90, 200, m.sum()) * level
        frames.append(pd.DataFrame({"hid": ra["hid"].to_numpy()[m], "date": d, "type": LADDER[level],
                                    "balance": np.round(rng.gamma(3.0, 500.0, m.sum()) * level, 2)}))
    # evictions happen on the day the household moves out
    ev = ra[sev >= 5]
    moves = pop.hh_addr[pop.hh_addr.duplicated("hid", keep="first")]
    em = ev.merge(moves[["hid", "from"]].rename(columns={"from": "move"}), on="hid")
    em = em[em["move"] > em["from"].to_numpy() + 200].drop_duplicates("hid")
    frames.append(pd.DataFrame({"hid": em["hid"].to_numpy(), "date": em["move"].to_numpy() - rng.integers(0, 3, len(em)),
                                "type": "EVICTION", "balance": np.round(rng.gamma(4.0, 600.0, len(em)), 2)}))
    hl = ctx.needs.of("homelessness")
    frames.append(pd.DataFrame({"hid": hl["hid"].to_numpy(), "date": hl["from"].to_numpy(),
                                "type": "HOMELESS_APPLICATION", "balance": np.nan}))
    ta = hl[rng.random(len(hl)) < 0.5]
    frames.append(pd.DataFrame({"hid": ta["hid"].to_numpy(), "date": ta["from"].to_numpy() + rng.integers(1, 30, len(ta)),
                                "type": "TEMPORARY_ACCOMMODATION", "balance": np.nan}))
    x = pd.concat(frames, ignore_index=True)
    x["date"] = to_weekday(x["date"].to_numpy())
    x = x[(x["date"] >= w0) & (x["date"] < w1)]
    x = x.sort_values(["date", "hid", "type"], kind="stable").reset_index(drop=True)
    n = len(x)
    hid = x["hid"].to_numpy()
    pid = lead[hid]
    ident, tags = records.identity(pop, pid, x["date"].to_numpy(), "housing", rng)
    addr = pop.membership["addr"].to_numpy()[pop.locate(pid, x["date"].to_numpy())]
    social = pop.households["tenure"].to_numpy()[hid] == "social"
    tenancy = np.array([f"TEN{(a * 7919) % 900_000 + 100_000:06d}" for a in addr.tolist()], dtype=object)
    tenancy = np.where(social, tenancy, "")
    event_ref = seq_ids(x["date"].to_numpy(), "HE{:07d}", 2_000_000, rng)
    # a free-text address line typed by housing officers in several styles
    style = rng.integers(0, 3, n)
    line = ident["line1"].to_numpy()
    address = np.select([style == 0, style == 1], [line + ", " + ident["town"].to_numpy(),
                                                   np.char.upper(line.astype(str)).astype(object)], line)
    # A housing system records one event of a type per lead tenant a day, but arrears letters drawn close
    # together (and weekend dates moved to the Friday) can share a day: keep the first. Dropped only after
    # every draw, so each kept row has the identity, errors and reference it would have had anyway.
    first = ~x.assign(pid=pid).duplicated(["pid", "date", "type"]).to_numpy()
    x, ident = x[first].reset_index(drop=True), ident[first].reset_index(drop=True)
    pid, tenancy, event_ref, address = pid[first], tenancy[first], event_ref[first], address[first]
    errors = tags.result()[first]
    return [FeedData(
        feed="housing_events", file_prefix="housing_", format="xlsx", ext="xlsx", sheet="Events",
        creator="Fernshire Housing Management",
        cols=[
            Col("Tenancy Ref", "str", tenancy.astype(object)),
            Col("Event Ref", "str", event_ref),
            Col("UPRN", "str", ident["uprn"].to_numpy()),
            Col("Lead Tenant Forename", "str", ident["first"].to_numpy()),
            Col("Lead Tenant Surname", "str", ident["surname"].to_numpy()),
            Col("Lead Tenant DOB", "date", ident["dob"].to_numpy()),
            Col("NI Number", "str", ident["ni"].to_numpy()),
            Col("Address", "str", address.astype(object)),
            Col("Postcode", "str", ident["postcode"].to_numpy()),
            Col("Event Type", "str", x["type"].to_numpy().astype(object)),
            Col("Event Date", "date", x["date"].to_numpy()),
            Col("Arrears Balance", "dec", x["balance"].to_numpy().astype(float), "2dp"),
        ],
        key=["Event Ref"], pid=pid, hid=ident["hid"].to_numpy(), errors=errors,
    )]
