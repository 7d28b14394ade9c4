"""Rules of the person index on small hand-made inputs: id carry-forward and lineage, reviewers'
must-link / cannot-link in clustering, list standardisation, and the `familyhub link` command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from linkage.cluster import LIST_RULES, cluster
from linkage.ids import carry_forward, person_id_for


def rid(i: int) -> str:
    return f"{i:032x}"


def clusters(groups: list[list[int]]) -> pd.DataFrame:
    """cluster_of frame: each group's key is its smallest record id (as linkage.cluster gives it)."""
    rows = [(rid(i), rid(min(g))) for g in groups for i in g]
    return pd.DataFrame(rows, columns=["person_record_id", "cluster_root"])


def crosswalk(groups: list[list[int]]) -> pd.DataFrame:
    frame = clusters(groups)
    return frame.assign(person_id=carry_forward(frame, None).person_id.to_numpy())[["person_record_id", "person_id"]]


def ids_by_record(result, groups) -> dict[int, str]:
    frame = clusters(groups)
    return dict(zip([int(x, 16) for x in frame["person_record_id"]], result.person_id.to_numpy()))


def test_same_clusters_keep_their_ids_and_record_no_change():
    groups = [[10, 11], [20], [30, 31, 32]]
    previous = crosswalk(groups)
    again = carry_forward(clusters(groups), previous, frozenset(previous["person_id"]))
    assert list(again.person_id) == list(previous["person_id"])
    assert again.lineage.empty


def test_a_new_record_smaller_than_the_old_root_keeps_the_persons_id():
    previous = crosswalk([[10, 11], [20]])
    old_id = previous.set_index("person_record_id").loc[rid(10), "person_id"]
    now = carry_forward(clusters([[1, 10, 11], [20], [40]]), previous)
    ids = ids_by_record(now, [[1, 10, 11], [20], [40]])
    assert ids[1] == ids[10] == old_id  # the id no longer derives from the smallest member
    assert ids[40] == person_id_for(rid(40))
    assert now.lineage[["change", "person_id"]].values.tolist() == [["new", ids[40]]]


def test_merge_keeps_the_larger_persons_id_and_retires_the_other():
    previous = crosswalk([[10, 11, 12], [20, 21]])
    big, small = previous["person_id"].iloc[0], previous["person_id"].iloc[3]
    now = carry_forward(clusters([[10, 11, 12, 20, 21]]), previous)
    assert set(now.person_id) == {big}
    [row] = now.lineage.to_dict("records")
    assert (row["change"], row["person_id"], row["related_person_id"], row["n_records"]) == ("merged", small, big, 2)


def test_split_keeps_the_id_with_the_majority_and_never_reuses_an_issued_id():
    previous = crosswalk([[10, 11, 12]])
    old = previous["person_id"].iloc[0]
    # record 10 (the old root, whose derived id is `old`) splits off on its own
    now = carry_forward(clusters([[10], [11, 12]]), previous, frozenset({old}))
    ids = ids_by_record(now, [[10], [11, 12]])
    assert ids[11] == ids[12] == old
    assert ids[10] != old and ids[10].startswith("FH")
    [row] = now.lineage.to_dict("records")
    assert (row["change"], row["person_id"], row["related_person_id"], row["n_records"]) == ("split", ids[10], old, 1)


def test_an_id_with_no_records_left_is_retired():
    previous = crosswalk([[10], [20]])
    gone = previous.set_index("person_record_id").loc[rid(20), "person_id"]
    now = carry_forward(clusters([[10]]), previous)
    assert now.lineage[["change", "person_id"]].values.tolist() == [["retired", gone]]


def _records(n: int, dobs: list[str | None], forenames: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"person_record_id": [rid(i) for i in range(n)], "source_system": [f"s{i}" for i in range(n)],
                         "first_name_canonical": forenames or ["ANN"] * n, "surname": "LEE", "nhs_number": None,
                         "ni_number": None, "upn": None, "dob": dobs, "sex": "F"})


