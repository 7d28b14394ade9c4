"""Benchmark: the whole graph (landing -> gates -> staging -> linkage -> marts), as `make demo` runs it.

Prints one JSON line: persons, source rows, seconds per Dagster step, the run's wall time, peak RSS, the row
counts of the main marts, and the run time of the analyst queries in dbt_project/analyses/ (each run three
times on a read-only connection; the median is reported). The marts are built as at the synthetic data's date.

Usage: python bench/pipeline.py [--persons N] [--keep DIR]
The default, 215,000 persons, gives about 1M source rows (the "1M-record run").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

ANALYSES = REPO_ROOT / "dbt_project" / "analyses"
MARTS = ("dim_person", "dim_family", "family_membership", "fct_event", "person_criteria", "family_criteria",
         "family_eligibility", "family_progress")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds per step, from the run's own start/success events in the event log."""
    started, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 2)
    return seconds


def plain_sql(path: Path) -> str:
    """An analysis file as plain SQL: `{{ ref('x') }}` -> marts.x, `{{ var("name", "default") }}` -> default."""
    sql = path.read_text()
    sql = re.sub(r"\{\{\s*ref\('(\w+)'\)\s*\}\}", r"marts.\1", sql)
    sql = re.sub(r"""\{\{\s*var\(["']\w+["'],\s*["']([^"']*)["']\)\s*\}\}""", r"\1", sql)
    return re.sub(r"\{#.*?#\}", "", sql, flags=re.S)


def time_queries(warehouse: Path) -> dict[str, dict]:
    import duckdb

    figures = {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for path in sorted(ANALYSES.glob("*.sql")):
            sql = plain_sql(path)
            runs, rows = [], 0
            for _ in range(3):
                started = time.perf_counter()
                rows = len(con.execute(sql).fetchall())
                runs.append(time.perf_counter() - started)
            figures[path.stem] = {"rows": rows, "median_seconds": round(statistics.median(runs), 3)}
    finally:
        con.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=215_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--keep", type=Path, help="keep the data folder here instead of a temporary one")
    args = parser.parse_args()

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    os.environ.setdefault("DBT_TARGET_PATH", str(data_dir / "dbt_target"))
    import dagster as dg

    from orchestration.defs.dbt.project import prepare
    from orchestration.lib.resources import build_resources
    from orchestration.lib.settings import Settings
    from synthetic import DEFAULT_AS_AT, generate

    figures: dict = {"persons": args.persons}
    try:
        started = time.perf_counter()
        summary = generate(persons=args.persons, seed=args.seed, out=data_dir)
        figures["generate_seconds"] = round(time.perf_counter() - started, 2)
        figures["source_rows"] = int(sum(f["rows"] for f in summary["feeds"].values()))

        settings = Settings(data_dir=data_dir, reporting_date=DEFAULT_AS_AT)
        settings.export_for_dbt()
        prepare()
        from orchestration.definitions import defs

        assets = [a for a in defs.assets if getattr(a, "partitions_def", None) is None]
        started = time.perf_counter()
        # dagster-dbt echoes dbt's log to stdout: keep stdout for the one JSON line
        with dg.instance_for_test() as instance, contextlib.redirect_stdout(sys.stderr):
            result = dg.materialize([*assets, *(defs.asset_checks or [])], resources=build_resources(settings),
                                    instance=instance, raise_on_error=False)
            figures["run_seconds"] = round(time.perf_counter() - started, 2)
            figures["run_success"] = bool(result.success)
            figures["step_seconds"] = step_seconds(instance, result.run_id)

        import duckdb

        con = duckdb.connect(str(settings.warehouse), read_only=True)
        try:
            existing = {t for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()}
            figures["mart_rows"] = {m: con.execute(f"select count(*) from marts.{m}").fetchall()[0][0]
                                    for m in MARTS if m in existing}
        finally:
            con.close()
        figures["analyst_queries"] = time_queries(settings.warehouse)
        figures["peak_rss_mb"] = peak_rss_mb()
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
