"""The Splink model, in code: comparisons, blocking rules and training rules.

Every column named here comes from `intermediate.int_person_records_standardised` (one row per
person record, see linkage/README.md). Comparison levels are raw SQL so that the nickname, swap and
transposition levels read exactly as they are meant.
"""

from __future__ import annotations

from typing import Any

import splink.comparison_library as cl
from splink import SettingsCreator, block_on

UNIQUE_ID = "person_record_id"

# The columns Splink needs (anything else in the input table is left behind).
INPUT_COLUMNS = [
    "person_record_id", "source_system", "first_name", "first_name_canonical", "first_name_soundex",
    "middle_names", "surname", "surname_soundex", "surname_tokens", "dob", "dob_year", "sex",
    "address_line", "postcode", "postcode_outward", "uprn", "nhs_number", "ni_number", "upn", "pnc_id",
]
# read by the clustering only, where the records have them (the warehouse's do; a partner list's do not)
CLUSTER_COLUMNS = ["latest_possible_dob"]


def _null(col: str) -> dict[str, Any]:
    return {"sql_condition": f'"{col}_l" IS NULL OR "{col}_r" IS NULL', "label_for_charts": f"{col} is NULL",
            "is_null_level": True}


def _level(sql: str, label: str, tf: str | None = None, m: float | None = None) -> dict[str, Any]:
    """m: a starting m probability for a level that EM may never see among matches (it keeps this)."""
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if m is not None:
        level["m_probability"] = m
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


_ELSE = {"sql_condition": "ELSE", "label_for_charts": "All other comparisons"}
_ELSE_RARE = {**_ELSE, "m_probability": 0.005}


def first_name_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="first_name",
        comparison_description="Forename: exact (tf), swapped with surname, nickname, Jaro-Winkler, soundex",
        comparison_levels=[
            _null("first_name"),
            _level('"first_name_l" = "first_name_r"', "Exact match", tf="first_name"),
            _level('"first_name_l" = "surname_r" AND "surname_l" = "first_name_r"', "Swapped with surname"),
            _level('"first_name_canonical_l" = "first_name_canonical_r"', "Same canonical (nickname)",
                   tf="first_name_canonical"),
            _level('jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.92', "Jaro-Winkler >= 0.92"),
            _level('jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.85'
                   ' OR "first_name_soundex_l" = "first_name_soundex_r"', "Jaro-Winkler >= 0.85 or soundex"),
            _ELSE,
        ],
    )


def surname_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="surname",
        comparison_description="Surname: exact (tf), swapped, Jaro-Winkler, shared token (double-barrelled), soundex",
        comparison_levels=[
            _null("surname"),
            _level('"surname_l" = "surname_r"', "Exact match", tf="surname"),
            _level('"first_name_l" = "surname_r" AND "surname_l" = "first_name_r"', "Swapped with forename"),
            _level('jaro_winkler_similarity("surname_l", "surname_r") >= 0.92', "Jaro-Winkler >= 0.92"),
            _level('len(list_intersect("surname_tokens_l", "surname_tokens_r")) > 0', "Shares a surname part",
                   m=0.01),
            _level('jaro_winkler_similarity("surname_l", "surname_r") >= 0.85'
                   ' OR "surname_soundex_l" = "surname_soundex_r"', "Jaro-Winkler >= 0.85 or soundex"),
            _ELSE,
        ],
    )


def dob_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_description="Date of birth: exact, day/month transposed, one character, same year",
        comparison_levels=[
            _null("dob"),
            _level('"dob_l" = "dob_r"', "Exact match"),
            _level('year("dob_l") = year("dob_r") AND month("dob_l") = day("dob_r") AND day("dob_l") = month("dob_r")',
                   "Day and month transposed"),
            _level('damerau_levenshtein(strftime("dob_l", \'%Y%m%d\'), strftime("dob_r", \'%Y%m%d\')) <= 1',
                   "One character different", m=0.01),
            _level('year("dob_l") = year("dob_r")', "Same year", m=0.005),
            _ELSE_RARE,
        ],
    )


def location_comparison() -> cl.CustomComparison:
    both_null = ('("uprn_l" IS NULL OR "uprn_r" IS NULL) AND ("postcode_l" IS NULL OR "postcode_r" IS NULL)')
    return cl.CustomComparison(
        output_column_name="location",
        comparison_description="Address: UPRN, postcode + address line, postcode (tf), outward code",
        comparison_levels=[
            {"sql_condition": both_null, "label_for_charts": "No UPRN or postcode pair", "is_null_level": True},
            _level('"uprn_l" = "uprn_r"', "Same UPRN"),
            _level('"postcode_l" = "postcode_r" AND "address_line_l" = "address_line_r"', "Same postcode and line"),
            _level('"postcode_l" = "postcode_r"', "Same postcode", tf="postcode"),
            _level('"postcode_outward_l" = "postcode_outward_r"', "Same outward code"),
            _ELSE,
        ],
    )


def identifier_comparison(col: str) -> cl.CustomComparison:
    # Two different people almost never hold identifiers one keystroke apart, and random sampling
    # rarely meets such a pair: the typo level starts from these values and EM refines m.
    typo = _level(f'damerau_levenshtein("{col}_l", "{col}_r") <= 1', "One digit different or swapped")
    typo.update(m_probability=0.02, u_probability=1e-6)
    return cl.CustomComparison(
        output_column_name=col,
        comparison_description=f"{col}: exact, one-character typo",
        comparison_levels=[_null(col), _level(f'"{col}_l" = "{col}_r"', "Exact match"), typo, _ELSE_RARE],
    )


def sex_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="sex",
        comparison_levels=[_null("sex"), _level('"sex_l" = "sex_r"', "Exact match"), _ELSE_RARE],
    )


# Blocking rules for prediction, chosen from the comparison counts in linkage/README.md: each one
# catches matches the others miss (typo in a name, swap, nickname, missing DOB) at a modest count.
PREDICTION_BLOCKING_RULES = [
    block_on("nhs_number"),
    block_on("ni_number"),
    block_on("pnc_id"),
    block_on("first_name", "surname"),
    block_on("surname", "dob"),
    block_on("first_name", "dob"),
    block_on("first_name_canonical", "surname_soundex", "postcode_outward"),
    block_on("postcode", "first_name_soundex"),
    block_on("uprn", "dob_year"),
    "l.first_name = r.surname AND l.surname = r.first_name",
]

# EM sessions: each rule fixes the comparisons it blocks on and estimates the others' m. Pairs sharing
# an NHS or NI number are nearly all matches, so they give clean m for names, DOB and address (blocking
# on DOB or postcode instead lets twins and siblings teach EM that different forenames are common
# among matches); name + DOB gives m for the identifiers.
TRAINING_BLOCKING_RULES = [
    block_on("nhs_number"),
    block_on("ni_number"),
    block_on("first_name", "surname", "dob"),
]

# Near-certain rules for estimating the prior (probability two random records match).
DETERMINISTIC_RULES = [
    block_on("nhs_number"),
    block_on("ni_number"),
    block_on("pnc_id"),
    block_on("first_name", "surname", "dob"),
]
DETERMINISTIC_RECALL = 0.8


def settings_creator() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        blocking_rules_to_generate_predictions=PREDICTION_BLOCKING_RULES,
        comparisons=[
            first_name_comparison(),
            surname_comparison(),
            dob_comparison(),
            location_comparison(),
            identifier_comparison("nhs_number"),
            identifier_comparison("ni_number"),
            identifier_comparison("pnc_id"),
            sex_comparison(),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
    )