def _edges(pairs: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame({"person_record_id_l": [rid(a) for a, _, _ in pairs],
                         "person_record_id_r": [rid(b) for _, b, _ in pairs],
                         "match_weight": [w for _, _, w in pairs]})


def _decided(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame({"person_record_id_l": [rid(a) for a, _ in pairs],
                         "person_record_id_r": [rid(b) for _, b in pairs]})


def _partition(result) -> set[frozenset[str]]:
    return {frozenset(g) for g in result.cluster_of.groupby("cluster_root")["person_record_id"].apply(list)}


def test_must_link_overrides_a_model_conflict():
    records = _records(2, ["19800101", "19950606"])  # DOBs conflict: the model would never merge them
    edges = _edges([(0, 1, 20.0)])
    assert len(_partition(cluster(records, edges, 4.0))) == 2
    merged = cluster(records, edges, 4.0, must_link=_decided([(0, 1)]))
    assert len(_partition(merged)) == 1


def test_cannot_link_holds_even_through_a_chain():
    records = _records(3, ["19800101"] * 3)
    edges = _edges([(0, 1, 25.0), (1, 2, 24.0)])
    assert len(_partition(cluster(records, edges, 4.0))) == 1
    apart = cluster(records, edges, 4.0, cannot_link=_decided([(0, 2)]))
    assert not any({rid(0), rid(2)} <= group for group in _partition(apart))
    assert apart.refused_merges == 1
    # and a must-link that contradicts a cannot-link is refused
    both = cluster(records, _edges([]), 4.0, must_link=_decided([(0, 2)]), cannot_link=_decided([(0, 2)]))
    assert len(_partition(both)) == 3



def _household_graph() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records 0-3: one person across four systems, nothing that can conflict (settled without the rules).
    4-6: a chain a record without DOB makes of a father and his same-name son. 7-9: twins, one registered
    twice by health. 10-11: two records whose NHS numbers differ. 12: a record linked to nobody."""
    rows = [  # source_system, forename, nhs_number, dob, sex
        ("health", "ANN", "9434765919", "20100101", "F"), ("education", "ANN", None, "20100101", "F"),
        ("dwp", "ANN", "9434765919", "20100101", None), ("housing", None, None, "20100101", "F"),
        ("police", "JOHN", None, "19700301", "M"), ("health", "JOHN", None, None, "M"),
        ("education", "JOHN", None, "20000615", "M"),
        ("health", "AMELIA", None, "20150101", "F"), ("health", "AVA", None, "20150101", "F"),
        ("education", "AVA", None, "20150101", "F"),
        ("health", "MAX", "9434765919", "19900101", "M"), ("police", "MAX", "4010232137", "19900101", "M"),
        ("health", "ZOE", None, "19950505", "F"),
    ]
    records = pd.DataFrame(rows, columns=["source_system", "first_name_canonical", "nhs_number", "dob", "sex"])
    records.insert(0, "person_record_id", [rid(i) for i in range(len(rows))])
    records = records.assign(surname="LEE", ni_number=None, upn=None)
    edges = _edges([(0, 1, 30.0), (1, 2, 12.0), (2, 3, 12.0), (0, 3, 6.0), (4, 5, 15.0), (5, 6, 15.0),
                    (7, 8, 9.0), (8, 9, 20.0), (7, 9, 8.0), (10, 11, 25.0), (12, 12, 3.0)])
    return records, edges


def settled_and_ruled(monkeypatch, records, edges, **options):
    """cluster() as it runs (settled components skip the rules) and with every component through the rules:
    (which records it sent to the rules, that result, the all-rules one)."""
    import linkage.cluster as clustering

    ruled = clustering._need_rules
    sent_to_rules = []

    def spy(*args):
        sent_to_rules.append(ruled(*args))
        return sent_to_rules[-1]

    monkeypatch.setattr(clustering, "_need_rules", spy)
    fast = cluster(records, edges, 4.0, 10.0, **options)
    monkeypatch.setattr(clustering, "_need_rules",
                        lambda records, component, *rest: np.bincount(component)[component] > 1)
    slow = cluster(records, edges, 4.0, 10.0, **options)
    return sent_to_rules[0], fast, slow


def test_settled_components_skip_the_rules_and_give_what_the_rules_give(monkeypatch):
    records, edges = _household_graph()
    sent, fast, slow = settled_and_ruled(monkeypatch, records, edges, must_link=_decided([(9, 12)]),
                                         cannot_link=_decided([(4, 6)]))
    assert [i for i in range(len(records)) if sent[i]] == [4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert fast.cluster_of.equals(slow.cluster_of)
    assert fast.accepted.tolist() == slow.accepted.tolist() and fast.refused_merges == slow.refused_merges
    groups = _partition(fast)
    assert frozenset(rid(i) for i in range(4)) in groups and fast.accepted[:4].all()
    assert {frozenset({rid(10)}), frozenset({rid(11)})} <= groups and fast.refused_merges >= 3
    assert frozenset({rid(8), rid(9), rid(12)}) in groups  # the must-link holds; the twins stay apart


def _twins(sex_r: str | None, nhs_r: str | None = None) -> pd.DataFrame:
    """Twins each known to one system: same surname, DOB (and address), different forenames."""
    return pd.DataFrame({"person_record_id": [rid(0), rid(1)], "source_system": ["health", "dwp"],
                         "first_name_canonical": ["AMELIA", "AVA"], "surname": "LEE",
                         "nhs_number": ["9434765919", nhs_r], "ni_number": None, "upn": None,
                         "dob": "20150101", "sex": ["F", sex_r]})


def test_twins_known_to_one_system_each_stay_apart_whatever_the_weight_unless_an_identifier_is_shared():
    def persons(records: pd.DataFrame, weight: float, **kwargs) -> int:
        return len(_partition(cluster(records, _edges([(0, 1, weight)]), 4.0, 10.0, **kwargs)))

    for weight in (7.3, 12.7, 25.0):
        apart = cluster(_twins(sex_r=None), _edges([(0, 1, weight)]), 4.0, 10.0)
        assert len(_partition(apart)) == 2 and apart.refused_merges == 1 and not apart.accepted[0]
        # sex recorded on both sides says nothing: same-sex twins (a girl and her sister merged at 12.7)
        assert persons(_twins(sex_r="F"), weight) == 2
    # a shared NHS number says one person; so does a reviewer
    assert persons(_twins(sex_r=None, nhs_r="9434765919"), 7.3) == 1
    must = pd.DataFrame({"person_record_id_l": [rid(0)], "person_record_id_r": [rid(1)]})
    assert persons(_twins(sex_r=None), 12.7, must_link=must) == 1


def test_a_cluster_a_record_without_dob_could_never_join_is_no_rival():
    """A police record without DOB (JOHN) links to a JOHN born 2010 and to a JAMES born 1980 of other systems. It
    could never join JAMES (different forenames, no shared identifier), so he does not make it ambiguous: it joins
    JOHN. Given JOHN's forename, the father would be a rival, and the record stays on its own."""
    records = pd.DataFrame({"person_record_id": [rid(0), rid(1), rid(2)],
                            "source_system": ["health", "education", "police"],
                            "first_name_canonical": ["JOHN", "JAMES", "JOHN"], "surname": "SMITH",
                            "nhs_number": None, "ni_number": None, "upn": None,
                            "dob": ["20100101", "19800101", None], "sex": "M"})
    edges = _edges([(0, 2, 14.0), (1, 2, 12.0)])
    assert frozenset({rid(0), rid(2)}) in _partition(cluster(records, edges, 4.0, 10.0))
    father_named_john = records.assign(first_name_canonical="JOHN")
    assert frozenset({rid(2)}) in _partition(cluster(father_named_john, edges, 4.0, 10.0))


def test_list_standardisation_keeps_unknown_formats_and_nulls_mistyped_uk_identifiers():
    from linkage.standardise import standardise

    raw = pd.DataFrame({"source": "a", "record_id": ["1", "2", "3"], "first_name": ["Zoë", "Алексей", "bob"],
                        "surname": ["Müller", "Иванов", "o'neil"],
                        "dob": ["03/04/1990", "1990-04-03", "nonsense"],
                        "postcode": ["sw1a1aa", "75008", "1234 ab"],
                        "nhs_number": ["943 476 5919", "943 476 5918", "AB-12"], "other_id": ["x-1", None, "Y 2"]})
    out = standardise(raw).to_pandas().set_index("source_record_id")
    assert out.loc["1", "first_name"] == "ZOE" and out.loc["2", "first_name"] == "ALEKSEI"  # transliterated
    assert out.loc["3", "first_name_canonical"] == "ROBERT" and out.loc["3", "surname"] == "ONEIL"
    assert str(out.loc["1", "dob"]) == str(out.loc["2", "dob"]) == "1990-04-03"
    assert bool(out.loc["3", "has_unparsed_dob"])
    assert out.loc["1", "postcode"] == "SW1A 1AA" and out.loc["1", "postcode_outward"] == "SW1A"
    # another country's postcode is compacted (1234 AB and 1234AB agree) and keeps its first part as outward
    assert out.loc["2", "postcode"] == "75008" and out.loc["3", "postcode"] == "1234AB"
    assert out.loc["3", "postcode_outward"] == "1234"
    assert out.loc["1", "nhs_number"] == "9434765919"
    assert out.loc["2", "nhs_number"] is None  # NHS-shaped, fails modulus 11: a typo
    assert out.loc["3", "nhs_number"] == "AB12"  # another format: compared as a string
    assert out.loc["1", "other_id"] == "X1"


def test_list_standardisation_reads_date_times_two_digit_years_and_sex_codes_and_drops_placeholders():
    from linkage.standardise import IDENTIFIER_PLACEHOLDER_RECORDS, standardise

    n = IDENTIFIER_PLACEHOLDER_RECORDS + 1
    dobs = ["1984-07-25T00:00:00.000Z", "25/07/1984 00:00", "25/07/84", "25-Jul-1984", "01/03/05", "01/01/1980"]
    raw = pd.DataFrame({"source": "a", "record_id": [str(i) for i in range(n + 3)],
                        "dob": dobs + [None] * (n + 3 - len(dobs)),
                        "sex": ["w", "Frau", "mujer", "H", "9", "x"] + [None] * (n + 3 - 6),
                        "other_id": ["UNKNOWN"] * n + ["A1", "A1", None]})
    out = standardise(raw).to_pandas().set_index("source_record_id")
    assert [str(d) for d in out.loc[["0", "1", "2", "3"], "dob"]] == ["1984-07-25"] * 4
    assert str(out.loc["4", "dob"]) == "2005-03-01"  # a two-digit year: the latest not in the future
    # one 1 January among a list's dates is a birthday; the list does not use it for unknown dates
    assert str(out.loc["5", "dob"]) == "1980-01-01" and not out["has_placeholder_dob"].any()
    assert out.loc[["0", "1", "2"], "sex"].tolist() == ["F", "F", "F"] and out.loc["3", "sex"] == "M"
    assert out.loc[["4", "5"], "sex"].isna().all()  # neither male nor female: unknown, not a third value
    # an identifier on more records than a person has is a placeholder
    assert out.loc[[str(i) for i in range(n)], "other_id"].isna().all()
    assert int(out["has_placeholder_identifier"].sum()) == n and out.loc[str(n), "other_id"] == "A1"
    # a list that writes 1 January for unknown dates: those are placeholders (the warehouse's rule for
    # `familyhub match` makes every 1 January one)
    jan1 = pd.DataFrame({"source": "a", "record_id": [str(i) for i in range(20)],
                         "dob": [f"01/01/{1950 + i}" for i in range(10)] + [f"0{1 + i % 9}/0{2 + i % 8}/1990"
                                                                           for i in range(10)]})
    year_only = standardise(jan1).to_pandas().set_index("source_record_id")
    assert int(year_only["has_placeholder_dob"].sum()) == 10
    # ... which stand for a year alone: the date is gone, its year is kept
    assert year_only.loc["3", "dob"] is None and year_only.loc["3", "dob_year"] == 1953
    assert int(standardise(raw, jan1_is_placeholder=True).to_pandas()["has_placeholder_dob"].sum()) == 1


def test_list_standardisation_keeps_the_year_of_a_date_that_is_not_whole_and_drops_titles():
    from linkage.standardise import standardise

    raw = pd.DataFrame({"source": "a", "record_id": ["0", "1", "2", "3", "4", "5"],
                        "dob": ["1856-86-18", "31/13/1984", "1900-01-01", "not known", "2999-05-05", "1950-03-02"],
                        "first_name": ["Sir", "Mrs. Jane", "The Rt Hon William", "Earl", "Major", "Mary Ann"]})
    out = standardise(raw).to_pandas().set_index("source_record_id")
    assert out.loc[["0", "1", "2", "3", "4"], "dob"].isna().all() and str(out.loc["5", "dob"]) == "1950-03-02"
    # a mistyped day or month keeps its year; a placeholder, no date, or a date to come has none
    assert out.loc[["0", "1"], "dob_year"].tolist() == [1856, 1984]
    assert out.loc[["2", "3", "4"], "dob_year"].isna().all()
    # a title is not a forename: dropped from the start, and a forename that is only a title is missing
    assert out.loc[["0", "4"], "first_name"].isna().all()
    assert out.loc[["1", "2", "3", "5"], "first_name"].tolist() == ["JANE", "WILLIAM", "EARL", "MARY"]
    assert out.loc["5", "middle_names"] == "ANN"  # two given names in the forename column: the second a middle name
    # two names the nicknames seed gives as each other's canonical form share one
    pair = standardise(pd.DataFrame({"source": "a", "record_id": ["0", "1", "2"],
                                     "first_name": ["Catherine", "Katherine", "Bill"]})).to_pandas()
    assert pair.set_index("source_record_id")["first_name_canonical"].to_dict() == {
        "0": "CATHERINE", "1": "CATHERINE", "2": "WILLIAM"}


def test_list_model_compares_a_year_alone_with_a_year():
    """A DOB with a year alone (day and month unknown) agrees with a date in that year at a level of its
    own, nearly with one a year away (an age, an estimate) at another, and disagrees (the last level) with one
    further; without a year on one side it is null."""
    import duckdb

    from linkage.match import list_model

    [dob] = [c for c in list_model({"dob"})["comparisons"] if c["output_column_name"] == "dob"]
    case = " ".join(f"when {level['sql_condition']} then '{level['label_for_charts']}'"
                    for level in dob["comparison_levels"] if level["sql_condition"] != "ELSE")
    pairs = {"year alone, same year": ("null", 1950, "date '1950-06-02'", 1950),
             "year alone, next year": ("null", 1951, "date '1950-06-02'", 1950),
             "year alone, two years on": ("null", 1952, "date '1950-06-02'", 1950),
             "years alone, a year apart": ("null", 1949, "null", 1950),
             "no year": ("null", "null", "date '1950-06-02'", 1950),
             "dates in one year": ("date '1950-01-20'", 1950, "date '1950-06-02'", 1950)}
    got = {name: duckdb.sql(f"""select case {case} else 'else' end from (select {l}::date as dob_l,
               {ly}::integer as dob_year_l, {r}::date as dob_r, {ry}::integer as dob_year_r)""").fetchall()[0][0]
           for name, (l, ly, r, ry) in pairs.items()}
    assert got == {"year alone, same year": "Same year, a date not whole",
                   "year alone, next year": "Years one apart, a date not whole",
                   "years alone, a year apart": "Years one apart, a date not whole",
                   "year alone, two years on": "else",
                   "no year": "dob is NULL", "dates in one year": "Same year"}


def test_list_clustering_forgives_a_sex_slip_in_one_name_and_a_weak_rival_is_no_ambiguity():
    from linkage.cluster import LIST_RULES

    records = pd.DataFrame({"person_record_id": [rid(0), rid(1)], "source_system": "list",
                            "first_name_canonical": "ISLA", "surname": "PEMBERTON", "nhs_number": None,
                            "ni_number": None, "upn": None, "dob": "19751102", "sex": ["F", "M"]})
    edge = _edges([(0, 1, 16.0)])
    assert len(_partition(cluster(records, edge, 4.0, rules=LIST_RULES))) == 1  # one forename: a keying slip
    assert len(_partition(cluster(records, edge, 4.0))) == 2  # the warehouse: a sex difference refuses
    # boy and girl twins whose forenames the forename rule counts as variants stay apart in a list
    twins = records.assign(first_name_canonical=["LOUISE", "LEWIS"], first_name=["LOUISE", "LOUIS"])
    assert len(_partition(cluster(twins, edge, 4.0, rules=LIST_RULES))) == 2

    # a record without DOB (2) linking to a same-name father (0) and son (1): ambiguous when it links
    # to both about as strongly; far more strongly to one (a shared identifier), it joins that one
    family = pd.DataFrame({"person_record_id": [rid(0), rid(1), rid(2)], "source_system": ["health", "dwp", "police"],
                           "first_name_canonical": "JOHN", "surname": "SMITH", "nhs_number": None, "ni_number": None,
                           "upn": None, "dob": ["19700304", "19990506", None], "sex": "M"})
    assert _partition(cluster(family, _edges([(1, 2, 12.0), (0, 2, 11.0)]), 4.0)) == {
        frozenset({rid(0)}), frozenset({rid(1)}), frozenset({rid(2)})}
    assert _partition(cluster(family, _edges([(1, 2, 25.0), (0, 2, 11.0)]), 4.0)) == {
        frozenset({rid(0)}), frozenset({rid(1), rid(2)})}
    # ... and a cluster it conflicts with itself (another NHS number) is no rival: it joins the other
    numbered = family.assign(nhs_number=["9434765919", "9434765870", "9434765870"])
    assert _partition(cluster(numbered, _edges([(1, 2, 12.0), (0, 2, 11.0)]), 4.0)) == {
        frozenset({rid(0)}), frozenset({rid(1), rid(2)})}


def test_years_alone_in_a_list_cluster_must_all_be_alike():
    """Records with a year of birth alone (a list's 1 January): a year apart at most, two digits swapped or
    the decade mistyped is one person; every two years alone in a cluster must be so (pairwise, a hostel's
    2003 ~ 2004 ~ 2005 chained); against a whole date, one digit mistyped is allowed too."""
    from linkage.cluster import LIST_RULES

    def clusters(years, edges, dobs=None):
        n = len(years)
        records = pd.DataFrame({"person_record_id": [rid(i) for i in range(n)], "source_system": "list",
                                "first_name_canonical": "OMAR", "surname": "HASSAN", "nhs_number": None,
                                "ni_number": None, "upn": None, "dob": dobs or [None] * n, "dob_year": years,
                                "sex": "M"})
        return _partition(cluster(records, _edges(edges), 4.0, rules=LIST_RULES))

    assert len(clusters([2003, 2004], [(0, 1, 20.0)])) == 1
    assert len(clusters([2003, 2000], [(0, 1, 20.0)])) == 2  # one digit apart: near any year of a list
    assert len(clusters([1856, 1865], [(0, 1, 20.0)])) == 1 and len(clusters([1850, 1880], [(0, 1, 20.0)])) == 1
    assert clusters([2003, 2004, 2005], [(0, 1, 20.0), (1, 2, 19.0)]) == {
        frozenset({rid(0), rid(1)}), frozenset({rid(2)})}
    assert len(clusters([2004, None], [(0, 1, 20.0)], dobs=[None, "19620312"])) == 2
    assert len(clusters([2004, None], [(0, 1, 20.0)], dobs=[None, "20010312"])) == 1  # a digit of the date


def _write(path, rows, header):
    pd.DataFrame(rows, columns=header).to_csv(path, index=False)


def test_link_command_dedupes_and_links_lists_that_are_not_british(tmp_path, capsys):
    from orchestration.cli import main

    header = ["Ref", "Given", "Family", "Born", "Zip", "Passport"]
    _write(tmp_path / "clinic.csv", [
        ["c1", "Émile", "Dubois", "1984-07-12", "75011", "P1234567"],
        ["c2", "Emile", "Dubois", "1984-07-12", "75011", ""],  # a duplicate in the same file
        ["c3", "Chloé", "Martin", "2001-02-27", "69002", "P7654321"],
        ["c4", "Chloe", "Martin", "2003-11-05", "69002", ""],  # a sister: same surname and address
    ], header)
    _write(tmp_path / "school.csv", [
        ["s1", "EMILE", "DUBOIS", "12/07/1984", "75011", "P1234567"],
        ["s2", "Lucas", "Bernard", "05/05/2010", "13001", ""],
    ], header)
    maps = ["--map", "first_name=Given", "--map", "surname=Family", "--map", "dob=Born", "--map", "postcode=Zip",
            "--map", "other_id=Passport"]
    out, pairs = tmp_path / "clusters.csv", tmp_path / "pairs.csv"
    code = main(["link", "--input", str(tmp_path / "clinic.csv"), "--input", str(tmp_path / "school.csv"),
                 "--id", "Ref", *maps, "--out", str(out), "--pairs-out", str(pairs)])
    assert code == 0
    result = pd.read_csv(out, dtype=str)
    assert list(result.columns) == ["source", "record_id", "person_id"] and len(result) == 6
    person = dict(zip(result["source"] + ":" + result["record_id"], result["person_id"]))
    assert person["clinic:c1"] == person["clinic:c2"] == person["school:s1"]
    assert person["clinic:c3"] != person["clinic:c4"]  # sisters stay apart
    assert len({person["school:s2"], person["clinic:c1"], person["clinic:c3"]}) == 3
    scored = pd.read_csv(pairs, dtype={"record_id_l": str, "record_id_r": str})
    assert list(scored.columns) == ["source_l", "record_id_l", "source_r", "record_id_r", "match_probability",
                                    "linked"]
    assert scored["match_probability"].between(0, 1).all()
    # `linked` is the clustering's answer for the pair: the two records got one person_id
    key_l, key_r = scored["source_l"] + ":" + scored["record_id_l"], scored["source_r"] + ":" + scored["record_id_r"]
    assert (scored["linked"] == (key_l.map(person) == key_r.map(person))).all()
    sisters = {frozenset(pair) for pair in zip(key_l, key_r)} & {frozenset({"clinic:c3", "clinic:c4"})}
    assert not sisters or not scored.loc[[frozenset(p) in sisters for p in zip(key_l, key_r)], "linked"].any()
    printed = capsys.readouterr()
    assert "Dubois" not in printed.out + printed.err and "DUBOIS" not in printed.out + printed.err

    # bad input: a clear error naming the column, and no output written
    missing = tmp_path / "missing.csv"
    code = main(["link", "--input", str(tmp_path / "clinic.csv"), "--id", "Ref", "--map", "surname=Nom",
                 "--out", str(missing)])
    assert code == 2 and "Nom" in capsys.readouterr().err and not missing.exists()
    _write(tmp_path / "dupes.csv", [["x", "A", "B", "", "", ""], ["x", "C", "D", "", "", ""]], header)
    code = main(["link", "--input", str(tmp_path / "dupes.csv"), "--id", "Ref", "--map", "surname=Family",
                 "--out", str(missing)])
    assert code == 2 and "repeats" in capsys.readouterr().err


@pytest.mark.parametrize("items", [["first_name"], ["shoe_size=Col"], ["first_name=A", "first_name=B"]])
def test_link_mapping_is_validated(items):
    from linkage.match import ListError, parse_mapping

    with pytest.raises(ListError):
        parse_mapping(items)


def test_probability_threshold_converts_to_weight():
    from linkage.match import probability_to_weight

    assert np.isclose(probability_to_weight(0.5), 0.0) and probability_to_weight(0.99) > 6


def test_in_place_only_for_a_small_delivery_under_the_same_model_and_decisions():
    from linkage.cluster import CLUSTER_RULES_VERSION
    from linkage.index import choose_mode
    from linkage.lineage import PreviousState

    last = {"model_sha256": "m", "decisions_sha256": "d", "cluster_rules_version": CLUSTER_RULES_VERSION}
    state = PreviousState(crosswalk=pd.DataFrame({"person_record_id": ["a"], "person_id": ["FH1"]}),
                          issued=frozenset({"FH1"}), last_run=last)
    only_new = {"new_records": 5, "changed_records": 0, "removed_records": 0}
    assert choose_mode("auto", state, only_new, "m", "d", 1000)[0] == "incremental"
    assert choose_mode("full", state, only_new, "m", "d", 1000)[0] == "full"
    assert choose_mode("auto", state, only_new, "other model", "d", 1000) == ("full", "model changed")
    assert choose_mode("auto", state, only_new, "m", "new decisions", 1000) == ("full", "review decisions changed")
    # a run under other clustering rules (or before they were recorded) left persons a delivery does not reach as
    # those rules made them: one full run applies the new rules to everyone
    for older in ({**last, "cluster_rules_version": CLUSTER_RULES_VERSION - 1},
                  {"model_sha256": "m", "decisions_sha256": "d"}):
        before = PreviousState(crosswalk=state.crosswalk, issued=state.issued, last_run=older)
        assert choose_mode("auto", before, only_new, "m", "d", 1000) == ("full", "clustering rules changed")
    # changed and withdrawn records count towards the delivery, and are handled in place
    assert choose_mode("auto", state, {**only_new, "changed_records": 1, "removed_records": 2}, "m", "d", 1000)[0] \
        == "incremental"
    assert choose_mode("auto", state, {"new_records": 0, "changed_records": 60, "removed_records": 41}, "m", "d",
                       1000) == ("full", "delivery above the incremental share")
    assert choose_mode("auto", state, {**only_new, "new_records": 0}, "m", "d", 1000) == (
        "full", "nothing new, changed or withdrawn since the last run")
    assert choose_mode("auto", state, {**only_new, "new_records": 200}, "m", "d", 1000)[0] == "full"
    first = PreviousState(crosswalk=None, issued=frozenset(), last_run=None)
    assert choose_mode("incremental", first, only_new, "m", "d", 1000) == ("full", "first run")
    light = PreviousState(crosswalk=None, issued=frozenset(), last_run=last, indexed=True)  # not read, but there
    assert choose_mode("auto", light, only_new, "m", "d", 1000)[0] == "incremental"
    # term-frequency drift stays bounded: a tenth of the records delivered in place forces a full run
    drifted = PreviousState(crosswalk=None, issued=frozenset(), last_run=last, indexed=True, delivered_in_place=96)
    assert choose_mode("auto", drifted, only_new, "m", "d", 1000) == (
        "full", "deliveries in place since the last full run above the incremental share")


def test_a_shared_identifier_outweighs_a_dob_difference_only_for_lists():
    """In a partner list a mistyped DOB is commoner than two people sharing an id (`familyhub link`); the
    warehouse keeps refusing such a merge."""
    records = pd.DataFrame({"person_record_id": ["a", "b"], "source_system": ["list", "list"],
                            "first_name_canonical": ["JOHN", "JOHN"], "surname": ["SMITH", "SMITH"],
                            "nhs_number": [None, None], "ni_number": [None, None], "upn": [None, None],
                            "dob": ["19800412", "19871204"], "sex": [None, None], "other_id": ["X1", "X1"]})
    edges = pd.DataFrame({"person_record_id_l": ["a"], "person_record_id_r": ["b"], "match_weight": [15.0]})
    warehouse = cluster(records, edges, threshold=4.0, no_dob_threshold=10.0)
    assert warehouse.cluster_of["cluster_root"].nunique() == 2 and warehouse.refused_merges == 1
    listed = cluster(records, edges, threshold=4.0, no_dob_threshold=10.0, rules=LIST_RULES)
    assert listed.cluster_of["cluster_root"].nunique() == 1
    other = records.assign(other_id=["X1", "X2"])  # different ids: the DOB difference still refuses
    assert cluster(other, edges, threshold=4.0, no_dob_threshold=10.0,
                   rules=LIST_RULES).cluster_of["cluster_root"].nunique() == 2
    # a baby's record carrying its mother's id: another forename, or none yet, is another person
    for baby in ("OLIVIA", None):
        mother_and_baby = records.assign(first_name_canonical=["SARAH", baby])
        assert cluster(mother_and_baby, edges, threshold=4.0, no_dob_threshold=10.0,
                       rules=LIST_RULES).cluster_of["cluster_root"].nunique() == 2


def test_forename_variants_agree_but_other_forenames_keep_twins_apart():
    """In a list a forename difference needs a shared identifier, unless the names are variants: a typo of
    a nickname (HARRI / HARRY, whose canonical form is HAROLD), a shortening (CHRIS / CHRISTOPHER) or an
    initial, a transposition, a nickname with several canonical forms (HARRY: HAROLD, HARRISON, HENRY);
    a name with another initial is another name (twins are often given rhyming names)."""
    def pair(first_l, canonical_l, first_r, canonical_r):
        records = pd.DataFrame({"person_record_id": ["a", "b"], "source_system": ["list", "list"],
                                "first_name": [first_l, first_r], "first_name_canonical": [canonical_l, canonical_r],
                                "surname": ["STONE", "STONE"], "nhs_number": [None, None], "ni_number": [None, None],
                                "upn": [None, None], "dob": ["20120304", "20120304"], "sex": [None, None]})
        edges = pd.DataFrame({"person_record_id_l": ["a"], "person_record_id_r": ["b"], "match_weight": [20.0]})
        return cluster(records, edges, threshold=4.0, no_dob_threshold=4.0,
                       rules=LIST_RULES).cluster_of["cluster_root"].nunique()

    assert pair("HARRI", "HARRI", "HARRY", "HAROLD") == 1
    assert pair("HARRY", "HAROLD", "HENRY", "HENRY") == 1
    assert pair("J", "J", "JOHN", "JOHN") == 1 and pair("ED", "ED", "EDWARD", "EDWARD") == 1
    assert pair("J", "J", "MARY", "MARY") == 2
    assert pair("CHRIS", "CHRIS", "CHRISTOPHER", "CHRISTOPHER") == 1
    assert pair("LSIA", "LSIA", "LISA", "LISA") == 1
    assert pair("HNNAH", "HNNAH", "HANNAH", "HANNAH") == 1  # a letter dropped
    assert pair("CASTOR", "CASTOR", "POLLUX", "POLLUX") == 2  # twins
    for rhyming in (("HOLLY", "MOLLY"), ("AVA", "EVA"), ("DEAN", "SEAN"), ("MARIA", "DARIA")):  # twins too
        assert pair(rhyming[0], rhyming[0], rhyming[1], rhyming[1]) == 2, rhyming
    assert pair("MAXIMILIAN", "MAXIMILIAN", "FREDERICK", "FREDERICK") == 2


def test_link_compares_records_that_share_only_a_forename_and_a_year_of_birth(tmp_path):
    """A surname changed (marriage) and the DOB's day and month wrong: no committed blocking rule pairs the
    two records, the list's (forename, year of birth) rule does, so the pair is scored."""
    from linkage.match import link_files

    rows = [("1", "Imogen", "Fairweather", "1980-05-05", "LS1 1AA"),
            ("2", "Imogen", "Oyelaran", "1980-09-12", "M1 2BB"),
            ("3", "Oswald", "Pennington", "1962-03-04", "BD1 3CC")]
    _write(tmp_path / "list.csv", rows, ["Ref", "Forename", "Surname", "DOB", "Postcode"])
    link_files([tmp_path / "list.csv"], "Ref", {"first_name": "Forename", "surname": "Surname", "dob": "DOB",
                                                "postcode": "Postcode"},
               tmp_path / "clusters.csv", pairs_out=tmp_path / "pairs.csv", threshold=1e-12)  # every scored pair
    pairs = pd.read_csv(tmp_path / "pairs.csv", dtype=str)
    assert {frozenset(pair) for pair in zip(pairs["record_id_l"], pairs["record_id_r"])} == {frozenset({"1", "2"})}


def test_a_list_model_that_links_dobs_weeks_apart_is_not_overruled_by_the_clustering():
    """When the trained list model scores 'Within 31 days' as evidence of one person, two records 20 days
    apart may merge; a year apart still conflicts, and without that evidence 20 days apart conflicts too."""
    import dataclasses

    from linkage.match import DOB_WITHIN_A_MONTH, list_model, near_dob_days

    model = list_model({"first_name", "surname", "dob"})
    assert near_dob_days(model) == 31  # the starting m (0.01) above the u (0.002)
    [dob] = [c for c in model["comparisons"] if c["output_column_name"] == "dob"]
    [weeks] = [lv for lv in dob["comparison_levels"] if lv["label_for_charts"] == DOB_WITHIN_A_MONTH["label_for_charts"]]
    weeks["m_probability"] = weeks["u_probability"] / 2
    assert near_dob_days(model) == 0

    def merged(dob_r: str, days: int) -> bool:
        records = pd.DataFrame({"person_record_id": ["a", "b"], "source_system": ["list", "list"],
                                "first_name": ["ANA", "ANA"], "first_name_canonical": ["ANA", "ANA"],
                                "surname": ["RUIZ", "RUIZ"], "nhs_number": [None, None], "ni_number": [None, None],
                                "upn": [None, None], "dob": ["19900310", dob_r], "sex": [None, None]})
        edges = pd.DataFrame({"person_record_id_l": ["a"], "person_record_id_r": ["b"], "match_weight": [12.0]})
        rules = dataclasses.replace(LIST_RULES, near_dob_days=days)
        return cluster(records, edges, threshold=4.0, no_dob_threshold=4.0,
                       rules=rules).cluster_of["cluster_root"].nunique() == 1

    assert merged("19900327", 31) and not merged("19900327", 0)  # 17 days: two characters apart
    assert not merged("19920615", 31)


def test_a_move_is_never_a_veto_in_a_trained_list_model():
    from linkage.match import MOVED_MIN_M, floor_moved_m, list_model

    model = list_model({"first_name", "surname", "dob", "postcode", "locality"})
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("m_probability") is not None:
                level["m_probability"] = 1e-12
    floor_moved_m(model)
    moved = {c["output_column_name"]: c["comparison_levels"][-1]["m_probability"] for c in model["comparisons"]}
    assert moved["location"] == moved["locality"] == MOVED_MIN_M
    assert moved["dob"] == moved["surname"] == 1e-12  # a DOB or a name stays what the list taught


def test_a_name_in_one_column_loses_its_suffix_and_keeps_a_surname_in_capitals_or_with_particles():
    from linkage.standardise import split_full_name

    assert split_full_name("John Smith Jr") == ("John", None, "Smith")
    assert split_full_name("John Paul Smith, Jr.") == ("John", "Paul", "Smith")
    assert split_full_name("WANG Wei") == ("Wei", None, "WANG")
    assert split_full_name("Jean DUPONT") == ("Jean", None, "DUPONT")
    assert split_full_name("Ursula von der Leyen") == ("Ursula", None, "von der Leyen")
    assert split_full_name("Nguyen Van Anh") == ("Nguyen", "Van", "Anh")  # a capital Van is a middle name
    assert split_full_name("JOHN SMITH") == ("JOHN", None, "SMITH")


def test_review_import_reads_uk_dates_and_a_repeated_decision_never_overrides_a_later_one(tmp_path):
    import duckdb

    from linkage.review import ReviewImportError, import_decisions, latest_decisions, pair_id

    left, right = rid(1), rid(2)
    pair = pair_id(left, right)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))

    def decide(name: str, decision: str, decided_at: str | None = None, extra: dict | None = None) -> dict:
        row = {"pair_id": pair, "person_record_id_l": left, "person_record_id_r": right, "decision": decision,
               **({"decided_at": decided_at} if decided_at else {}), **(extra or {})}
        pd.DataFrame([row]).to_csv(tmp_path / name, index=False)
        return import_decisions(con, tmp_path / name, reviewer="r1")

    def latest() -> str:
        return latest_decisions(con).set_index("pair_id").loc[pair, "decision"]

    assert decide("first.csv", "match", extra={"note": "same school and GP"})["decisions_imported"] == 1
    assert con.execute("select note from linkage.review_decisions").fetchall() == [("same school and GP",)]
    assert decide("second.csv", "not a match")["decisions_imported"] == 1 and latest() == "not a match"
    # the first file saved again (other bytes, same decision): a repeat, skipped, the later decision stands
    counts = decide("first_saved_again.csv", "match", extra={"note": "saved again"})
    assert counts["decisions_imported"] == 0 and counts["repeated_decisions_skipped"] == 1
    assert latest() == "not a match"
    # a UK date is day first: 05/12/2099 is 5 December, after everything else, so it applies
    assert decide("dated.csv", "match", decided_at="05/12/2099")["decisions_imported"] == 1 and latest() == "match"
    dated = con.execute("select max(decided_at) from linkage.review_decisions").fetchall()[0][0]
    assert (dated.month, dated.day) == (12, 5)
    # an older dated decision is recorded but reported as not the one that applies
    assert decide("older.csv", "unsure", decided_at="2001-01-02")["decisions_older_than_the_pairs_latest"] == 1
    assert latest() == "match"
    with pytest.raises(ReviewImportError) as error:
        decide("unreadable.csv", "match", decided_at="Jane Smith")
    assert "rows 2" in str(error.value) and "Jane" not in str(error.value)
    with pytest.raises(ReviewImportError):  # a year typed wrong: refused, not an overflow
        decide("typo.csv", "match", decided_at="2999-06-01")
    con.close()


