"""Each return's rows for a period, from the marts, and where the rows are kept before release.

Rows are computed from the marts as they stand (statuses dated after the period end are treated as not yet
known, so a past quarter reads as it would have at its end, given the same warehouse), pseudonymised in
Python (the key never reaches the warehouse; a family's reference is carried across periods by the register in
returns/family_refs.py), and stored per period in returns.<name> (restricted.<name>
for the National Impact Study) where the extract gate validates them before the outbox asset writes files.
Beside them, returns.return_gate_status keeps the upstream gates' status the period's rows were built under
(returns/gates.py), so the outbox asset records in manifest.json what the rows were built from.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from expectations.framework import transaction
from returns.family_refs import PeriodFamilyRefs, block_period_refs, register_period_refs, send_period_refs
from returns.gates import GateStatus
from returns.periods import Period
from returns.pseudonyms import Pseudonymiser
from returns.spec import ReturnSpec

HEADLINES = [f"SF{i:02d}" for i in range(1, 11)]
HEADLINE_SLUGS = dict(zip(HEADLINES, (
    "education", "early_years", "health", "substance_use", "family_relationships", "safety", "crime",
    "domestic_abuse", "housing", "financial"), strict=True))
_SQL_TYPES = {"string": "varchar", "code": "varchar", "flag": "varchar", "date": "date", "integer": "bigint",
              "decimal": "double"}


def need_column(code: str) -> str:
    return f"need_{code[2:]}_{HEADLINE_SLUGS[code]}"


def outcome_column(code: str) -> str:
    return f"outcome_{code[2:]}_{HEADLINE_SLUGS[code]}"


# --- the period's cases and their needs --------------------------------------------------------------------

# The cases a period reports on: open at some time in the period, or closed earlier with their six-month
# sustainment check falling in the period (the family is still followed until then).
_IN_PERIOD = """(
    (attached_date <= $period_end and (closed_date is null or closed_date >= $period_start))
    or sustained_check_date between $period_start and $period_end
)"""

# marts.family_progress has one row per case, as_at_date and headline, with each status as known at the
# as_at_date (closure after it reads 'not_closed', a sustainment check after it 'not_yet_due'): the period's
# rows are those at its end, so a past quarter reads as it did at its end.
_CASE_NEEDS = """
select
    family_case_id, family_id, attached_date, closed_date, sustained_check_date, intensity, key_worker_id,
    assessment_date, plan_date, headline_code, is_need_at_attachment, status_at_attachment, status_at_closure,
    status_six_months_after_closure, n_needs_at_attachment, is_eligible_at_attachment, is_new_need_after_attachment,
    is_claim_candidate, not_claimable_reason, attachment_evidence_event_ids
