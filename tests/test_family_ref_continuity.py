"""A family keeps its family_ref across quarters (returns/family_refs.py): the rules on small hand-made registers,
then real Dagster materialisations of two quarters on the hand-made warehouse of tests/test_returns.py, where a
later delivery changes a reported family's internal id and splits a child off into a household of its own.

Synthetic values only; assertions compare refs and counts, and print no row.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from returns.family_refs import (
    LINEAGE_TABLE,
    REGISTER_COLUMNS,
    REGISTER_TABLE,
    carry_family_refs,
    issue_ref,
)
from returns.periods import period_from_key
from returns.pseudonyms import Pseudonymiser
from tests.test_returns import KEY, build_analyst, make_settings, resources

PSEUDONYMISER = Pseudonymiser(KEY)


def current(*cases: tuple[str, str, list[str]]) -> pd.DataFrame:
    """(case id, family unit id, member person ids) -> the rows carry_family_refs reads for a period."""
    return pd.DataFrame([(case, unit, person) for case, unit, members in cases for person in members],
                        columns=["family_case_id", "family_unit_id", "person_id"])


def resolve(period: str, cases: pd.DataFrame, history: pd.DataFrame | None = None):
    history = pd.DataFrame(columns=list(REGISTER_COLUMNS)) if history is None else history
    return carry_family_refs(period, cases, history, PSEUDONYMISER)


def refs(resolved) -> dict[str, str]:
    return resolved.ref_of_case()


# --- the rules -----------------------------------------------------------------------------------------------------

def test_a_first_period_issues_the_hmac_of_each_family_unit():
    q2 = resolve("2026-Q2", current(("C1", "F1", ["P1", "P2"]), ("C2", "F1", ["P1", "P2"]), ("C3", "F2", ["P3"])))
    assert refs(q2) == {"C1": PSEUDONYMISER.ref("family", "F1"), "C2": PSEUDONYMISER.ref("family", "F1"),
                        "C3": PSEUDONYMISER.ref("family", "F2")}
    assert set(q2.register.basis) == {"new"} and q2.lineage.empty


def test_a_changed_family_id_keeps_the_ref_by_case_by_family_or_by_members():
    q2 = resolve("2026-Q2", current(("C1", "F1", ["P1", "P2", "P3"]), ("C2", "F2", ["P4", "P5"])))
    # a later delivery: C1's household episode started earlier (new id); C2 closed; C9 is a new case of F2's
    # family, whose id also changed, and C8 a new case for a family never reported
    q3 = resolve("2026-Q3", current(("C1", "F1-earlier", ["P1", "P2", "P3", "P6"]),
                                    ("C9", "F2-moved", ["P4", "P5", "P7"]), ("C8", "F8", ["P8"])), q2.register)
    assert refs(q3) == {"C1": refs(q2)["C1"], "C9": refs(q2)["C2"], "C8": PSEUDONYMISER.ref("family", "F8")}
    assert dict(zip(q3.register.family_case_id, q3.register.basis)) == {"C1": "case", "C9": "members", "C8": "new"}
    assert q3.lineage.empty  # no family split or merged: nothing for the department to relink

    # a new case of a family reported before under the same household family id keeps its ref too
    q4 = resolve("2026-Q4", current(("C10", "F8", ["P9"])), pd.concat([q2.register, q3.register]))
    assert refs(q4) == {"C10": refs(q3)["C8"]} and q4.register.basis.tolist() == ["family"]


def test_a_weak_overlap_is_a_new_family_not_a_carried_one():
    q2 = resolve("2026-Q2", current(("C1", "F1", ["P1", "P2", "P3", "P4"])))
    # one former member with a new partner and baby: 1 shared of the smaller family's 3 is under half
    q3 = resolve("2026-Q3", current(("C2", "F5", ["P1", "P10", "P11"])), q2.register)
    assert refs(q3)["C2"] != refs(q2)["C1"]
    assert q3.register.basis.tolist() == ["new"] and q3.lineage.empty


def test_a_real_split_gives_a_new_ref_and_a_lineage_row():
    q2 = resolve("2026-Q2", current(("C1", "F1", ["P1", "P2", "P3", "P4"])))
    # the parents separate: C1 stays with P1 and P2; P3 and P4 form a household with a case of their own
    q3 = resolve("2026-Q3", current(("C1", "F1b", ["P1", "P2"]), ("C7", "F7", ["P3", "P4"])), q2.register)
    kept, split = refs(q3)["C1"], refs(q3)["C7"]
    assert kept == refs(q2)["C1"] and split != kept
    assert q3.lineage[["change", "family_ref", "related_family_ref", "n_shared_members"]].values.tolist() == [
        ["split", split, kept, 2]]
    assert "2026-Q2" in q3.lineage.reason.iloc[0] and "P3" not in q3.lineage.reason.iloc[0]
    assert q3.change_of_ref() == {split: ("split", [kept])}


def test_a_merge_keeps_one_ref_and_records_the_other():
    q2 = resolve("2026-Q2", current(("C1", "F1", ["P1", "P2", "P3"]), ("C2", "F2", ["P4", "P5"])))
    q3 = resolve("2026-Q3", current(("C1", "F3", ["P1", "P2", "P3", "P4", "P5"]),
                                    ("C2", "F3", ["P1", "P2", "P3", "P4", "P5"])), q2.register)
    kept, merged = refs(q2)["C1"], refs(q2)["C2"]  # the ref sharing most members stays
    assert refs(q3) == {"C1": kept, "C2": kept}
    assert q3.lineage[["change", "family_ref", "related_family_ref"]].values.tolist() == [["merged", kept, merged]]


def test_an_id_change_and_a_new_family_on_the_old_id_never_share_a_ref():
    q2 = resolve("2026-Q2", current(("C1", "F1", ["P1", "P2"])))
    # C1's family now has another id, and a different household took F1's id with a new case: the case keeps
    # the ref; the newcomer, whose own HMAC is taken, gets a salted one and a lineage row (the id was evidence)
    q3 = resolve("2026-Q3", current(("C1", "F1b", ["P1", "P2"]), ("C5", "F1", ["P8"])), q2.register)
    assert refs(q3)["C1"] == refs(q2)["C1"] == PSEUDONYMISER.ref("family", "F1")
    assert refs(q3)["C5"] == issue_ref(PSEUDONYMISER, "F1", {refs(q2)["C1"]}) != refs(q3)["C1"]
    assert q3.lineage.change.tolist() == ["split"]


def test_the_same_inputs_give_the_same_refs_whatever_the_order_and_a_built_period_keeps_its_refs():
    q2 = resolve("2026-Q2", current(("C1", "F1", ["P1", "P2", "P3", "P4"])))
    cases = current(("C1", "F1b", ["P1", "P2"]), ("C7", "F7", ["P3", "P4"]), ("C8", "F8", ["P9"]))
    first = resolve("2026-Q3", cases, q2.register)
    shuffled = resolve("2026-Q3", cases.sample(frac=1, random_state=3), q2.register.iloc[::-1])
    assert refs(first) == refs(shuffled)
    # rebuilding Q3 after its family ids changed again: every case keeps the ref Q3 was built with
    rebuilt = resolve("2026-Q3", current(("C1", "F1c", ["P1"]), ("C7", "F1c", ["P3"]), ("C8", "F9", ["P9"])),
                      pd.concat([q2.register, first.register]))
    assert refs(rebuilt) == refs(first)
    assert dict(zip(rebuilt.register.family_case_id, rebuilt.register.basis)) == {"C1": "case", "C7": "split",
                                                                                  "C8": "new"}
    assert rebuilt.lineage.empty


# --- two quarters of real returns --------------------------------------------------------------------------------

Q2, Q3 = period_from_key("2026-Q2"), period_from_key("2026-Q3")


def redeliver(warehouse) -> None:
    """A later delivery: C3's household episode starts earlier (F02 -> F02b in every mart, for both quarter ends),
    and a child of that family (P005) moves to a household of their own, F06, with a new case C6 attached in Q3."""
    con = duckdb.connect(str(warehouse))
    try:
        for table in ("dim_family", "family_membership", "fct_event", "family_chronology", "family_eligibility",
                      "family_criteria", "family_progress"):
            con.execute(f"update marts.{table} set family_id = 'F02b' where family_id = 'F02'")
        con.execute("insert into marts.dim_family select * replace ('F06' as family_id) from marts.dim_family "
                    "where family_id = 'F02b'")
        con.execute("update marts.family_membership set valid_to = date '2026-07-31' where person_id = 'P005'")
        con.execute("insert into marts.family_membership select * replace ('F06' as family_id, "
                    "date '2026-08-01' as valid_from) from marts.family_membership where person_id = 'P005'")
        con.execute("insert into marts.family_progress select * replace ('C6' as family_case_id, 'F06' as family_id, "
                    "date '2026-08-01' as attached_date) from marts.family_progress "
                    "where family_case_id = 'C3' and as_at_date = date '2026-09-30'")
        con.execute("insert into intermediate.int_criteria__programme_case_members values ('C6', 'P005', 'CHILD')")
    finally:
        con.close()


def read(settings, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def fpd(settings, period) -> pd.DataFrame:
    return pd.read_csv(settings.outbox_dir / period.label / f"family_progress_data_{period.label}.csv", dtype=str)


def materialize_returns(settings, instance, period):
    """The three returns of a period, their extract gates and their outbox files (an outbox step writes only rows
    its gate passed)."""
    import dagster as dg

    from orchestration.defs.returns.assets import RETURN_NAMES, outbox_key, return_key, returns_assets, returns_checks

    selection = dg.AssetSelection.assets(*[k(n) for n in RETURN_NAMES for k in (return_key, outbox_key)])
    return dg.materialize([*returns_assets, *returns_checks], resources=resources(settings), instance=instance,
                          partition_key=period.partition_key, raise_on_error=False,
                          selection=selection)


@pytest.fixture(scope="module")
def two_quarters(tmp_path_factory):
    """Q2 built, the later delivery, Q3 built (with its extract gates), Q2 rebuilt, the analyst schema built."""
    import dagster as dg

    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path_factory.mktemp("family_refs") / "data")
        runs = {"q2": materialize_returns(settings, instance, Q2)}
        q2_files = outbox_files_of(settings, Q2)
        redeliver(settings.warehouse)
        runs["q3"] = materialize_returns(settings, instance, Q3)
        runs["q2_again"] = materialize_returns(settings, instance, Q2)
        runs["analyst"] = build_analyst(settings)
        yield settings, runs, q2_files


def outbox_files_of(settings, period) -> dict[str, str]:
    import returns.writers as writers

    base = settings.outbox_dir / period.label
    return {p.relative_to(base).as_posix(): writers.sha256_file(p) for p in sorted(base.rglob("*"))
            if p.is_file() and p.name != writers.MANIFEST}


def test_a_reported_family_keeps_its_ref_after_its_id_changes_and_a_split_is_recorded(two_quarters):
    settings, runs, _ = two_quarters
    assert all(r.success for r in runs.values())
    gates = runs["q3"].get_asset_check_evaluations()  # the new columns pass the spec
    assert len(gates) == 3 and all(g.passed for g in gates)
    q2, q3 = fpd(settings, Q2), fpd(settings, Q3)
    case_ref = {c: PSEUDONYMISER.ref("case", c) for c in ("C3", "C6")}
    c3_ref = q2.set_index("case_ref").family_ref[case_ref["C3"]]
    assert c3_ref == PSEUDONYMISER.ref("family", "F02")  # issued in Q2 from the id of the day
    by_case = q3.set_index("case_ref")
    assert by_case.family_ref[case_ref["C3"]] == c3_ref != PSEUDONYMISER.ref("family", "F02b")
    assert pd.isna(by_case.family_ref_change[case_ref["C3"]])
    split = by_case.loc[case_ref["C6"]]
    assert split.family_ref not in set(q2.family_ref) and split.family_ref != c3_ref
    assert (split.family_ref_change, split.previous_family_refs) == ("SPLIT", c3_ref)
    assert q3.family_ref_change.notna().sum() == 1

    lineage = read(settings, f"select reporting_period, change, family_ref, related_family_ref, n_shared_members "
                             f"from {LINEAGE_TABLE}")
    assert lineage == [("2026-Q3", "split", split.family_ref, c3_ref, 1)]
    # the other returns of the quarter name the same refs
    nis = pd.read_csv(settings.outbox_dir / "2026-Q3" / "restricted" / "national_impact_study_2026-Q3.csv", dtype=str)
    assert dict(zip(nis.case_ref, nis.family_ref)) == dict(zip(q3.case_ref, q3.family_ref))
    registered = read(settings, f"select reporting_period, count(*), count(distinct family_ref) from {REGISTER_TABLE} "
                                "group by 1 order by 1")
    assert registered == [("2026-Q2", 2, 2), ("2026-Q3", 5, 5)]


def test_a_rebuilt_quarter_keeps_its_refs_byte_for_byte(two_quarters):
    settings, _, q2_files = two_quarters
    assert outbox_files_of(settings, Q2) == q2_files
    assert read(settings, f"select count(*) from {LINEAGE_TABLE} where reporting_period = '2026-Q2'") == [(0,)]


def test_the_analyst_copy_names_families_by_the_refs_the_returns_used(two_quarters):
    settings, _, _ = two_quarters
    q3 = fpd(settings, Q3)
    analyst = dict(read(settings, "select p.internal_id, p.ref from restricted.pseudonyms p where p.kind = 'family'"))
    assert analyst["F02b"] == q3.set_index("case_ref").family_ref[PSEUDONYMISER.ref("case", "C3")]
    assert analyst["F06"] == q3.set_index("case_ref").family_ref[PSEUDONYMISER.ref("case", "C6")]
    assert len(set(analyst.values())) == len(analyst)  # one ref per family
    in_analyst = {r[0] for r in read(settings, "select family_ref from analyst.dim_family")}
    assert set(q3.family_ref) <= in_analyst  # every family of the return is found in the analyst copy


# --- refs become commitments when a return is sent --------------------------------------------------------------

NAMES = ("family_progress_data", "national_impact_study", "results_claims")


def materialize(settings, instance, period, *keys):
    import dagster as dg

    from orchestration.defs.returns.assets import returns_assets, returns_checks

    return dg.materialize([*returns_assets, *returns_checks], resources=resources(settings), instance=instance,
                          partition_key=period.partition_key, raise_on_error=False,
                          selection=dg.AssetSelection.assets(*keys))


def register_of(settings, period) -> dict[str, int]:
    """status -> rows of the period's register."""
    return dict(read(settings, f"select status, count(*) from {REGISTER_TABLE} where reporting_period = ? group by 1",
                     [period.label]))


