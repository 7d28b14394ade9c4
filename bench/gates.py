"""Benchmark: the raw, staged, linked and marts gates at ~1M rows.

Builds raw.csc_persons (DDL from the registry) with N synthetic rows inserted by SQL as one delivery, a
staging table keeping the latest row per person, a person index of N records (linkage.person_crosswalk and
the standardised records it covers: 9 systems, ~60% singletons) and a marts.fct_event of one event per
staged row with dim_person and dim_family; then, in a fresh process (so its peak RSS is the gates'), runs
raw_gate, staged_gate, linked_gate and marts_gate on fct_event (measure in DuckDB, validate in GX, Data
Docs, history).
Prints one JSON line. Usage: python bench/gates.py [--rows N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
FEED = "csc_persons"


def build(data_dir: Path, rows: int) -> None:
    import duckdb

    from orchestration.defs.landing.loader import ensure_raw_schema
    from orchestration.lib.feeds import registry

    feed = registry()[FEED]
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    ensure_raw_schema(con, [feed])
    # synthetic values only, from the row number; NHS numbers get their mod-11 check digit (null where none exists)
    body = "(400000000 + i)::varchar"
    weighted = " + ".join(f"{11 - k} * substr({body}, {k}, 1)::integer" for k in range(1, 10))
    check = f"(11 - ({weighted}) % 11) % 11"
    nhs = f"case when {check} = 10 then null else {body} || ({check})::varchar end"
    con.execute(f"""
        insert into {feed.raw_table}
        select 'P' || lpad(i::varchar, 8, '0'), 'Forename', null, 'Surname',
               date '1950-01-01' + (i % 25000)::integer,
               ['M', 'F', 'U', 'I'][1 + i % 4],
               (i % 200)::varchar || ' Any Street', 'Town',
               'FH' || (1 + i % 12)::varchar || ' ' || (i % 10)::varchar || 'AB',
               (100000000 + i)::varchar,
               {nhs},
               date '2020-01-01' + (i % 2000)::integer,
               'csc_persons:bench00000000001', 'csc_persons_2026-09-30.csv', repeat('0', 64), i,
               timestamp '2026-10-01 09:00:00'
        from range(1, {rows} + 1) t(i)""")
    con.execute("""insert into raw._deliveries values ('csc_persons:bench00000000001', 'csc_persons',
                   'csc_persons_2026-09-30.csv', repeat('0', 64), 0, 'landed', ?, 0, null,
                   timestamp '2026-10-01 09:00:00', date '2026-09-30', false)""", [rows])
    con.execute("create schema if not exists staging")
    con.execute(f"""create table staging.stg_social_care__persons as
        select person_id as record_key, 'csc_persons' as source_feed, _delivery_id as source_delivery_id,
               _row_number as source_row_number
        from {feed.raw_table}
        qualify row_number() over (partition by person_id order by _loaded_at desc, _row_number desc) = 1""")

    # the person index: records i -> person i // 2 for a quarter of the records (pairs across two systems),
    # the rest one person each
    systems = ("['education', 'dwp', 'police', 'health', 'housing', 'early_help', 'social_care', 'programme', "
               "'youth_justice']")
    con.execute("create schema if not exists intermediate")
    con.execute("create schema if not exists linkage")
    con.execute(f"""create table linkage.person_crosswalk as
        select case when i % 4 < 2 then 'Q' || lpad((i // 2)::varchar, 8, '0') else 'S' || lpad(i::varchar, 8, '0') end
               as person_id,
               'R' || lpad(i::varchar, 8, '0') as person_record_id,
               {systems}[1 + (i % 4 + i // 4) % 9] as source_system, i::varchar as source_record_id
        from range(1, {rows} + 1) t(i)""")
    con.execute("""create table intermediate.int_person_records_standardised as
                   select person_record_id, source_system, source_record_id from linkage.person_crosswalk""")

    # marts: one event per staged row, its person and (for two in three) family
    con.execute("create schema if not exists marts")
    con.execute("""create table marts.fct_event as
        select md5(source_feed || '|' || record_key) as event_id, 'Q' || lpad((source_row_number // 2)::varchar, 8, '0')
               as person_id, case when source_row_number % 3 > 0 then 'F' || (source_row_number // 6)::varchar end
               as family_id, source_feed, record_key
        from staging.stg_social_care__persons""")
    con.execute("create table marts.dim_person as select distinct person_id from marts.fct_event")
    con.execute("create table marts.dim_family as select distinct family_id from marts.fct_event "
                "where family_id is not null")
    con.close()


def gate(data_dir: Path) -> dict:
    import duckdb

    started = time.perf_counter()
    import great_expectations  # noqa: F401  (timed apart: a once-per-process cost)

    import expectations

    gx_import = time.perf_counter() - started
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    figures = {}
    runs = (("raw_gate", FEED, {}), ("staged_gate", "stg_social_care__persons", {}),
            ("linked_gate", "person_crosswalk", {}),
            ("marts_gate", "fct_event", {"event_models": ("stg_social_care__persons",)}))
    for name, target, options in runs:
        t0 = time.perf_counter()
        plan = expectations.measure_gate(con, name, target, **options)
        t1 = time.perf_counter()
        result = expectations.validate_gate(plan, data_dir / "artefacts" / "gx", run_id="bench")
        t2 = time.perf_counter()
        expectations.record_results(con, result)
        t3 = time.perf_counter()
        figures[name] = {"seconds": round(t3 - t0, 2), "sql_seconds": round(t1 - t0, 2),
                         "gx_seconds": round(t2 - t1, 2), "expectations": len(result.results),
                         "errors": len(result.errors), "warnings": len(result.warnings)}
    rows = con.execute(f"select count(*) from raw.{FEED}").fetchall()[0][0]
    records = con.execute("select count(*) from linkage.person_crosswalk").fetchall()[0][0]
    events = con.execute("select count(*) from marts.fct_event").fetchall()[0][0]
    con.close()
    return {
        "rows": rows,
        "crosswalk_records": records,
        "fct_event_rows": events,
        "seconds": round(sum(f["seconds"] for f in figures.values()), 2),
        "gx_import_seconds": round(gx_import, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **{f"{k}_{m}": v for k, f in figures.items() for m, v in f.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="build into this folder and keep it")
    parser.add_argument("--gate-only", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.gate_only:  # the child process: gating alone, so its peak RSS is the gates'
        print(json.dumps(gate(Path(args.gate_only))))
        return

    data_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fdh-bench-gates-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        build(data_dir, args.rows)
        build_seconds = time.perf_counter() - started
        child = subprocess.run([sys.executable, __file__, "--gate-only", str(data_dir)], capture_output=True,
                               text=True, check=True)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        figures["build_seconds"] = round(build_seconds, 2)
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
