"""A gate's one-line summary (the Dagster log and check description) names each failed expectation once."""

from __future__ import annotations

import datetime as dt

from expectations.framework import ERROR, WARNING, ExpectationResult, GateResult


def _result(name: str, severity: str, passed: bool, column: str | None = None) -> ExpectationResult:
    return ExpectationResult(expectation=name, column=column, severity=severity, passed=passed,
                             observed_value="5000 records", threshold="<= bound", scope="table")


def test_an_expectation_failing_its_error_and_warning_bounds_is_named_once_as_an_error():
    results = [_result("largest_cluster_under_bound", ERROR, False),
               _result("largest_cluster_under_bound", WARNING, False),
               _result("singleton_share_in_range", ERROR, True),
               _result("singleton_share_in_range", WARNING, False),
               _result("cross_system_match_rate", WARNING, False, column="police")]
    gate = GateResult(gate="linked_gate", target="person_crosswalk", asset_key="linkage/person_crosswalk",
                      run_id="r1", validated_at=dt.datetime(2026, 11, 25), results=results, counts={})
    summary = gate.summary()
    assert summary.count("largest_cluster_under_bound") == 1
    assert ("1 error(s) ['largest_cluster_under_bound'], 2 warning(s) "
            "['singleton_share_in_range', 'cross_system_match_rate(police)']") in summary
    # the metadata keeps both failures, each with its own bound
    assert [f["severity"] for f in gate.metadata()["failures"]] == [ERROR, WARNING, WARNING, WARNING]