from marts.family_progress
where as_at_date = $period_end and {in_period} and headline_code in ({headlines})
"""


def _params(period: Period) -> dict[str, object]:
    return {"period_start": period.start, "period_end": period.end}


def family_unit_id(family_id: str | None, family_case_id: str) -> str:
    """The family unit a return names: the household family, else (no member was in one) the case itself."""
    return family_id if family_id else f"case:{family_case_id}"


def case_needs(con: duckdb.DuckDBPyConnection, period: Period) -> pd.DataFrame:
    sql = _CASE_NEEDS.format(in_period=_IN_PERIOD, headlines=", ".join(f"'{h}'" for h in HEADLINES))
    frame = con.sql(sql, params=_params(period)).df()
    for column in ("attached_date", "closed_date", "sustained_check_date", "assessment_date", "plan_date"):
        frame[column] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in frame[column]]
    return frame


def _outcome(row) -> str | None:
    """A need identified at attachment: how it stands at the period end."""
    if not row.is_need_at_attachment:
        return None
    if row.status_at_closure == "not_closed":
        return "IN_PROGRESS"
    if row.status_at_closure == "met":
        return "NOT_IMPROVED"
    if row.status_at_closure == "not_measured":  # no data is no evidence of resolution
        return "NOT_EVIDENCED"
    if row.status_six_months_after_closure == "not_yet_due":
        return "IMPROVED"
    if row.status_six_months_after_closure == "not_measured":
        return "NOT_EVIDENCED"
    return "NOT_IMPROVED" if row.status_six_months_after_closure == "met" else "SUSTAINED"


def _claim_status(case: pd.DataFrame, period: Period) -> str:
    first = case.iloc[0]
    if first.closed_date is None:
        return "OPEN"
    if first.sustained_check_date is None or first.sustained_check_date > period.end:
        return "AWAITING_SUSTAINMENT"
    return "CLAIMABLE" if bool(first.is_claim_candidate) else "NOT_CLAIMABLE"


def _not_claimable_reason(case: pd.DataFrame, claim_status: str) -> str | None:
    """Why a closed case whose six months have passed is not claimable (the mart's first failed rule)."""
    reason = _text(case.iloc[0].not_claimable_reason) if claim_status == "NOT_CLAIMABLE" else None
    return reason.upper() if reason else None


def _new_needs_after_attachment(case: pd.DataFrame) -> str | None:
    """Headlines not met at attachment but met later (during support, at closure or six months after closure),
    e.g. 'SF03;SF09'."""
    codes = sorted(case.loc[case.is_new_need_after_attachment.astype(bool), "headline_code"])
    return ";".join(codes) or None


def _flag(value: bool) -> str:
    return "Y" if value else "N"


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


# --- the returns ------------------------------------------------------------------------------------------------


def period_family_refs(con: duckdb.DuckDBPyConnection, period: Period,
                       pseudonymiser: Pseudonymiser) -> PeriodFamilyRefs:
    """The family_ref of every case the period reports on, carried forward from the returns already built
    (returns/family_refs.py), recorded in the register; those of a period already sent are read back."""
    sql = f"with {_CASE_PEOPLE.format(in_period=_IN_PERIOD)} " + """
        select cases.family_case_id, cases.family_id, people.person_id
        from cases left join people on people.family_case_id = cases.family_case_id"""
    members = con.sql(sql, params=_params(period)).df()
    members["family_unit_id"] = [family_unit_id(_text(f), c) for f, c in
                                 zip(members.pop("family_id"), members.family_case_id, strict=True)]
    return register_period_refs(con, period.label, members, pseudonymiser)


def family_progress_data(con: duckdb.DuckDBPyConnection, period: Period, pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    needs = case_needs(con, period)
    needs["outcome"] = [_outcome(r) for r in needs.itertuples(index=False)]
    family_refs = period_family_refs(con, period, pseudonymiser)
    ref_of_case, change_of_ref = family_refs.ref_of_case(), family_refs.change_of_ref()
    rows = []
    for case_id, case in needs.groupby("family_case_id", sort=True):
        first = case.iloc[0]
        key_worker = _text(first.key_worker_id)
        family_ref = ref_of_case[case_id]
        change, related = change_of_ref.get(family_ref, (None, []))
        row = {
            "reporting_period": period.label,
            "family_ref": family_ref,
            "family_ref_change": change.upper() if change else None,
            "previous_family_refs": ";".join(related) or None,
            "case_ref": pseudonymiser.ref("case", case_id),
            "attached_date": first.attached_date,
            "closed_date": first.closed_date,
            "case_status": "OPEN" if first.closed_date is None else "CLOSED",
            "intensity": _text(first.intensity),
            "lead_practitioner_assigned": _flag(key_worker is not None),
            "lead_practitioner_ref": pseudonymiser.ref("practitioner", key_worker),
            # eligibility on the attachment date, the date n_headlines_identified counts needs at
            "is_sf_eligible": _flag(bool(first.is_eligible_at_attachment)),
            "n_headlines_identified": int(case.is_need_at_attachment.sum()),
        }
        by_code = {r.headline_code: r for r in case.itertuples(index=False)}
        for code in HEADLINES:
            found = by_code.get(code)
            row[need_column(code)] = _flag(found is not None and bool(found.is_need_at_attachment))
            row[outcome_column(code)] = found.outcome if found is not None else None
        row["claim_status"] = _claim_status(case, period)
        row["not_claimable_reason"] = _not_claimable_reason(case, row["claim_status"])
        rows.append(row)
    from returns.spec import get_spec

    return pd.DataFrame(rows, columns=get_spec("family_progress_data").column_names)


def results_claims(con: duckdb.DuckDBPyConnection, period: Period, pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    """Cases that meet the claim rule (marts.family_progress.is_claim_candidate) with the six months after
    closure ending in the period: one row per need identified at attachment, with its evidence, and the
    headlines met after attachment (on a claim: resolved and sustained, or arisen after support ended; the
    auditor sees them)."""
    needs = case_needs(con, period)
    ref_of_case = period_family_refs(con, period, pseudonymiser).ref_of_case()
    rows = []
    for case_id, case in needs.groupby("family_case_id", sort=True):
        first = case.iloc[0]
        if _claim_status(case, period) != "CLAIMABLE" or first.sustained_check_date < period.start:
            continue
        new_needs = _new_needs_after_attachment(case)
        for need in case[case.is_need_at_attachment].itertuples(index=False):
            ids = need.attachment_evidence_event_ids
            evidence = list(ids) if ids is not None else []
            rows.append({
                "reporting_period": period.label,
                "family_ref": ref_of_case[case_id],
                "case_ref": pseudonymiser.ref("case", case_id),
                "lead_practitioner_ref": pseudonymiser.ref("practitioner", _text(first.key_worker_id)),
                "attached_date": first.attached_date,
                "closed_date": first.closed_date,
                "sustained_to_date": first.sustained_check_date,
                "headline_code": need.headline_code,
                "status_at_attachment": need.status_at_attachment.upper(),
                "status_at_closure": need.status_at_closure.upper(),
                "status_sustained": need.status_six_months_after_closure.upper(),
                "n_evidence_events": len(evidence),
                "evidence_event_refs": ";".join(sorted(pseudonymiser.refs("event", evidence))) or None,
                "new_needs_after_attachment": new_needs,
                "assessment_date": first.assessment_date,
                "plan_date": first.plan_date,
            })
    from returns.spec import get_spec

    return pd.DataFrame(rows, columns=get_spec("results_claims").column_names)


# The cases a period reports on and the people worked with in each: the NIS lists them, and the family ref
# register (returns/family_refs.py) records them as the members a family_ref covered.
_CASE_PEOPLE = """
cases as (
    select distinct family_case_id, family_id, attached_date,
        case when closed_date <= $period_end then closed_date end as closed_date, intensity
    from marts.family_progress
    where as_at_date = $period_end and {in_period}
),
family_people as (
    select cases.family_case_id, membership.person_id,
        arg_min(membership.role, membership.valid_from) as relation_in_family
    from cases
    join marts.family_membership membership
        on membership.family_id = cases.family_id
        and membership.valid_from <= coalesce(cases.closed_date, $period_end)
        and (membership.valid_to is null or membership.valid_to >= cases.attached_date)
    group by all
),
-- every member of the case is worked with, also one who lives in another household (a parent living apart)
-- or a case none of whose members was in a household family: their role is the case record's. The case
-- members are upstream of family_progress, so as fresh as the marts.
people as (
    select * from family_people
    union all
    select members.family_case_id, members.person_id, any_value(lower(members.family_role)) as relation_in_family
    from intermediate.int_criteria__programme_case_members members
    semi join cases on cases.family_case_id = members.family_case_id
    anti join family_people on family_people.family_case_id = members.family_case_id
        and family_people.person_id = members.person_id
    group by all
)"""

_NIS = """
with {case_people},
screened as (
    select family_id, min(as_at_date) as first_eligible
    from marts.family_eligibility where is_sf_eligible and as_at_date <= $period_end group by family_id
),
-- the needs the family was taken on for: those the Family Progress Data reports as identified at attachment
-- (not those met at the period end, which a closed case's resolved needs no longer are)
needs as (
    select family_case_id, string_agg(distinct headline_code, ';' order by headline_code) as needs_met
    from marts.family_progress
    where as_at_date = $period_end and is_need_at_attachment and headline_code in ({headlines})
    group by family_case_id
)
select
    cases.family_case_id, cases.family_id, people.person_id,
    person.first_name as forenames, person.surname, person.dob as date_of_birth, person.sex, person.postcode,
    coalesce(people.relation_in_family, 'unknown') as relation_in_family,
    coalesce(least(screened.first_eligible, cases.attached_date), cases.attached_date) as date_screened,
    needs.needs_met, 'N' as comparison_group,
    cases.attached_date as support_start_date, cases.closed_date as support_end_date, cases.intensity,
    person.upn, person.ni_number, person.nhs_number, person.pnc_id
from cases
join people on people.family_case_id = cases.family_case_id
join marts.dim_person person on person.person_id = people.person_id
left join screened on screened.family_id = cases.family_id
left join needs on needs.family_case_id = cases.family_case_id
order by cases.family_case_id, people.person_id
"""


SCREENING_REGISTER_TABLE = "restricted.nis_screening_register"
SCREENING_PENDING_TABLE = "restricted.nis_screening_pending"


def _screening_tables(con: duckdb.DuckDBPyConnection) -> None:
    # internal case ids beside their refs and dates, hence the restricted schema
    con.execute("create schema if not exists restricted")
    con.execute(f"create table if not exists {SCREENING_REGISTER_TABLE} (family_case_id varchar primary key, "
                "date_screened date, first_reporting_period varchar)")
    con.execute(f"create table if not exists {SCREENING_PENDING_TABLE} (reporting_period varchar, "
                "family_case_id varchar, case_ref varchar, date_screened date, "
                "primary key (reporting_period, family_case_id))")


def carried_screening_dates(con: duckdb.DuckDBPyConnection, computed: pd.DataFrame) -> pd.Series:
    """date_screened per row of `computed` (family_case_id, date_screened as the marts give it now): the date
    registered for the case when a National Impact Study file first SENT it, else the computed date. The marts judge
    eligibility at the quarter ends of their three-year window only, so for a family eligible since before the
    window the computed date is the window's first quarter end, which moves every quarter: the department would see
    the case screened later in each return, and a rerun of a past quarter would change its file. Reads the register
    only: a build the extract gate then blocks must not fix a date it computed from data that failed the gate, so
    the NIS outbox asset registers the dates it sent (register_sent_screening_dates)."""
    _screening_tables(con)
    first = computed[["family_case_id"]].drop_duplicates()
    con.register("_screened_now", first)
    try:
        registered = con.execute(f"select family_case_id, date_screened from {SCREENING_REGISTER_TABLE} "
                                 "semi join _screened_now using (family_case_id)").df()
    finally:
        con.unregister("_screened_now")
    by_case = dict(zip(registered.family_case_id, registered.date_screened, strict=True))
    return pd.Series([by_case.get(case, date) for case, date in zip(computed.family_case_id, computed.date_screened,
                                                                     strict=True)],
                     index=computed.index, dtype=computed["date_screened"].dtype)


def record_pending_screening_dates(con: duckdb.DuckDBPyConnection, period: Period, built: pd.DataFrame) -> None:
    """The period's cases as this build of its NIS reports them (family_case_id, case_ref, date_screened), replacing
    the previous build's: the outbox asset maps the case_refs it sends back to cases through them."""
    _screening_tables(con)
    rows = built[["family_case_id", "case_ref", "date_screened"]].drop_duplicates("family_case_id")
    with transaction(con, _screening_built=rows):
        con.execute(f"delete from {SCREENING_PENDING_TABLE} where reporting_period = ?", [period.label])
        con.execute(f"insert into {SCREENING_PENDING_TABLE} select ?, family_case_id, case_ref, "
                    "cast(date_screened as date) from _screening_built", [period.label])


def register_sent_screening_dates(con: duckdb.DuckDBPyConnection, period: Period, sent: pd.DataFrame) -> dict[str, int]:
    """After the period's NIS files are written (the extract gate passed): each case in them not yet registered is
    registered with the date_screened the file gave it and this period as its first_reporting_period (first sent
    wins; cases found through the period's pending rows, by case_ref). Counts only: `registered` (new),
    `differing` (sent with another date than the one registered, when two quarters were built before either was
    sent: a rebuild sends the registered one), `not_pending` (refs the pending rows do not name, rows stored by
    another build than the pending rows': not registered by this send)."""
    _screening_tables(con)
    con.register("_screening_sent", sent[["case_ref", "date_screened"]])
    try:
        con.execute("""create or replace temp table _screening_matched as
            with sent as (select case_ref, min(cast(date_screened as date)) as date_screened
                          from _screening_sent group by case_ref)
            select sent.case_ref, pending.family_case_id, sent.date_screened
            from sent left join """ + SCREENING_PENDING_TABLE + """ pending
                on pending.case_ref = sent.case_ref and pending.reporting_period = ?""", [period.label])
        before = con.execute(f"select count(*) from {SCREENING_REGISTER_TABLE}").fetchall()[0][0]
        con.execute(f"insert into {SCREENING_REGISTER_TABLE} select family_case_id, date_screened, ? "
                    f"from _screening_matched anti join {SCREENING_REGISTER_TABLE} using (family_case_id) "
                    "where family_case_id is not null", [period.label])
        registered = con.execute(f"select count(*) from {SCREENING_REGISTER_TABLE}").fetchall()[0][0] - before
        differing, not_pending = con.execute(
            "select count(*) filter (where matched.family_case_id is not null "
            "and register.date_screened is distinct from matched.date_screened), "
            "count(*) filter (where matched.family_case_id is null) "
            f"from _screening_matched matched left join {SCREENING_REGISTER_TABLE} register "
            "using (family_case_id)").fetchall()[0]
    finally:
        con.unregister("_screening_sent")
        con.execute("drop table if exists _screening_matched")
    return {"registered": registered, "differing": differing, "not_pending": not_pending}


def national_impact_study(con: duckdb.DuckDBPyConnection, period: Period, pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    sql = _NIS.format(case_people=_CASE_PEOPLE.format(in_period=_IN_PERIOD),
                      headlines=", ".join(f"'{h}'" for h in HEADLINES))
    frame = con.sql(sql, params=_params(period)).df()
    frame["date_screened"] = carried_screening_dates(con, frame)
    frame.insert(0, "reporting_period", period.label)
    ref_of_case = period_family_refs(con, period, pseudonymiser).ref_of_case()
    frame.pop("family_id")
    frame.insert(1, "family_ref", [ref_of_case[c] for c in frame["family_case_id"]])
    case_ids = frame.pop("family_case_id")
    frame.insert(2, "case_ref", pseudonymiser.refs("case", case_ids))
    frame.insert(3, "person_ref", pseudonymiser.refs("person", frame.pop("person_id")))
    record_pending_screening_dates(con, period, frame.assign(family_case_id=case_ids))
    from returns.spec import get_spec

    return frame[get_spec("national_impact_study").column_names]


def record_sent_return(con: duckdb.DuckDBPyConnection, name: str, period: Period, sent: pd.DataFrame,
                       pseudonymiser: Pseudonymiser) -> dict[str, int]:
    """What a return's outbox asset records as sent, just before its files are written (the extract gate passed):
    the period's family refs become commitments (returns/family_refs.py), and the NIS's screening dates. Counts.
    Nothing is recorded when a case of the rows names another family ref, or a family change, than the period's
    register and lineage (`family_refs_not_registered`): the caller must not send them."""
    counts = send_period_refs(con, period.label, sent, pseudonymiser)
    if counts["family_refs_not_registered"]:
        return counts
    if name == "national_impact_study":
        counts |= {f"screening_dates_{k}": v for k, v in register_sent_screening_dates(con, period, sent).items()}
    return counts


BUILDERS = {"family_progress_data": family_progress_data, "national_impact_study": national_impact_study,
            "results_claims": results_claims}


def build_return_frame(con: duckdb.DuckDBPyConnection, name: str, period: Period,
                       pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    return BUILDERS[name](con, period, pseudonymiser)


def period_not_in_marts(con: duckdb.DuckDBPyConnection, period: Period) -> str | None:
    """Why the marts cannot report the period, or None. The criteria marts hold the quarter ends of the three
    years before their reporting date: an older quarter would build as an empty return (and a quarter after
    it, as one that has not happened), which must never replace rows or files already sent."""
    held = con.execute("select min(as_at_date), max(as_at_date), bool_or(as_at_date = ?), "
                       "any_value(as_at_date) filter (where is_reporting_date) "
                       "from intermediate.int_criteria__as_at_dates", [period.end]).fetchall()[0]
    first, last, holds, reporting_date = held
    if holds:
        return None
    return (f"{period.label} ends {period.end}, a date the criteria marts do not hold: built as at {reporting_date}, "
            f"they hold the quarter ends from {first} to {last}. Nothing was written; the period's stored rows and "
            f"files are unchanged. To rebuild it, build the warehouse with FAMILYHUB_REPORTING_DATE={period.end} "
            "first.")


# --- rows kept in the warehouse until released ------------------------------------------------------------------


def stored_table(spec: ReturnSpec) -> str:
    return f"{'restricted' if spec.restricted else 'returns'}.{spec.name}"


def stored_rows_relation(spec: ReturnSpec, period: Period) -> tuple[str, str]:
    return stored_table(spec), f"reporting_period = '{period.label}'"


GATE_STATUS_TABLE = "returns.return_gate_status"


STAGED_DELIVERIES = ("staging", "stg_landing__deliveries")


def built_from(con: duckdb.DuckDBPyConnection) -> dict:
    """What the marts a return reads were built from, for the manifest: their reporting date, the linkage
    model and review decisions of the last person index run (sha256), the criteria rules (a sha256 of the
    criteria reference tables), and per feed the deliveries the last staging build read (staging.
    stg_landing__deliveries: how many, the latest extract date, a sha256 over their files' sha256 in order, and
    how many of them were held in quarantine, their rows left out). Counts, dates and hashes only. The same
    inputs give the same record, so two builds of a quarter can be compared. A delivery that landed after
    staging last ran is not listed: no mart holds its rows. `feeds` is None when staging has not been built
    since that table was added (the first build after an upgrade: materialise the whole graph once). (A marts
    step that failed after staging ran leaves the marts older than this record: the gate status beside it
    says so.)"""
    import hashlib

    from expectations.framework import table_exists

    reporting_date = con.execute("select any_value(as_at_date) filter (where is_reporting_date) "
                                 "from intermediate.int_criteria__as_at_dates").fetchall()[0][0]
    model = (con.execute("select model_sha256, decisions_sha256 from linkage.linkage_runs "
                         "order by recorded_at desc limit 1").fetchall()
             if table_exists(con, "linkage", "linkage_runs") else [])
    rules = [table for table in ("criteria_indicators", "criteria_indicator_events", "criteria_needs")
             if table_exists(con, "reference", table)]
    ruleset = hashlib.sha256("\n".join(
        f"{table}:" + ";".join(map(str, row)) for table in rules
        for row in con.execute(f"select * from reference.{table} order by all").fetchall()).encode()).hexdigest()
    # None, not {}: a warehouse whose staging was last built before this table existed recorded nothing
    feeds = {} if table_exists(con, *STAGED_DELIVERIES) else None
    staged = (con.execute(f"""
                select feed, list(file_sha256 order by file_sha256), max(extract_date),
                       count(*) filter (where is_held_in_quarantine)
                from {".".join(STAGED_DELIVERIES)} group by feed order by feed""").fetchall()
              if table_exists(con, *STAGED_DELIVERIES) else [])
    for feed, shas, latest, held in staged:
        feeds[feed] = {"deliveries": len(shas), "latest_extract_date": latest.isoformat() if latest else None,
                       "files_sha256": hashlib.sha256("\n".join(shas).encode()).hexdigest(),
                       "held_in_quarantine": int(held)}
    return {"marts_reporting_date": reporting_date.isoformat() if reporting_date else None,
            "linkage_model_sha256": model[0][0] if model else None,
            "review_decisions_sha256": model[0][1] if model else None,
            "criteria_rules_sha256": ruleset if rules else None, "feeds": feeds}


def store_return_rows(con: duckdb.DuckDBPyConnection, spec: ReturnSpec, period: Period, frame: pd.DataFrame, *,
                      gates: GateStatus, run_id: str) -> int:
    """Replace the period's rows, and the gate status they were built under, in one transaction. The table
    has the spec's columns and types; if the spec changed, it is recreated (other periods are rebuilt when
    rerun). Values that do not fit their type fail here, loudly."""
    table = stored_table(spec)
    schema, name = table.split(".")
    con.execute(f"create schema if not exists {schema}")
    wanted = [(c.name, _SQL_TYPES[c.type]) for c in spec.columns]
    found = [(r[0], r[1].lower()) for r in con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, name]).fetchall()]
    if found and found != wanted:
        con.execute(f"drop table {table}")
    columns_sql = ", ".join(f'"{n}" {t}' for n, t in wanted)
    con.execute(f"create table if not exists {table} ({columns_sql})")
    con.execute(f"create schema if not exists {GATE_STATUS_TABLE.split('.')[0]}")
    con.execute(f"create table if not exists {GATE_STATUS_TABLE} (return_name varchar, reporting_period varchar, "
                "run_id varchar, checked_at timestamp, gate_status json, built_from json)")
    con.execute(f"alter table {GATE_STATUS_TABLE} add column if not exists built_from json")  # tables made before
    inputs = json.dumps(built_from(con), sort_keys=True)
    frame = frame.reindex(columns=[c.name for c in spec.columns])
    with transaction(con, _return_rows=frame):
        con.execute(f"delete from {table} where reporting_period = ?", [period.label])
        select = ", ".join(f'cast("{n}" as {t}) as "{n}"' for n, t in wanted)
        con.execute(f"insert into {table} select {select} from _return_rows")
        con.execute(f"delete from {GATE_STATUS_TABLE} where return_name = ? and reporting_period = ?",
                    [spec.name, period.label])
        con.execute(f"insert into {GATE_STATUS_TABLE} by name select ? as return_name, ? as reporting_period, "
                    "? as run_id, ? as checked_at, ? as gate_status, ? as built_from",
                    [spec.name, period.label, run_id, gates.checked_at, json.dumps(gates.as_record()), inputs])
    return con.execute(f"select count(*) from {table} where reporting_period = ?", [period.label]).fetchall()[0][0]


def record_extract_gate(con: duckdb.DuckDBPyConnection, spec: ReturnSpec, period: Period, passed: bool,
                        run_id: str) -> None:
    """The extract gate's verdict on the period's stored rows (passed: no error, warnings allowed), beside them: the outbox step reads it, so files
    written in a run of their own (the outbox materialised alone) are only ever rows that passed. Storing the
    rows again (store_return_rows) replaces the record, clearing the verdict. A failed gate also marks the
    period's family refs not yet sent 'blocked' (returns/family_refs.py): no other period's build reads them."""
    from expectations.framework import table_exists

    if not passed:
        block_period_refs(con, period.label)
    if not table_exists(con, *GATE_STATUS_TABLE.split(".")):
        return
    con.execute(f"alter table {GATE_STATUS_TABLE} add column if not exists extract_gate_passed boolean")
    con.execute(f"alter table {GATE_STATUS_TABLE} add column if not exists extract_gate_run_id varchar")
    con.execute(f"update {GATE_STATUS_TABLE} set extract_gate_passed = ?, extract_gate_run_id = ? "
                "where return_name = ? and reporting_period = ?", [passed, run_id, spec.name, period.label])


def extract_gate_passed(con: duckdb.DuckDBPyConnection, spec: ReturnSpec, period: Period) -> bool:
    """Whether the extract gate passed the period's stored rows as they are now (False when it failed, never
    ran on them, or they were stored again since)."""
    from expectations.framework import columns_of

    if "extract_gate_passed" not in columns_of(con, *GATE_STATUS_TABLE.split(".")):
        return False
    found = con.execute(f"select extract_gate_passed from {GATE_STATUS_TABLE} where return_name = ? "
                        "and reporting_period = ?", [spec.name, period.label]).fetchall()
    return bool(found and found[0][0])


def read_stored_rows(con: duckdb.DuckDBPyConnection, spec: ReturnSpec, period: Period) -> pd.DataFrame:
    return con.execute(f"select * from {stored_table(spec)} where reporting_period = ?", [period.label]).df()


def read_built_gate_status(con: duckdb.DuckDBPyConnection, spec: ReturnSpec, period: Period) -> dict | None:
    """The gate status (GateStatus.as_record()) the period's stored rows were built under; None for rows
    stored before it was recorded."""
    from expectations.framework import table_exists

    if not table_exists(con, *GATE_STATUS_TABLE.split(".")):
        return None
    found = con.execute(f"select gate_status from {GATE_STATUS_TABLE} where return_name = ? and reporting_period = ?",
                        [spec.name, period.label]).fetchall()
    return json.loads(found[0][0]) if found else None


def read_built_from(con: duckdb.DuckDBPyConnection, spec: ReturnSpec, period: Period) -> dict | None:
    """What the period's stored rows were built from (built_from); None for rows stored before it was recorded."""
    from expectations.framework import columns_of

    if "built_from" not in columns_of(con, *GATE_STATUS_TABLE.split(".")):
        return None
    found = con.execute(f"select built_from from {GATE_STATUS_TABLE} where return_name = ? and reporting_period = ?",
                        [spec.name, period.label]).fetchall()
    return json.loads(found[0][0]) if found and found[0][0] else None
