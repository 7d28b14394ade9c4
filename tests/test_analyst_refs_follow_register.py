"""The analyst copy names a family by the ref the returns issued for the quarter as soon as the quarter's returns
are built, not one warehouse build later.

analyst/schema is rebuilt by every warehouse build, before the quarterly returns. On the hand-made warehouse of
tests/test_returns.py: Q2's returns are built, a later delivery changes a reported family's internal id (and splits
a child off, tests/test_family_ref_continuity.py's redeliver), the warehouse build rebuilds the analyst copy (which
then shows the family under HMAC of its new id), and Q3's returns and workbook are built. After them every
analyst reader (analyst.*, restricted.pseudonyms, the analysts' database file, Q3's workbook) must use the refs
the register issued for Q3.

Synthetic values only; assertions compare refs and counts, and print no row.
"""

from __future__ import annotations

import logging

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.defs.returns.assets import ANALYST_SCHEMA, outbox_key, return_key, returns_assets, returns_checks
from returns.schemas import ANALYST_DATABASE_FILE
from returns.writers import sha256_file
from tests.test_family_ref_continuity import PSEUDONYMISER, Q2, Q3, fpd, redeliver
from tests.test_returns import KEY, build_analyst, make_settings, resources


def materialize_quarter(settings, instance, period):
    """What quarterly_returns_job runs for a period (every return, its extract gate, its files and the workbook;
    never analyst/schema). The gates run too: an outbox step writes only rows its gate passed."""
    selection = dg.AssetSelection.all() - dg.AssetSelection.assets(ANALYST_SCHEMA)
    return dg.materialize([*returns_assets, *returns_checks], resources=resources(settings), instance=instance,
                          partition_key=period.partition_key, raise_on_error=False, selection=selection)


def analyst_file(settings):
    return settings.data_dir / "analyst" / ANALYST_DATABASE_FILE


def family_refs_in(database, schema: str = "analyst") -> set[str]:
    """Every family_ref in every table of the schema (analyst.*), read-only."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "select distinct table_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and column_name = 'family_ref'", [schema]).fetchall()]
        assert tables, schema
        return {r for t in tables for (r,) in con.execute(f'select distinct family_ref from {schema}."{t}"').fetchall()
                if r is not None}
    finally:
        con.close()


def pseudonym_of(settings) -> dict[str, str]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return dict(con.execute("select internal_id, ref from restricted.pseudonyms where kind = 'family'").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def quarter_after_an_id_change(tmp_path_factory):
    """A warehouse build, Q2's returns, the later delivery, a warehouse build, Q3's returns and workbook; the
    analyst copy's family refs before Q3's returns, and the analysts' file hash after them and after a rerun."""
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path_factory.mktemp("analyst_refs") / "data")
        runs = {"build_1": build_analyst(settings), "q2": materialize_quarter(settings, instance, Q2)}
        redeliver(settings.warehouse)
        runs["build_2"] = build_analyst(settings)
        before = pseudonym_of(settings)
        runs["q3"] = materialize_quarter(settings, instance, Q3)
        after_q3 = sha256_file(analyst_file(settings))
        runs["q3_again"] = materialize_quarter(settings, instance, Q3)
        yield settings, runs, before, after_q3


def q3_ref_of_case(settings) -> dict[str, str]:
    q3 = fpd(settings, Q3)
    return {case: q3.set_index("case_ref").family_ref[PSEUDONYMISER.ref("case", case)] for case in ("C3", "C6")}


def test_before_the_quarter_the_changed_family_shows_a_ref_from_its_new_id(quarter_after_an_id_change):
    # the situation the returns must repair: the warehouse build ran before Q3's returns registered F02b
    _, runs, before, _ = quarter_after_an_id_change
    assert all(r.success for r in runs.values())
    assert before["F02b"] == PSEUDONYMISER.ref("family", "F02b")


def test_after_the_quarters_returns_the_analyst_copy_uses_the_registers_refs(quarter_after_an_id_change):
    settings, _, before, _ = quarter_after_an_id_change
    reported = q3_ref_of_case(settings)
    assert reported["C3"] == PSEUDONYMISER.ref("family", "F02") != before["F02b"]  # carried from Q2
    after = pseudonym_of(settings)
    assert (after["F02b"], after["F06"]) == (reported["C3"], reported["C6"])
    assert len(set(after.values())) == len(after)  # still one ref per family
    q3_refs = set(fpd(settings, Q3).family_ref)
    for database in (settings.warehouse, analyst_file(settings)):
        in_analyst = family_refs_in(database)
        assert q3_refs <= in_analyst, database.name  # every family of the return is found by its ref
        assert before["F02b"] not in in_analyst, database.name  # and none under a ref never sent
        assert in_analyst <= set(after.values()), database.name  # analyst.* agrees with restricted.pseudonyms


