"""Given names written in a list's forename column (issue 3 §6, a third audit): JOHN PAUL in one roll's forename
column and JOHN with middle name PAUL in another's are one person's names; the standardisation splits the column
so that the two compare alike, and twins whose compound forenames share a first word (MARIA JOSE / MARIA ELENA)
stay apart although their forenames are then the same."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from linkage.cluster import LIST_RULES, WAREHOUSE_RULES, cluster
from linkage.match import link_files, surnames_only
from linkage.standardise import standardise
from tests.test_linkage_lists import FORENAMES, SURNAMES
from tests.test_linkage_rules import _edges, _partition, rid, settled_and_ruled


def _given_names(forenames: list[str], middles: list[str | None] | None = None) -> list[tuple]:
    raw = pd.DataFrame({"source": "list", "record_id": [f"r{i}" for i in range(len(forenames))],
                        "first_name": forenames, "middle_names": middles or [None] * len(forenames),
                        "surname": "SMITH"})
    out = standardise(raw).to_pandas().set_index("source_record_id").loc[raw["record_id"]]
    return list(out[["first_name", "middle_names", "forename_middles"]].itertuples(index=False, name=None))


def test_a_forename_column_of_known_names_is_split_and_a_garbled_one_kept_whole():
    # (the third value: the words after the first, split off or not, which the middle-name rule compares)
    names = _given_names(["John Paul", "Jonh Paul", "John Paull", "Mary Ann", "Ol vri", "J Paul", "John P", "Matt ew",
                          "Cnono r",
                          "Anne-Marie", "Jean-Paul Marie", "Unknown Paul", "Zorblax Quint",
                          "John Paul George Ringo Starr"],
                         [None, None, None, "Elizabeth", *[None] * 10])
    assert names == [
        ("JOHN", "PAUL", "PAUL"),
        ("JONH", "PAUL", "PAUL"),  # a typo in the first word: split as the name written right would be
        ("JOHN", "PAULL", "PAULL"),  # a typo in the second: a review found JOHN PAULL kept whole and its pair lost
        ("MARY", "ANN ELIZABETH", "ANN"),  # before the middle-name column's own
        ("OL VRI", None, "VRI"),  # a forename garbled with a space (Splink's fake_1000): no known name in it
        ("J PAUL", None, None),  # an initial first: the person goes by the second name
        ("JOHN", "P", "P"),  # an initial after a known name (a roll's MARY R.)
        ("MATT EW", None, "EW"),  # not an unknown fragment of two letters: fake_1000's garbled MATTHEW
        ("CNONO R", None, "R"),  # not after any word: FEBRL's garbled CONNOR, whose pair a split lost
        ("ANNE", "MARIE", "MARIE"),  # hyphenated as MARY ANN is written apart: both compare alike
        ("JEAN", "PAUL MARIE", "PAUL MARIE"),
        ("UNKNOWN PAUL", None, None),  # a placeholder is no forename to keep
        ("ZORBLAX QUINT", None, "QUINT"),  # neither word a name the seed knows or the list gives alone
        ("JOHN PAUL GEORGE RINGO STARR", None, None),  # five words: some other order, kept whole
    ]
    # a stray hyphen is no second word (a review: JOHN- counted as split): the name alone, rejoined
    assert _given_names(["John-", "Mary - Ann"]) == [("JOHN", None, None), ("MARY", "ANN", "ANN")]
    # words that make a known name together are that name with a space typed into it (FEBRL's GEO RGE); MARY ANN
    # where the list writes MARYANN alone is that name too
    assert _given_names(["Geo rge", "Thom as", "Mary Ann", "Maryann", "Maryann"])[:3] == [
        ("GEORGE", None, None), ("THOMAS", None, None), ("MARYANN", None, None)]
    # a word the list gives alone twice, as a forename or a middle name, is a name of this list
    assert _given_names(["Zorblax Quint", "Quint", "Quint"])[0] == ("ZORBLAX", "QUINT", "QUINT")
    assert _given_names(["Zorblax Quint", "Ann", "Ann"], [None, "Quint", "Quint"])[0] == ("ZORBLAX", "QUINT", "QUINT")
    assert _given_names(["Zorblax Quint", "Quint", "Ann"])[0] == ("ZORBLAX QUINT", None, "QUINT")


def test_a_forename_the_list_gives_as_a_surname_is_kept_whole():
    """PRESTON-STANLEY ALEXANDER: names keyed in each other's fields (FEBRL 4). Split, PRESTON no longer equalled
    the other record's surname PRESTON-STANLEY, and the swap was lost."""
    raw = pd.DataFrame({"source": "list", "record_id": ["0", "1"], "first_name": ["Alexander", "Preston-Stanley"],
                        "surname": ["Preston-Stanley", "Alexander"]})
    out = standardise(raw).to_pandas().set_index("source_record_id")
    assert out.loc["1", "first_name"] == "PRESTON-STANLEY" and out.loc["1", "middle_names"] is None


