"""The National Impact Study's date_screened stays with a case from the first file that SENT it.

The marts judge eligibility at the quarter ends of their three-year window only, so for a family eligible since
before the window the date they give is the window's first quarter end, which moves as the window slides. On the
hand-made warehouse of tests/test_returns.py: building a return only reads the register
(returns.build.carried_screening_dates) and leaves its dates pending; the outbox step registers the dates its
files sent (register_sent_screening_dates), so a build the extract gate blocks fixes nothing, and every later
build, of the quarter or another, reads the sent date back.

Synthetic values only; assertions compare dates and counts, and print no row.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.defs.returns.assets import outbox_key, return_key, returns_assets, returns_checks
from returns.build import (
    SCREENING_PENDING_TABLE,
    SCREENING_REGISTER_TABLE,
    national_impact_study,
    register_sent_screening_dates,
)
from returns.periods import period_from_key
from returns.pseudonyms import Pseudonymiser
from tests.test_returns import KEY, PERIOD, make_settings, resources

PSEUDONYMISER = Pseudonymiser(KEY)
Q2 = period_from_key("2026-04-01")
NIS = "national_impact_study"
C3_REF = PSEUDONYMISER.ref("case", "C3")


def c3_dates(frame: pd.DataFrame) -> set[dt.date]:
    """The date_screened values of case C3's rows (its case_ref is the HMAC of its id)."""
    rows = frame[frame.case_ref == C3_REF]
    assert len(rows) == 2  # C3's family: a parent and a child
    return {pd.Timestamp(d).date() for d in rows.date_screened}


def register(con) -> dict[str, tuple[dt.date, str]]:
    """family_case_id -> (date_screened, first_reporting_period)."""
    return {r[0]: (r[1], r[2]) for r in con.execute(
        f"select family_case_id, date_screened, first_reporting_period from {SCREENING_REGISTER_TABLE}").fetchall()}


def f02_eligible_first_at(con, date: str) -> None:
    """C3's family (F02), attached 2026-05-01, met the rule at `date` too, the earliest quarter end the marts hold
    for it (the marts were built on 2026-09-30)."""
    con.execute("delete from marts.family_eligibility where family_id = 'F02' and as_at_date < date '2026-06-30'")
    con.execute(f"insert into marts.family_eligibility select family_id, date '{date}', n_headlines_met, "
                "has_dependent_child, true, priority_score, headlines_met from marts.family_eligibility "
                "where family_id = 'F02' and as_at_date = date '2026-09-30'")


def test_a_build_registers_nothing_and_a_case_keeps_the_date_its_first_sent_file_gave(tmp_path):
    settings = make_settings(tmp_path / "data")
    con = duckdb.connect(str(settings.warehouse))
    try:
        f02_eligible_first_at(con, "2023-12-31")
        built = national_impact_study(con, PERIOD, PSEUDONYMISER)
        assert c3_dates(built) == {dt.date(2023, 12, 31)}
        # built, not sent (the extract gate may still block it): pending only
        assert register(con) == {}
        assert con.execute(f"select count(*) from {SCREENING_PENDING_TABLE} "
                           "where reporting_period = ?", [PERIOD.label]).fetchall()[0][0] == 4  # C2..C5

        # the data changed before the quarter was sent: the rebuild computes afresh, replacing the pending rows
        f02_eligible_first_at(con, "2024-03-31")
        sent = national_impact_study(con, PERIOD, PSEUDONYMISER)
        assert c3_dates(sent) == {dt.date(2024, 3, 31)}
        assert con.execute(f"select count(*) from {SCREENING_PENDING_TABLE}").fetchall()[0][0] == 4
        assert register_sent_screening_dates(con, PERIOD, sent) == {"registered": 4, "differing": 0,
                                                                    "not_pending": 0}
        assert register(con)["C3"] == (dt.date(2024, 3, 31), PERIOD.label)
        # sending the same file again registers nothing new
        assert register_sent_screening_dates(con, PERIOD, sent)["registered"] == 0

        # a quarter later the marts no longer hold 2024-03-31: the computed date moves, the sent one stays
        f02_eligible_first_at(con, "2024-06-30")
        assert c3_dates(national_impact_study(con, PERIOD, PSEUDONYMISER)) == {dt.date(2024, 3, 31)}  # rebuilt
        q2 = national_impact_study(con, Q2, PSEUDONYMISER)
        assert c3_dates(q2) == {dt.date(2024, 3, 31)}  # another quarter that reports the case
        assert register_sent_screening_dates(con, Q2, q2) == {"registered": 1, "differing": 0, "not_pending": 0}
        # every case sent, once, with the quarter that first sent it (C1 closed before Q3: only Q2 has it)
        assert {case: first for case, (_, first) in register(con).items()} == {
            "C1": Q2.label, **{c: PERIOD.label for c in ("C2", "C3", "C4", "C5")}}
        assert register(con)["C3"][0] == dt.date(2024, 3, 31)
    finally:
        con.close()