def test_the_quarters_workbook_finds_every_reported_family(quarter_after_an_id_change):
    import openpyxl

    settings, _, _, _ = quarter_after_an_id_change
    book = openpyxl.load_workbook(settings.outbox_dir / Q3.label / f"analyst_workbook_{Q3.label}.xlsx",
                                  read_only=True)
    rows = list(book["Families"].iter_rows(values_only=True))
    families = pd.DataFrame(rows[1:], columns=rows[0])
    reported = set(q3_ref_of_case(settings).values())
    found = families[families.family_ref.isin(reported)]
    assert set(found.family_ref) == reported
    assert int(found.start_date.isna().sum()) == 0  # joined to analyst.dim_family: the family is there by that ref


def test_a_rerun_with_nothing_changed_leaves_the_analysts_file_alone(quarter_after_an_id_change):
    settings, _, _, after_q3 = quarter_after_an_id_change
    assert sha256_file(analyst_file(settings)) == after_q3


def test_a_return_that_rebuilt_the_copy_records_an_analyst_schema_materialisation(quarter_after_an_id_change):
    # the warehouse build's asset is not in the returns run: the rebuild it did is recorded under its key
    _, runs, _, _ = quarter_after_an_id_change
    rebuilt = [e for e in runs["q3"].all_events if e.is_step_materialization and e.asset_key == ANALYST_SCHEMA]
    assert len(rebuilt) == 1  # the first return rebuilt it; the others found it current
    assert [e for e in runs["q3_again"].all_events
            if e.is_step_materialization and e.asset_key == ANALYST_SCHEMA] == []


def warnings_of(instance, result) -> list[str]:
    return [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]


def test_a_failed_export_warns_keeps_the_return_and_is_retried_by_the_next_run(tmp_path, monkeypatch):
    """The analysts' file cannot be replaced once (held open on a Windows share): the return and its files still
    succeed, with a warning; the warehouse's copy is then current but the file is not, and the next run (the
    workbook's own, which may come before or after the returns') finds that and rewrites the file."""
    import returns.schemas as schemas

    monkeypatch.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
    settings = make_settings(tmp_path / "data")
    with dg.instance_for_test() as instance:
        assert build_analyst(settings).success and materialize_quarter(settings, instance, Q2).success
        redeliver(settings.warehouse)
        assert build_analyst(settings).success
        stale_ref = pseudonym_of(settings)["F02b"]
        export, failures = schemas.export_analyst_database, []

        def export_once_failing(con, path):
            if not failures:
                failures.append(path)
                raise PermissionError(13, "Permission denied")
            return export(con, path)

        monkeypatch.setattr(schemas, "export_analyst_database", export_once_failing)
        fpd_only = dg.AssetSelection.assets(return_key("family_progress_data"), outbox_key("family_progress_data"))
        first = dg.materialize([*returns_assets, *returns_checks], resources=resources(settings), instance=instance,
                               partition_key=Q3.partition_key, raise_on_error=False,
                               selection=fpd_only)
        assert first.success and len(failures) == 1
        assert any("rebuilding the analyst copy" in w and "PermissionError" in w for w in warnings_of(instance, first))
        assert (settings.outbox_dir / Q3.label / "manifest.json").is_file()  # the return's files were written
        reported = set(q3_ref_of_case(settings).values())
        assert stale_ref in family_refs_in(analyst_file(settings))  # the analysts still read the old ref
        assert not reported <= family_refs_in(analyst_file(settings))
        assert pseudonym_of(settings)["F02b"] != stale_ref  # while the warehouse's copy is already current

        workbook = dg.AssetSelection.assets(outbox_key("analyst_workbook"))
        second = dg.materialize([*returns_assets, *returns_checks], resources=resources(settings), instance=instance,
                                partition_key=Q3.partition_key, raise_on_error=False, selection=workbook)
        assert second.success and len(failures) == 1
        in_file = family_refs_in(analyst_file(settings))
        assert reported <= in_file and stale_ref not in in_file
        assert [e for e in second.all_events if e.is_step_materialization and e.asset_key == ANALYST_SCHEMA]