def test_a_build_the_extract_gate_blocks_commits_no_ref_and_no_split(tmp_path):
    """Q3's Family Progress Data built on data that splits a child's household off (C6) and fails its gate: its
    refs and the split are recorded, unsent. The data is fixed (C6 was keyed in error and is withdrawn): the
    rebuild resolves afresh, and the split the blocked build saw reaches neither the lineage nor the file."""
    import dagster as dg

    from orchestration.defs.returns.assets import outbox_key, return_key

    fpd_keys = (return_key("family_progress_data"), outbox_key("family_progress_data"))
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path / "data")
        assert materialize_returns(settings, instance, Q2).success
        assert register_of(settings, Q2) == {"sent": 2}
        redeliver(settings.warehouse)
        con = duckdb.connect(str(settings.warehouse))
        con.execute("update marts.family_progress set intensity = 'SUPER_INTENSIVE' where family_case_id = 'C2'")
        con.close()
        blocked = materialize(settings, instance, Q3, *fpd_keys)
        assert not blocked.success and [g.passed for g in blocked.get_asset_check_evaluations()] == [False]
        materialised = {e.asset_key for e in blocked.get_asset_materialization_events()}
        assert outbox_key("family_progress_data") not in materialised
        assert register_of(settings, Q3) == {"blocked": 5}
        assert read(settings, f"select change, status from {LINEAGE_TABLE}") == [("split", "blocked")]

        con = duckdb.connect(str(settings.warehouse))
        con.execute("update marts.family_progress set intensity = 'TARGETED' where family_case_id = 'C2'")
        con.execute("delete from marts.family_progress where family_case_id = 'C6'")
        con.close()
        released = materialize(settings, instance, Q3, *fpd_keys)
        assert released.success
        assert register_of(settings, Q3) == {"sent": 4}
        assert read(settings, f"select count(*) from {LINEAGE_TABLE}") == [(0,)]  # no split was ever sent
        assert fpd(settings, Q3).family_ref_change.isna().all()
        sent = [e.materialization.metadata for e in released.get_asset_materialization_events()
                if e.asset_key == outbox_key("family_progress_data")][0]
        assert sent["family_refs_sent"].value == 4 and sent["family_refs_not_registered"].value == 0


