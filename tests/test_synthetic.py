"""The synthetic partner-feed generator: identifiers, determinism, conformance to the feed registry,
truth consistency and the presence of the hard cases. Assertions use counts and booleans only; no
test prints names, dates of birth or identifiers."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestration.lib.feeds import registry
from synthetic import generate
from synthetic.identifiers import (is_valid_ni_number, is_valid_nhs_number, is_valid_pnc, is_valid_upn,
                                   mistype_digits, nhs_numbers, ni_numbers, upn_check_letter, upns)

PERSONS = 2000
SEED = 42
AS_AT = dt.date(2026, 9, 30)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    summary = generate(persons=PERSONS, seed=SEED, out=out, as_at=AS_AT)
    return out, summary


@pytest.fixture(scope="module")
def truth(run):
    out, _ = run
    return {name: pd.read_parquet(out / "truth" / f"{name}.parquet")
            for name in ("source_records", "persons", "household_membership", "relationships", "needs")}


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "landing").rglob("*")) if p.is_file()}


# --- identifiers ---------------------------------------------------------------------------------------


def test_nhs_check_digit_known_cases():
    assert is_valid_nhs_number("9434765919")  # the NHS's published example number
    assert is_valid_nhs_number("943 476 5919")
    assert not is_valid_nhs_number("9434765918")  # wrong check digit
    assert not is_valid_nhs_number("943476591")  # too short
    assert not is_valid_nhs_number("abcdefghij")
    # 4010232137: weighted sum 98 -> remainder 10 -> check 1
    assert is_valid_nhs_number("4010232137")
    # a remainder giving check digit 10 is never issued: 000000006x has sum 12 -> 11 - 1 = 10
    assert not any(is_valid_nhs_number(f"000000006{d}") for d in range(10))
    # remainder 0 -> check digit 0
    assert is_valid_nhs_number("0000000000")


def test_ni_number_rules():
    assert is_valid_ni_number("AB123456C")
    assert is_valid_ni_number("ab 12 34 56 c")
    for bad in ("DA123456A", "AD123456A", "QQ123456C", "AO123456A", "GB123456A", "NK123456A", "TN123456A",
                "ZZ123456A", "AB123456E", "AB12345C", "A1123456C"):
        assert not is_valid_ni_number(bad), bad
    assert is_valid_ni_number("OA123456A")  # O is allowed as the first letter


def test_upn_check_letter_known_cases():
    # body 990 2345 24 001: sum of weights 2..13 times digits = 212; 212 mod 23 = 5 -> "F"
    assert upn_check_letter("990234524001") == "F"
    assert is_valid_upn("F990234524001")
    assert not is_valid_upn("G990234524001")
    assert not is_valid_upn("F99023452400")  # 12 characters
    assert not is_valid_upn("I990234524001")  # I is not a check letter
    generated = upns(np.array([990, 201]), np.array([2345, 4001]), np.array([24, 19]), np.array([1, 999]))
    assert generated[0] == "F990234524001"
    assert all(is_valid_upn(u) for u in generated)


def test_generators_give_valid_distinct_numbers():
    rng = np.random.default_rng(1)
    nhs = nhs_numbers(5000, rng)
    ni = ni_numbers(5000, rng)
    assert len(set(nhs)) == 5000 and all(is_valid_nhs_number(v) for v in nhs)
    assert len(set(ni)) == 5000 and all(is_valid_ni_number(v) for v in ni)
    typo = mistype_digits(nhs[:500], rng)
    assert (typo != nhs[:500]).all()
    # a single substitution or adjacent swap of different digits is always caught by mod 11
    assert sum(is_valid_nhs_number(v) for v in typo) == 0


# --- determinism ---------------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_other_seed_differs(run, tmp_path):
    out, _ = run
    first = _hashes(out)
    generate(persons=PERSONS, seed=SEED, out=tmp_path / "again", as_at=AS_AT)
    assert _hashes(tmp_path / "again") == first
    generate(persons=PERSONS, seed=SEED + 1, out=tmp_path / "other", as_at=AS_AT)
    other = _hashes(tmp_path / "other")
    assert other.keys() == first.keys()
    assert all(other[k] != first[k] for k in first)


# --- conformance with the feed registry ------------------------------------------------------------------


def _parse_value(col, text) -> bool:
    """True when the text is acceptable for the registry column (blank allowed unless required)."""
    if text is None or text == "":
        return not col.required
    if col.codes and text not in col.codes:
        return False
    try:
        if col.type == "integer":
            int(text)
        elif col.type == "decimal":
            Decimal(text)
        elif col.type in ("date", "timestamp") and col.format != "excel":
            dt.datetime.strptime(text, col.format)
    except (ValueError, InvalidOperation):
        return False
    return True


def _read_rows(feed, path: Path) -> tuple[list[str], list[object]]:
    """Header and rows; a row is a list of values, or None when it cannot be read as a row at all."""
    if feed.format == "csv":
        text = path.read_bytes().decode(feed.encoding)  # strict: the encoding must decode
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=feed.delimiter)
        header = next(reader)
        rows = [r if len(r) == len(header) else None for r in reader]
        return header, rows
    if feed.format == "jsonl":
        rows = []
        keys: set[str] = set()
        for line in path.read_bytes().decode(feed.encoding).splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                rows.append(None)
                continue
            keys.update(obj)
            rows.append([obj.get(c.name) for c in feed.columns])
        assert keys <= set(feed.header)
        return feed.header, rows
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == [feed.sheet]
    it = wb[feed.sheet].iter_rows(values_only=True)
    header = [str(h) for h in next(it)]
    rows = [list(r) + [None] * (len(header) - len(r)) for r in it]
    wb.close()
    return header, rows


def _cell_ok(col, value) -> bool:
    if value is None or value == "":
        return not col.required
    if col.format == "excel":
        return isinstance(value, dt.datetime)
    if col.type in ("integer", "decimal") and isinstance(value, (int, float)):
        return True
    return _parse_value(col, str(value))


@pytest.fixture(scope="module")
def parsed(run):
    out, _ = run
    result = {}
    for name, feed in registry().items():
        files = sorted((out / "landing" / name).glob(feed.file_pattern))
        assert len(files) == 1, name
        header, rows = _read_rows(feed, files[0])
        result[name] = (feed, files[0], header, rows)
    return result


def test_every_registry_feed_delivered_with_exact_header(run, parsed):
    out, summary = run
    assert set(summary["feeds"]) == set(registry())
    for name, (feed, path, header, rows) in parsed.items():
        assert header == feed.header, name
        assert (out / summary["feeds"][name]["file"]) == path
        assert summary["feeds"][name]["rows"] == len(rows), name


def test_rows_parse_with_registry_formats_and_codes(parsed, truth):
    sr = truth["source_records"]
    for name, (feed, path, header, rows) in parsed.items():
        bad = set(sr.loc[(sr["feed"] == name) & sr["malformed"], "row_number"].tolist())
        problems = 0
        rejected_malformed = 0
        for i, row in enumerate(rows, start=1):
            ok = row is not None and all(_cell_ok(c, v) for c, v in zip(feed.columns, row))
            if i in bad:
                rejected_malformed += not ok
            else:
                problems += not ok
        assert problems == 0, f"{name}: {problems} clean rows do not parse"
        assert rejected_malformed == len(bad), f"{name}: a malformed row parses"


def test_malformed_rows_in_every_feed_at_a_small_rate(truth):
    sr = truth["source_records"]
    per_feed = sr.groupby("feed")["malformed"].agg(["sum", "size"])
    assert set(per_feed.index) == set(registry())
    assert (per_feed["sum"] >= 1).all()
    assert (per_feed["sum"] / per_feed["size"] <= 0.05).all()
    assert per_feed["sum"].sum() / per_feed["size"].sum() < 0.005


def test_yjs_is_cp1252_with_accented_names(parsed):
    feed, path, _, _ = parsed["yjs_outcomes"]
    raw = path.read_bytes()
    raw.decode("cp1252")
    assert b"\r\n" in raw
    # some names carry accents (Zoë, Chloé): in UTF-8 feeds as multi-byte, in cp1252 as single bytes
    text_feeds = [p for f, p, _, _ in parsed.values() if f.format == "csv" and f.encoding == "utf-8"]
    assert any(any(ord(ch) > 127 for ch in p.read_text("utf-8")) for p in text_feeds)


# --- truth consistent with the files ---------------------------------------------------------------------


def test_truth_row_per_data_row_and_keys(parsed, truth):
    sr = truth["source_records"]
    persons = truth["persons"]
    assert sr["true_person_id"].isin(persons["true_person_id"]).all()
    assert sr["true_household_id"].notna().all()
    for name, (feed, path, header, rows) in parsed.items():
        t = sr[sr["feed"] == name].sort_values("row_number")
        assert (t["file_name"] == path.name).all()
        assert t["row_number"].tolist() == list(range(1, len(rows) + 1)), name
        clean = t[~t["malformed"]]
        assert clean["record_key"].is_unique, name
        # the truth's record key is the text of the key columns, joined with '|'
        key_cols = {
            "csc_persons": ["PERSON_ID"], "csc_episodes": ["EPISODE_ID"],
            "csc_relationships": ["PERSON_ID", "RELATED_PERSON_ID"],
            "early_help_episodes": ["Case Ref", "Client ID"], "school_roll": ["UPN", "URN", "EntryDate"],
            "school_attendance": ["UPN", "URN", "AcademicYear", "Term"],
            "school_exclusions": ["UPN", "StartDate", "Category"], "police_incidents": ["nominal_ref", "incident_ref"],
            "yjs_outcomes": ["Outcome Ref"], "dwp_benefits": ["NINO", "BENEFIT", "CLAIM_START"],
            "health_services": ["Referral ID"], "housing_events": ["Event Ref"],
            "programme_cases": ["family_case_id", "member_id"],
        }[name]
        pos = [feed.header.index(k) for k in key_cols]
        mismatches = 0
        for rn, key in zip(clean["row_number"].tolist(), clean["record_key"].tolist()):
            row = rows[rn - 1]
            mismatches += "|".join(str(row[p]) for p in pos) != key
        assert mismatches == 0, name


def test_truth_tables_consistent(truth):
    persons = truth["persons"]
    ids = set(persons["true_person_id"])
    assert len(persons) == PERSONS
    assert persons["true_person_id"].is_unique
    for name in ("household_membership", "relationships"):
        assert truth[name]["true_person_id"].isin(ids).all()
    assert truth["relationships"]["related_true_person_id"].isin(ids).all()
    assert set(truth["relationships"]["relationship"]) >= {"MOTHER", "FATHER", "SIBLING", "PARTNER", "STEPFATHER"}
    # everyone has an address on the as-at date
    m = truth["household_membership"]
    open_now = m[m["to_date"].isna()]
    assert open_now["true_person_id"].nunique() == PERSONS
    needs = truth["needs"]
    assert needs["true_person_id"].dropna().isin(ids).all()
    assert needs["need"].nunique() >= 12


def test_identifiers_in_truth_valid(truth):
    p = truth["persons"]
    assert p["nhs_number"].map(is_valid_nhs_number).all()
    assert p["nhs_number"].is_unique
    ni = p["ni_number"].dropna()
    assert len(ni) > PERSONS * 0.6 and ni.map(is_valid_ni_number).all() and ni.is_unique
    upn = p["upn"].dropna()
    assert len(upn) > PERSONS * 0.1 and upn.map(is_valid_upn).all() and upn.is_unique


def test_feed_nhs_numbers_mostly_valid_some_mistyped(parsed):
    values = []
    for name, col in (("csc_persons", "NHS_NUMBER"), ("health_services", "NHS Number")):
        feed, _, header, rows = parsed[name]
        i = header.index(col)
        values += [r[i] for r in rows if r is not None and r[i]]
    valid = sum(is_valid_nhs_number(v) for v in values) / len(values)
    assert 0.9 < valid < 1.0


def test_police_pnc_ids_valid_where_present(parsed):
    feed, _, header, rows = parsed["police_incidents"]
    i = header.index("pnc_id")
    pnc = [r[i] for r in rows if r is not None and r[i]]
    assert pnc and all(is_valid_pnc(v) for v in pnc)


def test_postcodes_in_geography_seed(parsed):
    lookup = pd.read_csv(REPO / "seeds" / "geography" / "postcode_lookup.csv", dtype=str)
    assert lookup["postcode"].is_unique
    assert lookup["imd_decile"].astype(int).between(1, 10).all()
    assert lookup["ward_code"].str.fullmatch(r"E05\d{6}").all()
    assert lookup["lsoa_code"].str.fullmatch(r"E01\d{6}").all()
    known = set(lookup["postcode"].str.replace(" ", "", regex=False))
    columns = {"csc_persons": "POSTCODE", "early_help_episodes": "Post Code", "school_roll": "Postcode",
               "police_incidents": "postcode", "yjs_outcomes": "Postcode", "dwp_benefits": "POSTCODE",
               "health_services": "Postcode", "housing_events": "Postcode", "programme_cases": "postcode"}
    unknown = 0
    for name, col in columns.items():
        feed, _, header, rows = parsed[name]
        i = header.index(col)
        for r in rows:
            if r is not None and r[i]:
                unknown += str(r[i]).upper().replace(" ", "") not in known
    assert unknown == 0


def test_nicknames_seed():
    nick = pd.read_csv(REPO / "seeds" / "nicknames.csv", dtype=str, keep_default_na=False)
    assert list(nick.columns) == ["name", "canonical", "kind"]
    assert len(nick) >= 300
    assert not nick.duplicated(["name", "canonical"]).any()
    assert set(nick["kind"]) == {"nickname", "abbreviation", "latin", "gaelic_welsh", "european", "arabic_urdu"}
    rows = set(zip(nick["name"], nick["canonical"], nick["kind"]))
    assert {("Liz", "Elizabeth", "nickname"), ("Beth", "Elizabeth", "nickname"), ("Bill", "William", "nickname"),
            ("Will", "William", "nickname"), ("Muhammad", "Mohammed", "nickname"),
            ("Mohamed", "Mohammed", "nickname"), ("Wm", "William", "abbreviation"),
            ("Gulielmus", "William", "latin")} <= rows


def test_nickname_errors_key_only_pet_forms():
    # a council's feeds hold Bill for William, never a register's Wm or Gulielmus
    from synthetic import errors

    nick = pd.read_csv(REPO / "seeds" / "nicknames.csv", dtype=str, keep_default_na=False)
    first = np.array(["William", "James", "Unlisted"] * 2000, dtype=object)
    out, changed = errors.nicknames(first, np.random.default_rng(1))
    assert changed[first != "Unlisted"].all() and not changed[first == "Unlisted"].any()
    drawn = set(zip(out[changed], first[changed]))
    pet = set(zip(nick.loc[nick["kind"] == "nickname", "name"], nick.loc[nick["kind"] == "nickname", "canonical"]))
    assert drawn <= pet and ("Bill", "William") in drawn


# --- hard cases ----------------------------------------------------------------------------------------


def test_hard_cases_present(truth, run):
    _, summary = run
    p = truth["persons"]
    sr = truth["source_records"]
    twins = p.dropna(subset=["twin_group"]).groupby("twin_group")
    assert twins.ngroups >= 3 and (twins.size() >= 2).all()
    assert (twins["dob"].nunique() == 1).all() and (twins["birth_household_id"].nunique() == 1).all()
    same = p.dropna(subset=["father_same_name_of"])
    assert len(same) >= 1
    fathers = p.set_index("true_person_id").loc[same["father_same_name_of"].astype(int)]
    assert (fathers["first_name"].to_numpy() == same["first_name"].to_numpy()).all()
    assert (fathers["surname"].to_numpy() == same["surname"].to_numpy()).all()
    assert p["surname_changed_date"].notna().sum() >= 10
    assert (p["surname"] != p["current_surname"]).sum() >= 10
    assert p["surname"].str.contains("-", regex=False).sum() >= 5  # double-barrelled
    m = truth["household_membership"]
    assert (m.groupby("true_person_id")["uprn"].nunique() > 1).sum() >= 50  # people who moved
    errors = sr["errors"].fillna("")
    for tag in ("nickname", "dob_transposed", "dob_placeholder", "duplicate_registration", "stale_address",
                "name_swap", "typo_surname", "postcode_format", "stale_surname", "id_mistyped"):
        assert errors.str.contains(tag, regex=False).sum() >= 1, tag
    # common-name collisions: distinct people sharing forename and surname
    counts = p.groupby(["first_name", "surname"]).size()
    assert (counts >= 2).sum() >= 5
    # children whose surname differs from their mother's
    kids = p.dropna(subset=["mother_id"])
    mother_sn = p.set_index("true_person_id").loc[kids["mother_id"].astype(int), "surname"].to_numpy()
    assert (kids["surname"].to_numpy() != mother_sn).sum() >= 20
    assert summary["truth"]["twins"] >= 6


def test_duplicate_registrations_visible_in_feeds(parsed, truth):
    """The same true person under two ids in one system."""
    sr = truth["source_records"]
    id_cols = {"csc_persons": "PERSON_ID", "early_help_episodes": "Client ID", "police_incidents": "nominal_ref"}
    found = 0
    for name, col in id_cols.items():
        feed, _, header, rows = parsed[name]
        i = header.index(col)
        t = sr[(sr["feed"] == name) & ~sr["malformed"]].sort_values("row_number")
        ids = [rows[rn - 1][i] if rows[rn - 1] is not None else None for rn in t["row_number"]]
        df = pd.DataFrame({"pid": t["true_person_id"].to_numpy(), "sys": ids}).dropna()
        found += int((df.groupby("pid")["sys"].nunique() > 1).sum())
        # and one id never covers two different people
        assert (df.groupby("sys")["pid"].nunique() == 1).all(), name
    assert found >= 1


def test_summary_has_no_personal_data(run):
    _, summary = run
    text = json.dumps(summary)
    assert summary["persons"] == PERSONS
    assert summary["households"] > 0
    # counts and file paths only
    for feed in summary["feeds"].values():
        assert set(feed) == {"file", "files", "rows", "malformed_rows"}
    assert "@" not in text


def test_large_xlsx_feeds_split_into_files_matching_the_pattern(tmp_path, monkeypatch):
    import synthetic.writers as writers

    monkeypatch.setattr(writers, "MAX_XLSX_ROWS", 100)
    summary = generate(persons=PERSONS, seed=SEED, out=tmp_path, as_at=AS_AT)
    sr = pd.read_parquet(tmp_path / "truth" / "source_records.parquet")
    for name in ("early_help_episodes", "housing_events"):
        feed = registry()[name]
        files = sorted((tmp_path / "landing" / name).glob(feed.file_pattern))
        assert len(files) == len(summary["feeds"][name]["files"]) >= 2
        t = sr[sr["feed"] == name]
        assert sorted(t["file_name"].unique()) == [f.name for f in files]
        assert t.groupby("file_name").size().max() <= 100
        assert len(t) == summary["feeds"][name]["rows"]
