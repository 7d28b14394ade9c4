"""The true population: households at 2019-01-01, then separations, new partners, marriages, births
and moves up to the as-at date. Everything is vectorised over households and people.

Model (see README): a household type is drawn per household (single, couple, couple with children,
lone parent, couple with an adult child at home, stepfamily, three generations); ages are drawn
around the mother's age at first birth; names follow the household's naming culture. Women keep
their household in this model, men move out on separation and in with a new partner, so "the
household at a date" is always the last household the person joined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import geography, identifiers, names
from .dates import NEVER, add_years, age_years, ymd

HTYPES = ["single", "couple", "couple_children", "lone_parent", "couple_adult_child", "stepfamily",
          "multigen", "separated"]
HT = {name: i for i, name in enumerate(HTYPES)}
_HTYPE_P = np.array([0.30, 0.27, 0.21, 0.10, 0.06, 0.04, 0.02])
_PARTNERED = np.array([0, 1, 1, 0, 1, 1, 1, 0], dtype=bool)
# roles within a household, in pid order
LEAD, PARTNER, GRANDPARENT, ADULT_CHILD, CHILD, BABY = range(6)
BIRTH_SHARE = 0.085  # births over 2019-2026 per head of population (about 11 per 1,000 a year)
TWIN_SHARE = 0.016  # twin maternities per maternity


@dataclass
class Population:
    w0: int
    w1: int
    persons: pd.DataFrame  # index = pid (0..N-1)
    households: pd.DataFrame  # index = hid
    hh_addr: pd.DataFrame  # hid, addr, from, to
    membership: pd.DataFrame  # pid, hid, addr, from, to; sorted by pid, from
    partnerships: pd.DataFrame  # woman, man, from, to, married_from, source
    relationships: pd.DataFrame  # pid, related_pid, relationship, from, to
    addresses: pd.DataFrame  # index = addr: uprn, line1, town, postcode, imd_decile, outward_code

    def __post_init__(self) -> None:
        m = self.membership
        self._keys = m["pid"].to_numpy(np.int64) * (1 << 24) + (m["from"].to_numpy(np.int64) + (1 << 23))

    def locate(self, pids: np.ndarray, dates: np.ndarray) -> np.ndarray:
        """Row index into membership of each person's address segment on each date."""
        q = np.asarray(pids, np.int64) * (1 << 24) + (np.clip(dates, -(1 << 22), 1 << 22) + (1 << 23))
        idx = np.searchsorted(self._keys, q, side="right") - 1
        first = np.searchsorted(self._keys, np.asarray(pids, np.int64) * (1 << 24), side="left")
        return np.maximum(idx, first)  # before a person's first segment: use the first

    def previous(self, idx: np.ndarray) -> np.ndarray:
        """Membership row of the previous address of the same person (or idx itself when none)."""
        m = self.membership
        pid = m["pid"].to_numpy()
        prev = np.maximum(idx - 1, 0)
        same = pid[prev] == pid[idx]
        return np.where(same & (idx > 0), prev, idx)

    def surname_on(self, pids: np.ndarray, dates: np.ndarray) -> np.ndarray:
        p = self.persons
        changed = p["surname_changed_date"].to_numpy()[pids] <= dates
        return np.where(changed, p["surname_changed_to"].to_numpy()[pids], p["surname"].to_numpy()[pids])


