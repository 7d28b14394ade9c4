"""The synthetic programme feed: families are attached when three or more headlines' latent needs are active at
once, from April 2021 (Supporting Families), and a share of cases close after those needs ended and the family
stayed clear of them, so that claims can be made. Judged from the delivered CSV against the generator's truth;
assertions use counts and booleans only."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from synthetic import generate
from synthetic.feeds.programme import (NEED_HEADLINE, RESOLUTION_DAYS, SUPPORTING_FAMILIES_START, headline_runs)

PERSONS = 2000
SEED = 42
AS_AT = dt.date(2026, 9, 30)
SF_START = dt.date(2021, 4, 1)


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> pd.DataFrame:
    """One row per delivered case: family_case_id, hid, attached, closed (NaT = open)."""
    out = tmp_path_factory.mktemp("programme")
    summary = generate(persons=PERSONS, seed=SEED, out=out, as_at=AS_AT)
    with open(out / summary["feeds"]["programme_cases"]["file"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    sr = pd.read_parquet(out / "truth" / "source_records.parquet")
    sr = sr[sr["feed"] == "programme_cases"].set_index("row_number")
    delivered = pd.DataFrame(rows).assign(row_number=np.arange(1, len(rows) + 1))
    delivered = delivered[~sr.loc[delivered["row_number"], "malformed"].to_numpy()]  # broken dates on purpose
    delivered["hid"] = sr.loc[delivered["row_number"], "true_household_id"].to_numpy()
    per_case = delivered.groupby("family_case_id").agg(
        hid=("hid", "first"), households=("hid", "nunique"), attached=("attached_date", "first"),
        attached_dates=("attached_date", "nunique"), closed=("closed_date", "first"),
        children=("role", lambda r: (r == "CHILD").sum()))
    assert (per_case["households"] == 1).all() and (per_case["attached_dates"] == 1).all()
    per_case["attached"] = pd.to_datetime(per_case["attached"])
    per_case["closed"] = pd.to_datetime(per_case["closed"].replace("", None))
    per_case.attrs["truth"] = out / "truth"
    return per_case.reset_index()


def _with_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(from_date=pd.to_datetime(frame["from_date"]), to_date=pd.to_datetime(frame["to_date"]))


@pytest.fixture(scope="module")
def needs_at_attachment(cases) -> pd.DataFrame:
    """The latent needs active in each case's household on its attachment date: family_case_id, need, to
    (NaT = still going at the delivery date). Household needs, and members' own needs while they live there."""
    truth = cases.attrs["truth"]
    needs = _with_timestamps(pd.read_parquet(truth / "needs.parquet"))
    membership = _with_timestamps(pd.read_parquet(truth / "household_membership.parquet"))
    keys = cases[["family_case_id", "hid", "attached"]]
    household = keys.merge(needs[needs["true_person_id"].isna()], left_on="hid", right_on="true_household_id")
    people = keys.merge(membership, left_on="hid", right_on="true_household_id")
    people = people[(people["from_date"] <= people["attached"])
                    & (people["to_date"].isna() | (people["attached"] < people["to_date"]))]
    person = people[["family_case_id", "attached", "true_person_id"]].merge(
        needs[needs["true_person_id"].notna()], on="true_person_id")
    both = pd.concat([household, person], ignore_index=True)
    active = both[(both["from_date"] <= both["attached"])
                  & (both["to_date"].isna() | (both["attached"] < both["to_date"]))]
    return active[["family_case_id", "need", "to_date"]].rename(columns={"to_date": "to"})


def test_every_latent_need_counts_under_a_headline(cases):
    needs = pd.read_parquet(cases.attrs["truth"] / "needs.parquet")
    assert set(needs["need"]) <= set(NEED_HEADLINE)


def test_headline_runs_count_headlines_active_at_once_not_needs():
    intervals = pd.DataFrame({
        "hid": [1, 1, 1, 1, 2, 2, 2],
        "need": ["school_absence", "exclusion", "worklessness", "rent_arrears", "school_absence", "exclusion",
                 "worklessness"],
        "from": [0, 10, 20, 30, 0, 0, 0],
        "to": [100, 60, 50, 40, 100, 100, 100],
    })
    intervals["headline"] = intervals["need"].map(NEED_HEADLINE)
    runs = headline_runs(intervals)
    # household 1: education from day 0, finance 20-50, housing 30-40: three headlines only on [30, 40)
    # household 2: two needs under education and one under finance make two headlines, never three
    assert runs[["hid", "from", "to"]].values.tolist() == [[1, 30, 40]]
    runs = headline_runs(intervals, min_headlines=2)
    assert runs[["hid", "from", "to"]].values.tolist() == [[1, 20, 50], [2, 0, 100]]


def test_attachments_from_supporting_families_start_with_a_child(cases):
    assert len(cases) >= 8
    assert SUPPORTING_FAMILIES_START == (SF_START - dt.date(1970, 1, 1)).days
    assert (cases["attached"] >= pd.Timestamp(SF_START)).all()
    assert (cases["attached"] <= pd.Timestamp(AS_AT)).all()
    assert (cases["children"] >= 1).all()
    closed = cases.dropna(subset=["closed"])
    assert (closed["closed"] > closed["attached"]).all()
    assert (closed["closed"] <= pd.Timestamp(AS_AT)).all()  # a case closing later is open at the delivery date
    # the first attachments do not all fall on the programme's first day
    assert cases["attached"].nunique() > len(cases) * 0.8


def test_each_family_has_three_headlines_of_latent_needs_active_at_attachment(cases, needs_at_attachment):
    headlines = (needs_at_attachment.assign(headline=needs_at_attachment["need"].map(NEED_HEADLINE))
                 .groupby("family_case_id")["headline"].nunique())
    assert headlines.reindex(cases["family_case_id"], fill_value=0).min() >= 3


def test_a_share_of_cases_closes_after_its_needs_ended_and_stayed_clear(cases, needs_at_attachment):
    ongoing = needs_at_attachment["to"].isna()
    needs_end = (needs_at_attachment.assign(to=needs_at_attachment["to"].where(~ongoing, pd.Timestamp("2100-01-01")))
                 .groupby("family_case_id")["to"].max().reindex(cases["family_case_id"]).to_numpy())
    closed = cases["closed"].notna().to_numpy()
    after_needs = closed & (cases["closed"].to_numpy() >= needs_end + pd.Timedelta(days=RESOLUTION_DAYS))
    with_needs_ongoing = closed & (cases["closed"].to_numpy() < needs_end)
    assert 0.25 <= after_needs.mean() <= 0.75
    assert with_needs_ongoing.any()  # support does not always work
    assert (~closed).any()  # and some cases are still open at the delivery date


def test_a_family_is_not_attached_twice_at_once(cases):
    ordered = cases.sort_values(["hid", "attached"])
    previous_closed = ordered.groupby("hid")["closed"].shift()
    again = ordered[ordered["hid"].duplicated()]
    assert (again["attached"] > previous_closed.loc[again.index]).all()
