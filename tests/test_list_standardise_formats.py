"""`familyhub link` / `match` standardise what real exports write (linkage.standardise): a placeholder where
a name should be is missing, not a name strangers share; a two-digit year given with --dob-format is never in
the future; a date written as a float, an Excel day number or a 12-hour date-time reads as its date; a numeric
postcode written as a float is its digits. Made-up names and dates only."""

from __future__ import annotations

import datetime as dt

from pathlib import Path

import pandas as pd

from linkage.match import link_files, read_list
from linkage.standardise import standardise


def _standardised(column: str, values: list, dob_format: str | None = None, **other) -> pd.DataFrame:
    """standardise() of a list with one record per value (record ids 0, 1, ...), in that order."""
    raw = pd.DataFrame({"source": "s", "record_id": [str(i) for i in range(len(values))], column: values, **other})
    out = standardise(raw, dob_format).to_pandas()
    return out.set_index(out["source_record_id"].astype(int)).sort_index()


def test_placeholder_names_are_missing_and_flagged():
    placeholders = ["Unknown", "UNKNOWN UNKNOWN", "Not Known", "not-known", "N/K", "Unk", "Unkown", "N/A",
                    "n.a.", "None", "NULL", "Not Given", "Not Stated", "No Name", "Name Not Given", "TBC",
                    "Anonymous", "Unnamed", "Name", "Test Test", "XXX", "x", "?", "-", "999", "Unknown Male",
                    "Unknown Female"]
    # NA, No (Korean surnames; Na a Chinese given name too), NK and N.K. (initials), Anon (a Thai forename),
    # Male and Test (English surnames) alone, X in a longer name, a name that merely starts like a
    # placeholder word: names, kept
    names = ["Na", "NA", "No", "NK", "N.K.", "Anon", "Male", "Test", "Xavier", "Xu", "Nameer", "Testa", "Kaur",
             "Олег", "Mary-Ann"]
    for field in ("first_name", "surname", "middle_names"):
        out = _standardised(field, placeholders + names)
        ph, kept = out.iloc[:len(placeholders)], out.iloc[len(placeholders):]
        assert ph[field].isna().all() and ph["has_placeholder_name"].all(), field
        assert kept[field].notna().all() and not kept["has_placeholder_name"].any(), field
    assert _standardised("first_name", ["Mr Unknown"])["first_name"].isna().all()  # after its title
    # soundex and the canonical forename come from the cleaned name: nothing for a placeholder to agree on
    out = _standardised("first_name", ["Unknown", "Zillah"], surname=["Not Known", "Ashdown"])
    assert out.loc[0, ["first_name_canonical", "first_name_soundex", "surname_soundex", "surname_tokens"]].isna().all()
    assert out.loc[1, "surname_soundex"] == "A235"


def test_a_newborns_stand_in_forename_is_missing_and_its_surname_kept():
    out = _standardised("first_name", ["Baby", "Baby of Jane", "BABY BOY", "Baby 2", "Unborn", "Infant", "Newborn",
                                       "Babette", "Baby Rani", "Baby-Jane"], surname=["Ashdown"] * 10)
    assert out.loc[:6, "first_name"].isna().all() and out.loc[:6, "has_placeholder_name"].all()
    assert (out["surname"] == "ASHDOWN").all()  # the mother's surname is the child's evidence: kept
    assert _standardised("surname", ["Baby"])["surname"].tolist() == ["BABY"]  # forenames only
    # Baby before a name is a given name (South Asian, Filipino families), as is Babette
    assert out.loc[7:, "first_name"].notna().all() and not out.loc[7:, "has_placeholder_name"].any()


def test_strangers_recorded_as_unknown_unknown_are_not_merged(tmp_path):
    """Before, a list's 'Unknown Unknown' agreed like a name: two strangers with one DOB were identical on
    every field (a must-link) and became one person."""
    rows = []
    for k in range(15):  # 15 pairs of strangers, each pair with one DOB and sex
        for side in "ab":
            rows.append([f"u{k}{side}", "Unknown", "Unknown", f"19{60 + k}-0{1 + k % 9}-1{k % 9}", "F"])
    for k, (first, last) in enumerate([("Zillah", "Ashdown"), ("Yorick", "Brackley"), ("Wren", "Cotterill")]):
        for copy in range(2):  # real people, twice each: still one person each
            rows.append([f"p{k}{copy}", first, last, f"198{k}-03-2{k}", "M"])
    pd.DataFrame(rows, columns=["Ref", "Given", "Family", "Born", "Sex"]).to_csv(tmp_path / "list.csv", index=False)
    figures = link_files([tmp_path / "list.csv"], "Ref", {"first_name": "Given", "surname": "Family",
                                                          "dob": "Born", "sex": "Sex"}, tmp_path / "clusters.csv")
    assert figures["placeholder_names"] == 30  # reported (a count): the command says so
    person = dict(pd.read_csv(tmp_path / "clusters.csv", dtype=str)[["record_id", "person_id"]].itertuples(index=False))
    assert all(person[f"u{k}a"] != person[f"u{k}b"] for k in range(15))
    assert all(person[f"p{k}0"] == person[f"p{k}1"] for k in range(3))