def test_a_decisions_csv_reads_as_excel_saves_it(tmp_path):
    """Semicolons and Windows-1252 (a note with £, as Excel saves a CSV in the UK) read like a UTF-8 comma
    CSV; a missing file says so."""
    import duckdb

    from linkage.review import ReviewImportError, import_decisions, pair_id

    left, right = rid(1), rid(2)
    text = (f"pair_id;person_record_id_l;person_record_id_r;decision;note\r\n"
            f"{pair_id(left, right)};{left};{right};not a match;£ arrears on one only\r\n")
    path = tmp_path / "decisions.csv"
    path.write_bytes(text.encode("cp1252"))
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    assert import_decisions(con, path, reviewer="r1")["decisions_imported"] == 1
    assert con.execute("select decision, note from linkage.review_decisions").fetchall() == [
        ("not a match", "£ arrears on one only")]
    with pytest.raises(ReviewImportError, match="no such file"):
        import_decisions(con, tmp_path / "missing.xlsx")
    con.close()


def test_an_old_workbook_never_overturns_a_decision_made_after_it_was_exported(tmp_path):
    import duckdb

    from linkage.review import import_decisions, latest_decisions, pair_id

    left, right = rid(1), rid(2)
    pair = pair_id(left, right)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))

    def decide(name: str, decision: str, exported_at: str, decided_at: str | None = None) -> dict:
        row = {"pair_id": pair, "person_record_id_l": left, "person_record_id_r": right, "decision": decision,
               "exported_at": exported_at, **({"decided_at": decided_at} if decided_at else {})}
        pd.DataFrame([row]).to_csv(tmp_path / name, index=False)
        return import_decisions(con, tmp_path / name, reviewer="r1")

    def latest() -> str:
        return latest_decisions(con).set_index("pair_id").loc[pair, "decision"]

    assert decide("monday.csv", "not a match", exported_at="2026-01-05 09:00:00")["decisions_imported"] == 1
    # a copy exported before that decision was imported, filled in later: skipped, the decision stands
    counts = decide("old_copy.csv", "match", exported_at="2026-01-01 09:00:00")
    assert (counts["decisions_imported"], counts["decided_since_export_skipped"]) == (0, 1)
    assert latest() == "not a match"
    # a workbook exported after it sees the decision: a new decision
    assert decide("fresh.csv", "match", exported_at="2099-01-01 00:00:00")["decisions_imported"] == 1
    assert latest() == "match"
    # the old copy with a decided_at of its own after the latest decision: a deliberate change, recorded
    counts = decide("old_copy_dated.csv", "not a match", exported_at="2026-01-01 09:00:00", decided_at="2099-06-01")
    assert (counts["decisions_imported"], counts["decided_since_export_skipped"]) == (1, 0)
    assert latest() == "not a match"
    con.close()


