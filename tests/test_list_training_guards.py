"""Training a list's model on itself (issue 3 §6): a list without DOBs whose names are common is blocked for EM on
forename and surname alone, where most pairs are namesakes who live apart. EM then took them for matches and
learned that one person's records give different addresses, so a shared address weighed next to nothing and a
fourth audit's list of 4,000 persons linked none of its 2,000 true pairs. And with no DOB or identifier there was no
rule to estimate the list's prior from: it stayed the warehouse's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.match import MOVED_MAX_M, keep_starting_location_m, link_files


def _location(moved_m: float, same_line_m: float) -> dict:
    return {"comparisons": [{"output_column_name": "location", "comparison_levels": [
        {"label_for_charts": "null", "is_null_level": True},
        {"label_for_charts": "Same postcode and line", "m_probability": same_line_m, "u_probability": 1e-4},
        {"label_for_charts": "All other comparisons", "m_probability": moved_m, "u_probability": 0.9}]}]}


def test_a_move_learned_for_most_matches_puts_back_the_starting_m_values():
    starting = _location(0.15, 0.85)
    polluted = _location(0.93, 0.07)
    keep_starting_location_m(polluted, starting)
    assert polluted == starting
    plausible = _location(MOVED_MAX_M - 0.1, 0.6)  # a list of snapshots years apart: many moved, EM right
    keep_starting_location_m(plausible, starting)
    assert plausible == _location(MOVED_MAX_M - 0.1, 0.6)


def test_a_list_of_common_names_without_dobs_links_on_the_address(tmp_path, monkeypatch):
    """Two rolls of 600 people named from 8 forenames and 8 surnames (each name ~10 people), no DOB; a tenth of
    roll B has moved. The people who stayed link on their address; namesakes at other addresses do not."""
    rng = np.random.default_rng(2)
    forenames = ["JAMES", "MARY", "JOHN", "SARAH", "DAVID", "EMMA", "PAUL", "LUCY"]
    surnames = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILSON", "DAVIES", "EVANS", "THOMAS"]
    rows_a, rows_b = [], []
    for p in range(600):
        first, last = rng.choice(forenames), rng.choice(surnames)
        address, postcode = f"{p + 1} HIGH STREET", f"AB{p % 40} {p % 9}XY"
        rows_a.append({"Ref": f"a{p}", "Given": first, "Family": last, "Address": address, "Postcode": postcode})
        if p % 10 == 0:
            address, postcode = f"{p + 1} MILL LANE", f"CD{p % 40} {p % 9}ZZ"
        rows_b.append({"Ref": f"b{p}", "Given": first, "Family": last, "Address": address, "Postcode": postcode})
    for name, rows in (("roll_a", rows_a), ("roll_b", rows_b)):
        pd.DataFrame(rows).to_csv(tmp_path / f"{name}.csv", index=False)
    mapping = {"first_name": "Given", "surname": "Family", "address_line": "Address", "postcode": "Postcode"}
    import linkage.match as match

    guarded = []  # the location guard sees every trained model (its effect: the unit test above)
    original = match.keep_starting_location_m
    monkeypatch.setattr(match, "keep_starting_location_m",
                        lambda model, starting: guarded.append(original(model, starting)))
    figures = link_files([tmp_path / "roll_a.csv", tmp_path / "roll_b.csv"], "Ref", mapping, tmp_path / "out.csv")
    # the list's own prior, from pairs agreeing on names and address: the warehouse's (8e-5, for 28,000 records)
    # had held two records of one person agreeing on both to p = 0.84
    assert figures["trained"][:2] == ["prior", "u"] and len(guarded) == 1
    person = dict(pd.read_csv(tmp_path / "out.csv", dtype=str)[["record_id", "person_id"]].itertuples(index=False))
    stayed = [p for p in range(600) if p % 10]
    assert np.mean([person[f"a{p}"] == person[f"b{p}"] for p in stayed]) >= 0.95
    # namesakes at different addresses stay apart: each roll keeps its 600 people
    assert len({person[f"a{p}"] for p in range(600)}) == 600 and len({person[f"b{p}"] for p in range(600)}) == 600


def test_a_committed_rule_that_compares_too_many_pairs_is_narrowed(monkeypatch):
    """A list whose forename + surname pairs exceed the budget blocks (and trains) on them with the year of birth
    too; the rule is kept whole when the list has nothing to narrow it with, and other rules are left alone."""
    import linkage.match as match
    from linkage.match import equal_key_columns, list_model, narrow_prediction_rules, narrowed_to_budget, standardise

    raw = pd.DataFrame({"source": "list", "record_id": [str(i) for i in range(40)], "first_name": "JOHN",
                        "surname": "SMITH", "dob": [f"{1950 + i % 20}-03-0{1 + i % 9}" for i in range(40)]})
    records = standardise(raw)
    present = {"first_name", "surname", "dob", "dob_year"}
    monkeypatch.setattr(match, "COMMITTED_RULE_MAX_COMPARISONS_PER_RECORD", 2)  # 80 pairs: 780 share the names
    assert narrowed_to_budget(records, ("first_name", "surname"), present) == ("first_name", "surname", "dob_year")
    assert narrowed_to_budget(records, ("first_name", "surname"), {"first_name", "surname"}) == (
        "first_name", "surname")
    model = list_model(present, term_frequencies=False)
    rules = [r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]]
    narrow_prediction_rules(model, records, present)
    after = [r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]]
    changed = [(a, b) for a, b in zip(rules, after) if a != b]
    # forename + DOB compares few pairs here (distinct dates): only forename + surname narrows
    assert [(equal_key_columns(a), equal_key_columns(b)) for a, b in changed] == [
        (("first_name", "surname"), ("first_name", "surname", "dob_year"))]
    assert "l.first_name = r.surname AND l.surname = r.first_name" in after  # not an equal-key rule: untouched


def test_an_em_session_over_the_budget_is_sampled_not_narrowed(monkeypatch):
    """EM trains no comparison that reads a column its rule blocks on: narrowed by the year of birth, the forename +
    surname session left DOB untrained (a review: recall 0.84 -> 0.75). Over the budget it runs on 1 pair in k of
    its own pairs instead, bucketed by record id, whatever the pairs agree on."""
    import linkage.match as match
    from splink import block_on

    from linkage.match import sampled_to_budget, standardise

    raw = pd.DataFrame({"source": "list", "record_id": [str(i) for i in range(40)], "first_name": "JOHN",
                        "surname": "SMITH", "dob": [f"{1950 + i % 20}-03-0{1 + i % 9}" for i in range(40)]})
    records = standardise(raw)
    rule = block_on("first_name", "surname")
    assert sampled_to_budget(records, rule) == (rule, 1)  # 780 pairs: within 50 a record
    monkeypatch.setattr(match, "COMMITTED_RULE_MAX_COMPARISONS_PER_RECORD", 2)  # 80 pairs
    sampled, k = sampled_to_budget(records, rule)
    assert k == 10 and "dob" not in sampled
    assert sampled.startswith('l."first_name" = r."first_name" AND l."surname" = r."surname" AND ')
    assert 'hash(l."person_record_id") % 10 = hash(r."person_record_id") % 10' in sampled