def test_a_two_digit_year_with_a_dob_format_is_never_in_the_future():
    # DuckDB reads %y 00-68 as 20xx: 12/03/55 was 2055, a date to come, so a placeholder
    out = _standardised("dob", ["12/03/55", "01/10/68", "12/03/69", "12/03/05", "12/03/99"], "%d/%m/%y")
    assert [str(d) for d in out["dob"]] == ["1955-03-12", "1968-10-01", "1969-03-12", "2005-03-12", "1999-03-12"]
    assert not out["has_placeholder_dob"].any()
    # a four-digit year in the future is still a placeholder (only %y moves a century)
    assert _standardised("dob", ["12/03/2055"], "%d/%m/%Y")["dob"].isna().all()
    # and so is a date within the coming year: an unborn child's expected date, not a centenarian's birthday
    expected = (dt.date.today() + dt.timedelta(days=60)).strftime("%d/%m/%y")
    unborn = _standardised("dob", [expected], "%d/%m/%y")
    assert unborn["dob"].isna().all() and unborn["has_placeholder_dob"].all()


def test_dates_written_as_numbers_and_12_hour_date_times_read_as_their_dates():
    dobs = ["19850312.0", "19850312.00", "03/12/1985 12:00:00 AM", "03/25/1985 01:30 PM", "1985-03-12"]
    out = _standardised("dob", dobs)
    assert [str(d) for d in out["dob"]] == ["1985-03-12"] * 3 + ["1985-03-25", "1985-03-12"]
    assert not out["has_unparsed_dob"].any()
    # a list whose dates are Excel day numbers (most of them five digits)
    days = _standardised("dob", ["31118", "31118.0", "31130", "1985-03-12"])
    assert [str(d) for d in days["dob"]] == ["1985-03-12", "1985-03-12", "1985-03-24", "1985-03-12"]
    # elsewhere a five-digit DOB is a mistyped year or a d/m/yy number without its leading zero: not a date
    typed = _standardised("dob", ["19855", "10385", "1985-03-12", "1990-07-01", "2001-11-30"])
    assert typed.loc[:1, "dob"].isna().all() and typed.loc[:1, "has_unparsed_dob"].all()
    # a year alone written as a float is a year, not an Excel day number (those are five digits)
    year = _standardised("dob", ["1985.0", "1985-03-12"])
    assert year.loc[0, "dob"] is None and year.loc[0, "dob_year"] == 1985
    # with --dob-format, a number is read only by that format: no Excel day numbers, floats lose the .0
    given = _standardised("dob", ["31118", "19850312.0"], "%Y%m%d")
    assert given.loc[0, "dob"] is None and str(given.loc[1, "dob"]) == "1985-03-12"
    # a format that names the time of day itself still reads it
    timed = _standardised("dob", ["03/12/1985 12:00:00 AM"], "%m/%d/%Y %I:%M:%S %p")
    assert str(timed.loc[0, "dob"]) == "1985-03-12"


def test_a_numeric_postcode_written_as_a_float_is_its_digits(tmp_path):
    # pandas writes a numeric column holding an empty cell as floats: 2600.0, which compacted to 26000
    people = pd.DataFrame({"Ref": ["a1", "a2", "a3"], "Given": ["Zillah", "Yorick", "Wren"],
                           "Family": ["Ashdown", "Brackley", "Cotterill"], "Born": ["1980-02-03"] * 3,
                           "Zip": [2600.0, None, 8001.0]})
    people.to_csv(tmp_path / "a.csv", index=False)
    people.assign(Ref=["b1", "b2", "b3"], Zip=["2600", "", "8001"]).to_csv(tmp_path / "b.csv", index=False)
    mapping = {"first_name": "Given", "surname": "Family", "dob": "Born", "postcode": "Zip"}
    a, b = (standardise(read_list(tmp_path / f"{n}.csv", "Ref", mapping)).to_pandas().sort_values("source_record_id")
            for n in "ab")
    assert a["postcode"].tolist() == b["postcode"].tolist() == ["2600", None, "8001"]
    out = _standardised("postcode", ["2600.00", "SW1A 1AA", "12.5", "1234 AB"])
    # only digits and a zero fraction: a UK postcode or another decimal is as before
    assert out["postcode"].tolist() == ["2600", "SW1A 1AA", "125", "1234AB"]


def test_identifiers_written_as_floats_are_their_digits():
    # a CSV saved by pandas from a numeric id column with an empty cell: 123456789.0 must equal 123456789
    out = _standardised("other_id", ["123456789.0", "123456789", "AB-12.0"],
                        nhs_number=["4010232137.0", "4010232137", None], uprn=["100023336956.0", None, None])
    assert out["other_id"].tolist() == ["123456789", "123456789", "AB12.0"]  # only a whole number loses its .0
    assert out["nhs_number"].tolist()[:2] == ["4010232137", "4010232137"]
    assert out.loc[0, "uprn"] == "100023336956"
