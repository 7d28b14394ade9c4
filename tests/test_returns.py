"""Returns and exports: specs, pseudonyms, reproducible files, manifests, the extract gate, the analyst and
restricted schemas, the analyst workbook, and the quarterly assets and schedules.

Most tests run real Dagster materialisations on a small hand-made warehouse whose marts have the agreed
shapes (no dbt run, a few seconds); one reads the shared pipeline's real marts. Synthetic values only; the
assertions count and compare, they print no row.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import zipfile
from types import SimpleNamespace

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from orchestration.defs.returns.assets import (
    ANALYST_SCHEMA,
    RETURN_NAMES,
    outbox_key,
    quarterly_partitions,
    return_key,
    returns_assets,
    returns_checks,
)
from orchestration.defs.returns.resources import pseudonym_key_resource
from orchestration.defs.returns.schedules import returns_job_defs, returns_schedules
from orchestration.lib.resources import build_resources
from orchestration.lib.settings import Settings
from returns.periods import latest_complete_quarter, period_from_key, quarter_of
from returns.pseudonyms import Pseudonymiser, PseudonymKeyError, load_or_create_key, ref_pattern
from returns.schemas import ANALYST_DATABASE_FILE
from returns.spec import get_spec, load_specs
from returns.writers import (
    MANIFEST,
    conform_return,
    return_dir,
    sha256_file,
    verify_manifest,
    write_return,
)
from tests.conftest import REPO_ROOT

PERIOD = period_from_key("2026-07-01")  # 2026-Q3
KEY = "test-key-0123456789abcdef"

# Patterns an identifying value would match (synthetic test data uses the same shapes).
NHS = re.compile(r"\b\d{3}\s?\d{3}\s?\d{4}\b")
NI = re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]\b")
UPN = re.compile(r"\b[A-Z]\d{12}\b|\b[A-Z]\d{11}[A-Z]\b")
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
IDENTIFYING_COLUMN = re.compile(
    r"(first_?name|forename|surname|middle_name|full_name|^name$|dob|birth|nhs|nino|ni_number|upn|uprn|postcode"
    r"|address|pnc|phone|email)")


# --- a small warehouse with marts shaped like the agreed contracts ------------------------------------------------

def nhs_number(i: int) -> str:
    """A valid NHS number of a fixed synthetic series (999 prefix: never issued)."""
    n = 0
    while True:
        body = f"999{(i * 7 + n) % 10**6:06d}"
        check = (11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=False)) % 11) % 11
        if check < 10:
            return body + str(check)
        n += 1


def make_marts(warehouse) -> None:
    """Six families, two persons each; four programme cases with needs at attachment, closure and +6 months."""
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    persons = []
    for i in range(12):
        persons.append((f"P{i:03d}", "Forename", "Surname", dt.date(1980 + i, 1 + i % 12, 1 + i), "F" if i % 2 else "M",
                        f"FH{i % 9 + 1} {i % 9 + 1}AB", str(100000 + i), nhs_number(i), f"AB{i:06d}C",
                        f"A{i:012d}", None, ["social_care"], 1, dt.date(2020, 1, 1), dt.date(2026, 9, 1),
                        30 + i, dt.date(2026, 9, 30), False, False))
    con.execute("""create table marts.dim_person (person_id varchar, first_name varchar, surname varchar, dob date,
        sex varchar, postcode varchar, uprn varchar, nhs_number varchar, ni_number varchar, upn varchar,
        pnc_id varchar, source_systems varchar[], n_source_records bigint, first_seen_date date,
        last_seen_date date, age_at_reporting_date bigint, reporting_date date, has_conflicting_dob boolean,
        has_invalid_identifier boolean)""")
    con.executemany("insert into marts.dim_person values (" + ", ".join("?" * 19) + ")", persons)
    con.execute("""create table marts.person_source_xref as select person_id, 'social_care' as source_system,
        'SC' || person_id as source_record_id from marts.dim_person""")
    con.execute("""create table marts.dim_family as select 'F' || lpad(i::varchar, 2, '0') as family_id,
        date '2020-01-01' as start_date, null::date as end_date, true as is_current, 2 as n_members,
        1 as n_children, 'uprn' as household_basis, 'FH1 1AB' as postcode, '1000' || i as uprn,
        'E0500000' || i as ward_code, 'Ward ' || i as ward_name, 'E0100000' || i as lsoa_code, 1 + i as imd_decile
        from range(6) t(i)""")
    con.execute("""create table marts.family_membership as select 'F' || lpad((i // 2)::varchar, 2, '0') as family_id,
        'P' || lpad(i::varchar, 3, '0') as person_id, case when i % 2 = 0 then 'parent_carer' else 'child' end
        as role, date '2020-01-01' as valid_from, null::date as valid_to, 'household' as membership_basis
        from range(12) t(i)""")
    con.execute("""create table marts.fct_event as select md5('feed|' || i) as event_id,
        'P' || lpad((i % 12)::varchar, 3, '0') as person_id, 'F' || lpad(((i % 12) // 2)::varchar, 2, '0')
        as family_id, date '2024-01-01' + cast(i * 7 as integer) as event_date, null::date as end_date,
        'INCIDENT' as event_type,
        'DA' as event_code, 'SF08' as headline, 'police' as source_system, 'police_incidents' as source_feed,
        'SRC' || i as source_record_id, 'police|' || i as record_key, null::double as measure_value,
        null::varchar as measure_unit, 'Police incident' as description from range(120) t(i)""")
    con.execute("""create table marts.family_chronology as select family_id, row_number() over
        (partition by family_id order by event_date, event_id) as event_sequence, event_id, person_id,
        event_date, end_date, headline, event_type, event_code, description, source_system from marts.fct_event""")
    con.execute("""create table marts.family_eligibility as select family_id, d::date as as_at_date,
        3 as n_headlines_met, true as has_dependent_child, family_id <= 'F03' as is_sf_eligible,
        2.5::decimal(9, 2) as priority_score, ['SF01', 'SF08'] as headlines_met
        from marts.dim_family, (values (date '2026-06-30'), (date '2026-09-30')) v(d)""")
    con.execute("""create table marts.family_criteria as select family_id, date '2026-09-30' as as_at_date,
        h as need_code, 'SF' as programme, h as headline_code, null::varchar as tf_problem_code, true as is_met,
        false as is_on_cusp, date '2025-01-01' as first_met_date, [md5('feed|1'), md5('feed|2')] as evidence_event_ids,
        ['P000'] as evidencing_person_ids from marts.dim_family, (values ('SF01'), ('SF08')) v(h)""")
    # family_progress: one row per case, as_at_date and headline, statuses as known at the as_at_date.
    # C1 (F00) closed 2025-12-20, sustained by 2026-06-20: reported in Q2, not Q3. C2 (F01) closed 2026-01-15,
    # its six months end 2026-07-15: claimable in Q3; SF10 arose after closure (a new need, flagged). C3 (F02) open.
    # C4 (F03) closed 2026-02-01 without a lead practitioner and SF08 met again six months later: not claimable;
    # one headline at attachment, so not eligible then, although F03 is eligible at the period end. C5 (F04)
    # eligible at attachment (F04 is not at the period end), resolved and sustained, but the mart found the family
    # claimed for already: not claimable. The claim rule and its reason are the mart's (family_progress.sql).
    three_resolved = {"SF01": (True, False, False), "SF03": (True, False, False), "SF08": (True, False, False)}
    cases = [("C1", "F00", "2025-03-01", "2025-12-20", "INTENSIVE", "KW1", {"SF01": (True, False, False)}, None),
             ("C2", "F01", "2025-02-01", "2026-01-15", "TARGETED", "KW2",
              {**three_resolved, "SF10": (False, False, True)}, None),
             ("C3", "F02", "2026-05-01", None, "LIGHT_TOUCH", "KW1", {"SF08": (True, False, False)}, None),
             ("C4", "F03", "2025-06-01", "2026-02-01", "INTENSIVE", None, {"SF08": (True, False, True)}, None),
             ("C5", "F04", "2025-04-01", "2026-01-10", "TARGETED", "KW2", three_resolved, "family_already_claimed")]
    rows = []
    for as_at in (dt.date(2026, 6, 30), dt.date(2026, 9, 30)):
        for case, family, attached, closed, intensity, worker, needs, family_rule_failed in cases:
            closed_date = dt.date.fromisoformat(closed) if closed else None
            sustained = (pd.Timestamp(closed_date) + pd.DateOffset(months=6)).date() if closed_date else None
            is_closed = closed_date is not None and closed_date <= as_at
            statuses = {}
            for code in (f"SF{i:02d}" for i in range(1, 11)):
                met = needs.get(code, (False, False, False))
                closure = ("met" if met[1] else "not_met") if is_closed else "not_closed"
                six = ("not_yet_due" if sustained > as_at else "met" if met[2] else "not_met") if is_closed \
                    else "not_closed"
                statuses[code] = ("met" if met[0] else "not_met", closure, six)
            identified = [c for c, (a, _, _) in statuses.items() if a == "met"]
            eligible = len(identified) >= 3  # every family here has a child
            resolved = all(statuses[c][1] in ("not_met", "on_cusp") and statuses[c][2] in ("not_met", "on_cusp")
                           for c in identified)
            reason = ("not_closed" if not is_closed else "sustainment_not_yet_due" if sustained > as_at
                      else "no_lead_practitioner" if worker is None else "no_need_at_attachment" if not identified
                      else "not_eligible_at_attachment" if not eligible
                      else "need_not_resolved_or_sustained" if not resolved
                      else "new_need_not_resolved_at_closure" if any(
                          a != "met" and closure == "met" for a, closure, _ in statuses.values())
                      else family_rule_failed)
            for code, (at_attachment, at_closure, six_months) in statuses.items():
                new_need = at_attachment != "met" and "met" in (at_closure, six_months)
                rows.append((case, as_at, code, family, dt.date.fromisoformat(attached),
                             closed_date if is_closed else None, sustained, intensity, worker,
                             dt.date.fromisoformat(attached) + dt.timedelta(days=30),
                             dt.date.fromisoformat(attached) + dt.timedelta(days=45), at_attachment,
                             at_closure, six_months, at_attachment == "met", len(identified), eligible, new_need,
                             reason is None, reason,
                             [hash_id(case, code, n) for n in range(2)] if at_attachment == "met" else None))
    con.execute("""create table marts.family_progress (family_case_id varchar, as_at_date date, headline_code varchar,
        family_id varchar, attached_date date, closed_date date, sustained_check_date date, intensity varchar,
        key_worker_id varchar, assessment_date date, plan_date date, status_at_attachment varchar, status_at_closure varchar,
        status_six_months_after_closure varchar, is_need_at_attachment boolean, n_needs_at_attachment bigint,
        is_eligible_at_attachment boolean, is_new_need_after_attachment boolean, is_claim_candidate boolean,
        not_claimable_reason varchar, attachment_evidence_event_ids varchar[])""")
    con.executemany("insert into marts.family_progress values (" + ", ".join("?" * 21) + ")", rows)
    # the case members: each case's family, and for C2 a child who lives in another family's household (P011)
    con.execute("create schema intermediate")
    # the quarter ends the criteria marts hold, as built on 2026-09-30: 2023-12-31 .. 2026-09-30
    con.execute("""create table intermediate.int_criteria__as_at_dates as
        select last_day(d)::date as as_at_date, last_day(d) = date '2026-09-30' as is_reporting_date,
            true as is_quarter_end
        from range(date '2023-12-01', date '2026-10-01', interval 3 month) t(d)""")
    con.execute("""create table intermediate.int_criteria__programme_case_members as
        select 'C' || (i // 2 + 1) as family_case_id, 'P' || lpad(i::varchar, 3, '0') as person_id,
            case when i % 2 = 0 then 'MAIN_CARER' else 'CHILD' end as family_role
        from range(10) t(i)
        union all select 'C2', 'P011', 'CHILD'""")
    con.close()


def hash_id(*parts) -> str:
    import hashlib

    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


def make_settings(data_dir) -> Settings:
    settings = Settings(data_dir=data_dir)
    settings.ensure_dirs()
    make_marts(settings.warehouse)
    return settings


def resources(settings: Settings) -> dict:
    return {**build_resources(settings), "pseudonym_key": pseudonym_key_resource(settings)}


def materialize_period(settings: Settings, instance=None, partition: str = PERIOD.partition_key):
    result = dg.materialize([*returns_assets, *returns_checks], resources=resources(settings), partition_key=partition,
                            instance=instance, raise_on_error=False,
                            selection=dg.AssetSelection.all() - dg.AssetSelection.assets(ANALYST_SCHEMA))
    return result


def build_analyst(settings: Settings):
    return dg.materialize([a for a in returns_assets if a.key == ANALYST_SCHEMA], resources=resources(settings))


def outbox_files(settings: Settings) -> dict[str, str]:
    base = settings.outbox_dir / PERIOD.label
    return {p.relative_to(base).as_posix(): sha256_file(p) for p in sorted(base.rglob("*")) if p.is_file()
            and p.name != MANIFEST}


# --- pseudonyms, periods, specs ---------------------------------------------------------------------------------

def test_pseudonyms_are_keyed_stable_and_separate_kinds(tmp_path):
    one, same, other = Pseudonymiser(KEY), Pseudonymiser(KEY), Pseudonymiser(KEY + "x")
    assert one.ref("person", "P001") == same.ref("person", "P001")
    assert one.ref("person", "P001") != other.ref("person", "P001")  # a new key re-keys every reference
    assert one.ref("person", "P001") != one.ref("family", "P001").replace("FAM", "PER")
    assert re.match(ref_pattern("family"), one.ref("family", "F1"))
    assert one.ref("event", None) is None
    with pytest.raises(PseudonymKeyError, match="at least"):
        Pseudonymiser("short")
    key_file = tmp_path / "secrets" / "k"
    assert load_or_create_key(key_file) == load_or_create_key(key_file)
    assert key_file.stat().st_mode & 0o077 == 0  # owner-only


def test_demo_key_is_used_only_without_the_environment_variable(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path)
    monkeypatch.delenv("FAMILYHUB_PSEUDONYM_KEY", raising=False)
    demo = pseudonym_key_resource(settings)
    assert demo.source == "demo" and demo.key is None  # the key itself is not resource config (shown in the UI)
    demo_ref = demo.pseudonymiser().ref("family", "F1")
    assert (tmp_path / "secrets" / "pseudonym_demo.key").exists()
    assert pseudonym_key_resource(settings).pseudonymiser().ref("family", "F1") == demo_ref  # kept between runs
    monkeypatch.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
    assert pseudonym_key_resource(settings).source == "environment"
    assert demo_ref != Pseudonymiser(KEY).ref("family", "F1")


def test_periods_are_calendar_quarters():
    assert PERIOD.label == "2026-Q3" and PERIOD.end == dt.date(2026, 9, 30)
    assert period_from_key("2026-Q3") == PERIOD
    assert quarter_of(dt.date(2026, 12, 31)).label == "2026-Q4"
    assert latest_complete_quarter(dt.date(2026, 9, 30)) == PERIOD
    assert latest_complete_quarter(dt.date(2026, 11, 23)) == PERIOD
    with pytest.raises(ValueError):
        period_from_key("2026-08-01")
    keys = quarterly_partitions.get_partition_keys(current_time=dt.datetime(2026, 11, 23))
    assert keys[0] == "2023-10-01" and keys[-1] == PERIOD.partition_key  # the open quarter is not a partition yet


def test_every_spec_documents_its_columns_sources_and_assumptions():
    specs = load_specs()
    assert set(specs) == set(RETURN_NAMES)
    for spec in specs.values():
        assert spec.spec_version and len(spec.assumptions) > 200, spec.name
        assert spec.unique_key and all(c.source and c.description for c in spec.columns), spec.name
        assert spec.column_names[0] == "reporting_period"
    assert [s.name for s in specs.values() if s.restricted] == ["national_impact_study"]
    for name, spec in specs.items():
        identifying = [c for c in spec.column_names if IDENTIFYING_COLUMN.search(c)]
        assert bool(identifying) == spec.restricted, (name, identifying)



def test_family_progress_data_lists_every_reason_the_mart_can_name():
    """Every not_claimable_reason marts.family_progress may hold on a closed, due case (its accepted_values) is an
    allowed code of the Family Progress Data, upper case: a new claim rule cannot reach the return unlisted and
    fail its extract gate (new_need_not_sustained came with spec 2026.4)."""
    models = yaml.safe_load((REPO_ROOT / "dbt_project/models/marts/criteria/_criteria__models.yml").read_text())
    progress = next(m for m in models["models"] if m["name"] == "family_progress")
    column = next(c for c in progress["columns"] if c["name"] == "not_claimable_reason")
    mart_reasons = next(t["accepted_values"]["arguments"]["values"] for t in column["data_tests"]
                        if "accepted_values" in t)
    due_reasons = set(mart_reasons) - {"not_closed", "sustainment_not_yet_due"}  # claim_status OPEN, AWAITING_...
    allowed = get_spec("family_progress_data").column("not_claimable_reason").allowed
    assert {r.upper() for r in due_reasons} == set(allowed)
    assert "NEW_NEED_NOT_SUSTAINED" in allowed


def test_every_status_the_mart_can_hold_gives_an_allowed_outcome():
    """Each pair of statuses at closure and six months later that marts.family_progress may hold (its
    accepted_values) maps to an allowed outcome code of the Family Progress Data; not_measured is never read as
    resolved (it used to fall through to SUSTAINED)."""
    from types import SimpleNamespace

    from returns.build import _outcome

    models = yaml.safe_load((REPO_ROOT / "dbt_project/models/marts/criteria/_criteria__models.yml").read_text())
    progress = next(m for m in models["models"] if m["name"] == "family_progress")

    def statuses(name):
        column = next(c for c in progress["columns"] if c["name"] == name)
        return next(t["accepted_values"]["arguments"]["values"] for t in column["data_tests"] if "accepted_values" in t)

    allowed = set(get_spec("family_progress_data").column("outcome_01_education").allowed)
    outcomes = {}
    for closure in statuses("status_at_closure"):
        for later in statuses("status_six_months_after_closure"):
            row = SimpleNamespace(is_need_at_attachment=True, status_at_closure=closure,
                                  status_six_months_after_closure=later)
            outcomes[(closure, later)] = _outcome(row)
    assert set(outcomes.values()) <= allowed
    assert outcomes[("not_measured", "not_yet_due")] == outcomes[("not_met", "not_measured")] == "NOT_EVIDENCED"
    assert outcomes[("not_met", "not_met")] == outcomes[("on_cusp", "on_cusp")] == "SUSTAINED"


# --- files and manifest --------------------------------------------------------------------------------------------

def claims_frame(n: int = 3) -> pd.DataFrame:
    p = Pseudonymiser(KEY)
    return pd.DataFrame([{
        "reporting_period": "2026-Q3", "family_ref": p.ref("family", f"F{i}"), "case_ref": p.ref("case", f"C{i}"),
        "lead_practitioner_ref": p.ref("practitioner", "KW1"), "attached_date": dt.date(2025, 1, 2),
        "closed_date": pd.Timestamp("2026-01-15"), "sustained_to_date": "2026-07-15", "headline_code": "SF01",
        "status_at_attachment": "MET", "status_at_closure": "NOT_MET", "status_sustained": "NOT_MET",
        "n_evidence_events": 2, "evidence_event_refs": "EVT-a;EVT-b", "new_needs_after_attachment": None,
        "assessment_date": dt.date(2025, 2, 1), "plan_date": dt.date(2025, 2, 20)}
        for i in range(n)])


def test_reruns_write_identical_bytes_whatever_the_row_order(tmp_path):
    spec = get_spec("results_claims")
    frame = claims_frame()
    first = write_return(tmp_path, PERIOD, spec, conform_return(spec, frame))
    first_bytes = [f.path.read_bytes() for f in first]
    second = write_return(tmp_path, PERIOD, spec, conform_return(spec, frame.iloc[::-1].reset_index(drop=True)))
    assert [f.path.read_bytes() for f in second] == first_bytes
    csv_text = first_bytes[0].decode("utf-8")
    assert csv_text.count("\r\n") == 4 and "\n" not in csv_text.replace("\r\n", "")
    assert ",2026-01-15,2026-07-15,SF01," in csv_text  # ISO dates whatever the input type
    with zipfile.ZipFile(first[1].path) as xlsx:
        assert {info.date_time for info in xlsx.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = xlsx.read("docProps/core.xml").decode()
    assert "2026-09-30T00:00:00Z" in core  # the period end, not the time of writing
    changed = frame.copy()
    changed.loc[0, "n_evidence_events"] = 3
    third = write_return(tmp_path, PERIOD, spec, conform_return(spec, changed))
    assert all(a.sha256 != b.sha256 for a, b in zip(first, third, strict=True))


def test_manifest_sha256_match_the_files_and_catch_a_change(tmp_path):
    from returns.writers import update_manifest

    spec = get_spec("results_claims")
    files = write_return(tmp_path, PERIOD, spec, conform_return(spec, claims_frame()))
    update_manifest(tmp_path, PERIOD, spec.name, files, spec_version=spec.spec_version, run_id="run-1")
    manifest = json.loads((tmp_path / "2026-Q3" / MANIFEST).read_text())
    entry = manifest["returns"]["results_claims"]
    assert entry["spec_version"] == spec.spec_version and entry["run_id"] == "run-1"
    assert [f["rows"] for f in entry["files"]] == [3, 3]
    assert all(verify_manifest(tmp_path, PERIOD).values())
    files[0].path.write_bytes(files[0].path.read_bytes() + b"x")
    assert verify_manifest(tmp_path, PERIOD)[files[0].relative] is False


def test_only_the_restricted_return_goes_to_the_restricted_folder(tmp_path):
    for spec in load_specs().values():
        folder = return_dir(tmp_path, PERIOD, spec)
        assert (folder.name == "restricted") == spec.restricted


# --- the extract gate ------------------------------------------------------------------------------------------------

def test_extract_gate_passes_a_good_return_and_blocks_one_that_breaks_its_spec(tmp_path):
    from expectations.framework import run_gate

    con = duckdb.connect()
    good = claims_frame()
    con.register("good_rows", good)
    result = run_gate(con, "extract_gate", "results_claims", artefacts_dir=tmp_path, relation="good_rows",
                      record=True, run_id="gate-good")
    assert result.passed, result.summary()

    bad = claims_frame()
    bad.loc[0, "headline_code"] = "SF11"  # not an allowed code
    bad.loc[1, "closed_date"] = None  # required
    bad.loc[2, "case_ref"] = bad.loc[1, "case_ref"]  # duplicate key (case_ref, headline_code)
    bad.loc[2, "family_ref"] = "F00001"  # an internal id instead of a pseudonym
    bad.loc[0, "evidence_event_refs"] = "9434765919"  # shaped like an NHS number
    bad["surname"] = "Surname"  # a personal column in a pseudonymised return
    con.register("bad_rows", bad)
    result = run_gate(con, "extract_gate", "results_claims", artefacts_dir=tmp_path, relation="bad_rows",
                      run_id="gate-bad")
    assert not result.passed
    assert result.failed("values_in_allowed_set", "headline_code")
    assert result.failed("required_not_null", "closed_date")
    assert result.failed("key_unique")
    assert result.failed("values_match_pattern", "family_ref")
    assert result.failed("columns_match_spec")
    assert result.failed("no_identifiers")
    recorded = con.execute("select count(*), count(*) filter (where not passed) from quality.validation_results "
                           "where gate = 'extract_gate' and run_id = 'gate-bad'").fetchall()[0]
    assert recorded[0] == len(result.results) and recorded[1] == len(result.errors)


# --- the quarterly assets on hand-made marts ------------------------------------------------------------------

def run_marts_gate(settings: Settings, mart: str, run_id: str):
    """The real marts gate on one hand-made mart, recorded in quality.validation_results as a warehouse build
    records it."""
    from expectations.framework import run_gate

    con = duckdb.connect(str(settings.warehouse))
    try:
        return run_gate(con, "marts_gate", mart, artefacts_dir=settings.artefacts_dir, run_id=run_id)
    finally:
        con.close()


def stored_returns(settings: Settings) -> dict[str, list]:
    """Every row the returns keep in the warehouse (returns.*, restricted.national_impact_study), sorted."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tables = [f"{s}.{t}" for s, t in con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in ('returns', 'restricted') "
            "order by 1, 2").fetchall()]
        return {t: sorted(map(repr, con.execute(f"select * from {t}").fetchall())) for t in tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def period_runs(tmp_path_factory):
    """One hand-made warehouse whose family_progress mart has passed its real marts gate, and four runs of
    2026-Q3: the first, a rerun, a run after a mart row breaks the Family Progress Data spec, and a run after the
    marts gate failed on family_progress (a warehouse build that stopped there). Outbox hashes and manifests are
    taken after each; for the last, the manifest's bytes and the stored return rows before and after."""
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path_factory.mktemp("returns") / "data")
        manifest_path = settings.outbox_dir / PERIOD.label / MANIFEST
        gate_runs = {"pass": run_marts_gate(settings, "family_progress", "build-pass")}
        runs = {"analyst": build_analyst(settings)}
        snapshots = {}
        for name in ("first", "rerun", "broken", "gate_failed"):
            if name == "broken":
                con = duckdb.connect(str(settings.warehouse))
                con.execute("update marts.family_progress set intensity = 'SUPER_INTENSIVE' "
                            "where family_case_id = 'C2'")
                con.close()
            if name == "gate_failed":
                con = duckdb.connect(str(settings.warehouse))  # a repeated key: the mart's gate fails
                con.execute("insert into marts.family_progress select * from marts.family_progress "
                            "where family_case_id = 'C3' and headline_code = 'SF08'")
                con.close()
                gate_runs["fail"] = run_marts_gate(settings, "family_progress", "build-fail")
                snapshots["before_gate_failed"] = (outbox_files(settings), manifest_path.read_bytes(),
                                                   stored_returns(settings))
            runs[name] = materialize_period(settings, instance)
            snapshots[name] = (outbox_files(settings), json.loads(manifest_path.read_text()))
        snapshots["after_gate_failed"] = (outbox_files(settings), manifest_path.read_bytes(), stored_returns(settings))
        yield SimpleNamespace(settings=settings, runs=runs, snapshots=snapshots, gate_runs=gate_runs)


def test_returns_are_written_gated_with_manifests_and_reruns_are_identical(period_runs):
    settings, runs = period_runs.settings, period_runs.runs
    assert runs["analyst"].success and runs["first"].success and runs["rerun"].success
    evaluations = runs["first"].get_asset_check_evaluations()
    assert len(evaluations) == 3 and all(e.passed for e in evaluations)
    files, manifest = period_runs.snapshots["first"]
    assert set(files) == {
        "family_progress_data_2026-Q3.csv", "family_progress_data_2026-Q3.xlsx",
        "results_claims_2026-Q3.csv", "results_claims_2026-Q3.xlsx", "analyst_workbook_2026-Q3.xlsx",
        "restricted/national_impact_study_2026-Q3.csv", "restricted/national_impact_study_2026-Q3.xlsx"}
    assert all(verify_manifest(settings.outbox_dir, PERIOD).values())
    assert set(manifest["returns"]) == {*RETURN_NAMES, "analyst_workbook"}
    # what each return's rows were built from: the marts' reporting date (this hand-made warehouse has no
    # staging build or linkage runs, so those are not recorded; tests/test_analyst_copy.py checks a pipeline's)
    for name in RETURN_NAMES:
        assert manifest["returns"][name]["built_from"] == {
            "marts_reporting_date": "2026-09-30", "linkage_model_sha256": None, "review_decisions_sha256": None,
            "criteria_rules_sha256": None, "feeds": None}, name
    assert {e["run_id"] for e in manifest["returns"].values()} == {runs["first"].run_id}
    assert manifest["returns"]["national_impact_study"]["pseudonym_key"] == "environment"
    listed = {f["path"]: f["sha256"] for e in manifest["returns"].values() for f in e["files"]}
    assert listed == files  # every file is in the manifest with its sha256

    rerun_files, rerun_manifest = period_runs.snapshots["rerun"]
    assert rerun_files == files  # byte-identical rerun
    assert {e["run_id"] for e in rerun_manifest["returns"].values()} == {runs["rerun"].run_id}


def test_return_contents_follow_the_rules(period_runs):
    base = period_runs.settings.outbox_dir / "2026-Q3"
    fpd = pd.read_csv(base / "family_progress_data_2026-Q3.csv", dtype=str)
    assert len(fpd) == 4  # C1's sustainment check fell in Q2: not reported in Q3
    assert fpd.case_status.value_counts().to_dict() == {"CLOSED": 3, "OPEN": 1}
    assert sorted(fpd.claim_status) == ["CLAIMABLE", "NOT_CLAIMABLE", "NOT_CLAIMABLE", "OPEN"]
    claimable = fpd[fpd.claim_status == "CLAIMABLE"].iloc[0]
    needs = (claimable.need_01_education, claimable.need_08_domestic_abuse, claimable.need_10_financial)
    assert needs == ("Y", "Y", "N")
    assert (claimable.outcome_01_education, claimable.n_headlines_identified) == ("SUSTAINED", "3")
    assert claimable.is_sf_eligible == "Y" and pd.isna(claimable.not_claimable_reason)
    # eligibility as at attachment, consistent with n_headlines_identified, not the period end's (C4's family is
    # eligible at the period end with one headline at attachment; C5's is not, with three)
    assert ((fpd.n_headlines_identified.astype(int) >= 3) == (fpd.is_sf_eligible == "Y")).all()
    not_claimable = fpd[fpd.claim_status == "NOT_CLAIMABLE"].set_index("n_headlines_identified")
    why = ["is_sf_eligible", "not_claimable_reason"]
    assert not_claimable.loc["1", why].tolist() == ["N", "NO_LEAD_PRACTITIONER"]
    assert not_claimable.loc["3", why].tolist() == ["Y", "FAMILY_ALREADY_CLAIMED"]
    assert fpd.not_claimable_reason.notna().sum() == 2  # only on NOT_CLAIMABLE rows
    claims = pd.read_csv(base / "results_claims_2026-Q3.csv", dtype=str)
    assert sorted(claims.headline_code) == ["SF01", "SF03", "SF08"]  # the claimable case's identified needs
    assert (claims.n_evidence_events == "2").all() and set(claims.case_ref) == {claimable.case_ref}
    assert (claims.new_needs_after_attachment == "SF10").all()  # arose after closure: flagged, not claimed
    # C2 attached 2025-02-01: its assessment and plan dates, from the case records, on every row of the claim
    assert set(zip(claims.assessment_date, claims.plan_date)) == {("2025-03-03", "2025-03-18")}
    nis = pd.read_csv(base / "restricted" / "national_impact_study_2026-Q3.csv", dtype=str)
    # four families reported on, two members each, and C2's member living elsewhere, with the case's role
    assert len(nis) == 9 and nis.nhs_number.notna().all()
    assert nis.relation_in_family.value_counts().to_dict() == {"parent_carer": 4, "child": 5}
    assert nis.groupby("case_ref").size().max() == 3 and nis.person_ref.is_unique
    assert set(nis.family_ref) == set(fpd.family_ref)  # the same pseudonymous family key in both returns
    # criteria met: the needs each case was taken on for, as the Family Progress Data reports them (the marts'
    # period-end criteria give every family here SF01 and SF08, which no case was taken on for alone)
    from returns.build import need_column

    identified = {row["case_ref"]: ";".join(code for code in (f"SF{i:02d}" for i in range(1, 11))
                                            if row[need_column(code)] == "Y") for _, row in fpd.iterrows()}
    reported = nis.assign(needs_met=nis.needs_met.fillna(""))  # a case with none: an empty cell
    assert reported.groupby("case_ref")["needs_met"].agg(set).to_dict() == {ref: {needs}
                                                                           for ref, needs in identified.items()}
    assert identified[claimable.case_ref] == "SF01;SF03;SF08"
    assert not list(base.glob("national_impact_study*"))  # only under restricted/
    for path in [*base.glob("*.csv")]:
        text = path.read_text()
        assert not (NHS.search(text) or NI.search(text) or POSTCODE.search(text)), path.name


def test_a_failed_gate_stops_the_release_and_keeps_the_files(period_runs):
    result = period_runs.runs["broken"]
    assert not result.success
    failed = {e.asset_key for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {return_key("family_progress_data"), return_key("national_impact_study")}
    materialised = {e.asset_key for e in result.get_asset_materialization_events()}
    assert outbox_key("family_progress_data") not in materialised
    assert outbox_key("national_impact_study") not in materialised
    assert outbox_key("analyst_workbook") not in materialised  # reads the gated Family Progress Data
    assert outbox_key("results_claims") in materialised  # its rows broke nothing
    files, manifest = period_runs.snapshots["broken"]
    assert files == period_runs.snapshots["first"][0]
    assert manifest["returns"]["family_progress_data"]["run_id"] == period_runs.runs["rerun"].run_id


def test_the_manifest_records_the_upstream_gates_each_return_was_built_under(period_runs):
    from orchestration.defs.returns.assets import upstream_gates

    gate_pass = period_runs.gate_runs["pass"]
    assert gate_pass.passed, gate_pass.summary()
    _, manifest = period_runs.snapshots["first"]
    expected = {f"{asset_key} {gate}" for gate, asset_key in upstream_gates()}
    assert {"raw_gate", "staged_gate", "linked_gate", "marts_gate"} <= {gate for gate, _ in upstream_gates()}
    for name, entry in manifest["returns"].items():
        gates = entry["gates"]
        assert set(gates["gates"]) == expected, name  # every gate checked, for every return and the workbook
        recorded = gates["gates"]["marts/family_progress marts_gate"]
        assert recorded["status"] == "passed" and recorded["run_id"] == "build-pass", name
        assert recorded["last_passed_at"] == gate_pass.validated_at.isoformat() + "Z"
        # the hand-made warehouse has no other gate history: built, and flagged as such
        assert gates["summary"] == {"passed": 1, "warning": 0, "failed": 0, "no_result": len(expected) - 1}
        assert len(gates["flagged"]) == len(expected) - 1


def test_a_gate_failed_since_its_last_pass_refuses_every_return_and_changes_nothing(period_runs):
    result, snapshots = period_runs.runs["gate_failed"], period_runs.snapshots
    gate_fail = period_runs.gate_runs["fail"]
    assert not gate_fail.passed and gate_fail.failed("key_unique")
    assert not result.success
    assert not result.get_asset_materialization_events()  # no return, outbox file or workbook rebuilt
    failures = {e.step_key: e.step_failure_data.user_failure_data.description for e in result.all_events
                if e.is_step_failure}
    assert set(failures) == {f"returns__{n}" for n in RETURN_NAMES}
    for message in failures.values():
        assert "marts_gate on marts/family_progress failed at " + gate_fail.validated_at.isoformat() + "Z" in message
        assert "last passed: " + period_runs.gate_runs["pass"].validated_at.isoformat() + "Z" in message
        assert "key_unique(family_case_id+as_at_date+headline_code)" in message
        assert "left untouched" in message
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == set(failures)  # nothing downstream ran
    assert snapshots["after_gate_failed"] == snapshots["before_gate_failed"]  # files, manifest bytes, stored rows


def test_a_quarter_the_marts_no_longer_hold_fails_and_keeps_what_was_sent(tmp_path):
    """Once the reporting date moves on, the marts drop the oldest quarter ends: rebuilding such a quarter must not
    replace its stored rows and files with an empty return."""
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("FAMILYHUB_PSEUDONYM_KEY", KEY)
        settings = make_settings(tmp_path / "data")
        build_analyst(settings)
        assert materialize_period(settings, instance).success
        sent = (outbox_files(settings), stored_returns(settings))
        con = duckdb.connect(str(settings.warehouse))  # built as at 2029-12-31: 2026-09-30 is over three years back
        con.execute("""create or replace table intermediate.int_criteria__as_at_dates as
            select last_day(d)::date as as_at_date, last_day(d) = date '2029-12-31' as is_reporting_date,
                true as is_quarter_end
            from range(date '2026-12-01', date '2030-01-01', interval 3 month) t(d)""")
        con.close()
        result = materialize_period(settings, instance)
    assert not result.success and not result.get_asset_materialization_events()
    failures = [e.step_failure_data.user_failure_data.description for e in result.all_events if e.is_step_failure]
    assert len(failures) == len(RETURN_NAMES)
    assert all("2026-Q3 ends 2026-09-30, a date the criteria marts do not hold" in m
               and "built as at 2029-12-31, they hold the quarter ends from 2026-12-31 to 2029-12-31" in m
               and "Nothing was written" in m for m in failures), failures
    assert (outbox_files(settings), stored_returns(settings)) == sent


def test_a_warning_is_flagged_and_only_an_error_since_the_last_pass_refuses(tmp_path):
    """The rule on the gates' recorded history: runs recorded with the gate framework's own writer."""
    from expectations.framework import ExpectationResult, GateResult, record_results
    from returns.gates import FAILED, NO_RESULT, PASSED, WARNING, read_gate_status

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema quality")

    def record(run_id, asset_key, minute, *failed_severities):
        outcomes = [ExpectationResult("latest_delivery_not_empty", None, "error", "error" not in failed_severities,
                                      "n rows", "rows >= 1", "latest_delivery"),
                    ExpectationResult("row_count_vs_previous", None, "warning", "warning" not in failed_severities,
                                      "share", "0.8-1.5", "latest_delivery")]
        record_results(con, GateResult("raw_gate", asset_key.split("/")[1], asset_key, run_id,
                                       dt.datetime(2026, 10, 1, 6, minute), outcomes, {}))

    record("r1", "raw/feed_a", 0)
    record("r2", "raw/feed_a", 1, "error")  # failed after its pass
    record("r1", "raw/feed_b", 0, "error")
    record("r2", "raw/feed_b", 1, "warning")  # passed with a warning after a failure
    record("r1", "raw/feed_c", 0)
    record("r2", "raw/feed_c", 0, "error")  # same second: the later insert is the latest run
    expected = [("raw_gate", f"raw/feed_{x}") for x in "abcd"]
    status = {o.asset_key: o for o in read_gate_status(con, expected).outcomes}
    assert {k: o.status for k, o in status.items()} == {
        "raw/feed_a": FAILED, "raw/feed_b": WARNING, "raw/feed_c": FAILED, "raw/feed_d": NO_RESULT}
    assert status["raw/feed_a"].last_passed_at == dt.datetime(2026, 10, 1, 6, 0)
    assert status["raw/feed_a"].failed_expectations == ("latest_delivery_not_empty",)
    assert status["raw/feed_b"].last_passed_at == dt.datetime(2026, 10, 1, 6, 1)  # warnings let the data through
    assert status["raw/feed_c"].last_passed_at == dt.datetime(2026, 10, 1, 6, 0)
    gates = read_gate_status(con, expected[1:2] + expected[3:])
    assert not gates.refuses and gates.summary() == {PASSED: 0, WARNING: 1, FAILED: 0, NO_RESULT: 1}
    assert gates.as_record()["flagged"] == ["raw_gate on raw/feed_b", "raw_gate on raw/feed_d"]
    refusal = read_gate_status(con, expected).refusal("results_claims for 2026-Q3")
    assert "raw_gate on raw/feed_a failed at 2026-10-01T06:01:00Z" in refusal and "feed_b" not in refusal
    con.close()


def test_every_gate_of_the_warehouse_build_is_upstream_of_every_return(dbt_manifest):
    from orchestration.defs.returns.assets import upstream_gates
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    gated = {dg.AssetKey.from_user_string(asset_key) for _, asset_key in upstream_gates()}
    assert len(gated) > 20
    for name in RETURN_NAMES:
        upstream = dg.AssetSelection.assets(return_key(name)).upstream().resolve(graph)
        assert gated <= upstream, name
    assert gated <= dg.AssetSelection.assets(outbox_key("analyst_workbook")).upstream().resolve(graph)


def test_analyst_schema_carries_no_identifying_column_or_value(period_runs):
    settings = period_runs.settings
    assert_analyst_schema_is_pseudonymous(settings.warehouse, minimum_tables=6)
    analyst_file = settings.data_dir / "analyst" / ANALYST_DATABASE_FILE
    con = duckdb.connect(str(analyst_file), read_only=True)
    schemas = {r[0] for r in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
    con.close()
    assert schemas == {"analyst"}  # the analysts' own file holds nothing else
    assert_analyst_schema_is_pseudonymous(analyst_file, minimum_tables=6)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    identifiable = {r[0] for r in con.execute("select column_name from information_schema.columns where "
                                              "table_schema = 'restricted' and table_name = 'dim_person'").fetchall()}
    con.close()
    assert {"person_ref", "nhs_number", "dob"} <= identifiable  # the restricted view keeps them, with the ref


def assert_analyst_schema_is_pseudonymous(warehouse, minimum_tables: int) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = con.execute("select table_name, column_name, data_type from information_schema.columns "
                              "where table_schema = 'analyst'").fetchall()
        tables = {t for t, _, _ in columns}
        assert len(tables) >= minimum_tables
        for table, column, data_type in columns:
            assert not (IDENTIFYING_COLUMN.search(column) and data_type != "BOOLEAN"), (table, column)
            assert not re.search(r"_ids?$", column), (table, column)  # internal ids: only ..._ref
            if data_type == "VARCHAR" or data_type.endswith("[]"):
                values = [r[0] for r in con.execute(
                    f'select distinct cast("{column}" as varchar) from analyst."{table}" where "{column}" is not null '
                    "limit 5000").fetchall()]
                for pattern in (NHS, NI, UPN, POSTCODE):
                    assert not any(pattern.search(v) for v in values), (table, column, pattern.pattern)
            if column.endswith("_ref"):
                kind = column.removesuffix("_ref").replace("lead_", "")
                prefix = {"person": "PER", "family": "FAM", "case": "CASE", "practitioner": "LP", "event": "EVT"}[kind]
                bad = con.execute(f'select count(*) from analyst."{table}" where "{column}" is not null and not '
                                  f"regexp_full_match(\"{column}\", '{prefix}-[0-9a-f]{{20}}')").fetchall()[0][0]
                assert bad == 0, (table, column)
        # no date column carries dates of birth under another name: for person-level tables, the share of rows
        # whose date equals the person's DOB stays near chance (a DOB column would be ~100%)
        person_tables = {t for t, c, _ in columns if c == "person_ref"}
        restricted = {r[0] for r in con.execute("select table_name from information_schema.tables where "
                                                 "table_schema = 'restricted'").fetchall()}
        if "dim_person" in restricted:
            for table, column, data_type in columns:
                if table in person_tables and data_type == "DATE":
                    share = con.execute(
                        f'select avg(case when a."{column}" = r.dob then 1 else 0 end) from analyst."{table}" a '
                        "join restricted.dim_person r on r.person_ref = a.person_ref").fetchall()[0][0]
                    assert (share or 0) < 0.05, (table, column)
    finally:
        con.close()


def column_width(sheet, index: int) -> float:
    """openpyxl keys a run of equal widths by its first column only."""
    return next(d.width for d in sheet.column_dimensions.values() if d.min and d.min <= index <= d.max)


def test_the_analyst_workbook_reads_well(period_runs):
    import openpyxl

    path = period_runs.settings.outbox_dir / "2026-Q3" / "analyst_workbook_2026-Q3.xlsx"
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["About", "Families", "Persons", "Criteria", "Evidence", "Chronology",
                               "Data dictionary"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.auto_filter.ref, sheet.title
        assert all(cell.font.b for cell in sheet[1]), sheet.title
        assert all(column_width(sheet, c.column) >= len(str(c.value)) for c in sheet[1]), sheet.title
    families = book["Families"]
    header = [c.value for c in families[1]]
    assert families.max_row - 1 == 5  # F01-F04 worked with or eligible, F00 eligible at the period end
    # only C3 (F02) was open in Q3: C2, C4 and C5 closed before it and are reported for their six-month checks
    rows = [dict(zip(header, r)) for r in families.iter_rows(min_row=2, values_only=True)]
    family_of_ref = {Pseudonymiser(KEY).ref("family", f"F{i:02d}"): f"F{i:02d}" for i in range(6)}
    assert {family_of_ref[r["family_ref"]]: r["worked_with_in_period"] for r in rows} == {
        "F00": "N", "F01": "N", "F02": "Y", "F03": "N", "F04": "N"}
    start = header.index("start_date") + 1
    assert isinstance(families.cell(2, start).value, dt.datetime)  # a real date, formatted as one
    assert families.cell(2, start).number_format == "yyyy-mm-dd"
    persons = [c.value for c in book["Persons"][1]]
    assert "person_ref" in persons and not any(IDENTIFYING_COLUMN.search(c) for c in persons
                                               if not c.startswith("has_"))
    documented = {(r[0], r[1]) for r in book["Data dictionary"].iter_rows(min_row=2, values_only=True)}
    for sheet in book.worksheets[1:-1]:
        assert {(sheet.title, c.value) for c in sheet[1]} <= documented
    # every evidence ref of the Criteria sheet resolves to its event in the Evidence sheet, and nothing else is there
    criteria = list(book["Criteria"].iter_rows(values_only=True))
    evidence = list(book["Evidence"].iter_rows(values_only=True))
    c_head, e_head = criteria[0], evidence[0]
    cited = {(r[c_head.index("family_ref")], r[c_head.index("need_code")], ref) for r in criteria[1:]
             for ref in (r[c_head.index("evidence_event_refs")] or "").split(";") if ref}
    listed = [(r[e_head.index("family_ref")], r[e_head.index("need_code")], r[e_head.index("event_ref")])
              for r in evidence[1:]]
    assert cited and set(listed) == cited and len(listed) == len(cited)
    assert {r[e_head.index("person_was_member_on_event_date")] for r in evidence[1:]} <= {"Y", "N"}
    assert all(r[e_head.index("event_date")] is not None for r in evidence[1:])
    # a second, independent reader (calamine, the Rust one pandas uses) parses every sheet the same way
    frames = pd.read_excel(path, sheet_name=None, engine="calamine")
    assert {name: len(frame) for name, frame in frames.items()} == {s.title: s.max_row - 1 for s in book.worksheets}


@pytest.mark.skipif(not (shutil.which("soffice") or shutil.which("libreoffice")),
                    reason="LibreOffice is not installed on this machine: render check not run")
def test_the_workbook_renders_in_libreoffice(period_runs, tmp_path):
    office = shutil.which("soffice") or shutil.which("libreoffice")
    path = period_runs.settings.outbox_dir / "2026-Q3" / "analyst_workbook_2026-Q3.xlsx"
    subprocess.run([office, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, timeout=120, capture_output=True)
    assert (tmp_path / "analyst_workbook_2026-Q3.pdf").stat().st_size > 1000


# --- Dagster definitions ---------------------------------------------------------------------------------------------

def test_returns_definitions_load_with_quarterly_schedules(tmp_path, monkeypatch):
    monkeypatch.delenv("FAMILYHUB_PSEUDONYM_KEY", raising=False)
    settings = Settings(data_dir=tmp_path)
    defs = dg.Definitions(assets=returns_assets, asset_checks=returns_checks, schedules=returns_schedules,
                          jobs=returns_job_defs, resources=resources(settings))
    dg.Definitions.validate_loadable(defs)
    combined = defs.resolve_job_def("quarterly_returns_job")
    assert combined.partitions_def == quarterly_partitions
    assert ANALYST_SCHEMA not in combined.asset_layer.executable_asset_keys  # built by the unpartitioned run
    names = {s.name for s in returns_schedules}
    assert names == {f"{n}_quarterly" for n in (*RETURN_NAMES, "analyst_workbook")}
    schedule = next(s for s in returns_schedules if s.name == "family_progress_data_quarterly")
    assert schedule.cron_schedule == "0 6 10 1,4,7,10 *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 10, 10, 6),
                                   repository_def=defs.get_repository_def()) as context:
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == PERIOD.partition_key  # the quarter just ended
    checks = {next(iter(c.check_keys)) for c in returns_checks}
    assert checks == {dg.AssetCheckKey(return_key(n), "extract_gate") for n in RETURN_NAMES}
    assert all(c.blocking for c in (spec for check in returns_checks for spec in check.check_specs))


# --- the real marts of the shared pipeline ----------------------------------------------------------------------------

def test_analyst_schema_from_the_pipeline_marts_has_no_identifiers(pipeline_copy):
    from returns.schemas import (
        build_analyst_schema,
        build_pseudonym_table,
        build_restricted_views,
        register_ref_function,
    )

    con = duckdb.connect(str(pipeline_copy.warehouse))
    try:
        marts = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                           "where table_schema = 'marts'").fetchall()}
        assert {"dim_person", "family_membership", "fct_event"} <= marts
        pseudonymiser = Pseudonymiser(KEY)
        register_ref_function(con, pseudonymiser)
        build_pseudonym_table(con, pseudonymiser)
        built = build_analyst_schema(con)
        build_restricted_views(con)
    finally:
        con.close()
    assert "person_source_xref" not in built and built["dim_person"] > 0
    assert_analyst_schema_is_pseudonymous(pipeline_copy.warehouse, minimum_tables=len(marts) - 1)