def test_review_figures_count_the_decisions_the_index_does_not_hold():
    from linkage.review import queue_figures

    decisions = pd.DataFrame({"pair_id": ["p1", "p2", "p3", "p4"],
                              "person_record_id_l": ["a", "c", "e", "g"], "person_record_id_r": ["b", "d", "f", "h"],
                              "decision": ["match", "not a match", "match", "unsure"]})
    person_of = {"a": "P1", "b": "P1", "c": "P2", "d": "P3", "e": "P4", "f": "P5", "g": "P6", "h": "P6"}
    figures = queue_figures(0, 8, decisions, 6.0, person_of)
    # e / f: a 'match' kept apart (a cannot-link refused it); 'unsure' is no decision to apply
    assert (figures["review_decisions_applied"], figures["review_decisions_not_applied"]) == (2, 1)
    del person_of["d"]  # a record no longer linked
    assert queue_figures(0, 8, decisions, 6.0, person_of)["review_decisions_not_applied"] == 2


def test_accuracy_says_what_share_of_the_records_it_scored():
    from linkage.evaluate import accuracy

    crosswalk = pd.DataFrame({"person_record_id": ["a", "b", "c", "d"], "person_id": ["P1", "P1", "P2", "P3"]})
    labels = pd.DataFrame({"person_record_id": ["a", "b", "c"], "true_person_id": [1, 1, 2]})  # d: no label
    figures = accuracy(crosswalk, labels)
    assert figures["evaluated_records"] == 3 and figures["evaluated_share"] == 0.75


