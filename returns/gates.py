"""The upstream gates a return is built under, from the gates' own history (quality.validation_results).

The returns run on their own schedule, in runs of their own, and Dagster's blocking checks act only within
one run: a warehouse build whose gate failed leaves the marts stale (or rebuilt but not let through), and a
later returns run would not know. So before a return is built, the latest run of every gate that guards the
marts is read from the warehouse the return reads (the history travels with the data it judged):

  status     the gate's latest run                        what the return does
  passed     no expectation failed                        builds
  warning    only warning-severity expectations failed    builds; the warning is flagged (manifest, run log).
                                                          A warning never blocked the warehouse build either:
                                                          the marts were rebuilt and let through.
  failed     an error-severity expectation failed         REFUSES: the marts are stale or unvalidated since
                                                          the gate's last pass; nothing is written
  no_result  the gate never recorded a result here        builds; flagged (a feed with no delivery yet, a
                                                          warehouse built outside the pipeline)

A gate is one check on one asset (`raw_gate` on `raw/programme_cases`). Its runs are told apart by run_id and
ordered by validated_at, then insertion order; `last_passed_at` is the latest run without an error (a
warnings-only run let the data through). Only gate names, asset keys, expectation names, columns and times
are read or reported: never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from expectations.framework import table_exists

PASSED, WARNING, FAILED, NO_RESULT = "passed", "warning", "failed", "no_result"
SOURCE = "quality.validation_results"
RULE = ("refused when a gate's latest run failed an error-severity expectation; warnings and gates with no "
        "result are flagged, not refused")

# One row per gate run: its outcome and the expectations that failed (names and columns only).
_RUNS = """
with runs as (
    select gate, asset_key, run_id, max(validated_at) as validated_at, max(rowid) as inserted,
        coalesce(bool_or(passed = false and severity = 'error'), false) as has_error,
        coalesce(bool_or(passed = false and severity = 'warning'), false) as has_warning,
        list(distinct expectation || coalesce('(' || "column" || ')', '')) filter (where passed = false)
            as failed_expectations
    from quality.validation_results
    where gate in (select unnest($gates))
    group by gate, asset_key, run_id
)
select gate, asset_key, run_id, validated_at, has_error, has_warning, failed_expectations,
    max(validated_at) filter (where not has_error) over (partition by gate, asset_key) as last_passed_at
from runs
qualify row_number() over (partition by gate, asset_key order by validated_at desc, inserted desc) = 1
"""


def _iso(moment: dt.datetime | None) -> str | None:
    # validated_at is naive UTC (expectations/framework.py)
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


@dataclass(frozen=True)
class GateOutcome:
    gate: str
    asset_key: str
    status: str  # passed | warning | failed | no_result
    last_run_at: dt.datetime | None = None
    last_passed_at: dt.datetime | None = None
    run_id: str | None = None
    failed_expectations: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.gate} on {self.asset_key}"

    def as_record(self) -> dict:
        record = {"status": self.status, "last_run_at": _iso(self.last_run_at),
                  "last_passed_at": _iso(self.last_passed_at), "run_id": self.run_id}
        if self.failed_expectations:
            record["failed_expectations"] = list(self.failed_expectations)
        return record


@dataclass(frozen=True)
class GateStatus:
    """The latest outcome of each gate guarding a return's inputs, when it was read."""

    checked_at: dt.datetime
    outcomes: tuple[GateOutcome, ...]

    def with_status(self, status: str) -> list[GateOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def refuses(self) -> bool:
        return bool(self.with_status(FAILED))

    def refusal(self, what: str) -> str:
        """Why `what` (e.g. 'family_progress_data for 2026-Q3') is not built: each failed gate, when, and
        since when it has not passed."""
        failed = self.with_status(FAILED)
        lines = [f"{what} not built: {len(failed)} upstream gate(s) failed since their last pass, so the marts "
                 "it reads are stale or unvalidated. The previous rows and outbox files (and manifest.json) "
                 "are left untouched."]
        for outcome in failed:
            since = _iso(outcome.last_passed_at) or "never"
            lines.append(f"- {outcome.label} failed at {_iso(outcome.last_run_at)} (run {outcome.run_id}; last "
                         f"passed: {since}): {', '.join(outcome.failed_expectations) or 'error'}")
        lines.append("Fix the input (e.g. land a corrected delivery), rebuild the warehouse until the gates pass, "
                     "then rerun this quarter.")
        return "\n".join(lines)

    def summary(self) -> dict[str, int]:
        return {status: len(self.with_status(status)) for status in (PASSED, WARNING, FAILED, NO_RESULT)}

    def as_record(self) -> dict:
        """What manifest.json keeps: every gate checked with its status and last pass time."""
        return {
            "checked_at": _iso(self.checked_at), "source": SOURCE, "rule": RULE, "summary": self.summary(),
            "flagged": sorted(o.label for o in self.outcomes if o.status in (WARNING, NO_RESULT)),
            "gates": {f"{o.asset_key} {o.gate}": o.as_record() for o in self.outcomes},
        }


def read_gate_status(con: duckdb.DuckDBPyConnection, gates: Iterable[tuple[str, str]]) -> GateStatus:
    """The latest outcome of each (gate, asset_key) in `gates`, from the warehouse's gate history."""
    expected = sorted(set(gates))
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    latest = {}
    if expected and table_exists(con, *SOURCE.split(".")):
        rows = con.execute(_RUNS, {"gates": sorted({g for g, _ in expected})}).fetchall()
        latest = {(r[0], r[1]): r for r in rows}
    outcomes = []
    for gate, asset_key in expected:
        found = latest.get((gate, asset_key))
        if found is None:
            outcomes.append(GateOutcome(gate, asset_key, NO_RESULT))
            continue
        _, _, run_id, validated_at, has_error, has_warning, failed, last_passed_at = found
        status = FAILED if has_error else WARNING if has_warning else PASSED
        outcomes.append(GateOutcome(gate, asset_key, status, last_run_at=validated_at, last_passed_at=last_passed_at,
                                    run_id=run_id, failed_expectations=tuple(sorted(failed or ()))))
    return GateStatus(checked_at=checked_at, outcomes=tuple(outcomes))