def test_a_word_written_after_the_forename_is_a_given_name_not_a_surname():
    """The middle-name rule leaves out words the list gives only as surnames (a maternal or maiden surname); a word
    the list writes after a forename in its forename column is a given name, even if it is someone's surname."""
    raw = pd.DataFrame({"source": "list", "record_id": ["0", "1", "2"], "first_name": ["John Paul", "Mary", "Ann"],
                        "surname": ["Smith", "Paul", "Garcia"]})
    assert surnames_only(standardise(raw)) == frozenset({"SMITH", "GARCIA"})


def _people(rows: list[tuple]) -> pd.DataFrame:
    """rows: (forename, middle_names, forename_middles, dob); one surname, sex and source."""
    records = pd.DataFrame(rows, columns=["first_name", "middle_names", "forename_middles", "dob"])
    records.insert(0, "person_record_id", [rid(i) for i in range(len(rows))])
    return records.assign(source_system="list", first_name_canonical=records["first_name"], surname="GARCIA",
                          nhs_number=None, ni_number=None, upn=None, sex="F")


@pytest.mark.parametrize("rules", [WAREHOUSE_RULES, LIST_RULES], ids=["warehouse", "list"])
def test_twins_whose_forename_columns_differ_after_a_shared_first_name_stay_apart(rules, monkeypatch):
    """MARIA JOSE and MARIA ELENA, born the same day (twins): once split both forenames are MARIA, and the
    middle-name rule, skipped between clusters sharing a whole DOB (a father and son never do), still applies
    when both wrote them in the forename column. Without the column, the middle names of a record's own middle
    field merge as before."""
    twins = _people([("MARIA", "JOSE", "JOSE", "20100101"), ("MARIA", "ELENA", "ELENA", "20100101"),
                     ("MARIA", "JOSE", "JOSE", "20100101")])
    edges = _edges([(0, 1, 25.0), (0, 2, 20.0)])
    sent, fast, slow = settled_and_ruled(monkeypatch, twins, edges, rules=rules)
    assert sent.all()  # one DOB and one forename, but two forename middles: not settled without the rules
    assert _partition(fast) == _partition(slow) == {frozenset({rid(0), rid(2)}), frozenset({rid(1)})}
    # the same names from a middle-name column: one DOB, so one person (a nickname or a maiden name in the field)
    own_field = twins.assign(forename_middles=None)
    assert len(_partition(cluster(own_field, edges, 4.0, 10.0, rules=rules))) == 1
    # one twin's forename kept whole (MARIA FERNANDA: neither word known to the list), the other's split: an audit
    # found 2 of 7 such twin pairs merged, and JOSE LUIS / JOSE JAVIER 7 of 7
    written = ["MARIA", "MARIA FERNANDA", "MARIA"]
    half = twins.assign(first_name=written, first_name_canonical=written, middle_names=["JOSE", None, "JOSE"],
                        forename_middles=["JOSE", "FERNANDA", "JOSE"])
    assert _partition(cluster(half, edges, 4.0, 10.0, rules=rules)) == {frozenset({rid(0), rid(2)}),
                                                                         frozenset({rid(1)})}
    # one person's records, one DOB: a typo in the second name (FEBRL's SARA-KOUISE), or one forename split and
    # the other garbled whole (LACHLAN-JOHN / LACHLQ-NJOHN: the whole written form agrees)
    for first, middles in ((["SARA", "SARA"], ["LOUISE", "KOUISE"]), (["LACHLAN", "LACHLQ-NJOHN"], ["JOHN", None])):
        typo = _people([(first[0], middles[0], middles[0], "19050207"),
                        (first[1], middles[1], middles[1] or "NJOHN", "19050207")])
        assert len(_partition(cluster(typo, _edges([(0, 1, 20.0)]), 4.0, 10.0, rules=rules))) == 1, first
    # twins with middle initials in the forename column (JOHN P / JOHN D): initials are never a typo apart
    initials = twins.assign(first_name="JOHN", first_name_canonical="JOHN", middle_names=["P", "D", "P"],
                            forename_middles=["P", "D", "P"])
    assert _partition(cluster(initials, edges, 4.0, 10.0, rules=rules)) == {frozenset({rid(0), rid(2)}),
                                                                             frozenset({rid(1)})}
    # twins who share a particle (MARIA DEL CARMEN / MARIA DEL PILAR): DEL is no name they have in common
    particles = twins.assign(middle_names=["DEL CARMEN", "DEL PILAR", "DEL CARMEN"],
                             forename_middles=["DEL CARMEN", "DEL PILAR", "DEL CARMEN"])
    assert _partition(cluster(particles, edges, 4.0, 10.0, rules=rules)) == {frozenset({rid(0), rid(2)}),
                                                                              frozenset({rid(1)})}
    # one from the forename column, one from the middle-name column (JOHN PAUL / JOHN + PAUL): fits, merges
    one_person = _people([("JOHN", "PAUL", "PAUL", "19800101"), ("JOHN", "PAUL", None, "19800101")])
    assert len(_partition(cluster(one_person, _edges([(0, 1, 20.0)]), 4.0, 10.0, rules=rules))) == 1


