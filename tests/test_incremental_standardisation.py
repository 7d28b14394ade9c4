"""The standardised person records are built incrementally (dbt model int_person_records_standardised): a build
redoes only the person records whose rows changed, and its result equals a full rebuild's."""

from __future__ import annotations

import shutil

import duckdb
import pytest

MODEL = "int_person_records_standardised"
ROWS = "intermediate.int_person_records"
STANDARDISED = f"intermediate.{MODEL}"
# a stored value no standardisation can produce (names keep letters, spaces and hyphens only): while it stands,
# its record was not rebuilt
MARK = "NOT REBUILT 0"


def _records(con, where: str, n: int = 2) -> list[str]:
    return [r[0] for r in con.execute(f"select person_record_id from {ROWS} group by person_record_id "
                                      f"having {where} order by person_record_id limit {n}").fetchall()]


def _table(con) -> dict[str, dict]:
    """person_record_id -> the record's stored row, by column."""
    cursor = con.execute(f"select * from {STANDARDISED}")
    columns = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(columns, row)) for row in cursor.fetchall()}


@pytest.fixture
def delivered(pipeline_copy, tmp_path):
    """A built warehouse after a delivery changed int_person_records: (data folder, a copy of it for a full
    rebuild, the records touched by kind). One untouched record's stored first name is marked."""
    data = pipeline_copy.data_dir
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        multi = _records(con, "count(*) > 1", 3)
        single = _records(con, "count(*) = 1 and bool_and(surname is not null)")
        changed, part, gone, copied, repeated = single[0], multi[0], single[1], multi[1], multi[2]
        untouched = con.execute(f"select person_record_id from {STANDARDISED} where person_record_id not in "
                                f"(?, ?, ?, ?, ?) order by person_record_id limit 1",
                                [changed, part, gone, copied, repeated]).fetchall()[0][0]
        con.execute(f"update {ROWS} set surname = surname || 'X' where person_record_id = ?", [changed])
        con.execute(f"delete from {ROWS} where record_key = (select min(record_key) from {ROWS} "
                    "where person_record_id = ?)", [part])
        con.execute(f"delete from {ROWS} where person_record_id = ?", [gone])
        # a new person record: another record's rows under a new system id
        con.execute(f"""insert into {ROWS} by name
            select * replace (source_record_id || '-new' as source_record_id, record_key || '-new' as record_key,
                              md5(source_system || '|' || source_record_id || '-new') as person_record_id)
            from {ROWS} where person_record_id = ?""", [copied])
        new = con.execute(f"select distinct person_record_id from {ROWS} where source_record_id like '%-new'"
                          ).fetchall()[0][0]
        # one of a record's rows delivered twice more (a hash in which equal rows cancel out would miss it)
        for _ in range(2):
            con.execute(f"insert into {ROWS} select * from {ROWS} where person_record_id = ? "
                        "order by record_key limit 1", [repeated])
        con.execute(f"update {STANDARDISED} set first_name = ? where person_record_id = ?", [MARK, untouched])
    full = tmp_path / "full"
    full.mkdir()
    shutil.copy(data / "warehouse.duckdb", full / "warehouse.duckdb")  # the same file name: the same rendered SQL
    return data, full, {"changed": changed, "part": part, "gone": gone, "new": new, "repeated": repeated,
                        "untouched": untouched}


def test_a_build_redoes_the_changed_records_only_and_equals_a_full_rebuild(delivered):
    from linkage.warehouse import dbt_build

    data, full, records = delivered
    dbt_build(data, MODEL)
    dbt_build(full, MODEL, full_refresh=True)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        incremental = _table(con)
        assert con.execute(f"select count(distinct person_record_id) from {ROWS}").fetchall()[0][0] == len(incremental)
    with duckdb.connect(str(full / "warehouse.duckdb"), read_only=True) as con:
        rebuilt = _table(con)

    # failures name hashed record ids and counts, never a record's values
    untouched = records["untouched"]
    kept_mark, rebuilt_mark = incremental[untouched]["first_name"] == MARK, rebuilt[untouched]["first_name"] == MARK
    assert kept_mark, "an unchanged record was restandardised"
    assert not rebuilt_mark
    gone_kept, new_built = records["gone"] in incremental, records["new"] in incremental
    assert not gone_kept and new_built
    differing = sorted(k for k in set(incremental) | set(rebuilt)
                       if k != untouched and incremental.get(k) != rebuilt.get(k))
    assert not differing, f"{len(differing)} records differ from a full rebuild, e.g. {differing[:3]}"
    # the changes reached the stored values (not only the fingerprints)
    surname_changed = incremental[records["changed"]]["surname"].endswith("X")
    assert surname_changed
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        left = con.execute(f"select count(*) from {ROWS} where person_record_id = ?", [records["part"]]).fetchall()[0][0]
    assert incremental[records["part"]]["n_source_rows"] == left
    assert incremental[records["repeated"]]["n_source_rows"] == rebuilt[records["repeated"]]["n_source_rows"]


