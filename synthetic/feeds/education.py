"""Education (school census): schools and enrolments, the pupil roll, attendance per term, suspensions
and exclusions. UPNs are allocated here (the first school a child attends allocates it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import identifiers, records
from ..dates import NEVER, from_ymd, ymd
from ..errors import PROFILES
from ..writers import Col, FeedData
from . import Context, pick, to_weekday

LA_NUMBER = 990  # fictional; pupils who started school elsewhere carry another LA's number
OTHER_LAS = np.array([201, 302, 330, 373, 380, 850, 919, 935])
ATTENDANCE_YEARS = range(2021, 2026)  # academic years 2021/22 .. 2025/26
TERMS = {"AUT": ((9, 3), (10, 31), (12, 19), 140), "SPR": ((1, 5), (2, 14), (3, 28), 116),
         "SUM": ((4, 14), (6, 1), (7, 21), 124)}
REASONS = (["PP", "PA", "VP", "VA", "BU", "RA", "DM", "TH", "MT", "DA", "SM", "DB", "OT"],
           [0.03, 0.09, 0.07, 0.03, 0.02, 0.01, 0.02, 0.01, 0.02, 0.06, 0.02, 0.42, 0.20])


def _schools(n_primary: int, n_secondary: int, outwards: np.ndarray, rng) -> pd.DataFrame:
    n = n_primary + n_secondary
    urn = 140_000 + np.sort(rng.choice(60_000, n, replace=False))
    phase = np.array(["primary"] * n_primary + ["secondary"] * n_secondary)
    estab = np.concatenate([2000 + np.sort(rng.choice(999, n_primary, replace=False)),
                            4000 + np.sort(rng.choice(999, n_secondary, replace=False))])
    outward = np.concatenate([outwards[np.arange(n_primary) % len(outwards)],
                              outwards[np.arange(n_secondary) % len(outwards)]])
    return pd.DataFrame({"urn": urn.astype(str), "phase": phase, "estab": estab, "outward": outward})


def _choose_school(schools: pd.DataFrame, phase: str, outward: np.ndarray, rng) -> np.ndarray:
    """Index into schools: a school of the phase in the pupil's outward code, else any of the phase."""
    s = schools[schools["phase"] == phase]
    idx = s.index.to_numpy()
    out = idx[rng.integers(0, len(idx), len(outward))]
    by_out = s.groupby("outward").indices
    for o, pos in by_out.items():
        m = outward == o
        out[m] = idx[pos][rng.integers(0, len(pos), m.sum())]
    return out


