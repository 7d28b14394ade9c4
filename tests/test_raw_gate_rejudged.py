"""The feed's newest delivery is judged again at every run. One that passed and fails now (here: the registry
made UPRN required, which its rows lack) is not quarantined, as that would take rows the marts hold out of
staging at the next run: the gate blocks every run, downstream unchanged, until the engineer releases it with
`familyhub quarantine release` (accepting it as it is) or puts the cause right. And `familyhub demo` refuses a
data folder it did not make.

Real landing and raw gate, the CLI's own entry point. Assertions count rows and name delivery ids.
"""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import duckdb

from orchestration.cli import main
from orchestration.defs.quality.checks import build_raw_gate_check
from orchestration.lib.resources import build_resources
from orchestration.lib.settings import Settings
from tests.test_quarantine_lifecycle import (
    GATE_UPRN_REQUIRED,
    LANDING,
    PERSONS,
    deliver,
    listed,
    materialised,
    person,
    persons_downstream,
    query,
)

GATE_AS_DELIVERED = build_raw_gate_check(replace(PERSONS, extract="full"))  # UPRN not yet required


def run(settings: Settings, gate):
    result = dg.materialize([LANDING, gate, persons_downstream], resources=build_resources(settings),
                            raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_gate"]
    return evaluation, materialised(result)


def test_a_delivery_failing_after_it_passed_blocks_every_run_without_quarantine_until_released(tmp_path, monkeypatch,
                                                                                              capsys):
    settings = Settings(data_dir=tmp_path)
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(tmp_path))
    deliver(settings, "csc_persons_2026-01-31.csv", [person(i, uprn="") for i in range(50)])
    passed, downstream = run(settings, GATE_AS_DELIVERED)
    assert passed.passed and persons_downstream.key in downstream
    [(delivery,)] = query(settings, "select delivery_id from raw._deliveries where status = 'landed'")

    # the registry now requires UPRN: the newest delivery, judged again, fails; its rows stay staged
    for _ in range(2):
        failed, downstream = run(settings, GATE_UPRN_REQUIRED)
        assert failed.severity == dg.AssetCheckSeverity.ERROR and not failed.passed
        assert "required_not_null(uprn)" in listed(failed, "failed_errors")
        assert listed(failed, "failing_after_passing_before") == [delivery]
        assert not listed(failed, "quarantined_deliveries") and "not quarantined" in failed.description
        assert persons_downstream.key not in downstream  # blocked, every run
        assert query(settings, "select count(*) from duckdb_tables() "
                               "where table_name = '_quarantined_deliveries'") == [(0,)]  # nothing quarantined

    # the engineer accepts it as it is: recorded, not judged again, and the gate passes
    assert main(["quarantine", "release", "no-such-delivery"]) == 2
    assert main(["quarantine", "release", delivery, "--by", "engineer"]) == 0
    assert main(["quarantine", "release", delivery]) == 2 and "released already" in capsys.readouterr().err
    assert query(settings, "select delivery_id, released_by, failed_expectations from raw._quarantined_deliveries "
                           "where released_at is not null") == [(delivery, "engineer", "required_not_null(uprn)")]
    accepted, downstream = run(settings, GATE_UPRN_REQUIRED)
    assert not listed(accepted, "failed_errors") and persons_downstream.key in downstream
    assert accepted.metadata["deliveries_judged"].value == 0


def test_the_demo_refuses_a_data_folder_it_did_not_make(tmp_path, monkeypatch, capsys):
    settings = Settings(data_dir=tmp_path)
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(tmp_path))
    deliver(settings, "csc_persons_2026-01-31.csv", [person(i, uprn="1") for i in range(5)])  # a council's feed
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["demo", "--persons", "200"]) == 2
    assert "did not generate" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing generated or landed


def test_a_delivery_that_never_passed_is_quarantined_even_if_an_earlier_run_judged_it(tmp_path):
    """A run that recorded a delivery's failure but stopped before quarantining it (emulated by removing the
    record) leaves a delivery judged, never passed: the next run quarantines it, not 'failing after passing'."""
    settings = Settings(data_dir=tmp_path)
    deliver(settings, "csc_persons_2026-01-31.csv", [person(i, uprn="") for i in range(50)])
    first, _ = run(settings, GATE_UPRN_REQUIRED)
    [(delivery,)] = query(settings, "select delivery_id from raw._deliveries where status = 'landed'")
    assert listed(first, "quarantined_deliveries") == [delivery]
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("delete from raw._quarantined_deliveries")
    finally:
        con.close()
    second, downstream = run(settings, GATE_UPRN_REQUIRED)
    assert listed(second, "quarantined_deliveries") == [delivery]
    assert not listed(second, "failing_after_passing_before") and persons_downstream.key not in downstream
