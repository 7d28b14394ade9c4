"""Files that hold personal data are owner-only whatever the umask (privacy review finding 7): the Splink charts,
the review workbooks and the restricted outbox, 0600 in a 0700 folder; the pseudonymised returns keep the umask's
mode. Synthetic records, no pipeline."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from returns.periods import period_from_key
from returns.spec import get_spec
from returns.writers import conform_return, return_dir, write_return

PERIOD = period_from_key("2026-07-01")  # 2026-Q3


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request):
    """A umask that lets others read what is created (022 is the usual one)."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_a_restricted_return_is_owner_only_and_a_pseudonymised_one_keeps_the_umask(tmp_path, umask):
    nis, claims = get_spec("national_impact_study"), get_spec("results_claims")
    restricted = return_dir(tmp_path, PERIOD, nis)
    restricted.mkdir(parents=True, mode=0o755)  # a folder made before (or by hand): tightened too
    os.chmod(restricted, 0o755)
    for spec in (nis, claims):  # no rows: the header alone shows the mode, and no value looks like a person's
        files = write_return(tmp_path, PERIOD, spec, conform_return(spec, pd.DataFrame(columns=spec.column_names)))
        assert len(files) == 2
        for written in files:
            assert mode(written.path) == (0o600 if spec.restricted else 0o666 & ~umask), written.relative
    assert mode(restricted) == 0o700
    assert mode(restricted.parent) == 0o777 & ~umask  # outbox/<period>/ holds the pseudonymised returns
    assert sorted(p.name for p in restricted.iterdir()) == ["national_impact_study_2026-Q3.csv",
                                                             "national_impact_study_2026-Q3.xlsx"]  # no .tmp left


# --- linkage artefacts -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linked():
    """Six synthetic list records standardised and linked with the committed model, as `familyhub link` does."""
    from linkage.review import build_queue
    from linkage.run import link_persons
    from linkage.standardise import standardise
    from linkage.train import load_model

    raw = pd.DataFrame({
        "source": ["clinic"] * 4 + ["school"] * 2, "record_id": ["c1", "c2", "c3", "c4", "s1", "s2"],
        "first_name": ["Testa", "Testa", "Probe", "Probe", "Testa", "Sample"],
        "surname": ["Fictional"] * 5 + ["Madeup"],
        "dob": ["2011-07-12", "2011-07-12", "2013-02-27", "2015-11-05", "2011-07-12", "2010-05-05"],
        "postcode": ["ZZ99 1AA"] * 5 + ["ZZ99 2BB"]})
    records = standardise(raw)
    model = load_model()
    result = link_persons(records)
    no_decisions = pd.DataFrame(columns=["pair_id", "person_record_id_l", "person_record_id_r", "decision"])
    return records, model, result, build_queue(records, result.crosswalk, result.pairs, no_decisions, model)


def test_splink_charts_are_owner_only(tmp_path, umask, linked):
    from linkage.charts import CHARTS, write_charts

    records, model, result, queue = linked
    charts = tmp_path / "artefacts" / "linkage"
    charts.mkdir(parents=True)
    os.chmod(charts, 0o755)
    paths = write_charts(charts, model, records, result, queue)
    assert sorted(paths) == sorted(CHARTS)
    assert {name: mode(path) for name, path in paths.items()} == {name: 0o600 for name in CHARTS}
    assert mode(charts) == 0o700


def test_a_review_workbook_is_owner_only(tmp_path, umask, linked):
    from linkage.review import QUEUE_TABLE, export_workbook, pair_id

    records, model, result, _ = linked
    crosswalk = result.crosswalk[["person_record_id", "person_id"]]
    # one queued pair of records in two persons, as the index queues them
    left, right = crosswalk.drop_duplicates("person_id")["person_record_id"].head(2)
    person = dict(zip(crosswalk["person_record_id"], crosswalk["person_id"]))
    queue = pd.DataFrame([{"pair_id": pair_id(left, right), "person_record_id_l": left, "person_record_id_r": right,
                           "person_id_l": person[left], "person_id_r": person[right], "match_weight": 7.5,
                           "match_probability": 0.9945}])
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        con.execute("create schema intermediate")
        con.execute("create schema linkage")
        con.execute("create table intermediate.int_person_records_standardised as select * from records")
        con.execute("create table linkage.person_crosswalk as select * from crosswalk")
        con.execute(f"create table {QUEUE_TABLE} as select * from queue")
        folder = tmp_path / "artefacts" / "review"
        folder.mkdir(parents=True)
        os.chmod(folder, 0o755)
        path, pairs = export_workbook(con, folder, model)
    finally:
        con.close()
    assert pairs == 1 and path.parent == folder
    assert (mode(path), mode(folder)) == (0o600, 0o700)
