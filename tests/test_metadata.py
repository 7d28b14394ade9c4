"""The metadata helper refuses personal fields and identifier-shaped values."""

import pytest

from orchestration.lib.metadata import PersonalDataInMetadata, safe_metadata


def test_counts_and_file_names_pass():
    out = safe_metadata({"rows_landed": 10, "files": [{"file": "dwp_benefits_2026-09-30.csv", "rows": 3}],
                         "share": 0.5, "postcode_count": 3})
    assert out["rows_landed"].value == 10


@pytest.mark.parametrize("key", ["first_name", "dob", "nhs_number", "postcode", "surname_sample"])
def test_personal_keys_are_refused(key):
    with pytest.raises(PersonalDataInMetadata):
        safe_metadata({key: "x"})


@pytest.mark.parametrize("value", ["943 476 5919", "QQ123456C", "A123456789012", "FH1 2AB"])
def test_identifier_values_are_refused(value):
    with pytest.raises(PersonalDataInMetadata):
        safe_metadata({"note": f"example {value}"})