def test_familyhub_link_matches_given_names_in_the_forename_column_to_a_middle_name_column(tmp_path):
    """Two rolls of the same 250 people: roll A writes FIRST MIDDLE in its forename column, a fifth of them with
    the first name mistyped; roll B has a middle-name column. Roll A also holds twins JUNO MAGNUS / JUNO RUFUS
    (same surname, DOB and postcode), and roll B the same twins in its own layout. Before the split the mistyped
    forenames (JNUO MAGNUS against JUNO) were refused as different forenames: recall 0.90 on an audit's rolls."""
    rng = np.random.default_rng(11)
    rows_a, rows_b = [], []
    for p in range(250):
        first, middle = rng.choice(FORENAMES[:20], 2, replace=False)
        surname = rng.choice(SURNAMES)
        born = (dt.date(1950, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 60)))).isoformat()
        written = first if p % 5 else first[0] + first[2] + first[1] + first[3:]  # two letters swapped
        rows_a.append({"Ref": f"a{p}", "Given": f"{written} {middle}", "Middle": "", "Family": surname, "Born": born,
                       "Zip": f"Z{p}", "truth": p})
        rows_b.append({"Ref": f"b{p}", "Given": first, "Middle": middle, "Family": surname, "Born": born,
                       "Zip": f"Z{p}", "truth": p})
    for twin in ("Magnus", "Rufus"):
        rows_a.append({"Ref": f"a{twin}", "Given": f"Juno {twin}", "Middle": "", "Family": "Ambridge",
                       "Born": "2011-05-09", "Zip": "T1", "truth": twin})
        rows_b.append({"Ref": f"b{twin}", "Given": "Juno", "Middle": twin, "Family": "Ambridge",
                       "Born": "2011-05-09", "Zip": "T1", "truth": twin})
    for name, rows in (("roll_a", rows_a), ("roll_b", rows_b)):
        pd.DataFrame(rows).drop(columns="truth").to_csv(tmp_path / f"{name}.csv", index=False)
    mapping = {"first_name": "Given", "middle_names": "Middle", "surname": "Family", "dob": "Born", "postcode": "Zip"}
    figures = link_files([tmp_path / "roll_a.csv", tmp_path / "roll_b.csv"], "Ref", mapping, tmp_path / "out.csv")
    assert figures["forenames_split"] == 252
    person = dict(pd.read_csv(tmp_path / "out.csv", dtype=str)[["record_id", "person_id"]].itertuples(index=False))
    linked = [person[f"a{p}"] == person[f"b{p}"] for p in range(250)]
    assert all(linked[p] for p in range(0, 250, 5)), "a mistyped first name in the forename column"
    assert np.mean(linked) >= 0.99
    assert person["aMagnus"] == person["bMagnus"] and person["aRufus"] == person["bRufus"]
    assert person["aMagnus"] != person["aRufus"]
    assert len(set(person.values())) == 252
