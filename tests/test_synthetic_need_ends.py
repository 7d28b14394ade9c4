"""The synthetic feeds end their records when the need behind them ends, give or take a realistic lag: a PIP award,
a child in need or child protection plan, a health service's discharge. Records that outlived their latent need by
months (or for ever: PIP never ended) kept needs 'met' at programme closure and its six-month check, where the claim
rule reads them. A legacy benefit migrating to UC in the last month before the extract still gives the UC claim
after it. Judged from the delivered files against the generator's truth; counts and booleans only."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from orchestration.cli import DEFAULT_DEMO_PERSONS, DEFAULT_SEED
from synthetic import WINDOW_START, _streams, generate
from synthetic import needs as needs_mod
from synthetic import population
from synthetic.dates import to_days
from synthetic.feeds import Context, dwp
from synthetic.feeds.dwp import PIP_AWARD_END_LAG_DAYS
from synthetic.feeds.health import DISCHARGE_AFTER_NEED_DAYS

PERSONS = 2000
SEED = 42
AS_AT = dt.date(2026, 9, 30)
# a plan ends at the first review after its need ends (CIN reviews every 6-12 weeks, a CP review brought forward
# 2-8 weeks), or at its own first review when the need eased before the plan began: never four months on
PLAN_MAX_DAYS_PAST_NEED = 120
SERVICE_NEED = {"ADULT_MH": "mental_health", "SUBSTANCE_MISUSE": "substance_misuse",
                "CAMHS": "child_mental_health", "PERINATAL_MH": "perinatal_mental_health"}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("need_ends")
    generate(persons=PERSONS, seed=SEED, out=out, as_at=AS_AT)
    return out


@pytest.fixture(scope="module")
def needs(out) -> pd.DataFrame:
    needs = pd.read_parquet(out / "truth" / "needs.parquet")
    return needs.assign(from_date=pd.to_datetime(needs["from_date"]), to_date=pd.to_datetime(needs["to_date"]))


def _delivered(out, feed: str, dates: dict[str, str]) -> pd.DataFrame:
    """A delivered CSV's well-formed rows with their true person and household; dates parsed (blank = NaT)."""
    (path,) = (out / "landing" / feed).glob("*.csv")
    with open(path, newline="", encoding="utf-8") as f:
        frame = pd.DataFrame(list(csv.DictReader(f)))
    sr = pd.read_parquet(out / "truth" / "source_records.parquet")
    sr = sr[sr["feed"] == feed].set_index("row_number").sort_index()
    frame = frame.assign(pid=sr["true_person_id"].to_numpy(), hid=sr["true_household_id"].to_numpy())
    frame = frame[~sr["malformed"].to_numpy()].copy()  # broken dates on purpose
    for column, fmt in dates.items():
        frame[column] = pd.to_datetime(frame[column].replace("", None), format=fmt)
    return frame.reset_index(drop=True)


def _latest_need_end(records: pd.DataFrame, needs: pd.DataFrame, on: str, start: str) -> pd.DataFrame:
    """Each record (by its index) with the latest end among the matched needs that began on or before its start:
    columns rec, need_to (NaT = a need still going at the delivery date), matched (whether any need matched)."""
    x = records.reset_index(names="rec").merge(needs, on=on)
    x = x[x["from_date"] <= x[start]]
    ongoing = x.groupby("rec")["to_date"].apply(lambda s: s.isna().any())
    latest = x.groupby("rec")["to_date"].max().where(~ongoing, pd.NaT)
    return pd.DataFrame({"rec": records.index, "need_to": latest.reindex(records.index).to_numpy(),
                         "matched": records.index.isin(ongoing.index)})


def _runs_past_need(end: pd.Series, need_to: pd.Series, max_days: int) -> np.ndarray:
    """Records that end more than max_days after their need ended, or stay open though it ended long enough before
    the delivery date to have closed them."""
    ended = need_to.notna().to_numpy()
    deadline = need_to + pd.Timedelta(days=max_days)
    late = ended & end.notna().to_numpy() & (end > deadline).to_numpy()
    open_on = ended & end.isna().to_numpy() & (deadline < pd.Timestamp(AS_AT)).to_numpy()
    return late | open_on