def _u(rng, lo, hi, n=None):
    return rng.uniform(lo, hi, n)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def build(n_persons: int, w0: int, w1: int, rng_for) -> Population:
    rng = rng_for("households")
    n_births = int(round(BIRTH_SHARE * n_persons))
    n0 = n_persons - n_births

    # --- households at the start ------------------------------------------------------------------
    h_est = int(n0 / 2.3 * 1.2) + 20
    htype = rng.choice(7, h_est, p=_HTYPE_P)
    kids = np.zeros(h_est, np.int64)
    fam = np.isin(htype, [HT["couple_children"], HT["stepfamily"], HT["multigen"]])
    kids[fam] = rng.choice([1, 2, 3, 4, 5], fam.sum(), p=[0.42, 0.38, 0.14, 0.045, 0.015])
    lone = htype == HT["lone_parent"]
    kids[lone] = rng.choice([1, 2, 3, 4], lone.sum(), p=[0.5, 0.33, 0.13, 0.04])
    adc = htype == HT["couple_adult_child"]
    kids[adc] = rng.choice([0, 1, 2], adc.sum(), p=[0.5, 0.35, 0.15])
    partnered = _PARTNERED[htype]
    adults = 1 + partnered + adc + (htype == HT["multigen"])
    size = adults + kids
    cum = np.cumsum(size)
    h = int(np.searchsorted(cum, n0, side="right"))
    rest = n0 - (int(cum[h - 1]) if h else 0)
    htype = np.concatenate([htype[:h], np.full(rest, HT["single"])])
    kids = np.concatenate([kids[:h], np.zeros(rest, np.int64)])
    H = len(htype)
    partnered = _PARTNERED[htype]
    adc = htype == HT["couple_adult_child"]
    multigen = htype == HT["multigen"]

    # ages at w0 (years), drawn around the mother's age at her first birth
    c_max = np.where(kids > 0, _u(rng, np.minimum(17.5, (kids - 1) * 1.3), 17.95, H), 0.0)
    ac_age = np.where(adc, _u(rng, 18.0, 29.0, H), 0.0)
    first_birth = np.clip(rng.normal(27.5, 5.5, H), 17.5, 42.0)
    has_kids = (kids > 0) | adc
    lead_age = np.where(has_kids, first_birth + np.maximum(c_max, ac_age), 0.0)
    single_age = np.select([rng.random(H) < 0.3, rng.random(H) < 0.55],
                           [_u(rng, 18, 30, H), _u(rng, 30, 65, H)], _u(rng, 65, 94, H))
    couple_age = np.clip(rng.normal(52, 17, H), 20, 90)
    lead_age = np.where(htype == HT["single"], single_age, np.where(htype == HT["couple"], couple_age, lead_age))
    partner_age = np.clip(lead_age + rng.normal(2.5, 3.5, H), 18.5, 96)
    gp_age = np.minimum(lead_age + _u(rng, 20, 30, H), 97)
    lead_sex = np.where(partnered | ((htype == HT["lone_parent"]) & (rng.random(H) < 0.9)), "F",
                        np.where(rng.random(H) < np.where(single_age > 70, 0.62, 0.48), "F", "M"))
    lead_sex = np.where(htype == HT["single"], np.where(rng.random(H) < 0.5, "F", "M"), lead_sex)
    culture = np.searchsorted(np.cumsum(names.CULTURE_SHARES), rng.random(H) * names.CULTURE_SHARES.sum())
    culture = np.minimum(culture, len(names.CULTURES) - 1)

    # --- people: one row per (household, role) ----------------------------------------------------
    hids = np.arange(H)
    parts = [
        (hids, np.full(H, LEAD), np.zeros(H, np.int64)),
        (hids[partnered], np.full(partnered.sum(), PARTNER), np.zeros(partnered.sum(), np.int64)),
        (hids[multigen], np.full(multigen.sum(), GRANDPARENT), np.zeros(multigen.sum(), np.int64)),
        (hids[adc], np.full(adc.sum(), ADULT_CHILD), np.zeros(adc.sum(), np.int64)),
    ]
    kid_h = np.repeat(hids, kids)
    kid_j = np.arange(len(kid_h)) - np.repeat(np.cumsum(kids) - kids, kids)
    parts.append((kid_h, np.full(len(kid_h), CHILD), kid_j))
    ph = np.concatenate([p[0] for p in parts])
    role = np.concatenate([p[1] for p in parts])
    order_in = np.concatenate([p[2] for p in parts])
    order = np.lexsort((order_in, role, ph))
    ph, role, order_in = ph[order], role[order], order_in[order]
    n0 = len(ph)
    prng = rng_for("people")

    # ages -> dob
    gap = np.where(kids > 1, np.minimum(4.0, c_max / np.maximum(kids - 1, 1)), 0.0)
    gap = np.where(kids > 1, _u(prng, np.minimum(1.1, gap), np.maximum(gap, 1.1), H), 0.0)
    gap = np.minimum(gap, c_max / np.maximum(kids - 1, 1))
    child_age = c_max[ph] - order_in * gap[ph]
    age = np.select(
        [role == LEAD, role == PARTNER, role == GRANDPARENT, role == ADULT_CHILD],
        [lead_age[ph], partner_age[ph], gp_age[ph], ac_age[ph]], child_age)
    age = np.maximum(age, 0.0)
    dob = w0 - np.rint(age * 365.25).astype(np.int64) - prng.integers(0, 30, n0)
    # twins: a later child shares the previous child's date of birth
    is_child = role == CHILD
    twin = is_child & (order_in > 0) & (prng.random(n0) < 0.028)
    twin_idx = np.flatnonzero(twin)
    dob[twin_idx] = dob[twin_idx - 1]
    sex = np.select(
        [role == LEAD, role == PARTNER, role == GRANDPARENT, role == ADULT_CHILD],
        [lead_sex[ph], np.full(n0, "M"), np.where(prng.random(n0) < 0.7, "F", "M"),
         np.where(prng.random(n0) < 0.55, "M", "F")],
        np.where(prng.random(n0) < 0.512, "M", "F"))
    sex = np.where((role == PARTNER) & (lead_sex[ph] == "M"), "F", sex)
    # twin group = pid of the first-born of the run (triplets chain into one group)
    run_start = np.maximum.accumulate(np.where(twin, 0, np.arange(n0)))
    in_group = twin.copy()
    in_group[twin_idx - 1] = True
    twin_group = np.where(in_group, run_start, -1)

    # --- addresses and household complexity -------------------------------------------------------
    arng = rng_for("addresses")
    pool = geography.usable_addresses(int(H * 1.8))
    pool = pool[arng.permutation(len(pool))]
    cursor = [0]

    def take(n: int) -> np.ndarray:
        # fresh addresses in a fixed order; if a huge run exhausts the area, addresses get shared
        idx = (cursor[0] + np.arange(n)) % len(pool)
        cursor[0] += n
        return pool[idx]

    addr0 = take(H)
    imd = geography.postcodes()["imd_decile"].to_numpy()[addr0 // geography.SLOTS]
    type_effect = np.array([-0.1, -0.4, 0.0, 0.45, 0.05, 0.35, 0.1, 0.2])[htype]
    z = 0.85 * arng.normal(0, 1, H) + 0.45 * (5.5 - imd) / 2.9 + type_effect
    tenure = np.where(arng.random(H) < _sigmoid(-1.9 + 1.0 * z), "social",
                      np.where(arng.random(H) < 0.25, "private", "owner"))
    youngest_adult = np.minimum(lead_age, np.where(partnered, partner_age, 200))
    hh_from = w0 - np.rint(_u(arng, 0, 1, H) * np.clip(youngest_adult - 18, 0.2, 12) * 365.25).astype(np.int64)

    # --- names ------------------------------------------------------------------------------------
    nrng = rng_for("names")
    by, _, _ = ymd(dob)
    pc = culture[ph]
    first = names.sample_forenames(nrng, pc, sex, by)
    # siblings never share a forename: redraw clashes a few times
    for _ in range(6):
        kidlike = (role == CHILD) | (role == ADULT_CHILD)
        key = ph * 100_000 + pd.factorize(first)[0]
        clash = kidlike & pd.Series(np.where(kidlike, key, -1 - np.arange(n0))).duplicated().to_numpy()
        if not clash.any():
            break
        first[clash] = names.sample_forenames(nrng, pc[clash], sex[clash], by[clash])
    # twins: a third get names sharing an initial (Amelia and Ava, Harry and Henry)
    for i in twin_idx[nrng.random(len(twin_idx)) < 0.35].tolist():
        pool_names = names.forename_pools()[(names.CULTURES[pc[i]], sex[i], int(names.cohort_of(np.array([by[i]]))[0]))].names
        same = [n for n in pool_names.tolist() if n[0] == first[i - 1][0] and n != first[i - 1]]
        if same:
            first[i] = same[int(nrng.integers(0, len(same)))]
    middle = np.full(n0, "", dtype=object)
    has_mid = nrng.random(n0) < 0.58
    middle[has_mid] = names.sample_forenames(nrng, pc[has_mid], sex[has_mid], by[has_mid])
    two_mid = has_mid & (nrng.random(n0) < 0.12)
    middle[two_mid] = middle[two_mid] + " " + names.sample_forenames(nrng, pc[two_mid], sex[two_mid], by[two_mid])
    middle = np.where(middle == first, "", middle)

    # father and son with the same forename (and surname, at the same address)
    lead_pid = np.searchsorted(ph, hids)  # the lead is the first person of each household
    partner_pid = np.where(partnered, lead_pid + 1, -1)
    father_pid_h = np.where(partnered & (lead_sex == "F"), partner_pid,
                            np.where((htype == HT["lone_parent"]) & (lead_sex == "M"), lead_pid, -1))
    father_same = np.full(n0, -1, np.int64)
    son = ((role == ADULT_CHILD) | ((role == CHILD) & (htype[ph] != HT["stepfamily"]))) & (sex == "M")
    son &= father_pid_h[ph] >= 0
    chance = np.where(role == ADULT_CHILD, 0.30, 0.025)
    same_name = son & (nrng.random(n0) < chance)
    father_same[same_name] = father_pid_h[ph[same_name]]
    first[same_name] = first[father_same[same_name]]
    middle[same_name] = np.where(nrng.random(same_name.sum()) < 0.5, middle[father_same[same_name]], middle[same_name])

    # surnames: household surname, maiden names, children's surnames by parents' marital status
    hh_surname = names.sample_surnames(nrng, culture)
    own_surname = names.sample_surnames(nrng, pc)  # a person's own (maiden / absent father's) surname
    married = partnered & (nrng.random(H) < np.select(
        [htype == HT["couple"], htype == HT["stepfamily"]], [0.55, 0.45], 0.68))
    surname = np.empty(n0, dtype=object)
    birth_surname = own_surname.copy()
    hs = hh_surname[ph]
    is_wife = (role == LEAD) & partnered[ph]
    surname[:] = hs
    # a wife keeps her maiden name unless married; some double-barrel on marriage
    wife_married = is_wife & married[ph]
    double = wife_married & (nrng.random(n0) < 0.06)
    surname[is_wife & ~married[ph]] = own_surname[is_wife & ~married[ph]]
    surname[double] = own_surname[double] + "-" + hs[double]
    birth_surname[~wife_married] = surname[~wife_married]
    # children of unmarried parents: father's, mother's or both
    u = nrng.random(n0)
    unmarried_kids = ((role == CHILD) | (role == ADULT_CHILD)) & partnered[ph] & ~married[ph]
    mother_sn = surname[lead_pid[ph]]
    surname[unmarried_kids & (u < 0.25)] = mother_sn[unmarried_kids & (u < 0.25)]
    hyph = unmarried_kids & (u >= 0.25) & (u < 0.35)
    surname[hyph] = mother_sn[hyph] + "-" + hs[hyph]
    # lone parents' children often carry the absent father's surname
    lone_kids = (role == CHILD) & (htype[ph] == HT["lone_parent"])
    surname[lone_kids] = np.where(u[lone_kids] < 0.55, surname[lead_pid[ph[lone_kids]]], own_surname[lone_kids])
    surname[(role == LEAD) & (htype[ph] == HT["lone_parent"])] = own_surname[(role == LEAD) & (htype[ph] == HT["lone_parent"])]
    lone_kids_mother = lone_kids & (u < 0.55)
    surname[lone_kids_mother] = surname[lead_pid[ph[lone_kids_mother]]]
    # stepfamily children keep their own father's (or mother's) surname
    step_kids = (role == CHILD) & (htype[ph] == HT["stepfamily"])
    surname[step_kids] = np.where(u[step_kids] < 0.7, own_surname[step_kids], surname[lead_pid[ph[step_kids]]])
    single = htype[ph] == HT["single"]
    surname[single] = own_surname[single]
    gp = role == GRANDPARENT
    surname[gp] = np.where(nrng.random(gp.sum()) < 0.6, birth_surname[lead_pid[ph[gp]]], hs[gp])
    # the same-name son carries his father's surname
    surname[same_name] = surname[father_same[same_name]]
    birth_surname = np.where(wife_married, birth_surname, surname)

    mother_id = np.where((role == CHILD) | (role == ADULT_CHILD),
                         np.where(lead_sex[ph] == "F", lead_pid[ph], -1), -1)
    father_id = np.where((role == CHILD) | (role == ADULT_CHILD), father_pid_h[ph], -1)
    father_id = np.where(htype[ph] == HT["stepfamily"], -1, father_id)

    persons = {
        "hid0": ph, "role": role, "dob": dob, "sex": sex, "culture": pc, "first_name": first,
        "middle_names": middle, "surname": surname, "birth_surname": birth_surname,
        "twin_group": twin_group, "father_same_name_of": father_same,
        "mother_id": mother_id, "father_id": father_id, "born_in_window": np.zeros(n0, bool),
    }

    # --- partnerships at the start, separations -------------------------------------------------------
    trng = rng_for("timeline")
    p_h = np.flatnonzero(partnered)
    years_together = np.where(has_kids[p_h], np.maximum(c_max[p_h], ac_age[p_h]) + _u(trng, 0.5, 3, len(p_h)),
                              _u(trng, 1, 1, len(p_h)) * np.clip(np.minimum(lead_age, partner_age)[p_h] - 18, 0.5, 30))
    years_together = np.where(htype[p_h] == HT["stepfamily"], _u(trng, 0.5, 6, len(p_h)), years_together)
    part = pd.DataFrame({
        "woman": lead_pid[p_h], "man": partner_pid[p_h], "hid": p_h,
        "from": w0 - np.rint(years_together * 365.25).astype(np.int64),
        "to": NEVER, "married_from": np.where(married[p_h], w0 - 1, NEVER), "source": "initial",
    })
    base = np.select([htype[p_h] == HT["couple"], htype[p_h] == HT["stepfamily"]], [0.07, 0.17], 0.12)
    p_sep = _sigmoid(np.log(base / (1 - base)) + 0.5 * z[p_h])
    sep = trng.random(len(p_h)) < p_sep
    sep_date = trng.integers(w0 + 30, w1 - 30, len(p_h))
    part.loc[sep, "to"] = sep_date[sep]
    sep_rows = np.flatnonzero(sep)
    n_sep = len(sep_rows)
    new_hid = H + np.arange(n_sep)
    sep_men = part["man"].to_numpy()[sep_rows]
    sep_women = part["woman"].to_numpy()[sep_rows]
    sep_dates = sep_date[sep_rows]

    joins = [
        pd.DataFrame({"pid": np.arange(n0), "hid": ph, "from": np.maximum(dob, hh_from[ph])}),
        pd.DataFrame({"pid": sep_men, "hid": new_hid, "from": sep_dates}),
    ]
    hh = pd.DataFrame({"htype": np.concatenate([htype, np.full(n_sep, HT["separated"])]),
                       "z": np.concatenate([z, z[p_h[sep_rows]]]),
                       "tenure": np.concatenate([tenure, np.where(trng.random(n_sep) < 0.3, "social", "private")]),
                       "start": np.concatenate([hh_from, sep_dates]),
                       "end": NEVER})

    # surname changes: at most one per person in the window
    change_date = np.full(n0, NEVER, np.int64)
    change_to = np.full(n0, "", dtype=object)
    revert = trng.random(n_sep) < 0.25
    w_rev = sep_women[revert]
    rev_date = sep_dates[revert] + trng.integers(60, 500, revert.sum())
    ok = (rev_date < w1) & (surname[w_rev] != birth_surname[w_rev])
    change_date[w_rev[ok]] = rev_date[ok]
    change_to[w_rev[ok]] = birth_surname[w_rev[ok]]

    # unmarried couples who marry in the window: she takes his name (some double-barrel)
    wed = (~married[p_h]) & ~sep & (trng.random(len(p_h)) < 0.18)
    w_wed = lead_pid[p_h[wed]]
    wed_date = trng.integers(w0 + 60, w1 - 10, wed.sum())
    ok = (change_date[w_wed] == NEVER) & (surname[w_wed] != hh_surname[p_h[wed]])
    change_date[w_wed[ok]] = wed_date[ok]
    change_to[w_wed[ok]] = np.where(trng.random(ok.sum()) < 0.9, hh_surname[p_h[wed]][ok],
                                    surname[w_wed[ok]] + "-" + hh_surname[p_h[wed]][ok])
    part.loc[np.flatnonzero(wed)[ok], "married_from"] = wed_date[ok]

    # --- new partners: lone and separated mothers, single and separated men --------------------------
    lone_mum_h = np.flatnonzero((htype == HT["lone_parent"]) & (lead_sex == "F"))
    w_cand = np.concatenate([lead_pid[lone_mum_h], sep_women])
    w_avail = np.concatenate([w0 + trng.integers(0, 365, len(lone_mum_h)),
                              sep_dates + trng.integers(180, 730, n_sep)])
    w_hid = np.concatenate([lone_mum_h, ph[sep_women]])
    pick = trng.random(len(w_cand)) < np.concatenate([np.full(len(lone_mum_h), 0.35), np.full(n_sep, 0.4)])
    w_cand, w_avail, w_hid = w_cand[pick], w_avail[pick], w_hid[pick]
    single_men_h = np.flatnonzero((htype == HT["single"]) & (lead_sex == "M") & (lead_age > 20) & (lead_age < 55))
    m_cand = np.concatenate([lead_pid[single_men_h], sep_men])
    m_avail = np.concatenate([np.full(len(single_men_h), w0), sep_dates + trng.integers(90, 540, n_sep)])
    m_hid = np.concatenate([single_men_h, new_hid])
    k = min(len(w_cand), len(m_cand))
    wsel = np.sort(trng.choice(len(w_cand), k, replace=False))
    msel = np.sort(trng.choice(len(m_cand), k, replace=False))
    # pair by age rank so partners are of similar ages
    wsel = wsel[np.argsort(dob[w_cand[wsel]], kind="stable")]
    msel = msel[np.argsort(dob[m_cand[msel]], kind="stable")]
    np_date = np.maximum(w_avail[wsel], m_avail[msel]) + trng.integers(0, 900, k)
    keep = np_date < w1 - 14
    nw, nm, nd = w_cand[wsel][keep], m_cand[msel][keep], np_date[keep]
    n_hid, m_old_hid = w_hid[wsel][keep], m_hid[msel][keep]
    joins.append(pd.DataFrame({"pid": nm, "hid": n_hid, "from": nd}))
    hh.loc[m_old_hid, "end"] = np.minimum(hh["end"].to_numpy()[m_old_hid], nd)
    new_part = pd.DataFrame({"woman": nw, "man": nm, "hid": n_hid, "from": nd, "to": NEVER,
                             "married_from": NEVER, "source": "new"})
    marry = trng.random(len(nw)) < 0.35
    m_date = nd + trng.integers(180, 900, len(nw))
    marry &= (m_date < w1) & (change_date[nw] == NEVER)
    new_part.loc[marry, "married_from"] = m_date[marry]
    change_date[nw[marry]] = m_date[marry]
    change_to[nw[marry]] = surname[nm[marry]]
    # some of her children take the stepfather's name when they marry
    kids_of = pd.DataFrame({"kid": np.flatnonzero(mother_id >= 0), "mother": mother_id[mother_id >= 0]})
    wm = pd.DataFrame({"mother": nw[marry], "date": m_date[marry], "man": nm[marry]})
    km = kids_of.merge(wm, on="mother")
    km = km[(age_years(dob[km["kid"].to_numpy()], km["date"].to_numpy()) < 16)
            & (trng.random(len(km)) < 0.15) & (change_date[km["kid"].to_numpy()] == NEVER)]
    change_date[km["kid"].to_numpy()] = km["date"].to_numpy()
    change_to[km["kid"].to_numpy()] = surname[km["man"].to_numpy()]
    partnerships = pd.concat([part, new_part], ignore_index=True)

    # --- births ------------------------------------------------------------------------------------------
    brng = rng_for("births")
    n_events = int(round(n_births / (1 + TWIN_SHARE)))
    n_twin = n_births - n_events
    women = np.flatnonzero((sex == "F") & (role != GRANDPARENT))
    lo = np.maximum(w0, add_years(dob[women], 18))
    hi = np.minimum(w1 - 1, add_years(dob[women], 44))
    ok = hi > lo + 60
    women, lo, hi = women[ok], lo[ok], hi[ok]
    ever_partnered = np.isin(women, partnerships["woman"].to_numpy())
    mid_age = (((lo + hi) / 2) - dob[women]) / 365.25
    weight = np.where(ever_partnered, 3.0, 1.0) * np.exp(-((mid_age - 31) / 7) ** 2) * (hi - lo) / 365.25
    score = np.log(weight + 1e-12) - np.log(-np.log(brng.random(len(women))))
    n_events = min(n_events, len(women))
    n_twin = n_births - n_events
    chosen = np.sort(np.argpartition(-score, n_events - 1)[:n_events]) if n_events else np.array([], np.int64)
    mothers = women[chosen]
    bdate = lo[chosen] + (brng.random(n_events) * (hi[chosen] - lo[chosen])).astype(np.int64)
    twin_ev = np.zeros(n_events, bool)
    twin_ev[brng.choice(n_events, min(n_twin, n_events), replace=False)] = True
    n_twin = int(twin_ev.sum())
    b_mother = np.concatenate([mothers, mothers[twin_ev]])
    b_date = np.concatenate([bdate, bdate[twin_ev]])
    ordr = np.lexsort((np.arange(len(b_date)), b_date))
    b_mother, b_date = b_mother[ordr], b_date[ordr]
    nb = len(b_mother)
    b_pid = n0 + np.arange(nb)
    # twins: the second baby of a twin event directly follows the first after the sort above
    b_twin = np.zeros(nb, bool)
    b_twin[1:] = (b_mother[1:] == b_mother[:-1]) & (b_date[1:] == b_date[:-1])
    b_twin_group = np.full(nb, -1, np.int64)
    tw = np.flatnonzero(b_twin)
    b_twin_group[tw] = b_pid[tw - 1]
    b_twin_group[tw - 1] = b_pid[tw - 1]
    # father: the mother's partner on the day
    bm = pd.DataFrame({"i": np.arange(nb), "woman": b_mother, "date": b_date})
    cand = bm.merge(partnerships[["woman", "man", "from", "to", "married_from"]], on="woman")
    cand = cand[(cand["from"] <= cand["date"]) & (cand["date"] < cand["to"])].drop_duplicates("i")
    b_father = np.full(nb, -1, np.int64)
    b_father[cand["i"].to_numpy()] = cand["man"].to_numpy()
    b_married = np.zeros(nb, bool)
    b_married[cand["i"].to_numpy()] = (cand["married_from"] <= cand["date"]).to_numpy()
    mum_sn = np.where(change_date[b_mother] <= b_date, change_to[b_mother], surname[b_mother])
    dad_sn = np.where(b_father >= 0, surname[np.maximum(b_father, 0)], "")
    u = brng.random(nb)
    b_surname = np.where(b_father < 0, mum_sn,
                         np.where(b_married | (u < 0.6), dad_sn, np.where(u < 0.9, mum_sn, mum_sn + "-" + dad_sn)))
    # twins share a surname
    b_surname[tw] = b_surname[tw - 1]
    b_sex = np.where(brng.random(nb) < 0.512, "M", "F")
    b_culture = pc[b_mother]
    b_first = names.sample_forenames(brng, b_culture, b_sex, np.full(nb, 2020))
    b_first[tw] = np.where(b_first[tw] == b_first[tw - 1],
                           names.sample_forenames(brng, b_culture[tw], b_sex[tw], np.full(len(tw), 2020)), b_first[tw])
    b_middle = np.where(brng.random(nb) < 0.6, names.sample_forenames(brng, b_culture, b_sex, np.full(nb, 2020)), "")
    b_middle = np.where(b_middle == b_first, "", b_middle)
    b_hid = ph[b_mother]
    joins.append(pd.DataFrame({"pid": b_pid, "hid": b_hid, "from": b_date}))
    babies = {
        "hid0": b_hid, "role": np.full(nb, BABY), "dob": b_date, "sex": b_sex, "culture": b_culture,
        "first_name": b_first, "middle_names": b_middle.astype(object), "surname": b_surname.astype(object),
        "birth_surname": b_surname.astype(object), "twin_group": b_twin_group,
        "father_same_name_of": np.full(nb, -1, np.int64), "mother_id": b_mother, "father_id": b_father,
        "born_in_window": np.ones(nb, bool),
    }
    persons = pd.DataFrame({k: np.concatenate([persons[k], babies[k]]) for k in persons})
    N = len(persons)
    persons["surname_changed_date"] = np.concatenate([change_date, np.full(nb, NEVER)])
    persons["surname_changed_to"] = np.concatenate([change_to, np.full(nb, "", dtype=object)])
    persons["surname_changed_to"] = np.where(persons["surname_changed_date"] < NEVER,
                                             persons["surname_changed_to"], persons["surname"])
    irng = rng_for("identifiers")
    persons["nhs_number"] = identifiers.nhs_numbers(N, irng)
    adult_by_end = age_years(persons["dob"].to_numpy(), w1) >= 16
    ni = np.full(N, "", dtype=object)
    ni[adult_by_end] = identifiers.ni_numbers(int(adult_by_end.sum()), irng)
    persons["ni_number"] = ni

    # --- moves and address history ---------------------------------------------------------------------
    mrng = rng_for("moves")
    HH = len(hh)
    start = np.maximum(hh["start"].to_numpy(), w0)
    end = np.minimum(hh["end"].to_numpy(), w1)
    years = np.maximum(end - start, 0) / 365.25
    rate = 0.065 * np.exp(0.3 * hh["z"].to_numpy()) * np.where(hh["tenure"].to_numpy() == "owner", 0.6, 1.3)
    n_moves = np.minimum(mrng.poisson(rate * years), 3)
    mv_h = np.repeat(np.arange(HH), n_moves)
    mv_date = start[mv_h] + (mrng.random(len(mv_h)) * (end[mv_h] - start[mv_h])).astype(np.int64)
    o = np.lexsort((mv_date, mv_h))
    mv_h, mv_date = mv_h[o], mv_date[o]
    first_addr = np.concatenate([addr0, take(n_sep)])
    seg_h = np.concatenate([np.arange(HH), mv_h])
    seg_from = np.concatenate([hh["start"].to_numpy(), mv_date])
    seg_addr = np.concatenate([first_addr, take(len(mv_h))])
    o = np.lexsort((seg_from, seg_h))
    seg_h, seg_from, seg_addr = seg_h[o], seg_from[o], seg_addr[o]
    seg_to = np.full(len(seg_h), NEVER, np.int64)
    same = seg_h[1:] == seg_h[:-1]
    seg_to[:-1][same] = seg_from[1:][same]
    hh_addr = pd.DataFrame({"hid": seg_h, "addr": seg_addr, "from": seg_from, "to": seg_to})

    # person segments (join to join) intersected with household address segments
    j = pd.concat(joins, ignore_index=True).sort_values(["pid", "from"], kind="stable").reset_index(drop=True)
    jp = j["pid"].to_numpy()
    jto = np.full(len(j), NEVER, np.int64)
    same = jp[1:] == jp[:-1]
    jto[:-1][same] = j["from"].to_numpy()[1:][same]
    j["to"] = jto
    m = j.merge(hh_addr.rename(columns={"from": "afrom", "to": "ato"}), on="hid")
    m = m[(m["afrom"] < m["to"]) & (m["from"] < m["ato"])]
    # the first address segment of a household is open to the past for people who joined earlier
    m = m.assign(**{"from": np.maximum(m["from"].to_numpy(), m["afrom"].to_numpy()),
                    "to": np.minimum(m["to"].to_numpy(), m["ato"].to_numpy())})
    membership = (m[["pid", "hid", "addr", "from", "to"]]
                  .sort_values(["pid", "from"], kind="stable").reset_index(drop=True))
    used = np.unique(hh_addr["addr"].to_numpy())
    addresses = geography.address_table(used).set_index(pd.Index(used, name="addr"))

    hh["first_addr"] = first_addr
    persons.index.name = "pid"
    hh.index.name = "hid"
    persons["birth_household_id"] = persons["hid0"]
    pop = Population(w0, w1, persons, hh, hh_addr, membership, partnerships,
                     pd.DataFrame(), addresses)
    pop.relationships = _relationships(pop, n0, lead_pid, ph, htype, multigen, role, hh_from)
    return pop


def _relationships(pop: Population, n0, lead_pid, ph, htype, multigen, role, hh_from) -> pd.DataFrame:
    """Truth relationships, read as 'related_pid is <relationship> of pid'."""
    p = pop.persons
    dob = p["dob"].to_numpy()
    frames = []
    for col, rel in (("mother_id", "MOTHER"), ("father_id", "FATHER")):
        has = p[col].to_numpy() >= 0
        frames.append(pd.DataFrame({"pid": np.flatnonzero(has), "related_pid": p[col].to_numpy()[has],
                                    "relationship": rel, "from": dob[has], "to": NEVER}))
    part = pop.partnerships
    frames.append(pd.DataFrame({"pid": part["woman"], "related_pid": part["man"], "relationship": "PARTNER",
                                "from": part["from"], "to": part["to"]}))
    frames.append(pd.DataFrame({"pid": part["man"], "related_pid": part["woman"], "relationship": "PARTNER",
                                "from": part["from"], "to": part["to"]}))
    # stepfathers: the mother's partner who is not the child's father, while together
    kids = pd.DataFrame({"pid": np.flatnonzero(p["mother_id"].to_numpy() >= 0),
                         "woman": p["mother_id"].to_numpy()[p["mother_id"].to_numpy() >= 0]})
    st = kids.merge(part[["woman", "man", "from", "to"]], on="woman")
    st = st[st["man"].to_numpy() != p["father_id"].to_numpy()[st["pid"].to_numpy()]]
    st = st[st["to"].to_numpy() > dob[st["pid"].to_numpy()]]
    st = st[(age_years(dob[st["pid"].to_numpy()], np.minimum(st["from"].to_numpy(), pop.w1)) < 18)]
    frames.append(pd.DataFrame({"pid": st["pid"], "related_pid": st["man"], "relationship": "STEPFATHER",
                                "from": np.maximum(st["from"].to_numpy(), dob[st["pid"].to_numpy()]),
                                "to": st["to"]}))
    # grandparents living with the family
    gp_h = np.flatnonzero(multigen)
    gp_pid = lead_pid[gp_h] + 2
    kids_h = pd.DataFrame({"pid": np.flatnonzero((role == CHILD) & multigen[ph])})
    kids_h["hid"] = ph[kids_h["pid"].to_numpy()]
    g = pd.DataFrame({"hid": gp_h, "related_pid": gp_pid})
    kg = kids_h.merge(g, on="hid")
    frames.append(pd.DataFrame({"pid": kg["pid"], "related_pid": kg["related_pid"], "relationship": "GRANDPARENT",
                                "from": dob[kg["pid"].to_numpy()], "to": NEVER}))
    # siblings (full and half): children sharing a mother, or a father where no mother is known
    par = np.where(p["mother_id"].to_numpy() >= 0, p["mother_id"].to_numpy(), p["father_id"].to_numpy())
    c = pd.DataFrame({"pid": np.flatnonzero(par >= 0), "par": par[par >= 0]})
    c = c[c.groupby("par")["pid"].transform("size") > 1]
    sib = c.merge(c, on="par", suffixes=("", "_r"))
    sib = sib[sib["pid"] != sib["pid_r"]]
    frames.append(pd.DataFrame({"pid": sib["pid"], "related_pid": sib["pid_r"], "relationship": "SIBLING",
                                "from": np.maximum(dob[sib["pid"].to_numpy()], dob[sib["pid_r"].to_numpy()]),
                                "to": NEVER}))
    rel = pd.concat(frames, ignore_index=True)
    return rel.sort_values(["pid", "related_pid", "relationship"], kind="stable").reset_index(drop=True)
