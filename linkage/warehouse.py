"""Outside Dagster: build a scratch warehouse up to the standardised person records.

Used by `python -m linkage.train` and `bench/linkage.py`; Dagster runs the same steps as assets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from linkage.run import INPUT_TABLE

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = REPO_ROOT / "dbt_project"


def generate(persons: int, seed: int, data_dir: Path) -> dict:
    from synthetic import generate as _generate

    return _generate(persons=persons, seed=seed, out=data_dir)


def land(data_dir: Path) -> int:
    from orchestration.defs.landing.loader import land_feed
    from orchestration.lib.feeds import registry

    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    rows = 0
    try:
        for feed in registry().values():
            result = land_feed(con, feed, data_dir / "landing")
            if result.failures:
                raise RuntimeError(f"{feed.name} failed to land")
            rows += result.rows_landed
    finally:
        con.close()
    return rows


def dbt_build(data_dir: Path, select: str, full_refresh: bool = False) -> dict[str, float]:
    """Run `dbt build` on the data folder's warehouse; each built model's execution seconds (dbt's own timing,
    from run_results.json: the SQL, without dbt's start-up). full_refresh: rebuild incremental models (the
    standardised person records) whole."""
    import json

    env = {**os.environ, "FAMILYHUB_WAREHOUSE": str(data_dir / "warehouse.duckdb")}
    dbt = Path(sys.executable).parent / "dbt"
    target = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    run_results = (target if target.is_absolute() else DBT_DIR / target) / "run_results.json"
    run_results.unlink(missing_ok=True)
    # cautious: only the tests whose parents are all selected (a later layer's test on a staging model
    # would otherwise run against tables this build does not make)
    proc = subprocess.run([str(dbt), "build", "--select", *select.split(), "--indirect-selection", "cautious",
                           *(["--full-refresh"] if full_refresh else []),
                           "--profiles-dir", ".", "--project-dir", ".", "--quiet"],
                          cwd=DBT_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        # dbt's own output names models and tests, not values
        raise RuntimeError(f"dbt build --select {select} failed:\n{proc.stdout[-4000:]}")
    results = json.loads(run_results.read_text(encoding="utf-8"))["results"]
    return {r["unique_id"].rsplit(".", 1)[-1]: r["execution_time"] for r in results
            if r["unique_id"].startswith("model.")}


def build_standardised_warehouse(persons: int, seed: int, work_dir: Path | None = None,
                                 timings: dict | None = None) -> Path:
    data_dir = Path(work_dir or tempfile.mkdtemp(prefix="linkage-"))
    timings = timings if timings is not None else {}
    started = time.perf_counter()
    generate(persons, seed, data_dir)
    timings["generate_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    timings["source_rows_landed"] = land(data_dir)
    timings["land_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    dbt_build(data_dir, "resource_type:seed path:models/staging")
    timings["staging_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    dbt_build(data_dir, "path:models/intermediate/person_records")
    timings["standardise_seconds"] = time.perf_counter() - started
    return data_dir


def read_records(data_dir: Path, table: str = INPUT_TABLE) -> pa.Table:
    from linkage.run import read_records as _read

    con = duckdb.connect(str(Path(data_dir) / "warehouse.duckdb"), read_only=True)
    try:
        return _read(con, table)
    finally:
        con.close()
