"""The raw gate orders a feed's deliveries as staging orders a record's versions: extract date (the date in the
file name), then landing time. A resend of an older extract landing after a newer one is judged once, on its own
rows, against the extract before its own; the newer extract stays the feed's newest delivery.

Real landing and the real raw gate check (helpers from tests/test_gates.py). Assertions count rows and name
delivery ids; no test prints a value from a row.
"""

from __future__ import annotations

import dagster as dg

from tests.test_gates import (
    delivery_ids,
    failed,
    gate_run,
    good_rows,
    persons_downstream,
    query,
    quarantined,
    settings,  # noqa: F401 (the fixture)
    with_future_dobs,
    write_persons,
)

DEC, JAN, FEB = "csc_persons_2025-12-31.csv", "csc_persons_2026-01-31.csv", "csc_persons_2026-02-28.csv"


def listed(evaluation, key: str) -> list:
    return evaluation.metadata[key].value if key in evaluation.metadata else []


def delivery_results(settings, delivery_id: str, expectation: str) -> list[tuple]:
    """(run_id, passed, observed_value) of a delivery's error-severity results for one expectation."""
    return query(settings, """select run_id, passed, observed_value from quality.validation_results
                              where delivery_id = ? and expectation = ? and severity = 'error'
                              and scope = 'latest_delivery'""", [delivery_id, expectation])


def last_run_measurements(settings) -> dict[str, float]:
    """metric -> value the raw gate measured in its latest run (the last results written: validated_at has whole
    seconds, and two runs can share one)."""
    [(run_id,)] = query(settings, "select run_id from quality.validation_results order by rowid desc limit 1")
    return dict(query(settings, "select metric, value from quality.gate_measurements where run_id = ?", [run_id]))


def land_december_and_february(settings) -> None:
    write_persons(settings, DEC, good_rows(200))
    assert gate_run(settings)[0].passed
    write_persons(settings, FEB, good_rows(300, start=1000))  # 1.5 x December: inside the warning band
    assert gate_run(settings)[0].passed


def test_a_late_older_extract_compares_with_the_extract_before_its_own_and_the_newer_stays_newest(settings):
    """January lands after February with 170 rows: 85% of December's (the extract before it), though 57% of
    February's. It passes, judged once under its own id; February stays the newest (plain metric names, the
    check's latest delivery, its row counts) and keeps comparing with December, not with January."""
    land_december_and_february(settings)
    write_persons(settings, JAN, good_rows(170, start=2000))
    evaluation, materialised = gate_run(settings)
    ids = delivery_ids(settings)
    dec, jan, feb = ids[DEC], ids[JAN], ids[FEB]

    assert evaluation.passed, (failed(evaluation, "errors"), failed(evaluation, "warnings"))
    assert persons_downstream.key in materialised and not quarantined(settings)
    assert evaluation.metadata["latest_delivery"].value == feb
    assert evaluation.metadata["deliveries_judged"].value == 2  # January when first seen, February as the newest
    assert evaluation.metadata["latest_delivery_rows"].value == 300
    assert evaluation.metadata["previous_delivery_rows"].value == 200
    [(_, passed, observed)] = delivery_results(settings, jan, "row_count_vs_previous")
    assert passed and observed.startswith(f"0.85 (170 rows vs 200 in the previous delivery not quarantined, {dec} ")
    [(_, _, landed)] = delivery_results(settings, jan, "latest_delivery_not_empty")
    assert landed.startswith(f"170 rows landed (an older extract, dated 2026-01-31, than {feb} dated 2026-02-28")
    measured = last_run_measurements(settings)
    assert measured["latest_delivery__row_ratio"] == 1.5  # February vs December
    assert measured[f"{jan}__latest_delivery__row_ratio"] == 0.85
    assert measured["held_newest_deliveries__rows"] == 0

    # the next run judges the newest, February, again: January was judged once, when it landed
    again, _ = gate_run(settings)
    assert again.passed and again.metadata["deliveries_judged"].value == 1
    assert again.metadata["latest_delivery"].value == feb
    assert len({run for run, _, _ in delivery_results(settings, jan, "latest_delivery_not_empty")}) == 1
    assert len({run for run, _, _ in delivery_results(settings, feb, "latest_delivery_not_empty")}) == 3


def test_a_large_late_older_extract_does_not_flip_the_newer_extracts_verdict(settings):
    """January lands late with 500 rows: 2.5 x December's, a warning of its own. February, judged again as the
    newest, still compares with December (January landed after it), so it is not made short and quarantined."""
    land_december_and_february(settings)
    write_persons(settings, JAN, good_rows(500, start=2000))
    evaluation, materialised = gate_run(settings)
    ids = delivery_ids(settings)

    assert evaluation.severity == dg.AssetCheckSeverity.WARN and not failed(evaluation, "errors")
    assert failed(evaluation, "warnings") == {"row_count_vs_previous"}
    assert persons_downstream.key in materialised and not quarantined(settings)
    assert evaluation.metadata["latest_delivery"].value == ids[FEB]
    assert [passed for _, passed, _ in delivery_results(settings, ids[FEB], "row_count_vs_previous")] == [True] * 2
    assert last_run_measurements(settings)[f"{ids[JAN]}__latest_delivery__row_ratio"] == 2.5


def test_a_late_older_extract_failing_its_own_checks_is_quarantined_without_holding_the_feed(settings):
    """January lands late with future dates of birth: it fails its own checks, blocks the run that judges it and
    is quarantined. It is not the feed's newest (staging keeps February's versions), so later runs pass without
    the held-newest warning, while still naming it as held."""
    land_december_and_february(settings)
    write_persons(settings, JAN, with_future_dobs(good_rows(200, start=2000), 10))
    first, materialised = gate_run(settings)
    ids = delivery_ids(settings)
    jan, feb = ids[JAN], ids[FEB]

    assert not first.passed and first.severity == dg.AssetCheckSeverity.ERROR
    assert failed(first, "errors") == {"dob_plausible(dob)"} and persons_downstream.key not in materialised
    assert listed(first, "quarantined_deliveries") == [jan]
    assert [(q[0], q[3]) for q in quarantined(settings)] == [(jan, "dob_plausible(dob)")]
    assert first.metadata["latest_delivery"].value == feb

    second, materialised = gate_run(settings)  # held, not judged again; February, the newest, is staged
    assert second.passed, (failed(second, "errors"), failed(second, "warnings"))
    assert persons_downstream.key in materialised
    assert listed(second, "held_in_quarantine") == [jan] and second.metadata["deliveries_judged"].value == 1
    assert last_run_measurements(settings)["held_newest_deliveries__rows"] == 0
    assert len({run for run, _, _ in delivery_results(settings, jan, "dob_plausible")}) == 1
