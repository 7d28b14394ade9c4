"""`familyhub link` reads what lists from other registers give (linkage.match, linkage.standardise): an age
instead of a date of birth (a voter roll, a census) is a year of birth on the day it was taken; an identifier
that Excel wrote in scientific notation has lost digits and is missing, not a value strangers share; ids and
UPRNs that lost (or gained) leading zeros, and a ZIP+4 against its ZIP code, still compare. Made-up people."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from linkage.match import ListError, ages_taken_on, dob_from_age, parse_mapping
from linkage.standardise import standardise
from tests.test_linkage_cli_inputs import link, write_csv
from tests.test_list_standardise_formats import _standardised

NAMES = {"first_name": "Given", "surname": "Family", "postcode": "Zip"}
MAPS = ["--map", "first_name=Given", "--map", "surname=Family", "--map", "postcode=Zip"]


def test_an_age_is_the_likelier_year_of_birth_on_the_day_it_was_taken():
    ages = pd.Series(["42", "42.0", " 7 ", "42 years", "42y", "", None, "forty", "131", "-3", "42.5"])
    # by September most of a year's birthdays have passed: 42 then is mostly born 1982; in March mostly 1981
    assert dob_from_age(ages, dt.date(2024, 9, 1)).tolist() == ["1982", "1982", "2017", "1982", "1982", *[None] * 6]
    assert dob_from_age(ages, dt.date(2024, 3, 1)).tolist()[:3] == ["1981", "1981", "2016"]
    # 1 July is not past half the year in a leap year either
    assert [dob_from_age(ages[:1], dt.date(year, 7, 1))[0] for year in (2023, 2024)] == ["1980", "1981"]


def test_age_is_mapped_instead_of_a_date_of_birth_with_its_dates_taken_once_or_per_input():
    assert parse_mapping(["first_name=Given", "age=Age"])["age"] == "Age"
    for other in ("dob=Born", "dob_year=By"):
        with pytest.raises(ListError, match="the date of birth or the age, not both"):
            parse_mapping(["age=Age", other])
    on = [dt.date(2023, 6, 1), dt.date(2024, 6, 1)]
    assert ages_taken_on(on[:1], 3, True) == [on[0]] * 3 and ages_taken_on(on, 2, True) == on
    assert ages_taken_on(None, 2, True) == [None, None]
    with pytest.raises(ListError, match="given 2 times for 3 inputs"):
        ages_taken_on(on, 3, True)
    with pytest.raises(ListError, match="no --map age"):
        ages_taken_on(on[:1], 1, False)
    with pytest.raises(ListError, match="a date to come"):
        ages_taken_on([dt.date.today() + dt.timedelta(days=1)], 1, True)


def _roll(path, year: int, people: list[tuple[str, str, str, int]]):
    """A voter roll taken on 1 July `year`: Ref, Given, Family, Zip, Age (people's years of birth)."""
    return write_csv(path, header=["Ref", "Given", "Family", "Zip", "Age"],
                     rows=[[f"{path.stem}-{i}", given, family, zip_code, str(year - born - 1)]
                           for i, (given, family, zip_code, born) in enumerate(people)])


def test_two_rolls_a_year_apart_link_on_age_and_keep_a_same_name_father_and_son_apart(tmp_path, capsys):
    # each household: a father and a son of one name, and another member; both rolls list everyone
    people = [(given, family, f"2{n:04d}", born) for n, (given, family) in enumerate(
        [("Castor", "Ambridge"), ("Hamish", "Darnell"), ("Crispin", "Fairweather"), ("Ottilie", "Blackwood"),
         ("Romilly", "Cardew"), ("Barnaby", "Everard")]) for born in (1958, 1986)]
    people += [("Isadora", "Blackwood", "20003", 1990), ("Lachlan", "Darnell", "20001", 1961)]
    older = _roll(tmp_path / "roll2023.csv", 2023, people)
    newer = _roll(tmp_path / "roll2024.csv", 2024, people)  # everyone a year older
    out = tmp_path / "clusters.csv"
    code, printed = link(capsys, "--input", older, "--input", newer, "--id", "Ref", *MAPS, "--map", "age=Age",
                         "--age-on", "2023-07-01", "--age-on", "2024-07-01", "--out", out)
    assert code == 0, printed
    assert "28 ages read as years of birth" in printed and "--dob-format" not in printed
    assert "not a whole number" not in printed
    person = pd.read_csv(out, dtype=str).set_index("record_id")["person_id"]
    for i in range(len(people)):
        assert person[f"roll2023-{i}"] == person[f"roll2024-{i}"], i  # one person in both rolls
    # a father and his son (same name, same address, 28 years apart) are two people in each roll
    for i in range(0, 12, 2):
        assert person[f"roll2023-{i}"] != person[f"roll2023-{i + 1}"], i
    assert "give --age-on once per --input" not in printed
    # with one date for both rolls the command says they may be snapshots of different dates
    code, printed = link(capsys, "--input", older, "--input", newer, "--id", "Ref", *MAPS, "--map", "age=Age",
                         "--out", out)
    assert code == 0 and "give --age-on once per --input, in order" in printed
    # without the ages the same rolls chain father and son into one person: the test is of the ages
    code, printed = link(capsys, "--input", older, "--input", newer, "--id", "Ref", *MAPS, "--out", out)
    assert code == 0, printed
    person = pd.read_csv(out, dtype=str).set_index("record_id")["person_id"]
    assert person["roll2023-0"] == person["roll2023-1"]


def test_an_identifier_in_scientific_notation_is_missing_unless_its_digits_are_all_there():
    out = _standardised("other_id", ["1.23457E+11", "1.23457e+11", "4.010232137E+09", "123457000000", "1E5", "E+11"],
                        uprn=["1.00023E+11", None, None, None, None, None],
                        nhs_number=["4.01023E+09", None, "4.010232137E+09", None, None, None])
    # 123,456,789,012 and 123,457,000,000 both show as 1.23457E+11: agreeing on that would link strangers
    # without its + (1E5) a value is an id like any other: Excel, pandas and R write the +
    assert out["other_id"].tolist() == [None, None, "4010232137", "123457000000", "1E5", "E+11"]
    assert out.loc[0, "uprn"] is None and out.loc[0, "nhs_number"] is None
    assert out.loc[2, "nhs_number"] == "4010232137"
    assert out["has_lost_identifier_digits"].tolist() == [True, True, False, False, False, False]


def test_ids_and_uprns_compare_without_leading_zeros_and_a_zip_plus_4_as_its_zip():
    out = _standardised("other_id", ["007700900123", "7700900123", "0000", "AB0012"],
                        uprn=["000100023336956", "100023336956", "00", "UPRN 01"],
                        postcode=["27601-1234", "276011234", "27601", "02134 5678"])
    assert out["other_id"].tolist() == ["7700900123", "7700900123", None, "AB0012"]
    assert out["uprn"].tolist() == ["100023336956", "100023336956", None, "UPRN 01"]
    assert out["postcode"].tolist() == ["27601", "27601", "27601", "02134"]
    # a UK postcode and other countries' codes are as before
    assert _standardised("postcode", ["SW1A 1AA", "1234 AB", "75008"])["postcode"].tolist() == [
        "SW1A 1AA", "1234AB", "75008"]


def _three_people(path, column: str, values: list[str], first_two_namesakes: bool = False):
    """Ref, Given, Family, Zip and `column`: three made-up people (the first two namesakes at two addresses)."""
    second = ["Zillah", "Ashdown"] if first_two_namesakes else ["Yorick", "Brackley"]
    rows = [["1", "Zillah", "Ashdown", "2600"], ["2", *second, "2900"], ["3", "Wren", "Cotterill", "2602"]]
    return write_csv(path, header=["Ref", "Given", "Family", "Zip", column],
                     rows=[[*row, value] for row, value in zip(rows, values, strict=True)])


def test_the_cli_says_how_many_identifiers_lost_digits(tmp_path, capsys):
    source = _three_people(tmp_path / "cards.csv", "Card", ["9.87654E+11", "9.87654E+11", "123456789013"],
                           first_two_namesakes=True)
    out = tmp_path / "clusters.csv"
    code, printed = link(capsys, "--input", source, "--id", "Ref", *MAPS, "--map", "other_id=Card", "--out", out)
    assert code == 0, printed
    assert "2 records carry an identifier in scientific notation with digits lost" in printed
    assert "9.87654E+11" not in printed and "123456789013" not in printed  # no id is quoted
    # namesakes at two addresses whose cards (987,654,321,098 and 987,654,000,000, say) show alike: read as
    # agreeing, the cards made them one person
    assert pd.read_csv(out, dtype=str)["person_id"].nunique() == 3


def test_ages_that_are_not_whole_years_are_counted_and_a_dob_format_is_refused(tmp_path, capsys):
    source = _three_people(tmp_path / "roll.csv", "Age", ["forty", "", "31 yrs"])
    out = tmp_path / "clusters.csv"
    code, printed = link(capsys, "--input", source, "--id", "Ref", *MAPS, "--map", "age=Age", "--out", out)
    assert code == 0, printed
    assert "1 ages read as years of birth (see --age-on); 1 not a whole number of years" in printed
    code, printed = link(capsys, "--input", source, "--id", "Ref", *MAPS, "--map", "age=Age", "--dob-format",
                         "%Y", "--out", out)
    assert code == 2 and "an age (--map age) takes none" in printed
