"""`familyhub`: generate synthetic feeds, run the whole pipeline, summarise the warehouse.

Output is counts and table names only: no names, dates of birth or identifiers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from orchestration.lib.settings import get_settings

DEFAULT_DEMO_PERSONS = 30_000
DEFAULT_SEED = 20261123
DEFAULT_AS_AT = dt.date(2026, 9, 30)


def _log(message: str) -> None:
    print(f"[familyhub {time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_generate(args: argparse.Namespace) -> int:
    from synthetic import generate

    started = time.perf_counter()
    summary = generate(persons=args.persons, seed=args.seed, out=Path(args.out), as_at=args.as_at)
    _log(f"generated {args.persons:,} persons into {args.out} in {time.perf_counter() - started:.1f}s")
    for feed, info in sorted(summary["feeds"].items()):
        print(f"  {feed:<22} {info['rows']:>9,} rows   ({info.get('malformed_rows', 0)} malformed on purpose)")
    return 0


def _demo_marker(settings) -> Path:
    return settings.data_dir / "demo.json"


def cmd_demo(args: argparse.Namespace) -> int:
    settings = get_settings()
    settings.ensure_dirs()
    wanted = {"persons": args.persons, "seed": args.seed, "as_at": args.as_at.isoformat()}
    marker = _demo_marker(settings)
    previous = json.loads(marker.read_text()) if marker.exists() else None
    if previous != wanted or not any(settings.landing_dir.glob("*/*")):
        if previous is not None and previous != wanted:
            _log("demo settings changed: starting from an empty warehouse and landing folder")
            settings.warehouse.unlink(missing_ok=True)
            for folder in (settings.landing_dir, settings.truth_dir):
                shutil.rmtree(folder, ignore_errors=True)
            settings.ensure_dirs()
        _log(f"step 1/3: generating synthetic partner feeds for {args.persons:,} persons (seed {args.seed})")
        cmd_generate(argparse.Namespace(persons=args.persons, seed=args.seed, out=settings.data_dir, as_at=args.as_at))
        marker.write_text(json.dumps(wanted))
    else:
        _log("step 1/3: synthetic feeds already generated with these settings")

    _log("step 2/3: parsing the dbt project")
    from orchestration.defs.dbt.project import prepare

    settings.export_for_dbt()  # parse against this warehouse so every dbt step can reuse the parse
    prepare()

    _log("step 3/3: materialising every asset (landing -> staging) in-process")
    import dagster as dg

    from orchestration.definitions import defs

    started = time.perf_counter()
    # With DAGSTER_HOME set (the Makefile sets it) the run lands in the UI's history.
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        tags={"familyhub/trigger": "make demo"},
    )
    _log(f"run {result.run_id[:8]} finished in {time.perf_counter() - started:.1f}s: "
         f"{'success' if result.success else 'FAILED'}")
    print_summary(settings)
    print("\nOpen the Dagster UI with `make ui` (http://127.0.0.1:3000); query the warehouse read-only with "
          "`.venv/bin/familyhub sql \"select ...\"` or any DuckDB client (DuckDB CLI, DBeaver) on "
          f"{settings.warehouse}.")
    return 0 if result.success else 1


def print_summary(settings=None) -> None:
    import duckdb

    settings = settings or get_settings()
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('raw', 'reference', 'staging', 'intermediate', 'linkage', 'marts', 'quality') "
            "order by 1, 2").fetchall()
        print("\nTables built (schema.table: rows)")
        for schema, table in tables:
            rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
            print(f"  {schema}.{table:<40} {rows:>10,}")
        deliveries = con.execute(
            "select feed, status, count(*), sum(rows_landed), sum(rows_rejected) from raw._deliveries "
            "group by all order by 1, 2").fetchall()
        print("\nDeliveries (feed, status: files, rows landed, rows rejected)")
        for feed, status, files, landed, rejected in deliveries:
            print(f"  {feed:<22} {status:<7} {files:>3} files {landed or 0:>10,} rows {rejected or 0:>6,} rejected")
        reasons = con.execute(
            "select feed, regexp_replace(reason, ':.*', '') as kind, count(*) from raw._rejects "
            "group by all order by 3 desc limit 10").fetchall()
        if reasons:
            print("\nTop reject reasons (see raw._rejects for row numbers and original text)")
            for feed, kind, n in reasons:
                print(f"  {feed:<22} {kind:<28} {n:>6,}")
    finally:
        con.close()


def cmd_summary(_: argparse.Namespace) -> int:
    print_summary()
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """An analyst's own query, read-only, so a running pipeline can still write."""
    import duckdb

    con = duckdb.connect(str(get_settings().warehouse), read_only=True)
    try:
        frame = con.execute(args.query).df()
    finally:
        con.close()
    if args.csv:
        sys.stdout.write(frame.to_csv(index=False))
    else:
        print(frame.to_string(index=False, max_rows=args.max_rows))
    return 0


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="familyhub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write synthetic partner feeds and their ground truth")
    gen.add_argument("--persons", type=int, default=2000)
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED)
    gen.add_argument("--out", default=str(get_settings().data_dir))
    gen.add_argument("--as-at", type=_date, default=DEFAULT_AS_AT, help="extract date of the deliveries")
    gen.set_defaults(func=cmd_generate)

    demo = sub.add_parser("demo", help="generate feeds (once) and materialise every asset")
    demo.add_argument("--persons", type=int, default=DEFAULT_DEMO_PERSONS)
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED)
    demo.add_argument("--as-at", type=_date, default=DEFAULT_AS_AT)
    demo.set_defaults(func=cmd_demo)

    summary = sub.add_parser("summary", help="print the warehouse's tables, deliveries and rejects")
    summary.set_defaults(func=cmd_summary)

    sql = sub.add_parser("sql", help="run a read-only SQL query against the warehouse")
    sql.add_argument("query")
    sql.add_argument("--csv", action="store_true", help="print CSV (for Excel) instead of a table")
    sql.add_argument("--max-rows", type=int, default=50)
    sql.set_defaults(func=cmd_sql)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
