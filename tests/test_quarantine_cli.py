"""`familyhub quarantine list|release`: the data engineer's way to see held deliveries and release one (the
warehouse is otherwise only reachable read-only from the CLI). Real landing and raw gate; output is checked for
delivery ids and counts only.
"""

from __future__ import annotations

import pytest

from orchestration.cli import main
from tests.test_gates import gate_run, good_rows, persons_downstream, query, quarantined, write_persons
from tests.test_gates import settings  # noqa: F401 (the fixture)


@pytest.fixture
def held(settings, monkeypatch):  # noqa: F811
    """A warehouse with one csc_persons delivery held in quarantine (half the rows of the one before it)."""
    monkeypatch.setenv("FAMILYHUB_DATA_DIR", str(settings.data_dir))
    write_persons(settings, "csc_persons_2026-01-31.csv", good_rows(200))
    assert gate_run(settings)[0].passed
    write_persons(settings, "csc_persons_2026-02-28.csv", good_rows(100, start=1000))
    assert not gate_run(settings)[0].passed
    [(delivery_id, *_)] = quarantined(settings)
    return settings, delivery_id


def test_list_names_the_held_delivery_and_release_records_who_and_lets_it_through(held, capsys):
    settings, delivery_id = held
    assert main(["quarantine", "list", "--held"]) == 0
    listing = capsys.readouterr().out
    assert delivery_id in listing and "held" in listing and "row_count_vs_previous" in listing
    assert "Forename" not in listing and "Surname" not in listing  # the rows' values never appear

    assert main(["quarantine", "release", delivery_id, "--by", "engineer-1"]) == 0
    assert query(settings, "select released_by, released_at is not null from raw._quarantined_deliveries "
                           "where delivery_id = ?", [delivery_id]) == [("engineer-1", True)]
    assert main(["quarantine", "list", "--held"]) == 0
    assert "no delivery held in quarantine" in capsys.readouterr().out

    # the next build stages it: the gate passes and downstream runs, the delivery is not judged again
    evaluation, materialised = gate_run(settings)
    assert evaluation.passed and persons_downstream.key in materialised
    assert evaluation.metadata["deliveries_judged"].value == 0  # the newest is the released one: not judged again


def test_release_refuses_a_delivery_that_is_not_held(held, capsys):
    settings, delivery_id = held
    assert main(["quarantine", "release", "csc_persons:0000000000000000"]) == 2
    assert "is not held in quarantine" in capsys.readouterr().err
    assert main(["quarantine", "release", delivery_id]) == 0
    assert main(["quarantine", "release", delivery_id]) == 2  # released already: nothing changes
    assert len(query(settings, "select * from raw._quarantined_deliveries")) == 1
