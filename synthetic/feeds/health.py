"""Adult mental health (NHS trust) and substance misuse (commissioned provider) referrals, plus CAMHS
and perinatal mental health. The two providers number patients independently."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import records
from ..dates import NEVER
from ..errors import PROFILES
from ..writers import Col, FeedData
from . import Context, close_after_need, pick, seq_ids

SUBSTANCES = (["ALCOHOL", "OPIATES", "CRACK", "CANNABIS", "COCAINE", "OTHER"], [0.45, 0.2, 0.08, 0.17, 0.08, 0.02])
# a service discharges a patient a few weeks after treatment ends (the last appointment, the discharge letter to the
# GP), or earlier when the episode ends first (disengaged, moved on); it used to run on up to 14 months past the need
DISCHARGE_AFTER_NEED_DAYS = (7, 57)


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:health")
    pop, w0, w1 = ctx.pop, ctx.w0, ctx.w1
    frames = []
    for need, service, k_mean in (("mental_health", "ADULT_MH", 0.5), ("substance_misuse", "SUBSTANCE_MISUSE", 0.6),
                                  ("perinatal_mental_health", "PERINATAL_MH", 0.0),
                                  ("child_mental_health", "CAMHS", 0.3)):
        t = ctx.needs.of(need)
        k = 1 + rng.poisson(k_mean, len(t))
        rows = np.repeat(np.arange(len(t)), k)
        e = t.iloc[rows].reset_index(drop=True)
        end = np.minimum(e["to"].to_numpy(), w1 - 1)
        d = e["from"].to_numpy() + (rng.random(len(e)) * np.maximum(end - e["from"].to_numpy(), 1)).astype(np.int64)
        frames.append(pd.DataFrame({"pid": e["pid"].to_numpy(), "date": d, "service": service,
                                    "need_to": e["to"].to_numpy()}))
    x = pd.concat(frames, ignore_index=True)
    x = x[(x["date"] >= w0) & (x["date"] < w1)]
    x = x.sort_values(["date", "pid", "service"], kind="stable").reset_index(drop=True)
    n = len(x)
    svc = x["service"].to_numpy()
    dis = x["date"].to_numpy() + rng.integers(20, 420, n)
    after_need = ctx.rng_for("feed:health:discharge").integers(*DISCHARGE_AFTER_NEED_DAYS, n)
    need_to = x["need_to"].to_numpy()
    dis = close_after_need(dis, x["date"].to_numpy() + 1, need_to, after_need)
    dis = np.where(dis >= w1, NEVER, dis)
    pid = x["pid"].to_numpy()
    # two providers, two patient numbering schemes
    sm = svc == "SUBSTANCE_MISUSE"
    lpi = np.empty(n, dtype=object)
    dup = np.zeros(n, bool)
    for mask, fmt, start in ((~sm, "RXT{:07d}", 4_100_000), (sm, "SMS{:06d}", 20_000)):
        lpi[mask], dup[mask] = records.system_ids(pid[mask], x["date"].to_numpy()[mask], fmt, rng,
                                                  PROFILES["health"].duplicate, start=start)
    ref_id = seq_ids(x["date"].to_numpy(), "R{:08d}", 30_000_000, rng)
    ident, tags = records.identity(pop, pid, x["date"].to_numpy(), "health", rng)
    tags.add(dup, "duplicate_registration")
    gender = np.select([ident["sex"].to_numpy() == "M", ident["sex"].to_numpy() == "F"], ["1", "2"], "9")
    substance = np.where(sm, pick(rng, *SUBSTANCES, n), "")
    return [FeedData(
        feed="health_services", file_prefix="health_services_", format="csv", ext="csv",
        cols=[
            Col("NHS Number", "str", ident["nhs"].to_numpy()),
            Col("Local Patient ID", "str", lpi),
            Col("Referral ID", "str", ref_id),
            Col("Given Name", "str", ident["first"].to_numpy()),
            Col("Family Name", "str", ident["surname"].to_numpy()),
            Col("Birth Date", "date", ident["dob"].to_numpy(), "%d/%m/%Y"),
            Col("Gender Code", "str", gender.astype(object)),
            Col("Postcode", "str", ident["postcode"].to_numpy()),
            Col("Service", "str", svc.astype(object)),
            Col("Referral Date", "date", x["date"].to_numpy(), "%d/%m/%Y"),
            Col("Discharge Date", "date", dis, "%d/%m/%Y"),
            Col("Primary Substance", "str", substance.astype(object)),
        ],
        key=["Referral ID"], pid=pid, hid=ident["hid"].to_numpy(), errors=tags.result(),
    )]