def test_two_quarters_built_before_either_is_sent_the_first_sent_wins(tmp_path):
    settings = make_settings(tmp_path / "data")
    con = duckdb.connect(str(settings.warehouse))
    try:
        f02_eligible_first_at(con, "2023-12-31")
        q3 = national_impact_study(con, PERIOD, PSEUDONYMISER)
        f02_eligible_first_at(con, "2024-03-31")
        q2 = national_impact_study(con, Q2, PSEUDONYMISER)
        assert register_sent_screening_dates(con, Q2, q2)["registered"] == 2  # C1 and C3
        # Q3's rows, built earlier, carry another date for C3: the register keeps Q2's, and says so (a count)
        assert register_sent_screening_dates(con, PERIOD, q3) == {"registered": 3, "differing": 1, "not_pending": 0}
        assert register(con)["C3"] == (dt.date(2024, 3, 31), Q2.label)
        # a case_ref the period's pending rows do not name (rows of another build) is counted, not registered
        stray = q3.assign(case_ref=PSEUDONYMISER.ref("case", "C9"))
        assert register_sent_screening_dates(con, PERIOD, stray)["not_pending"] == 1
        assert "C9" not in register(con)
    finally:
        con.close()


def materialize_nis(settings, instance):
    """The NIS return, its extract gate and its outbox step for 2026-Q3, as the quarterly job runs them."""
    return dg.materialize([*returns_assets, *returns_checks], resources=resources(settings),
                          partition_key=PERIOD.partition_key, instance=instance, raise_on_error=False,
                          selection=dg.AssetSelection.assets(return_key(NIS), outbox_key(NIS)))


def test_a_build_the_extract_gate_blocks_registers_nothing_and_the_outbox_registers_what_it_sent(tmp_path):
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path / "data")
        con = duckdb.connect(str(settings.warehouse))
        f02_eligible_first_at(con, "2023-12-31")
        con.execute("update marts.family_progress set intensity = 'SUPER_INTENSIVE' where family_case_id = 'C2'")
        con.close()
        blocked = materialize_nis(settings, instance)
        assert not blocked.success
        assert [e.passed for e in blocked.get_asset_check_evaluations()] == [False]  # the NIS's extract gate
        assert outbox_key(NIS) not in {e.asset_key for e in blocked.get_asset_materialization_events()}
        # the outbox step run on its own afterwards (the UI's "materialize selected"), which its blocking check
        # cannot stop: it refuses, as the gate's verdict on the stored rows is kept beside them
        alone = dg.materialize([*returns_assets, *returns_checks], resources=resources(settings),
                               partition_key=PERIOD.partition_key, instance=instance, raise_on_error=False,
                               selection=dg.AssetSelection.assets(outbox_key(NIS)).without_checks())
        assert not alone.success
        assert not (settings.outbox_dir / PERIOD.label / "restricted").exists()
        con = duckdb.connect(str(settings.warehouse))
        assert register(con) == {}  # nothing was sent
        # the data is fixed, and what it gives C3 moved
        con.execute("update marts.family_progress set intensity = 'TARGETED' where family_case_id = 'C2'")
        f02_eligible_first_at(con, "2024-03-31")
        con.close()

        released = materialize_nis(settings, instance)
        assert released.success
        csv = settings.outbox_dir / PERIOD.label / "restricted" / f"{NIS}_{PERIOD.label}.csv"
        assert c3_dates(pd.read_csv(csv, dtype=str)) == {dt.date(2024, 3, 31)}  # not the blocked build's
        outbox = [e for e in released.get_asset_materialization_events() if e.asset_key == outbox_key(NIS)]
        assert outbox[0].materialization.metadata["screening_dates_registered"].value == 4
        con = duckdb.connect(str(settings.warehouse))
        assert register(con)["C3"] == (dt.date(2024, 3, 31), PERIOD.label)
        f02_eligible_first_at(con, "2024-06-30")  # the window moves on
        con.close()
        sent = csv.read_bytes()
        assert materialize_nis(settings, instance).success
        assert csv.read_bytes() == sent  # the rebuilt quarter sends the same bytes