def build(ctx: Context) -> list[FeedData]:
    rng = ctx.rng_for("feed:education")
    pop, w0, w1 = ctx.pop, ctx.w0, ctx.w1
    p = pop.persons
    dob = p["dob"].to_numpy()
    by, bm, _ = ymd(dob)
    ay_birth = np.where(bm >= 9, by, by - 1)  # the academic year a child was born in
    a_rec = ay_birth + 5  # reception year
    w1y, w1m, _ = ymd(np.array([w1]))
    w1_ay = int(w1y[0] if w1m[0] >= 9 else w1y[0] - 1)
    w0_ay = 2018
    sixth = rng.random(len(p)) < 0.45
    last_ay = a_rec + np.where(sixth, 13, 11)
    pupil = (a_rec <= w1_ay) & (last_ay >= w0_ay)
    pup = np.flatnonzero(pupil)

    # enrolments: primary (R..Y6) and secondary (Y7..Y11/13), plus some in-phase transfers
    def sept(ay):
        return from_ymd(ay, np.full(len(ay), 9), np.full(len(ay), 4))

    def july(ay):
        return from_ymd(ay + 1, np.full(len(ay), 7), np.full(len(ay), 21))

    enr = pd.concat([
        pd.DataFrame({"pid": pup, "phase": "primary", "entry": sept(a_rec[pup]), "leave": july(a_rec[pup] + 6)}),
        pd.DataFrame({"pid": pup, "phase": "secondary", "entry": sept(a_rec[pup] + 7),
                      "leave": july(last_ay[pup])}),
    ], ignore_index=True)
    enr = enr[enr["entry"] <= w1].reset_index(drop=True)
    move = rng.random(len(enr)) < 0.07
    span = (np.minimum(enr["leave"].to_numpy(), w1) - enr["entry"].to_numpy())
    cut = enr["entry"].to_numpy() + (rng.uniform(0.2, 0.8, len(enr)) * span).astype(np.int64)
    move &= span > 200
    later = enr[move].copy()
    later["entry"] = to_weekday(cut[move] + 1)
    enr.loc[move, "leave"] = cut[move]
    enr = pd.concat([enr, later], ignore_index=True).sort_values(["pid", "entry"], kind="stable").reset_index(drop=True)

    # schools scaled to the pupil count (about 250 per primary, 950 per secondary)
    n_prim = max(2, int(np.ceil((pupil.sum() * 7 / 14) / 250)))
    n_sec = max(1, int(np.ceil((pupil.sum() * 5 / 14) / 950)))
    used_out = np.unique(pop.addresses["outward_code"].to_numpy())
    schools = _schools(n_prim, n_sec, used_out, ctx.rng_for("schools"))
    addr_at_entry = pop.membership["addr"].to_numpy()[pop.locate(enr["pid"].to_numpy(), enr["entry"].to_numpy())]
    outward = pop.addresses["outward_code"].reindex(addr_at_entry).to_numpy()
    school = np.zeros(len(enr), np.int64)
    for phase in ("primary", "secondary"):
        m = enr["phase"].to_numpy() == phase
        school[m] = _choose_school(schools, phase, outward[m], rng)
    enr["school"] = school
    enr = enr[(enr["leave"] >= w0)].reset_index(drop=True)

    # UPNs: allocated by the first school (year of reception entry), serials per school and year
    first_school = enr.drop_duplicates("pid").set_index("pid")
    pids_u = pup
    fs_idx = first_school["school"].reindex(pids_u).to_numpy()
    fs_estab = schools["estab"].to_numpy()[np.where(np.isnan(fs_idx), 0, fs_idx).astype(np.int64)]
    from_else = (a_rec[pids_u] < 2018) & (rng.random(len(pids_u)) < 0.12)
    la = np.where(from_else, OTHER_LAS[rng.integers(0, len(OTHER_LAS), len(pids_u))], LA_NUMBER)
    estab = np.where(from_else, 2000 + rng.integers(0, 999, len(pids_u)), fs_estab)
    year2 = (a_rec[pids_u]) % 100
    upn = _allocate_upns(la, estab, year2, rng)
    upn_of = pd.Series(upn, index=pids_u)
    ctx.shared["upn"] = upn_of
    # duplicate registrations: a secondary school issues a second UPN
    dup_p = pids_u[rng.random(len(pids_u)) < PROFILES["education"].duplicate]
    enr_upn = upn_of.reindex(enr["pid"].to_numpy()).to_numpy().astype(object)
    sec_dup = enr["pid"].isin(dup_p).to_numpy() & (enr["phase"].to_numpy() == "secondary")
    if sec_dup.any():
        sy = ymd(enr["entry"].to_numpy()[sec_dup])[0] % 100
        sec_est = schools["estab"].to_numpy()[enr["school"].to_numpy()[sec_dup]]
        enr_upn[sec_dup] = _allocate_upns(np.full(sec_dup.sum(), LA_NUMBER), sec_est, sy, rng, serial_from=900)
    enr["upn"] = enr_upn
    enr["dup"] = sec_dup
    enr["urn"] = schools["urn"].to_numpy()[enr["school"].to_numpy()]
    z = pop.households["z"].to_numpy()[p["hid0"].to_numpy()]

    feeds = [_roll(ctx, enr, z, a_rec, rng), _attendance(ctx, enr, a_rec, rng)]
    feeds.append(_exclusions(ctx, enr, rng))
    return feeds


def _allocate_upns(la, estab, year2, rng, serial_from: int = 1) -> np.ndarray:
    key = pd.DataFrame({"la": la, "estab": estab, "y": year2})
    serial = key.groupby(["la", "estab", "y"]).cumcount().to_numpy() + serial_from
    # a busy school-year past 999 spills into the next establishment number
    spill = serial // 1000
    est = (np.asarray(estab) + spill * 7) % 10000
    return identifiers.upns(np.asarray(la), est, np.asarray(year2), serial % 1000)


def _nc_year(a_rec, pid, dates) -> np.ndarray:
    y, m, _ = ymd(dates)
    ay = np.where(m >= 9, y, y - 1)
    nc = ay - a_rec[pid]
    labels = np.array(["N2", "R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14"], dtype=object)
    return labels[np.clip(nc + 1, 0, 15)]


