"""Full extracts (`extract: full` in orchestration/feeds.yml): each file is the source's whole current set of
records, so staging reads no delivery older than the feed's latest full one. A record the source withdrew, or
whose key it corrected, leaves staging; a late resend of an older extract supersedes nothing; a full extract
held in quarantine supersedes nothing until it is released. A `changes` feed keeps every record.

Real landing, real raw and staged gates, real dbt staging, on a copy of the built pipeline. Assertions count
rows and compare record ids as sets; nothing is printed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.landing.assets import landing_asset_key
from orchestration.defs.landing.loader import ensure_raw_schema
from orchestration.lib.feeds import RegistryError, load_registry, registry
from orchestration.lib.settings import Settings
from tests.conftest import materialize_pipeline
from tests.test_gates import query

EPISODES = registry()["csc_episodes"]
LANDING = landing_asset_key(EPISODES.name)
STAGING = dg.AssetKey(["staging", "stg_social_care__episodes"])
SELECTION = [LANDING, STAGING]
STAGED_IDS = "select episode_id from staging.stg_social_care__episodes"


def staged_ids(settings: Settings) -> set[str]:
    return {r[0] for r in query(settings, STAGED_IDS)}


def differ(a: set, b: set) -> int:
    """How many ids are in one set only (a count: assertion output never lists ids)."""
    return len(a ^ b)


def rows_landed(settings: Settings, file_name: str) -> int:
    return query(settings, "select rows_landed from raw._deliveries where file_name = ?", [file_name])[0][0]


def delivered(settings: Settings) -> tuple[Path, list[str], list[list[str]]]:
    """The built pipeline's one episodes file: (its path, header, the rows staged from it). The rows landing
    rejected (the generator plants some) are left out, so a file made of these lands whole."""
    [source] = sorted((settings.landing_dir / EPISODES.name).glob("*.csv"))
    with source.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    episode_id, staged = header.index("EPISODE_ID"), staged_ids(settings)
    return source, header, [r for r in rows if r[episode_id] in staged]


def deliver(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    with (folder / name).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])


def delivery(settings: Settings, file_name: str) -> tuple[str, str | None, bool]:
    [(delivery_id, reason, full)] = query(settings, "select delivery_id, reason, full_extract from raw._deliveries "
                                                    "where file_name = ?", [file_name])
    return delivery_id, reason, full


def staged_gate(result) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.asset_key == STAGING and e.check_name == "staged_gate"]
    return evaluation


def raw_gate(result) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.asset_key == LANDING and e.check_name == "raw_gate"]
    return evaluation


def test_a_full_extract_withdraws_the_records_it_no_longer_carries_and_a_late_older_one_changes_nothing(
        pipeline_copy):
    settings = pipeline_copy
    source, header, rows = delivered(settings)
    episode_id = header.index("EPISODE_ID")
    before = staged_ids(settings)
    original_rows = rows_landed(settings, source.name)
    withdrawn = {r[episode_id] for r in rows[:30]}
    # 30 episodes withdrawn at source, 5 re-keyed (a corrected id), the rest delivered again
    rekeyed = [list(r) for r in rows[30:35]]
    old_keys = {r[episode_id] for r in rekeyed}
    for r in rekeyed:
        r[episode_id] = f"{r[episode_id]}-C"
    deliver(source.parent, "csc_episodes_2026-12-31.csv", header, rekeyed + rows[35:])

    with dg.instance_for_test() as instance:
        first = materialize_pipeline(settings, instance, selection=SELECTION)
        assert first.success, [e.message for e in first.all_events if e.is_failure]
        current, reason, full = delivery(settings, "csc_episodes_2026-12-31.csv")
        gone = len((withdrawn | old_keys) & before)
        assert full and reason == (f"full extract: {gone} records staged until now not in it, which leave staging "
                                   "once the raw gate passes it")
        after = staged_ids(settings)
        new_keys = {r[episode_id] for r in rekeyed} & {r[0] for r in query(
            settings, "select episode_id from raw.csc_episodes where _delivery_id = ?", [current])}
        # counts in locals: pytest's explanation of a failed assert would list the sets
        unexpected = differ(after, (before - withdrawn - old_keys) | new_keys)
        leaked, corrected, rekeyed_before = len(after & (withdrawn | old_keys)), len(new_keys), len(old_keys & before)
        assert unexpected == 0 and leaked == 0 and corrected == rekeyed_before > 0
        assert query(settings, "select count(*) from staging.stg_social_care__episodes "
                               "where source_delivery_id <> ?", [current]) == [(0,)]
        gate = staged_gate(first)
        assert gate.passed and gate.metadata["superseded_by_full_extract_rows"].value == original_rows
        assert gate.metadata["unaccounted_rows"].value == 0

        # the old extract again, with one more episode, sent late under an earlier date: superseded on arrival
        extra = list(rows[0])
        extra[episode_id] = "LATE-EXTRA"
        deliver(source.parent, "csc_episodes_2026-11-30.csv", header, rows + [extra])
        second = materialize_pipeline(settings, instance, selection=SELECTION)
        assert second.success, [e.message for e in second.all_events if e.is_failure]
        _, reason, _ = delivery(settings, "csc_episodes_2026-11-30.csv")
        assert reason.startswith("older extract") and "full extract" not in reason
        unexpected = differ(staged_ids(settings), after)
        assert unexpected == 0
        gate = staged_gate(second)
        assert gate.passed and gate.metadata["superseded_by_full_extract_rows"].value == (
            original_rows + rows_landed(settings, "csc_episodes_2026-11-30.csv"))


def test_a_truncated_full_extract_withdraws_nothing_while_held_and_everything_it_lacks_once_released(
        pipeline_copy):
    settings = pipeline_copy
    source, header, rows = delivered(settings)
    episode_id = header.index("EPISODE_ID")
    before = staged_ids(settings)
    original_rows = rows_landed(settings, source.name)
    short = rows[: len(rows) // 3]  # a third of the usual rows: row_count_vs_previous blocks it
    deliver(source.parent, "csc_episodes_2026-12-31.csv", header, short)

    with dg.instance_for_test() as instance:
        blocked = materialize_pipeline(settings, instance, selection=SELECTION)
        gate = raw_gate(blocked)
        assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
        unexpected = differ(staged_ids(settings), before)
        assert unexpected == 0
        held, _, _ = delivery(settings, "csc_episodes_2026-12-31.csv")

        # held in quarantine: the rerun stages the feed as of the previous full extract
        rerun = materialize_pipeline(settings, instance, selection=SELECTION)
        assert rerun.success, [e.message for e in rerun.all_events if e.is_failure]
        unexpected = differ(staged_ids(settings), before)
        assert unexpected == 0
        assert staged_gate(rerun).metadata["superseded_by_full_extract_rows"].value == 0

        # the engineer's release: the file is the source's truth now
        con = duckdb.connect(str(settings.warehouse))
        try:
            con.execute("update raw._quarantined_deliveries set released_at = current_timestamp "
                        "where delivery_id = ?", [held])
        finally:
            con.close()
        released = materialize_pipeline(settings, instance, selection=SELECTION)
        assert released.success, [e.message for e in released.all_events if e.is_failure]
        unexpected = differ(staged_ids(settings), before & {r[episode_id] for r in short})
        assert unexpected == 0
        gate = staged_gate(released)
        assert gate.passed and gate.metadata["superseded_by_full_extract_rows"].value == original_rows


def test_a_feeds_first_full_extract_carries_no_withdrawal_note(warehouse):
    """The first delivery withdraws nothing, rejected rows or not: its reason says nothing about withdrawing."""
    con, _ = warehouse
    firsts = con.execute("""select count(*), count(*) filter (where reason like '%full extract%'),
                                   count(*) filter (where rows_rejected > 0)
                            from raw._deliveries where full_extract""").fetchall()[0]
    assert firsts[0] == 4 and firsts[1] == 0 and firsts[2] > 0


def test_a_changes_feed_keeps_records_a_later_delivery_does_not_carry(pipeline_copy):
    """csc_persons sends the records changed since its last extract: a person absent from it stays staged."""
    settings = pipeline_copy
    persons = registry()["csc_persons"]
    assert not persons.is_full_extract
    [source] = sorted((settings.landing_dir / persons.name).glob("*.csv"))
    with source.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    before = {r[0] for r in query(settings, "select person_id from staging.stg_social_care__persons")}
    changed = rows[: int(len(rows) * 0.9)]  # within the row-count band, 10% of the persons absent
    deliver(source.parent, "csc_persons_2026-12-31.csv", header, changed)
    with dg.instance_for_test() as instance:
        result = materialize_pipeline(settings, instance, selection=[landing_asset_key(persons.name),
                                                                     dg.AssetKey(["staging",
                                                                                  "stg_social_care__persons"])])
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    _, reason, full = query(settings, "select delivery_id, reason, full_extract from raw._deliveries "
                                      "where file_name = 'csc_persons_2026-12-31.csv'")[0]
    assert full is False and reason is None
    after = {r[0] for r in query(settings, "select person_id from staging.stg_social_care__persons")}
    unexpected = differ(after, before)
    assert unexpected == 0


def test_a_full_extract_with_a_rejected_row_or_too_many_records_missing_withdraws_nothing(pipeline_copy):
    """A rejected row's record would look deleted: such a file updates what it carries and withdraws nothing
    until a whole one lands. A file lacking over a fifth of the records (here re-keyed wholesale) is blocked."""
    settings = pipeline_copy
    source, header, rows = delivered(settings)
    episode_id, start = header.index("EPISODE_ID"), header.index("START_DATE")
    before = staged_ids(settings)
    bad = list(rows[-1])
    bad[start] = "31/02/2026"  # no such day: rejected at landing
    deliver(source.parent, "csc_episodes_2026-11-30.csv", header, rows[30:-1] + [bad])

    with dg.instance_for_test() as instance:
        first = materialize_pipeline(settings, instance, selection=SELECTION)
        assert first.success, [e.message for e in first.all_events if e.is_failure]
        _, reason, _ = delivery(settings, "csc_episodes_2026-11-30.csv")
        assert reason == ("full extract with 1 row rejected: it withdraws no record from staging until a full "
                          "extract lands whole")
        unexpected = differ(staged_ids(settings), before)
        assert unexpected == 0
        assert staged_gate(first).metadata["superseded_by_full_extract_rows"].value == 0

        # a whole file, but with 30% of the episodes under new ids: blocked, and staging keeps what it had
        rekeyed = [list(r) for r in rows]
        for r in rekeyed[: len(rekeyed) * 3 // 10]:
            r[episode_id] = f"{r[episode_id]}-X"
        deliver(source.parent, "csc_episodes_2026-12-31.csv", header, rekeyed)
        blocked = materialize_pipeline(settings, instance, selection=SELECTION)
        gate = raw_gate(blocked)
        assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
        assert gate.metadata["failed_errors"].value == ["full_extract_withdrawn_share"]
        unexpected = differ(staged_ids(settings), before)
        assert unexpected == 0

        # the partner's corrected whole file: the 30 withdrawn episodes leave staging
        deliver(source.parent, "csc_episodes_2027-01-31.csv", header, rows[30:])
        fixed = materialize_pipeline(settings, instance, selection=SELECTION)
        assert fixed.success, [e.message for e in fixed.all_events if e.is_failure]
        unexpected = differ(staged_ids(settings), {r[episode_id] for r in rows[30:]})
        assert unexpected == 0


def test_a_warehouse_landed_before_full_extracts_were_recorded_flags_no_delivery_full():
    """Withdrawing starts with the feed's next full extract, judged by the raw gate, not with the upgrade."""
    con = duckdb.connect(":memory:")
    con.execute("create schema raw")
    con.execute("""create table raw._deliveries (delivery_id varchar, feed varchar, file_name varchar,
        file_sha256 varchar, file_bytes bigint, status varchar, rows_landed bigint, rows_rejected bigint,
        reason varchar, landed_at timestamp, extract_date date)""")
    con.execute("""insert into raw._deliveries (delivery_id, feed, file_name, status) values
        ('a', 'csc_episodes', 'csc_episodes_2026-01-31.csv', 'landed'),
        ('b', 'csc_persons', 'csc_persons_2026-01-31.csv', 'landed')""")
    ensure_raw_schema(con)
    assert con.execute("select feed, full_extract from raw._deliveries order by feed").fetchall() == [
        ("csc_episodes", False), ("csc_persons", False)]


def test_the_registry_refuses_an_unknown_extract_kind(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "orchestration" / "feeds.yml").read_text(encoding="utf-8")
    bad = tmp_path / "feeds.yml"
    bad.write_text(text.replace("extract: full", "extract: snapshot", 1), encoding="utf-8")
    with pytest.raises(RegistryError, match="extract 'snapshot' not one of"):
        load_registry(bad)