def test_a_full_extract_sending_the_same_rows_again_redoes_no_record_and_equals_a_full_rebuild(pipeline_copy,
                                                                                                tmp_path):
    """A full extract delivers every row of its feed again: another delivery, file, load time and row order.
    What the rows say is unchanged, so no record is redone, and the table still equals a full rebuild: nothing
    standardised depends on where or when a row was delivered, not even the address of a record whose rows
    share one date."""
    from linkage.warehouse import dbt_build

    data = pipeline_copy.data_dir
    compact = "upper(replace(postcode, ' ', ''))"
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        # a record of one feed whose first and last rows in the file give different postcodes
        tied = _records(con, f"count(*) > 1 and count(distinct source_feed) = 1 and bool_and(postcode is not null) "
                             f"and arg_max({compact}, source_row_number) <> arg_min({compact}, source_row_number)", 1)
        assert tied, "the built pipeline has no record whose rows give different postcodes"
        tied = tied[0]
        feed = con.execute(f"select any_value(source_feed) from {ROWS} where person_record_id = ?", [tied]).fetchall()[0][0]
        # its rows all of one date: only an order among them chooses its address
        con.execute(f"update {ROWS} set record_date = (select max(record_date) from {ROWS} where person_record_id = ?) "
                    "where person_record_id = ?", [tied, tied])
    dbt_build(data, MODEL)
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        # the feed again, as its next full extract: rows in reverse order (a last row becomes the first)
        con.execute(f"""update {ROWS} set source_delivery_id = source_delivery_id || '-again',
                               source_file_name = 'again-' || source_file_name,
                               source_loaded_at = source_loaded_at + interval 1 day,
                               source_row_number = 1000000 - source_row_number
                        where source_feed = ?""", [feed])
        feed_records = [r[0] for r in con.execute(f"select distinct person_record_id from {ROWS} where source_feed = ? "
                                                  "and person_record_id <> ?", [feed, tied]).fetchall()]
        con.execute(f"update {STANDARDISED} set first_name = ? where person_record_id in "
                    f"(select unnest(?::varchar[]))", [MARK, feed_records])
    full = tmp_path / "full"
    full.mkdir()
    shutil.copy(data / "warehouse.duckdb", full / "warehouse.duckdb")
    dbt_build(data, MODEL)
    dbt_build(full, MODEL, full_refresh=True)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        incremental = _table(con)
    with duckdb.connect(str(full / "warehouse.duckdb"), read_only=True) as con:
        rebuilt = _table(con)

    # failures name hashed record ids and counts, never a record's values
    redone = [k for k in feed_records if incremental[k]["first_name"] != MARK]
    assert len(feed_records) > 10
    assert len(redone) == 0, f"{len(redone)} of {len(feed_records)} records redone"
    differing = sorted(k for k in set(incremental) | set(rebuilt)
                       if k not in feed_records and incremental.get(k) != rebuilt.get(k))
    assert not differing, f"{len(differing)} records differ from a full rebuild, e.g. {differing[:3]}"
    assert incremental[tied]["postcode"] == rebuilt[tied]["postcode"]


def test_a_change_to_the_nickname_seed_redoes_every_record(delivered):
    from linkage.warehouse import dbt_build

    data, _, records = delivered
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute("insert into reference.nicknames by name select 'Zebedee' as name, 'Zebadiah' as canonical")
    dbt_build(data, MODEL)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(f"select count(*) from {STANDARDISED} where first_name = ?", [MARK]).fetchall()[0][0] == 0