def _son_and_an_offender(son_dob: str) -> pd.DataFrame:
    """A boy's school record (DOB known) and a police offender record of the same name without a DOB, from an
    offence on 2024-06-01: the offender is 10 or older then (latest possible DOB 2014-06-01)."""
    return pd.DataFrame({"person_record_id": [rid(0), rid(1)], "source_system": ["education", "police"],
                         "first_name_canonical": ["JOHN", "JOHN"], "surname": "SMITH", "nhs_number": None,
                         "ni_number": None, "upn": None, "dob": [son_dob, None], "sex": ["M", "M"],
                         "latest_possible_dob": [None, "20140601"]})


def test_an_offender_record_never_joins_a_child_under_the_age_of_criminal_responsibility():
    edge = _edges([(0, 1, 14.1)])  # above the no-DOB bar: only the age keeps them apart
    apart = cluster(_son_and_an_offender("20141105"), edge, 4.0, 10.0)  # 9 at the offence: his father's record
    assert len(_partition(apart)) == 2 and not apart.accepted[0]
    assert len(_partition(cluster(_son_and_an_offender("20101105"), edge, 4.0, 10.0))) == 1  # 13: may be him
    # without the column (a partner list) the rule does not apply
    no_roles = _son_and_an_offender("20141105").drop(columns="latest_possible_dob")
    assert len(_partition(cluster(no_roles, edge, 4.0, 10.0))) == 1