def test_pip_awards_end_at_a_review_after_the_health_need(out, needs):
    claims = _delivered(out, "dwp_benefits", {"CLAIM_START": "%Y%m%d", "CLAIM_END": "%Y%m%d"})
    pip = claims[claims["BENEFIT"] == "PIP"].reset_index(drop=True)
    health = needs[needs["need"].isin(["mental_health", "substance_misuse"])].rename(
        columns={"true_person_id": "pid"})
    m = _latest_need_end(pip, health, "pid", "CLAIM_START")
    unmatched, ended = int((~m["matched"]).sum()), int(pip["CLAIM_END"].notna().sum())
    assert len(pip) >= 10 and unmatched == 0  # every award rests on a health need that began before it
    assert ended >= 5  # some awards have ended: the end is exercised, not only open ones
    late = int(_runs_past_need(pip["CLAIM_END"], m["need_to"], PIP_AWARD_END_LAG_DAYS[1]).sum())
    assert late == 0, f"{late} of {len(pip)} PIP awards run on past their need"


def test_child_in_need_and_protection_plans_close_at_the_review_after_the_need(out, needs):
    episodes = _delivered(out, "csc_episodes", {"START_DATE": "%d/%m/%Y", "END_DATE": "%d/%m/%Y"})
    plans = episodes[episodes["EPISODE_TYPE"].isin(["CIN", "CPP"])].reset_index(drop=True)
    membership = pd.read_parquet(out / "truth" / "household_membership.parquet")
    # the needs behind a plan: the child welfare or domestic abuse needs of any household the child lived in
    homes = membership[["true_person_id", "true_household_id"]].drop_duplicates().rename(
        columns={"true_person_id": "pid"})
    family = needs[needs["need"].isin(["child_welfare", "domestic_abuse"]) & needs["true_person_id"].isna()]
    behind = homes.merge(family.drop(columns="true_person_id"), on="true_household_id")
    m = _latest_need_end(plans, behind, "pid", "START_DATE")
    unmatched, cp_plans = int((~m["matched"]).sum()), int((plans["EPISODE_TYPE"] == "CPP").sum())
    assert cp_plans >= 5 and unmatched == 0
    late = int(_runs_past_need(plans["END_DATE"], m["need_to"], PLAN_MAX_DAYS_PAST_NEED).sum())
    assert late == 0, f"{late} of {len(plans)} plans run on past their need"


def test_health_services_discharge_a_few_weeks_after_the_need(out, needs):
    referrals = _delivered(out, "health_services", {"Referral Date": "%d/%m/%Y", "Discharge Date": "%d/%m/%Y"})
    referrals["need"] = referrals["Service"].map(SERVICE_NEED)
    m = _latest_need_end(referrals, needs.rename(columns={"true_person_id": "pid"}), ["pid", "need"], "Referral Date")
    unmatched = int((~m["matched"]).sum())
    assert len(referrals) >= 50 and unmatched == 0
    late = int(_runs_past_need(referrals["Discharge Date"], m["need_to"], DISCHARGE_AFTER_NEED_DAYS[1]).sum())
    assert late == 0, f"{late} of {len(referrals)} referrals are discharged long after their need"


def test_a_migration_in_the_last_month_still_gives_the_uc_claim_after_it():
    # late migrations are rare (two on the demo's data, none on the tests' 2,000 persons): build the demo's DWP feed
    rng_for = _streams(DEFAULT_SEED)
    w0, w1 = to_days(WINDOW_START), to_days(AS_AT)
    pop = population.build(DEFAULT_DEMO_PERSONS, w0, w1, rng_for)
    latent = needs_mod.build(pop, rng_for)
    feed = dwp.build(Context(pop, latent, rng_for, w0, w1))[0]
    c = {col.name: np.asarray(col.values) for col in feed.cols}
    claims = pd.DataFrame({"pid": feed.pid, "benefit": c["BENEFIT"], "start": c["CLAIM_START"],
                           "end": c["CLAIM_END"]})
    legacy = claims[claims["benefit"].isin(["ESA", "JSA", "IS"]) & (claims["end"] < w1)]
    workless = latent.of("worklessness")[["pid", "from", "to"]]
    # legacy claims that ended while their person's worklessness went on: a migration (or a break in the claim)
    going_on = legacy.reset_index(names="claim").merge(workless, on="pid")
    going_on = going_on[(going_on["from"] <= going_on["end"]) & (going_on["end"] + 1 < going_on["to"])]
    late = going_on[going_on["end"] >= w1 - 30]
    assert len(going_on) >= 50 and len(late) >= 1
    uc = claims[claims["benefit"] == "UC"]
    after = going_on.merge(uc, on="pid", suffixes=("", "_uc"))
    after = after[(after["start_uc"] > after["end"]) & (after["start_uc"] < w1)]
    not_followed = len(set(going_on["claim"]) - set(after["claim"]))
    assert not_followed == 0  # every one of them is followed by a UC claim
    next_day = after[after["start_uc"] == after["end"] + 1]
    late_without = len(set(late["claim"]) - set(next_day["claim"]))
    assert late_without == 0  # the late ones by the migration itself, the next day
