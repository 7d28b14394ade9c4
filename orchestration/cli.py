"""`familyhub`: generate synthetic feeds, run the whole pipeline, summarise the warehouse; link or match any
partner list (`link`, `match`); clerical review of uncertain pairs (`review export`, `review import`).

Output is counts and table names only: no names, dates of birth or identifiers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
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
    wanted = {"persons": args.persons, "seed": args.seed, "as_at": args.as_at.isoformat()}
    marker = _demo_marker(settings)
    previous = json.loads(marker.read_text()) if marker.exists() else None
    if previous is None and (settings.warehouse.exists() or any(settings.landing_dir.glob("*/*"))):
        # no marker: not a folder the demo made. Generating would put synthetic people among a council's feeds
        # (overwriting a file of the same name) and land them in its warehouse.
        print(f"familyhub demo: {settings.data_dir} already holds a warehouse or landed files that the demo did not "
              "generate: the demo would mix synthetic people into them. Point FAMILYHUB_DATA_DIR at an empty "
              "folder for the demo; real feeds are built by the build_warehouse job (Dagster UI). Nothing was "
              "changed.", file=sys.stderr)
        return 2
    settings.ensure_dirs()
    if previous != wanted or not any(settings.landing_dir.glob("*/*")):
        if previous is not None and previous != wanted:
            _log("an earlier demo stopped while generating its feeds: starting again from an empty warehouse and "
                 "landing folder" if previous.get("generating") else
                 "demo settings changed: starting from an empty warehouse and landing folder")
            settings.warehouse.unlink(missing_ok=True)
            for folder in (settings.landing_dir, settings.truth_dir):
                shutil.rmtree(folder, ignore_errors=True)
            settings.ensure_dirs()
        _log(f"step 1/3: generating synthetic partner feeds for {args.persons:,} persons (seed {args.seed})")
        marker.write_text(json.dumps({**wanted, "generating": True}))  # the folder is the demo's from here on
        cmd_generate(argparse.Namespace(persons=args.persons, seed=args.seed, out=settings.data_dir, as_at=args.as_at))
        marker.write_text(json.dumps(wanted))
    else:
        _log("step 1/3: synthetic feeds already generated with these settings")

    _log("step 2/3: parsing the dbt project")
    from orchestration.defs.dbt.project import prepare

    # Criteria and ages as at the synthetic data's date (a council's runs use the run date).
    reporting_date = settings.reporting_date or args.as_at
    settings = settings.with_reporting_date(reporting_date)

    settings.export_for_dbt()  # parse against this warehouse so every dbt step can reuse the parse
    prepare()

    _log(f"step 3/3: materialising every asset in-process, as at {reporting_date} (the synthetic data's date)")
    import dagster as dg

    from orchestration.definitions import defs
    from returns.periods import latest_complete_quarter

    started = time.perf_counter()
    # With DAGSTER_HOME set (the Makefile sets it) the runs land in the UI's history.
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    result = defs.resolve_job_def("build_warehouse").execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config, tags={"familyhub/trigger": "make demo"})
    _log(f"run {result.run_id[:8]} (build_warehouse) finished in {time.perf_counter() - started:.1f}s: "
         f"{'success' if result.success else 'FAILED'}")
    if result.success:
        period = latest_complete_quarter(reporting_date)
        started = time.perf_counter()
        returns = defs.resolve_job_def("quarterly_returns_job").execute_in_process(
            instance=instance, raise_on_error=False, run_config=run_config, partition_key=period.partition_key,
            tags={"familyhub/trigger": "make demo", "familyhub/period": period.label})
        _log(f"run {returns.run_id[:8]} (returns for {period.label}) finished in "
             f"{time.perf_counter() - started:.1f}s: {'success' if returns.success else 'FAILED'}")
        from orchestration.lib.settings import pseudonym_key_configured

        if not pseudonym_key_configured():
            _log("the returns' pseudonyms use a demo key generated in the data folder (secrets/); set "
                 "FAMILYHUB_PSEUDONYM_KEY in production")
        result = returns if not returns.success else result
    print_summary(settings)
    from returns.schemas import ANALYST_DATABASE_FILE

    print("\nOpen the Dagster UI with `make ui` (http://127.0.0.1:3000). Analysts: any DuckDB client (DuckDB CLI, "
          f"DBeaver) on the analyst copy {settings.data_dir / 'analyst' / ANALYST_DATABASE_FILE}, which each "
          "build swaps in. The data team: `.venv/bin/familyhub sql \"select ...\"` on "
          f"{settings.warehouse}; a client holding that file open, even read-only, stops the pipeline writing it "
          "until it disconnects (returns/README.md).")
    return 0 if result.success else 1


def print_summary(settings=None) -> None:
    import duckdb

    settings = settings or get_settings()
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('raw', 'reference', 'staging', 'intermediate', 'linkage', 'marts', 'analyst', "
            "'restricted', 'returns', 'quality') "
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
            print(f"  {feed:<22} {status:<9} {files:>3} files {landed or 0:>10,} rows {rejected or 0:>6,} rejected")
        reasons = con.execute(
            "select feed, regexp_replace(reason, ':.*', '') as kind, count(*) from raw._rejects "
            "group by all order by 3 desc limit 10").fetchall()
        if reasons:
            print("\nTop reject reasons (see raw._rejects for row numbers and original text)")
            for feed, kind, n in reasons:
                print(f"  {feed:<22} {kind:<28} {n:>6,}")
        gates = con.execute("""
            with latest as (
                select gate, asset_key, max(validated_at) as at from quality.validation_results group by all
            )
            select results.gate, count(distinct results.asset_key),
                   count(*) filter (where results.passed), count(*) filter (where results.passed is null),
                   count(*) filter (where not results.passed and results.severity = 'error'),
                   count(*) filter (where not results.passed and results.severity = 'warning')
            from quality.validation_results as results
            inner join latest using (gate, asset_key)
            where results.validated_at = latest.at
            group by all order by 1""").fetchall()
        print("\nQuality gates, latest validation of each table (gate: tables, expectations passed, not evaluated, "
              "errors, warnings)")
        for gate, tables_gated, passed, not_evaluated, errors, warnings in gates:
            print(f"  {gate:<14} {tables_gated:>4} tables {passed:>6,} passed {not_evaluated:>3} not evaluated "
                  f"{errors:>3} errors {warnings:>3} warnings")
    finally:
        con.close()
    manifests = sorted(settings.outbox_dir.glob("*/manifest.json"))
    if manifests:
        print(f"\nReturns in {settings.outbox_dir} (the National Impact Study only under restricted/)")
        for manifest in manifests[-1:]:
            for path in sorted(p for p in manifest.parent.rglob("*") if p.is_file()):
                print(f"  {path.relative_to(settings.outbox_dir)}")


def cmd_summary(_: argparse.Namespace) -> int:
    print_summary()
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """An analyst's own query, read-only, so a running pipeline can still write."""
    import duckdb

    warehouse = get_settings().warehouse
    if not warehouse.exists():
        print(f"familyhub sql: no warehouse at {warehouse}: run `make demo` (or the pipeline) first", file=sys.stderr)
        return 2
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            frame = (_excel_ready(con, args.query) if args.csv else con.execute(args.query)).df()
        finally:
            con.close()
    except duckdb.Error as exc:  # the query's own mistake (a table not built yet, a typo): one line, no traceback
        line = _without_values(str(exc).splitlines()[0], args.query)  # it may quote a row's value
        print(f"familyhub sql: {type(exc).__name__}: {line}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.write(frame.to_csv(index=False))
    else:
        print(frame.to_string(index=False, max_rows=args.max_rows))
    return 0


VALUE_PLACEHOLDER = "***"
# A quoted span opens at the start of a word and closes before a space, punctuation or the end of the line
# (so the quote in "can't" neither opens nor closes one).
_OPENING_QUOTE = {quote: re.compile(rf"(?:^|(?<=[\s(\[{{=:,])){quote}") for quote in "'\""}
_CLOSING_QUOTE = {quote: re.compile(rf"{quote}(?=[\s,.;:!?)\]}}]|$)") for quote in "'\""}
# a number of three digits or more, alone or with separators (9434765919, 9434765919.0, 2020-13-1), not a type's
# digits (INT32, DECIMAL(4,2))
_NUMBER = re.compile(r"(?<![\w.])\d[\d.:/-]*\d(?![\w])")
# the query's own words: the text of its literals; names (schema.table and each part), keywords, numbers; operators
_QUERY_LITERAL = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_QUERY_WORDS = (re.compile(r"\w+"), re.compile(r"[\w.]+"), re.compile(r"[^\w\s'\"]+"))


def _without_values(line: str, query: str) -> str:
    """A DuckDB error line with the values it quotes replaced, keeping what it says of the query (the error, the
    column, table or keyword it names, types, the column cast): a Conversion or Invalid Input error quotes the row
    value that failed ('...' or "..."), an out-of-range one gives it as a bare number, and stderr ends up in
    terminals, logs and tickets. A quoted text or number is kept only when it is one of the query's own words as
    typed (a keyword in capitals too: DuckDB names a statement DELETE); else it is hidden from its opening quote
    to the line's last closing one of that kind (to the end when none closes), so a value holding a quote of its
    own ("parents' request") is hidden whole. Identifier-shaped text (orchestration.lib.metadata) is hidden as
    well, for a value DuckDB gives unquoted (error(postcode))."""
    from orchestration.lib.metadata import PERSONAL_VALUE

    words = [m.group(1) if m.group(1) is not None else m.group(2) for m in _QUERY_LITERAL.finditer(query)]
    words += [word for pattern in _QUERY_WORDS for word in pattern.findall(query)]
    own = set(words) | {word.upper() for word in words if word.isalpha() and len(word) > 2}
    text = line
    for quote in "'\"":
        position = 0
        while opening := _OPENING_QUOTE[quote].search(text, position):
            closing = _CLOSING_QUOTE[quote].search(text, opening.end())
            if closing and text[opening.end():closing.start()] in own:
                position = closing.end()
                continue
            closings = list(_CLOSING_QUOTE[quote].finditer(text, opening.end()))
            end = closings[-1].end() if closings else len(text)
            text = f"{text[:opening.start()]}{quote}{VALUE_PLACEHOLDER}{quote}{text[end:]}"
            break
    text = _NUMBER.sub(lambda m: m.group() if m.group() in own or sum(c.isdigit() for c in m.group()) < 3
                       else VALUE_PLACEHOLDER, text)
    text = PERSONAL_VALUE.sub(VALUE_PLACEHOLDER, text)
    return text if text == line else f"{text} (values hidden)"


def _excel_ready(con, query: str):
    """The query with its lists as 'a;b' and its booleans as Y/N, as the returns and the workbook write them: a
    CSV cell of "['SF01' 'SF03']" or True is no use in Excel."""
    relation = con.sql(query)
    if relation is None:  # a statement with no result
        return con.execute(query)

    def cell(name: str, duckdb_type) -> str:
        quoted = '"' + name.replace('"', '""') + '"'
        kind = str(duckdb_type)
        if kind.endswith("[]"):
            return f"array_to_string({quoted}, ';') as {quoted}"
        if kind == "BOOLEAN":
            return f"case when {quoted} then 'Y' when not {quoted} then 'N' end as {quoted}"
        return quoted

    return relation.project(", ".join(cell(n, t) for n, t in zip(relation.columns, relation.types, strict=True)))


def cmd_link(args: argparse.Namespace) -> int:
    """Dedupe one list, or link and dedupe several, with the project's linkage (see linkage/README.md)."""
    from linkage.match import ListError, link_files, parse_mapping

    try:
        figures = link_files([Path(p) for p in args.input], args.id, parse_mapping(args.map), Path(args.out),
                             Path(args.pairs_out) if args.pairs_out else None, args.dob_format, args.threshold,
                             args.sheet, args.age_on)
    except ListError as exc:
        print(f"familyhub link: {exc}", file=sys.stderr)
        return 2
    _log(f"{figures['records']:,} records -> {figures['persons']:,} persons "
         f"({figures['pairs_at_or_above_threshold']:,} pairs at or above the threshold) in {figures['seconds']}s; "
         f"wrote {args.out}" + (f" and {args.pairs_out}" if args.pairs_out else ""))
    _log_unused_values(figures)
    if figures["dob_given_as"] == "age" and figures["inputs"] > 1 and len(args.age_on or ()) < figures["inputs"]:
        # snapshots years apart read on one date give one person years of birth years apart (recall 0 at 3 years)
        _log("the ages of every input are read as taken on one date: if the lists are snapshots of different "
             "dates, give --age-on once per --input, in order")
    return 0


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def _log_unused_values(figures: dict) -> None:
    """What the standardisation could not use (counts)."""
    if figures["dob_given_as"] == "age":
        _log(f"{figures['year_only_dates_of_birth']:,} ages read as years of birth (see --age-on)"
             + (f"; {figures['ages_not_read']:,} not a whole number of years from 0 to 130: compared as missing"
                if figures["ages_not_read"] else ""))
    elif figures["year_only_dates_of_birth"]:
        _log(f"{figures['year_only_dates_of_birth']:,} dates of birth give a year but no whole date: "
             "compared on the year")
    if figures["unparsed_dates_of_birth"] and figures["dob_given_as"] != "age":
        _log(f"{figures['unparsed_dates_of_birth']:,} dates of birth did not parse (see --dob-format): "
             "compared as missing")
    # a --dob-format that does not fit the list leaves only the years (or nothing): say so, whichever it left
    if (figures["dob_given_as"] == "date"
            and figures["unparsed_dates_of_birth"] + figures["year_only_dates_of_birth"] > figures["records"] / 2):
        _log("most dates of birth did not parse as whole dates: check --dob-format against the list (a date in "
             "another format than the one given keeps only its year)")
    if figures["placeholder_dates_of_birth"]:
        _log(f"{figures['placeholder_dates_of_birth']:,} dates of birth are placeholders (1 January where the "
             "list uses it for unknown dates, 1900-01-01, a spreadsheet's day zero, the future): compared as missing")
    if figures["placeholder_identifiers"]:
        from linkage.standardise import IDENTIFIER_PLACEHOLDER_RECORDS

        _log(f"{figures['placeholder_identifiers']:,} records carry an identifier shared by more than "
             f"{IDENTIFIER_PLACEHOLDER_RECORDS} records (a placeholder, not a person's): compared as missing")
    if figures.get("identifiers_with_digits_lost"):
        _log(f"{figures['identifiers_with_digits_lost']:,} records carry an identifier in scientific notation with "
             "digits lost (1.23457E+11: a list saved from Excel; format the column as text there): compared as "
             "missing")
    if figures.get("forenames_split"):
        _log(f"{figures['forenames_split']:,} forenames hold several given names (JOHN PAUL, MARY R.): the first is "
             "compared as the forename, the others as middle names")
    if figures.get("generations_given"):
        _log(f"{figures['generations_given']:,} records give a generation (Jr, Sr, III: a suffix column, or read "
             "off the end of a name): `link` never merges two records of different generations")
    if figures.get("placeholder_names"):
        _log(f"{figures['placeholder_names']:,} records carry a placeholder name (Unknown, Not Known, N/K, Test, "
             "XXX, a forename Baby...): compared as missing")


def cmd_match(args: argparse.Namespace) -> int:
    """Match a list against the warehouse's person index."""
    from linkage.match import ListError, match_list, parse_mapping

    if len(args.input) > 1:
        print("familyhub match: one --input at a time (run it once per list)", file=sys.stderr)
        return 2
    if args.age_on and len(args.age_on) > 1:
        print("familyhub match: --age-on once (the list's ages were taken on one date)", file=sys.stderr)
        return 2
    try:
        figures = match_list(Path(args.input[0]), args.id, parse_mapping(args.map), Path(args.out),
                             get_settings().warehouse, args.dob_format, args.threshold, args.sheet,
                             args.age_on[0] if args.age_on else None)
    except ListError as exc:
        print(f"familyhub match: {exc}", file=sys.stderr)
        return 2
    _log(f"{figures['records']:,} rows: {figures['match']:,} match, {figures['review']:,} review, "
         f"{figures['no_match']:,} no match, in {figures['seconds']}s; wrote {args.out}")
    if figures["fields_not_compared"]:
        _log(f"not compared (the person index's model has no comparison for them): "
             f"{', '.join(figures['fields_not_compared'])}")
    _log_unused_values(figures)
    return 0


def cmd_review_export(args: argparse.Namespace) -> int:
    """Write the review queue to an Excel workbook under <data_dir>/artefacts/review/ (personal data:
    it stays in the data folder; only its path and the count are printed)."""
    import duckdb

    from linkage.review import export_workbook
    from linkage.train import load_model

    settings = get_settings()
    con = _connect_for_review(duckdb, settings.warehouse, "export", read_only=True)
    if con is None:
        return 2
    try:
        path, pairs = export_workbook(con, settings.artefacts_dir / "review", load_model())
    finally:
        con.close()
    _log(f"{pairs:,} pairs to review written to {path}")
    return 0


def _connect_for_review(duckdb, warehouse: Path, command: str, read_only: bool = False):
    """The warehouse, or None (with a message) when there is none yet or a running materialisation holds it."""
    if not warehouse.exists():
        print(f"familyhub review {command}: no warehouse at {warehouse}: run `make demo` (or the pipeline) first",
              file=sys.stderr)
        return None
    try:
        return duckdb.connect(str(warehouse), read_only=read_only)
    except duckdb.IOException:
        print(f"familyhub review {command}: the warehouse is in use (a run is writing to it); retry when the run "
              "has finished: nothing was changed", file=sys.stderr)
        return None


def cmd_review_import(args: argparse.Namespace) -> int:
    """Apply a filled review workbook (or CSV with pair_id, decision[, reviewer]) on the next linkage run."""
    import duckdb

    from linkage.review import ReviewImportError, import_decisions

    con = _connect_for_review(duckdb, get_settings().warehouse, "import")
    if con is None:
        return 2
    try:
        counts = import_decisions(con, Path(args.file), reviewer=args.reviewer)
    except (ReviewImportError, FileNotFoundError) as exc:
        print(f"familyhub review import: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    if counts["already_imported"]:
        _log(f"{Path(args.file).name} was imported before (same sha256): nothing to do")
    elif not any(counts.values()):  # a header and no rows: say so rather than "0 decisions (0 rows left blank)"
        _log(f"0 decisions: {Path(args.file).name} has no rows under its header; nothing was recorded")
    else:
        _log(f"{counts['decisions_imported']:,} decisions recorded in linkage.review_decisions "
             f"({counts['rows_without_decision']:,} rows left blank)"
             + ("; they apply on the next run of linkage/person_crosswalk" if counts["decisions_imported"] else ""))
        if counts["repeated_decisions_skipped"]:
            _log(f"{counts['repeated_decisions_skipped']:,} decisions repeat one already on record and were "
                 "skipped (a repeat never overrides a later decision; give decided_at to decide again)")
        if counts["decided_since_export_skipped"]:
            _log(f"{counts['decided_since_export_skipped']:,} decisions are on pairs decided again after this "
                 "workbook was exported and were skipped, so an old copy never overturns a newer decision (export "
                 "a fresh workbook to review them, or give decided_at to decide again)")
        if counts["decisions_older_than_the_pairs_latest"]:
            _log(f"{counts['decisions_older_than_the_pairs_latest']:,} decisions are dated before their pair's "
                 "latest decision: recorded, but the later decision applies")
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    """The deliveries the raw gate quarantined: held first (their rows are out of staging), then released."""
    import duckdb

    con = _connect_for_review(duckdb, get_settings().warehouse, "quarantine list", read_only=True)
    if con is None:
        return 2
    try:
        if not con.execute("select count(*) from duckdb_tables() where schema_name = 'raw' "
                           "and table_name = '_quarantined_deliveries'").fetchall()[0][0]:
            _log("no delivery has been quarantined")
            return 0
        frame = con.execute("""
            select delivery_id, feed, file_name, failed_expectations, rows_landed, quarantined_at,
                   case when released_at is null then 'held' else 'released ' || strftime(released_at, '%Y-%m-%d %H:%M')
                   end as status
            from raw._quarantined_deliveries
            where released_at is null or not ?
            order by released_at is not null, quarantined_at""", [args.held]).df()
    finally:
        con.close()
    print(frame.to_string(index=False) if len(frame) else "no delivery held in quarantine")
    return 0


def cmd_quarantine_release(args: argparse.Namespace) -> int:
    """Release a held delivery (the partner confirmed its rows: the engineer's decision, recorded with who and
    when). Its rows are staged at the next warehouse build; it is not judged nor quarantined again. Also accepts,
    as it is, a delivery that passed the raw gate and fails it now (a registry or threshold change, or its rows
    altered): not quarantined, as the marts hold its rows, it blocks every run until released or put right."""
    import getpass

    import duckdb

    con = _connect_for_review(duckdb, get_settings().warehouse, "quarantine release")
    if con is None:
        return 2
    try:
        recorded = con.execute("select count(*) from duckdb_tables() where schema_name = 'raw' "
                               "and table_name = '_quarantined_deliveries'").fetchall()[0][0]
        held, released = con.execute(
            "select count(*) filter (where released_at is null), count(*) filter (where released_at is not null) "
            "from raw._quarantined_deliveries where delivery_id = ?", [args.delivery_id]).fetchall()[0] \
            if recorded else (0, 0)
        failing = None if held or released else _failing_after_passing(con, args.delivery_id)
        if not held and failing is None:
            why = "was released already" if released else ("is not held in quarantine (see `familyhub quarantine "
                                                            "list`) nor failing the raw gate after passing it")
            print(f"familyhub quarantine release: {args.delivery_id} {why}: nothing was changed", file=sys.stderr)
            return 2
        from expectations.raw_gate import QUARANTINE_DDL, QUARANTINE_TABLE

        con.execute(QUARANTINE_DDL)
        con.execute(f"alter table {QUARANTINE_TABLE} add column if not exists released_by varchar")
        by = args.by or getpass.getuser()
        if held:
            con.execute(f"update {QUARANTINE_TABLE} set released_at = current_timestamp, released_by = ? "
                        "where delivery_id = ? and released_at is null", [by, args.delivery_id])
        else:  # accepted as it is: recorded as quarantined and released at once, so it is not judged again
            con.execute(f"""insert into {QUARANTINE_TABLE} (delivery_id, feed, file_name, gate, failed_expectations,
                                rows_landed, run_id, quarantined_at, released_at, released_by)
                            select delivery_id, feed, file_name, 'raw_gate', ?, rows_landed, null, current_timestamp,
                                current_timestamp, ?
                            from raw._deliveries where delivery_id = ? and status = 'landed' limit 1""",
                        [failing, by, args.delivery_id])
    finally:
        con.close()
    _log(f"{args.delivery_id} released: its rows are staged at the next warehouse build (the build_warehouse job "
         "in the Dagster UI), and it is not judged nor quarantined again")
    return 0


def _failing_after_passing(con, delivery_id: str) -> str | None:
    """The errors the raw gate's latest run found in this landed delivery when it passed in an earlier run and was
    not quarantined (the gate blocks every run until it is released or the cause is put right), else None."""
    if not con.execute("select count(*) from duckdb_tables() where schema_name = 'quality' "
                       "and table_name = 'validation_results'").fetchall()[0][0]:
        return None
    from expectations.raw_gate import DELIVERY_SCOPE, GATE

    runs = con.execute("""select run_id, bool_and(passed or severity <> 'error'),
                                 string_agg(distinct case when not passed and severity = 'error' then expectation ||
                                            coalesce('(' || "column" || ')', '') end, ', ')
                          from quality.validation_results where gate = ? and scope = ? and delivery_id = ?
                          group by run_id order by max(validated_at)""", [GATE, DELIVERY_SCOPE, delivery_id]).fetchall()
    # as quarantine_failed_deliveries judges it: some earlier run passed it, and the latest fails it
    if not runs or runs[-1][1] or not any(passed for _, passed, _ in runs[:-1]):
        return None
    return runs[-1][2]


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
    sql.add_argument("--csv", action="store_true", help="print CSV (for Excel: lists as a;b, flags as Y/N) instead of a table")
    sql.add_argument("--max-rows", type=int, default=50)
    sql.set_defaults(func=cmd_sql)

    def list_arguments(command: argparse.ArgumentParser, several: bool) -> None:
        command.add_argument("--input", required=True, action="append",
                             help="the list, read by its suffix: .csv/.txt/.tsv (any of , ; tab | as separator), "
                                  ".xlsx/.xlsm, .parquet, .json/.jsonl/.ndjson; every column is read as text"
                                  + (" (repeat to link several; each file's stem is its `source`)" if several else ""))
        command.add_argument("--sheet", default=None, help="the worksheet to read from each .xlsx/.xlsm input "
                                                           "(default: the first)")
        command.add_argument("--id", required=True, help="the column holding each row's id (unique per file: a "
                                                         "repeated id is an error; COL1|COL2 as in --map)")
        command.add_argument("--map", required=True, action="append", metavar="FIELD=COL",
                             help="FIELD: first_name, middle_names, surname, dob, sex, address_line, locality, "
                                  "postcode, uprn, nhs_number, ni_number, upn, pnc_id, other_id (an identifier "
                                  "of one person, not a household's phone or email), full_name (a name in one "
                                  "column, 'Smith, John' or 'John Smith'), suffix (a generation: Jr, Sr, III; also "
                                  "read from the end of a surname), or dob_year, dob_month and dob_day (a "
                                  "date of birth in three columns, instead of dob), or age (whole years, instead "
                                  "of dob: compared as a year of birth, see --age-on); each field once. COL may "
                                  "be COL1|COL2|...: the first of them each input has (inputs of other layouts)")
        command.add_argument("--dob-format", default=None, help="strptime format, e.g. %%d/%%m/%%Y (default: ISO, "
                                                                "day-first and month-first forms, those that read "
                                                                "more of the list first)")
        command.add_argument("--age-on", type=_iso_date, action="append", default=None, metavar="YYYY-MM-DD",
                             help="the date the ages of --map age were taken (default: today)"
                                  + ("; once for all inputs, or once per --input in order (snapshots of "
                                     "different years)" if several else ""))
        command.add_argument("--threshold", type=float, default=None,
                             help="match probability to link at (default: match weight 4, p = 0.94, as the "
                                  "index links)")
        command.add_argument("--out", required=True)

    link = sub.add_parser("link", help="deduplicate one list (CSV, Excel, Parquet, JSON lines) or link and "
                                       "deduplicate several: clusters.csv")
    list_arguments(link, several=True)
    link.add_argument("--pairs-out", default=None, help="also write the scored pairs")
    link.set_defaults(func=cmd_link)

    match = sub.add_parser("match", help="match a list (CSV, Excel, Parquet, JSON lines) against the warehouse's "
                                         "person index: matched.csv")
    list_arguments(match, several=False)
    match.set_defaults(func=cmd_match)

    review = sub.add_parser("review", help="clerical review of uncertain pairs")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    export = review_sub.add_parser("export", help="write the review queue to an Excel workbook")
    export.set_defaults(func=cmd_review_export)
    imp = review_sub.add_parser("import", help="record decisions from a filled workbook or CSV")
    imp.add_argument("file")
    imp.add_argument("--reviewer", default=None, help="who decided, where the file has no reviewer column "
                                                      "(default: the login name)")
    imp.set_defaults(func=cmd_review_import)

    quarantine = sub.add_parser("quarantine", help="deliveries the raw gate quarantined: list them, release one")
    quarantine_sub = quarantine.add_subparsers(dest="quarantine_command", required=True)
    listing = quarantine_sub.add_parser("list", help="held and released deliveries (ids, files, failed checks, rows)")
    listing.add_argument("--held", action="store_true", help="only those still held")
    listing.set_defaults(func=cmd_quarantine_list)
    release = quarantine_sub.add_parser(
        "release", help="release a held delivery (its rows are staged next build), or accept one that passed the "
                        "raw gate and fails it now")
    release.add_argument("delivery_id")
    release.add_argument("--by", default=None, help="who decided (default: the login name)")
    release.set_defaults(func=cmd_quarantine_release)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