def test_a_table_from_before_fingerprints_is_redone_whole_and_gains_them(pipeline_copy):
    from linkage.warehouse import dbt_build

    with duckdb.connect(str(pipeline_copy.warehouse)) as con:
        con.execute(f"alter table {STANDARDISED} drop column source_rows_fingerprint")
        con.execute(f"update {STANDARDISED} set first_name = ?", [MARK])
    dbt_build(pipeline_copy.data_dir, MODEL)
    with duckdb.connect(str(pipeline_copy.warehouse), read_only=True) as con:
        marked, fingerprinted, records = con.execute(
            f"select count(*) filter (where first_name = ?), count(source_rows_fingerprint), count(*) "
            f"from {STANDARDISED}", [MARK]).fetchall()[0]
    assert (marked, fingerprinted) == (0, records)


@pytest.mark.parametrize("full_refresh", [False, True])
def test_the_dagster_step_builds_incrementally_unless_a_full_refresh_is_asked_for(pipeline_copy, full_refresh):
    from orchestration.defs.linkage import assets
    from tests.conftest import materialize_pipeline

    with duckdb.connect(str(pipeline_copy.warehouse)) as con:
        con.execute(f"update {STANDARDISED} set first_name = ? where person_record_id = "
                    f"(select min(person_record_id) from {STANDARDISED})", [MARK])
    result = materialize_pipeline(pipeline_copy, selection=[assets.PERSON_RECORDS, assets.STANDARDISED],
                                  run_config={"ops": {"intermediate": {"config": {"full_refresh": full_refresh}}}})
    assert result.success
    with duckdb.connect(str(pipeline_copy.warehouse), read_only=True) as con:
        marked = con.execute(f"select count(*) from {STANDARDISED} where first_name = ?", [MARK]).fetchall()[0][0]
    assert marked == (0 if full_refresh else 1)


def test_a_full_extract_landed_again_restandardises_none_of_its_records(pipeline_copy):
    """End to end: the programme's case members feed (`extract: full`) sends its whole extract again, rows in
    reverse order, in a file of a later date. Landing, the gates and staging take it (every staged row now comes
    from the new delivery), and the incremental standardisation redoes none of the feed's person records: what
    the rows say is unchanged, only where and when they came."""
    import csv

    import dagster as dg

    from orchestration.defs.landing.assets import landing_asset_key
    from orchestration.defs.linkage import assets
    from tests.conftest import materialize_pipeline

    feed = "programme_cases"
    [source] = sorted((pipeline_copy.landing_dir / feed).glob("*.csv"))
    with source.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    again = source.parent / "programme_cases_2026-12-31.csv"
    with again.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows[::-1]])
    feed_records = f"select distinct person_record_id from {ROWS} where source_feed = '{feed}'"
    with duckdb.connect(str(pipeline_copy.warehouse)) as con:
        con.execute(f"update {STANDARDISED} set first_name = ? where person_record_id in ({feed_records})", [MARK])
        marked = con.execute(f"select count(*) from {STANDARDISED} where first_name = ?", [MARK]).fetchall()[0][0]
    staging = dg.AssetKey(["staging", "stg_programme__case_members"])
    result = materialize_pipeline(pipeline_copy, selection=[landing_asset_key(feed), staging, assets.PERSON_RECORDS,
                                                            assets.STANDARDISED])
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    with duckdb.connect(str(pipeline_copy.warehouse), read_only=True) as con:
        (new_delivery, full), = con.execute("select delivery_id, full_extract from raw._deliveries "
                                            "where file_name = ?", [again.name]).fetchall()
        (from_new, rows_of_feed), = con.execute(
            f"select count(*) filter (where source_delivery_id = ?), count(*) from {ROWS} "
            f"where source_feed = '{feed}'", [new_delivery]).fetchall()
        still_marked = con.execute(f"select count(*) from {STANDARDISED} where first_name = ?", [MARK]).fetchall()[0][0]
    assert full and from_new == rows_of_feed > 0  # the feed's rows are the new delivery's now
    assert marked > 0 and still_marked == marked  # and none of its records was standardised again