def _roll(ctx: Context, enr: pd.DataFrame, z, a_rec, rng) -> FeedData:
    pop, w1 = ctx.pop, ctx.w1
    n = len(enr)
    rec_date = np.minimum(enr["leave"].to_numpy(), w1)
    pid = enr["pid"].to_numpy()
    ident, tags = records.identity(pop, pid, rec_date, "education", rng)
    tags.add(enr["dup"].to_numpy(), "duplicate_registration")
    leave = np.where(enr["leave"].to_numpy() > w1, NEVER, enr["leave"].to_numpy())
    sen = np.where(rng.random(n) < 0.03 + 0.02 * (z[pid] > 1), "E",
                   np.where(rng.random(n) < 0.11 + 0.06 * (z[pid] > 0.5), "K", "N"))
    fsm = np.where(rng.random(n) < 1 / (1 + np.exp(-(z[pid] * 1.3 - 1.4))), "true", "false")
    order = np.lexsort((enr["entry"].to_numpy(), enr["upn"].to_numpy(), enr["urn"].to_numpy()))
    cols = [
        Col("UPN", "str", enr["upn"].to_numpy()),
        Col("LegalSurname", "str", ident["surname"].to_numpy()),
        Col("Forename", "str", ident["first"].to_numpy()),
        Col("MiddleNames", "str", ident["middle"].to_numpy()),
        Col("DOB", "date", ident["dob"].to_numpy(), "%Y-%m-%d"),
        Col("Gender", "str", np.where(ident["sex"].to_numpy() == "F", "F", "M").astype(object)),
        Col("AddressLine1", "str", ident["line1"].to_numpy()),
        Col("Postcode", "str", ident["postcode"].to_numpy()),
        Col("UPRN", "str", ident["uprn"].to_numpy()),
        Col("URN", "str", enr["urn"].to_numpy().astype(object)),
        Col("NCYearActual", "str", _nc_year(a_rec, pid, rec_date)),
        Col("EntryDate", "date", enr["entry"].to_numpy(), "%Y-%m-%d"),
        Col("LeavingDate", "date", leave, "%Y-%m-%d"),
        Col("SENprovision", "str", sen.astype(object)),
        Col("FSMeligible", "str", fsm.astype(object)),
    ]
    cols = [Col(c.name, c.kind, np.asarray(c.values)[order], c.fmt) for c in cols]
    return FeedData(feed="school_roll", file_prefix="school_roll_", format="csv", ext="csv", delimiter="|",
                    cols=cols, key=["UPN", "URN", "EntryDate"], pid=pid[order], hid=ident["hid"].to_numpy()[order],
                    errors=tags.result()[order])


def _attendance(ctx: Context, enr: pd.DataFrame, a_rec, rng) -> FeedData:
    pop, w1 = ctx.pop, ctx.w1
    frames = []
    for ay in ATTENDANCE_YEARS:
        for term, ((sm, sd), (mm, md), (em, ed), possible) in TERMS.items():
            yr = ay if sm >= 9 else ay + 1
            t_start, t_mid, t_end = (int(from_ymd(np.array([yr]), np.array([m_]), np.array([d_]))[0])
                                     for m_, d_ in ((sm, sd), (mm, md), (em, ed)))
            if t_mid > w1:
                continue
            e = enr[(enr["entry"] <= t_mid) & (enr["leave"] > t_mid)]
            nc = ay - a_rec[e["pid"].to_numpy()]
            e = e[(nc >= 0) & (nc <= 11)]  # reception to year 11
            frac = np.clip((t_end - np.maximum(e["entry"].to_numpy(), t_start)) / (t_end - t_start), 0.1, 1.0)
            frames.append(pd.DataFrame({"row": e.index.to_numpy(), "ay": f"{ay}/{(ay + 1) % 100:02d}", "term": term,
                                        "mid": t_mid, "possible": np.rint(possible * frac).astype(np.int64)}))
    t = pd.concat(frames, ignore_index=True)
    e = enr.loc[t["row"].to_numpy()].reset_index(drop=True)
    n = len(t)
    pid = e["pid"].to_numpy()
    mid = t["mid"].to_numpy()
    # absence: a baseline, raised while an absence need is active; severe absence for the most severe
    ab = ctx.needs.of("school_absence")
    act = pd.DataFrame({"pid": pid, "mid": mid, "i": np.arange(n)}).merge(
        ab[["pid", "from", "to", "severity"]], on="pid")
    act = act[(act["from"] <= act["mid"]) & (act["mid"] < act["to"])].drop_duplicates("i")
    level = np.zeros(n, np.int64)
    level[act["i"].to_numpy()] = np.where(act["severity"].to_numpy() >= 5, 2, 1)
    covid = np.where(t["ay"].to_numpy() == "2021/22", 1.4, 1.0)
    auth = rng.beta(2.0, 42.0, n) * covid
    unauth = rng.beta(0.6, 60.0, n)
    unauth = np.where(level == 1, unauth + rng.uniform(0.06, 0.25, n), unauth)
    auth = np.where(level == 1, auth + rng.uniform(0.0, 0.06, n), auth)
    unauth = np.where(level == 2, rng.uniform(0.45, 0.8, n), unauth)
    possible = t["possible"].to_numpy()
    a_s = np.rint(possible * np.minimum(auth, 0.5)).astype(np.int64)
    u_s = np.minimum(np.rint(possible * unauth).astype(np.int64), possible - a_s)
    ident, tags = records.identity(pop, pid, mid, "education", rng)
    order = np.lexsort((t["term"].map({"AUT": 0, "SPR": 1, "SUM": 2}).to_numpy(), t["ay"].to_numpy(),
                        e["upn"].to_numpy(), e["urn"].to_numpy()))
    cols = [
        Col("UPN", "str", e["upn"].to_numpy()),
        Col("LegalSurname", "str", ident["surname"].to_numpy()),
        Col("Forename", "str", ident["first"].to_numpy()),
        Col("DOB", "date", ident["dob"].to_numpy(), "%Y-%m-%d"),
        Col("URN", "str", e["urn"].to_numpy().astype(object)),
        Col("AcademicYear", "str", t["ay"].to_numpy().astype(object)),
        Col("Term", "str", t["term"].to_numpy().astype(object)),
        Col("SessionsPossible", "int", possible.astype(float)),
        Col("SessionsAuthorised", "int", a_s.astype(float)),
        Col("SessionsUnauthorised", "int", u_s.astype(float)),
    ]
    cols = [Col(c.name, c.kind, np.asarray(c.values)[order], c.fmt) for c in cols]
    return FeedData(feed="school_attendance", file_prefix="school_attendance_", format="csv", ext="csv",
                    delimiter="|", cols=cols, key=["UPN", "URN", "AcademicYear", "Term"], pid=pid[order],
                    hid=ident["hid"].to_numpy()[order], errors=tags.result()[order],
                    extra_truth={"absence_level": level[order]})