def test_rows_built_before_another_return_resolved_the_quarter_again_are_not_sent(tmp_path):
    """Q3's Family Progress Data built; a delivery changes C3's family id; Q3's NIS built (nothing of Q3 was sent,
    so it resolves afresh) and sent. The FPD's outbox step on its older rows refuses: nothing written. Rebuilt, the
    FPD reads the sent refs back and names every case as the NIS did."""
    import dagster as dg

    from orchestration.defs.returns.assets import outbox_key, return_key

    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path / "data")
        assert materialize(settings, instance, Q3, return_key("family_progress_data")).success
        redeliver(settings.warehouse)
        assert materialize(settings, instance, Q3, return_key(NAMES[1]), outbox_key(NAMES[1])).success
        stale = materialize(settings, instance, Q3, outbox_key("family_progress_data"))
        assert not stale.success
        assert not (settings.outbox_dir / Q3.label / f"family_progress_data_{Q3.label}.csv").exists()
        rebuilt = materialize(settings, instance, Q3, return_key(NAMES[0]), outbox_key(NAMES[0]))
        assert rebuilt.success
        nis = pd.read_csv(settings.outbox_dir / Q3.label / "restricted" / f"{NAMES[1]}_{Q3.label}.csv", dtype=str)
        q3 = fpd(settings, Q3)
        assert dict(zip(q3.case_ref, q3.family_ref)) == dict(zip(nis.case_ref, nis.family_ref))
        assert q3.set_index("case_ref").family_ref[PSEUDONYMISER.ref("case", "C3")] == PSEUDONYMISER.ref(
            "family", "F02b")  # as the NIS sent it: nothing was sent under F02's ref


