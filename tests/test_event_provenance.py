"""Every event proves its source, and says what the criteria read it as (shared 2,000-person pipeline, read-only).

- Each fct_event row carries the raw locator of the row it was delivered in (source_delivery_id, source_file_name,
  source_row_number, source_loaded_at) and that locator finds exactly that row in raw.<source_feed>.
- criteria_event_code / criteria_indicator_codes / criteria_headline_codes agree with what the criteria ruleset
  actually counted; a police incident flagged domestic abuse carries the domestic-abuse code whatever its display
  headline.
- The synthetic housing feed holds one event of a type per lead tenant a day (no same-day duplicates).
"""

from __future__ import annotations

import duckdb
import pytest

from orchestration.lib.feeds import registry
from tests.dbt_lists import event_models

LOCATOR = ("source_delivery_id", "source_file_name", "source_row_number", "source_loaded_at")


@pytest.fixture(scope="module")
def settings(built_pipeline):
    return built_pipeline[0]


@pytest.fixture(scope="module")
def con(settings):
    connection = duckdb.connect(str(settings.warehouse), read_only=True)
    yield connection
    connection.close()


def one(con, sql: str, params=None):
    return con.execute(sql, params or []).fetchall()[0]


def test_every_event_points_to_the_raw_row_it_was_delivered_in(con):
    feeds = registry()
    event_feeds = [r[0] for r in con.execute("select distinct source_feed from marts.fct_event order by 1").fetchall()]
    assert len(event_feeds) == len(event_models())  # every event model's feed (one each) has events here
    for column in LOCATOR:
        assert one(con, f"select count(*) from marts.fct_event where {column} is null") == (0,), column
    for feed_name in event_feeds:
        feed = feeds[feed_name]
        first_key = feed.record_key_columns[0]
        n_events, n_found, n_key_matches, n_distinct_rows = one(con, f"""
            select
                count(*),
                count(raw._row_number),
                -- the record key starts with the raw row's first key column: the row is the record's own
                count(*) filter (where split_part(event.record_key, '|', 1) = trim(cast(raw."{first_key}" as varchar))),
                count(distinct (event.source_delivery_id, event.source_row_number))
            from marts.fct_event as event
            left join {feed.raw_table} as raw
                on raw._delivery_id = event.source_delivery_id
                and raw._row_number = event.source_row_number
                and raw._file_name = event.source_file_name
                and raw._loaded_at = event.source_loaded_at
            where event.source_feed = ?
        """, [feed_name])
        assert n_events > 0, feed_name
        assert n_found == n_events, f"{feed_name}: {n_events - n_found} events whose locator finds no raw row"
        assert n_key_matches == n_events, f"{feed_name}: {n_events - n_key_matches} locators find another record"
        assert n_distinct_rows == n_events, f"{feed_name}: two events share one raw row"
    # the chronologies repeat their event's locator
    for chronology in ("person_chronology", "family_chronology"):
        assert one(con, f"""
            select count(*) from marts.{chronology} as chronology
            join marts.fct_event as event using (event_id)
            where (chronology.source_delivery_id, chronology.source_file_name, chronology.source_row_number,
                   chronology.source_loaded_at)
                is distinct from (event.source_delivery_id, event.source_file_name, event.source_row_number,
                                  event.source_loaded_at)
                or chronology.criteria_headline_codes is distinct from event.criteria_headline_codes
        """) == (0,), chronology


def test_unlinked_events_still_name_their_source_person(con):
    assert one(con, "select count(*) from marts.fct_event where source_record_id is null") == (0,)
    # only a social care episode whose child's register row never reached staging lacks a person
    assert one(con, """
        select count(*) from marts.fct_event as event
        where event.person_id is null
            and (event.source_feed <> 'csc_episodes' or exists (
                select 1 from staging.stg_social_care__persons as persons
                where persons.source_record_id = event.source_record_id))
    """) == (0,)


def test_domestic_abuse_flagged_police_incidents_carry_the_domestic_abuse_criteria_code(con):
    # the flag is read from the raw row the locator points to, not from anything fct_event derived
    rows = con.execute("""
        select
            upper(trim(raw.domestic_abuse_flag)) in ('Y', 'YES', 'TRUE', 'T', '1') as is_flagged,
            event.headline,
            event.criteria_event_code,
            list_contains(event.criteria_indicator_codes, 'DA_POLICE_INCIDENT') as evidences_da,
            list_contains(event.criteria_headline_codes, 'SF08') as counts_under_sf08,
            event.person_id is not null and event.event_date is not null as criteria_can_read
        from marts.fct_event as event
        join raw.police_incidents as raw
            on raw._delivery_id = event.source_delivery_id and raw._row_number = event.source_row_number
        where event.source_feed = 'police_incidents'
    """).fetchall()
    flagged = [r for r in rows if r[0]]
    assert len(flagged) >= 20
    assert all(r[2] == "DOMESTIC_ABUSE" for r in flagged)
    assert all(r[3] and r[4] for r in flagged if r[5])
    # the display headline files some of them elsewhere (crime, ASB, welfare): the criteria columns say SF08
    assert any(r[1] != "SF08" and r[4] for r in flagged)
    assert not any(r[2] == "DOMESTIC_ABUSE" or r[3] for r in rows if not r[0])


def test_criteria_columns_agree_with_the_evidence_the_criteria_counted(con):
    listed = """select event_id, unnest(criteria_indicator_codes) as indicator_code from marts.fct_event"""
    matched = "select distinct event_id, indicator_code from intermediate.int_criteria__indicator_evidence"
    n_listed, missing, extra = one(con, f"""
        select (select count(*) from ({listed})),
               (select count(*) from ({matched} except {listed})),
               (select count(*) from ({listed} except {matched}))
    """)
    assert n_listed > 1000
    assert (missing, extra) == (0, 0)
    # every event a person's indicator cites as evidence lists that indicator and its headline
    assert one(con, """
        with cited as (
            select indicator_code, headline_code, unnest(evidence_event_ids) as event_id from marts.person_criteria
        )
        select count(*) from cited join marts.fct_event as event using (event_id)
        where not list_contains(event.criteria_indicator_codes, cited.indicator_code)
            or not list_contains(event.criteria_headline_codes, cited.headline_code)
    """) == (0,)


def test_housing_feed_has_no_same_day_duplicate_events(con, settings):
    truth = (settings.truth_dir / "source_records.parquet").as_posix()
    n_rows, n_duplicated = one(con, f"""
        with delivered as (
            select truth.true_person_id, raw.event_type, raw.event_date
            from raw.housing_events as raw
            join read_parquet('{truth}') as truth
                on truth.feed = 'housing_events' and truth.file_name = raw._file_name
                and truth.row_number = raw._row_number
        )
        select
            (select count(*) from delivered),
            (select count(*) from (
                select true_person_id, event_type, event_date from delivered group by all having count(*) > 1))
    """)
    assert n_rows > 50
    assert n_duplicated == 0
