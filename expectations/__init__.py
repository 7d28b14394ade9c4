"""Family Data Hub quality gates: GX 1.x suites built in code from the feed registry and the dbt project.

    from expectations import run_gate
    result = run_gate(con, "raw_gate", "dwp_benefits", artefacts_dir=settings.artefacts_dir, run_id=...)
    result.passed, result.errors, result.warnings

Great Expectations is imported only when a gate validates (it costs ~4 s and ~260 MB). See README.md.
"""

from expectations import raw_gate as _raw_gate  # noqa: F401  (registers the gate)
from expectations import staged_gate as _staged_gate  # noqa: F401  (registers the gate)
from expectations.framework import (
    ERROR,
    GATES,
    WARNING,
    Check,
    ExpectationResult,
    GatePlan,
    GateResult,
    ensure_results_table,
    measure_gate,
    record_results,
    run_gate,
    validate_gate,
)

__all__ = [
    "ERROR", "GATES", "WARNING", "Check", "ExpectationResult", "GatePlan", "GateResult", "ensure_results_table",
    "measure_gate", "record_results", "run_gate", "validate_gate",
]