def test_a_quarter_built_after_an_unsent_one_carries_its_refs(tmp_path):
    """Q2's returns built but not yet sent; a delivery changes C3's family id; Q3 built and sent; then Q2 sent.
    Q3 carries C3's ref from Q2's rows, sent or not, so both quarters name C3's family alike."""
    import dagster as dg

    from orchestration.defs.returns.assets import outbox_key, return_key

    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path / "data")
        assert materialize(settings, instance, Q2, *[return_key(n) for n in NAMES]).success
        redeliver(settings.warehouse)
        assert materialize_returns(settings, instance, Q3).success
        assert materialize(settings, instance, Q2, *[outbox_key(n) for n in NAMES]).success
        c3 = PSEUDONYMISER.ref("case", "C3")
        refs = {fpd(settings, q).set_index("case_ref").family_ref[c3] for q in (Q2, Q3)}
        assert refs == {PSEUDONYMISER.ref("family", "F02")}
        assert register_of(settings, Q2) == {"sent": 2} and register_of(settings, Q3) == {"sent": 5}


def test_a_send_is_refused_when_its_cases_or_changes_are_not_the_registers_and_marks_only_what_it_names():
    from returns.family_refs import _create_tables, send_period_refs

    con = duckdb.connect()
    _create_tables(con)
    con.execute(f"insert into {REGISTER_TABLE} ({', '.join(REGISTER_COLUMNS)}, status) values "
                "('2026-Q3', 'C1', 'F1', 'R1', 'new', ['P1'], 'built'), "
                "('2026-Q3', 'C2', 'F2', 'R2', 'split', ['P2'], 'built')")
    con.execute(f"insert into {LINEAGE_TABLE} values ('2026-Q3', 'split', 'R2', 'R0', 1, 'why', 'built')")
    case = {c: PSEUDONYMISER.ref("case", c) for c in ("C1", "C2", "C3")}

    def send(*rows, period="2026-Q3"):
        columns = ["case_ref", "family_ref", "family_ref_change", "previous_family_refs"][:len(rows[0])]
        return send_period_refs(con, period, pd.DataFrame(rows, columns=columns), PSEUDONYMISER)

    refused = [send((case["C1"], "R2"), (case["C2"], "R2")),  # C1 under C2's ref: a set of refs would pass it
               send((case["C3"], "R1")),  # a case the register does not hold
               send((case["C1"], "R1"), period="2026-Q4"),
               send((case["C2"], "R2", None, None), ),  # a split the file does not report
               send((case["C2"], "R2", "MERGED", "R0"))]
    assert [r["family_refs_not_registered"] for r in refused] == [1, 1, 1, 1, 1]
    status = f"select family_case_id, status from {REGISTER_TABLE} order by 1"
    assert con.execute(status).fetchall() == [("C1", "built"), ("C2", "built")]  # nothing marked
    # a claims file naming C1 only (one row per member) commits C1's ref alone, not C2's nor its split
    assert send((case["C1"], "R1"), (case["C1"], "R1")) == {"family_refs_not_registered": 0, "family_refs_sent": 1}
    assert con.execute(status).fetchall() == [("C1", "sent"), ("C2", "built")]
    assert con.execute(f"select status from {LINEAGE_TABLE}").fetchall() == [("built",)]
    # a file that reports no changes (the NIS, a claims file) commits C2's ref, not the split it came from
    assert send((case["C2"], "R2"))["family_refs_sent"] == 1
    assert con.execute(f"select status from {LINEAGE_TABLE}").fetchall() == [("built",)]
    assert send((case["C2"], "R2", "SPLIT", "R0"))["family_refs_sent"] == 1  # the Family Progress Data does
    assert con.execute(f"select status from {LINEAGE_TABLE}").fetchall() == [("sent",)]


