"""The metadata guard catches identifiers in any letter case and in their printed shapes (an NHS number with dashes, an
NI number spaced out), wherever the string sits (nested in lists and dicts, or in a MetadataValue the caller built),
while the run's ordinary metadata (hashes, delivery ids, dated file names, periods, paths) passes. Free text goes
through safe_text, which refuses such a text whole."""

import dagster as dg
import duckdb
import pytest

from orchestration.lib.metadata import PERSONAL_VALUE, PersonalDataInMetadata, safe_metadata, safe_text

NEW_SHAPES = ["fh1 2ab", "Fh12ab", "943-476-5919", "943 476-5919", "QQ 12 34 56 C", "qq123456c", "a123456789012"]


@pytest.mark.parametrize("value", NEW_SHAPES)
def test_identifiers_in_any_case_and_printed_shape_are_refused(value):
    with pytest.raises(PersonalDataInMetadata):
        safe_metadata({"note": f"example {value}"})


@pytest.mark.parametrize("value", [
    {"files": [{"file": "x.csv", "note": "for fh1 2ab"}]},  # nested in a list of dicts
    {"by_person": {"qq 12 34 56 c": 1}},  # a key of a nested dict
    dg.MetadataValue.text("ring 943-476-5919"),
    dg.MetadataValue.json({"rows": [["fh9 9zq"]]}),
    dg.MetadataValue.md("| postcode |\n| FH1 2AB |"),
])
def test_nested_values_and_caller_built_metadata_values_are_checked(value):
    with pytest.raises(PersonalDataInMetadata):
        safe_metadata({"detail": value})


def test_ordinary_run_metadata_still_passes():
    """What runs report every day: none of it may trip the case-insensitive patterns."""
    sha = "3f9a2b1c4d5e6f7081928374655647382910abcdeffedcba0123456789abcdef"
    values = {"files": [{"file": "dwp_benefits_2026-09-30.csv", "delivery": "dwp_benefits:3f9a2b1c4d5e6f70",
                         "sha256": sha, "status": "landed", "rows": 3}],
              "period": "2026-Q3", "family_ref": "FAM-0123456789abcdef0123", "encoding": "cp1252",
              "note": "text is UTF-8 in a cp1252 file (mixed encodings): 2 rows, landed 2026-10-31 12:00:00",
              "chart": dg.MetadataValue.path("/tmp/data/artefacts/splink/m_u_parameters.html"),
              "gates": dg.MetadataValue.json({"raw_gate/dwp_benefits": "passed"})}
    assert set(safe_metadata(values)) == set(values)


def test_the_extract_gate_reads_the_same_pattern_in_duckdb():
    """expectations/extract_gate.py runs PERSONAL_VALUE's text as a DuckDB regex: the letter case must carry."""
    con = duckdb.connect()
    for text in [*NEW_SHAPES, "FAM-0123456789abcdef0123", "2026-Q3"]:
        in_duckdb = con.execute("select regexp_matches(?, ?)", [text, PERSONAL_VALUE.pattern]).fetchone()[0]
        assert in_duckdb == bool(PERSONAL_VALUE.search(text)), text


def test_safe_text_refuses_a_text_with_an_identifier_whole():
    withheld = "withheld"
    assert safe_text("3 columns missing", withheld) == "3 columns missing"
    # the name beside the postcode goes too: masking the postcode alone would leave it
    assert safe_text("unexpected columns ['Quillfeather fh9 9zq']", withheld) == withheld