def test_a_record_without_dob_joins_its_own_systems_registration_only_on_a_shared_identifier():
    """Two health registrations, one without a DOB: a same-name relative as likely as the same person, unless
    they share an NHS number (and a forename)."""
    def health(nhs_r: str | None) -> pd.DataFrame:
        return pd.DataFrame({"person_record_id": [rid(0), rid(1)], "source_system": ["health", "health"],
                             "first_name_canonical": ["ANN", "ANN"], "surname": "LEE",
                             "nhs_number": ["9434765919", nhs_r], "ni_number": None, "upn": None,
                             "dob": ["19800101", None], "sex": ["F", "F"]})

    edge = _edges([(0, 1, 21.2)])
    assert len(_partition(cluster(health(None), edge, 4.0, 10.0))) == 2
    assert len(_partition(cluster(health("9434765919"), edge, 4.0, 10.0))) == 1


def test_a_swapped_record_does_not_excuse_its_households_other_forenames():
    """A record with forename and surname swapped (SMITH JOHN) joins JOHN SMITH, and a record that gives the
    surname alone, in the forename field, still may; but the swapped record's forename, the household's
    surname, must not excuse MARY SMITH's different forename from JOHN's: one-sided, it chained a voter roll's
    households (9 of them at 1% of names swapped, precision 0.935)."""
    from linkage.cluster import LIST_RULES

    names = [("JOHN", "SMITH"), ("MARY", "SMITH"), ("SMITH", "JOHN"), ("SMITH", None)]
    records = pd.DataFrame({"person_record_id": [rid(i) for i in range(4)], "source_system": "list",
                            "first_name_canonical": [f for f, _ in names], "surname": [s for _, s in names],
                            "nhs_number": None, "ni_number": None, "upn": None, "dob": None, "sex": None})
    # the swap first (strongest), then the household edge a trained list scored above the threshold
    edges = _edges([(0, 2, 20.0), (1, 2, 12.0), (0, 1, 12.0)])
    assert _partition(cluster(records, edges, 4.0, rules=LIST_RULES)) == {
        frozenset({rid(0), rid(2)}), frozenset({rid(1)}), frozenset({rid(3)})}
    # a surname keyed as the forename, no surname: not a different forename from JOHN SMITH's
    alone = cluster(records, _edges([(0, 3, 10.0)]), 4.0, rules=LIST_RULES)
    assert frozenset({rid(0), rid(3)}) in _partition(alone)


def test_a_swap_of_a_forename_with_a_nickname_canonical_form_still_merges():
    """The swap is judged on forenames as written: JOHN's canonical form (the end of its nickname chain) is JOAO,
    which is no one's surname, and a diff review found SMITH JOHN / JOHN SMITH refused for 12 of 20 common
    forenames."""
    from linkage.cluster import LIST_RULES

    records = pd.DataFrame({"person_record_id": [rid(0), rid(1)], "source_system": ["a", "b"],
                            "first_name": ["JOHN", "SMITH"], "first_name_canonical": ["JOAO", "SMITH"],
                            "surname": ["SMITH", "JOHN"], "nhs_number": None, "ni_number": None, "upn": None,
                            "dob": "19800101", "sex": None})
    for rules in (LIST_RULES, None):
        result = cluster(records, _edges([(0, 1, 20.0)]), 4.0, **({"rules": rules} if rules else {}))
        assert len(_partition(result)) == 1