def test_a_blocked_build_neither_drops_a_sent_ref_nor_lends_its_refs_to_another_quarter(tmp_path):
    """Q3 sent (C6 split off under its own ref). A bad delivery drops C6 and fails Q3's gate: C6's sent row stays.
    Then Q2 built on a bad delivery (C3 put in C1's household), blocked: Q4 built meanwhile does not carry the
    blocked rows. Fixed and rebuilt, every quarter names C3 and C6 as Q3 sent them."""
    import dagster as dg

    from orchestration.defs.returns.assets import outbox_key, return_key

    fpd_keys = (return_key(NAMES[0]), outbox_key(NAMES[0]))
    c3, c6 = PSEUDONYMISER.ref("case", "C3"), PSEUDONYMISER.ref("case", "C6")
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path / "data")
        redeliver(settings.warehouse)
        assert materialize_returns(settings, instance, Q3).success
        sent = fpd(settings, Q3).set_index("case_ref").family_ref
        con = duckdb.connect(str(settings.warehouse))
        con.execute("create table main.kept_c6 as select * from marts.family_progress where family_case_id = 'C6'")
        con.execute("delete from marts.family_progress where family_case_id = 'C6'")
        con.execute("update marts.family_progress set intensity = 'SUPER_INTENSIVE' where family_case_id = 'C2'")
        con.close()
        assert not materialize(settings, instance, Q3, *fpd_keys).success
        assert read(settings, f"select status from {REGISTER_TABLE} where family_case_id = 'C6'") == [("sent",)]
        # Q2 on a bad delivery that puts C3 in C1's household, blocked
        con = duckdb.connect(str(settings.warehouse))
        con.execute("insert into marts.family_progress select * from main.kept_c6")
        con.execute("update marts.family_progress set intensity = 'TARGETED' where family_case_id = 'C2'")
        con.execute("update marts.family_progress set family_id = 'F00', intensity = 'SUPER_INTENSIVE' "
                    "where family_case_id in ('C1', 'C3') and as_at_date = date '2026-06-30'")
        con.close()
        assert not materialize(settings, instance, Q2, *fpd_keys).success
        assert register_of(settings, Q2) == {"blocked": 2}
        con = duckdb.connect(str(settings.warehouse))
        con.execute("update marts.family_progress set family_id = 'F02', intensity = 'TARGETED' "
                    "where family_case_id = 'C3' and as_at_date = date '2026-06-30'")
        con.execute("update marts.family_progress set family_id = 'F00', intensity = 'TARGETED' "
                    "where family_case_id = 'C1' and as_at_date = date '2026-06-30'")
        con.close()
        assert materialize_returns(settings, instance, Q2).success
        assert materialize_returns(settings, instance, Q3).success
        q2, q3 = fpd(settings, Q2).set_index("case_ref"), fpd(settings, Q3).set_index("case_ref")
        assert q3.family_ref[c3] == q2.family_ref[c3] == sent[c3] and q3.family_ref[c6] == sent[c6]
        assert q2.family_ref[PSEUDONYMISER.ref("case", "C1")] == PSEUDONYMISER.ref("family", "F00")
        assert read(settings, f"select count(*) from {LINEAGE_TABLE}") == [(0,)]  # no blocked split was kept