def _exclusions(ctx: Context, enr: pd.DataFrame, rng) -> FeedData:
    pop, w1 = ctx.pop, ctx.w1
    ex = ctx.needs.of("exclusion")
    k = 1 + rng.poisson(0.8 * ex["severity"].to_numpy())
    rows = np.repeat(np.arange(len(ex)), k)
    e = ex.iloc[rows].reset_index(drop=True)
    end = np.minimum(e["to"].to_numpy(), w1 - 1)
    d = e["from"].to_numpy() + (rng.random(len(e)) * np.maximum(end - e["from"].to_numpy(), 1)).astype(np.int64)
    # schools are shut in August: those dates move into the autumn term
    y, m, _ = ymd(d)
    aug = m == 8
    d[aug] = from_ymd(y[aug], np.full(aug.sum(), 9), rng.integers(8, 29, aug.sum()))
    d = to_weekday(d)
    x = pd.DataFrame({"pid": e["pid"].to_numpy(), "date": d, "i": np.arange(len(e))}).merge(
        enr[["pid", "entry", "leave", "upn", "urn"]], on="pid")
    x = x[(x["entry"] <= x["date"]) & (x["date"] < x["leave"])].drop_duplicates("i")
    x = x.sort_values(["pid", "date"], kind="stable").reset_index(drop=True)
    n = len(x)
    cat = pick(rng, ["FIXD", "LUNC"], [0.94, 0.06], n)
    # the most severe cases end in a permanent exclusion on their last event
    last = ~x["pid"].duplicated(keep="last").to_numpy()
    sev = ex.groupby("pid")["severity"].max().reindex(x["pid"].to_numpy()).to_numpy()
    cat = np.where(last & (sev >= 4) & (rng.random(n) < 0.35), "PERM", cat)
    sessions = np.where(cat == "FIXD", pick(rng, [1, 2, 2, 3, 4, 6, 10, 0.5, 1.5], [1] * 9, n).astype(float),
                        np.where(cat == "LUNC", 0.5, np.nan))
    reason = pick(rng, *REASONS, n)
    pid = x["pid"].to_numpy()
    ident, tags = records.identity(pop, pid, x["date"].to_numpy(), "education", rng)
    return FeedData(
        feed="school_exclusions", file_prefix="school_exclusions_", format="csv", ext="csv", delimiter=";",
        cols=[
            Col("UPN", "str", x["upn"].to_numpy()),
            Col("Surname", "str", ident["surname"].to_numpy()),
            Col("Forename", "str", ident["first"].to_numpy()),
            Col("DOB", "date", ident["dob"].to_numpy(), "%d.%m.%Y"),
            Col("URN", "str", x["urn"].to_numpy().astype(object)),
            Col("Category", "str", cat.astype(object)),
            Col("StartDate", "date", x["date"].to_numpy(), "%d.%m.%Y"),
            Col("Sessions", "dec", sessions),
            Col("Reason", "str", reason),
        ],
        key=["UPN", "StartDate", "Category"], pid=pid, hid=ident["hid"].to_numpy(), errors=tags.result(),
    )
