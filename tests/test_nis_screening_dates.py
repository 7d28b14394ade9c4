"""The National Impact Study's date_screened stays with a case (returns.build.carried_screening_dates).

The marts judge eligibility at the quarter ends of their three-year window only, so for a family eligible since
before the window the date they give is the window's first quarter end, which moves as the window slides. On the
hand-made warehouse of tests/test_returns.py: a family eligible at the window's first quarter end, then the window
moved on by a quarter; the case keeps the date the first return reported, in a rebuild and in another quarter.

Synthetic values only; assertions compare dates and counts, and print no row.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from returns.build import SCREENING_REGISTER_TABLE, national_impact_study
from returns.periods import period_from_key
from returns.pseudonyms import Pseudonymiser
from tests.test_returns import KEY, PERIOD, make_settings

PSEUDONYMISER = Pseudonymiser(KEY)
Q2 = period_from_key("2026-04-01")


def screened_dates(con, period) -> set[dt.date]:
    """The date_screened values of case C3's rows (its case_ref is the HMAC of its id)."""
    frame = national_impact_study(con, period, PSEUDONYMISER)
    rows = frame[frame.case_ref == PSEUDONYMISER.ref("case", "C3")]
    assert len(rows) == 2  # C3's family: a parent and a child
    return {pd.Timestamp(d).date() for d in rows.date_screened}


def test_a_case_keeps_the_date_screened_its_first_return_reported(tmp_path):
    settings = make_settings(tmp_path / "data")
    con = duckdb.connect(str(settings.warehouse))
    try:
        # C3's family (F02), attached 2026-05-01, met the rule at the window's first quarter end (built on 2026-09-30)
        con.execute("insert into marts.family_eligibility select family_id, date '2023-12-31', n_headlines_met, "
                    "has_dependent_child, true, priority_score, headlines_met from marts.family_eligibility "
                    "where family_id = 'F02' and as_at_date = date '2026-09-30'")
        assert screened_dates(con, PERIOD) == {dt.date(2023, 12, 31)}

        # a quarter later the marts no longer hold 2023-12-31; the family is eligible at the new first quarter end
        con.execute("update marts.family_eligibility set as_at_date = date '2024-03-31' "
                    "where as_at_date = date '2023-12-31'")
        computed_now = con.execute("select min(as_at_date) from marts.family_eligibility "
                                   "where family_id = 'F02' and is_sf_eligible").fetchall()[0][0]
        assert computed_now == dt.date(2024, 3, 31)  # what the marts alone would now give
        assert screened_dates(con, PERIOD) == {dt.date(2023, 12, 31)}  # a rebuild of the quarter sent
        assert screened_dates(con, Q2) == {dt.date(2023, 12, 31)}  # another quarter that reports the case

        register = con.execute(f"select family_case_id, date_screened, first_reporting_period "
                               f"from {SCREENING_REGISTER_TABLE} order by family_case_id").fetchall()
        # every case reported, once, with the quarter that first reported it (C1 closed before Q3: only Q2 has it)
        assert [(r[0], r[2]) for r in register] == [("C1", Q2.label), *((c, PERIOD.label) for c in ("C2", "C3", "C4",
                                                                                                    "C5"))]
        assert dict((r[0], r[1]) for r in register)["C3"] == dt.date(2023, 12, 31)
    finally:
        con.close()
