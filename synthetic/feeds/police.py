"""Police records management: one JSON object per person linked to an incident (nominal extract)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import identifiers, records
from ..dates import ymd
from ..errors import PROFILES
from ..writers import Col, FeedData
from . import Context, members_at, pick

OFFENCES = (["105/01", "008/06", "008/01", "049/03", "058/03", "092/01", "125/01", "009/01", "066/01", "195/12"],
            [0.22, 0.12, 0.08, 0.14, 0.12, 0.1, 0.05, 0.05, 0.07, 0.05])
_HOUR_P = np.array([3, 2, 2, 1, 1, 1, 1, 2, 3, 3, 4, 4, 5, 5, 5, 6, 7, 8, 8, 8, 8, 7, 6, 4], float)


def _incidents(pids, dates, itype, roles, incident):
    return pd.DataFrame({"pid": pids, "date": dates, "type": itype, "role": roles, "incident": incident})


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:police")
    pop, w0, w1 = ctx.pop, ctx.w0, ctx.w1
    p = pop.persons
    nd = ctx.needs
    lead = ctx.lead_of_household()
    frames = []
    next_inc = [0]

    def new_incidents(n):
        ids = next_inc[0] + np.arange(n)
        next_inc[0] += n
        return ids

    def dates_in(frm, to, k):
        rows = np.repeat(np.arange(len(frm)), k)
        end = np.minimum(to[rows], w1 - 1)
        return rows, frm[rows] + (rng.random(len(rows)) * np.maximum(end - frm[rows], 1)).astype(np.int64)

    # domestic abuse: victim (the mother), perpetrator (her partner or ex), children as witnesses
    da = nd.of("domestic_abuse")
    rows, d = dates_in(da["from"].to_numpy(), da["to"].to_numpy(), 1 + rng.poisson(0.8 * da["severity"].to_numpy()))
    hid = da["hid"].to_numpy()[rows]
    inc = new_incidents(len(rows))
    victim = lead[hid]
    risk = np.select([da["severity"].to_numpy()[rows] >= 4, da["severity"].to_numpy()[rows] >= 3],
                     ["HIGH", "MEDIUM"], "STANDARD")
    frames.append(_incidents(victim, d, "DOMESTIC", "VICTIM", inc).assign(risk=risk))
    part = pop.partnerships
    vp = pd.DataFrame({"i": np.arange(len(rows)), "woman": victim, "date": d}).merge(part[["woman", "man", "from", "to"]], on="woman")
    vp = vp[vp["from"] <= vp["date"]]
    vp["current"] = vp["date"] < vp["to"]
    vp = vp.sort_values(["i", "current", "to"], ascending=[True, False, False]).drop_duplicates("i")
    frames.append(_incidents(vp["man"].to_numpy(), vp["date"].to_numpy(), "DOMESTIC",
                             np.where(rng.random(len(vp)) < 0.6, "OFFENDER", "SUSPECT"), inc[vp["i"].to_numpy()])
                  .assign(risk=risk[vp["i"].to_numpy()]))
    mem = members_at(pop, hid, d)
    kids = mem[(mem["age"] >= 6) & (mem["age"] < 18)]
    kids = kids[rng.random(len(kids)) < 0.25]
    frames.append(_incidents(kids["pid"].to_numpy(), kids["date"].to_numpy(), "DOMESTIC", "WITNESS",
                             inc[kids["event"].to_numpy()]).assign(risk=risk[kids["event"].to_numpy()]))

    # ASB and crime by the person with the need; some with a victim from the wider population
    everyone = np.flatnonzero(p["dob"].to_numpy() < w0 - 16 * 365)
    for need, itype, k_mean in (("asb", "ASB", 1.4), ("adult_offending", "CRIME", 1.2), ("youth_offending", "CRIME", 1.0)):
        t = nd.of(need)
        rows, d = dates_in(t["from"].to_numpy(), t["to"].to_numpy(), 1 + rng.poisson(k_mean, len(t)))
        inc = new_incidents(len(rows))
        role = np.where(rng.random(len(rows)) < (0.55 if itype == "ASB" else 0.65),
                        "SUBJECT" if itype == "ASB" else "OFFENDER", "SUSPECT")
        frames.append(_incidents(t["pid"].to_numpy()[rows], d, itype, role, inc))
        vic = rng.random(len(rows)) < 0.25
        frames.append(_incidents(everyone[rng.integers(0, len(everyone), vic.sum())], d[vic], itype,
                                 np.where(rng.random(vic.sum()) < 0.8, "VICTIM", "WITNESS"), inc[vic]))
    # missing children (children on plans or in care) and welfare concerns about adults
    cw = nd.of("child_welfare")
    cw = cw[cw["severity"].to_numpy() >= 4]
    mk = members_at(pop, cw["hid"].to_numpy(), cw["from"].to_numpy() + 60)
    mk = mk[(mk["age"] >= 11) & (mk["age"] < 18) & (rng.random(len(mk)) < 0.3)]
    reps = 1 + rng.poisson(1.0, len(mk))
    r = np.repeat(np.arange(len(mk)), reps)
    md = mk["date"].to_numpy()[r] + rng.integers(0, 365, len(r))
    frames.append(_incidents(mk["pid"].to_numpy()[r], md, "MISSING_PERSON", "SUBJECT", new_incidents(len(r))))
    mh = nd.of("mental_health")
    mh = mh[rng.random(len(mh)) < 0.15]
    frames.append(_incidents(mh["pid"].to_numpy(), mh["from"].to_numpy() + rng.integers(0, 120, len(mh)),
                             "CONCERN_FOR_WELFARE", "SUBJECT", new_incidents(len(mh))))
    # general-population victims and witnesses of crime with no suspect identified
    gp = everyone[rng.random(len(everyone)) < 0.004]
    frames.append(_incidents(gp, rng.integers(w0, w1, len(gp)), "CRIME",
                             np.where(rng.random(len(gp)) < 0.75, "VICTIM", "WITNESS"), new_incidents(len(gp))))

    x = pd.concat(frames, ignore_index=True)
    x = x[(x["date"] >= w0) & (x["date"] < w1) & (x["date"] >= p["dob"].to_numpy()[x["pid"].to_numpy()])]
    x = x.drop_duplicates(["incident", "pid"]).reset_index(drop=True)
    # incident time: one per incident, evenings busiest
    n_inc = next_inc[0]
    inc_secs = rng.choice(24, n_inc, p=_HOUR_P / _HOUR_P.sum()) * 3600 + rng.integers(0, 3600, n_inc)
    inc_date = x.groupby("incident")["date"].min()
    x["date"] = inc_date.reindex(x["incident"].to_numpy()).to_numpy()
    x["ts"] = x["date"] * 86400 + inc_secs[x["incident"].to_numpy()]
    x = x.sort_values(["ts", "incident", "role", "pid"], kind="stable").reset_index(drop=True)
    n = len(x)
    # incident references numbered per year in time order: FH-2023-004512
    first_row = ~x["incident"].duplicated().to_numpy()
    inc_year = ymd(x["date"].to_numpy())[0]
    seq = pd.Series(first_row.astype(int)).groupby(inc_year).cumsum().to_numpy()
    ref_num = seq * 3 + (x["incident"].to_numpy() % 3)
    inc_ref = np.array([f"FH-{y}-{s:06d}" for y, s in zip(inc_year.tolist(), ref_num.tolist())], dtype=object)
    pid = x["pid"].to_numpy()
    nominal, dup = records.system_ids(pid, x["date"].to_numpy(), "NOM{:07d}", rng, PROFILES["police"].duplicate,
                                      start=3_400_000)
    ident, tags = records.identity(pop, pid, x["date"].to_numpy(), "police", rng)
    tags.add(dup, "duplicate_registration")
    # the RMS holds surnames in capitals on about half its records
    caps = rng.random(n) < 0.5
    surname = np.where(caps, np.char.upper(ident["surname"].to_numpy().astype(str)).astype(object), ident["surname"])
    # PNC ids for people arrested (offenders and suspects)
    role = x["role"].to_numpy()
    arrested = np.isin(role, ["OFFENDER", "SUSPECT"])
    pnc_people = np.unique(pid[arrested])
    ctx.shared["pnc"] = _pnc_ids(pnc_people, x, rng)
    pnc = ctx.shared["pnc"].reindex(pid).fillna("").to_numpy().astype(object)
    pnc = np.where(arrested & (rng.random(n) < 0.85) | (~arrested & (rng.random(n) < 0.2)), pnc, "")
    itype = x["type"].to_numpy()
    da_flag = np.where(itype == "DOMESTIC", "Y", np.where(rng.random(n) < 0.03, "Y", "N"))
    asb_flag = np.where(itype == "ASB", "Y", "N")
    offence = np.where(np.isin(itype, ["CRIME", "DOMESTIC"]) & arrested, pick(rng, *OFFENCES, n), "")
    risk = x["risk"].fillna("").to_numpy().astype(object) if "risk" in x else np.full(n, "", dtype=object)
    sex = np.where(ident["sex"].to_numpy() == "U", "X", ident["sex"].to_numpy())
    address = ident["line1"].to_numpy() + np.where(rng.random(n) < 0.7, ", " + ident["town"].to_numpy(), "")
    address = np.where(caps, np.char.upper(address.astype(str)).astype(object), address)
    address = np.where(ident["postcode"].to_numpy() == "", np.where(rng.random(n) < 0.5, "", address), address)
    return [FeedData(
        feed="police_incidents", file_prefix="police_", format="jsonl", ext="jsonl",
        cols=[
            Col("nominal_ref", "str", nominal),
            Col("incident_ref", "str", inc_ref),
            Col("forename", "str", ident["first"].to_numpy()),
            Col("surname", "str", surname.astype(object)),
            Col("date_of_birth", "date", ident["dob"].to_numpy(), "%Y-%m-%d"),
            Col("sex", "str", sex.astype(object)),
            Col("address", "str", address.astype(object)),
            Col("postcode", "str", ident["postcode"].to_numpy()),
            Col("pnc_id", "str", pnc),
            Col("occurred_at", "ts", x["ts"].to_numpy(), "%Y-%m-%dT%H:%M:%S"),
            Col("incident_type", "str", itype.astype(object)),
            Col("domestic_abuse_flag", "str", da_flag.astype(object)),
            Col("asb_flag", "str", asb_flag.astype(object)),
            Col("role", "str", role.astype(object)),
            Col("offence_code", "str", offence.astype(object)),
            Col("risk_level", "str", risk),
        ],
        key=["nominal_ref", "incident_ref"], pid=pid, hid=ident["hid"].to_numpy(), errors=tags.result(),
    )]


def _pnc_ids(people: np.ndarray, x: pd.DataFrame, rng) -> pd.Series:
    first = x.groupby("pid")["date"].min().reindex(people).to_numpy()
    year2 = ymd(first)[0] % 100
    # about a fifth were already on the PNC from before the window
    year2 = np.where(rng.random(len(people)) < 0.2, rng.integers(0, 19, len(people)), year2)
    serial = rng.choice(9_000_000, len(people), replace=False) + 100_000 if len(people) else np.array([], np.int64)
    return pd.Series(identifiers.pnc_ids(year2, serial), index=people)
