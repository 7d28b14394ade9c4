"""int_events shows a code outside its code list as UNLISTED (privacy review finding 3): the guard's lists must be
the registry's codes (orchestration/feeds.yml), or a listed code would become UNLISTED and drop out of the criteria,
and every registry code column that reaches an event must be guarded, or free text typed in it reaches fct_event and
the analyst copy. Static: reads the registry, the seeds and the model's SQL (the guard's behaviour is the dbt unit
tests on int_events, run by the pipeline's build).
"""

from __future__ import annotations

import csv
import re

from expectations.raw_gate import normalise_code
from orchestration.lib.feeds import load_registry
from tests.conftest import REPO_ROOT

INT_EVENTS = REPO_ROOT / "dbt_project" / "models" / "intermediate" / "events" / "int_events.sql"
CODE_LISTS = REPO_ROOT / "seeds" / "code_lists"

# (int_events CTE, staging column it guards) -> the registry's (feed, column) the value is delivered in
GUARDED = {
    ("social_care_episodes", "event_type"): ("csc_episodes", "EPISODE_TYPE"),
    ("social_care_episodes", "cp_category_code"): ("csc_episodes", "CP_CATEGORY"),
    ("social_care_episodes", "primary_need_code"): ("csc_episodes", "PRIMARY_NEED"),
    ("early_help_members", "presenting_issue"): ("early_help_episodes", "Presenting Issue"),
    ("early_help_members", "role_in_family"): ("early_help_episodes", "Role in Family"),
    ("pupil_enrolments", "sen_provision_code"): ("school_roll", "SENprovision"),
    ("pupil_enrolments", "nc_year"): ("school_roll", "NCYearActual"),
    ("attendance_terms", "term"): ("school_attendance", "Term"),
    ("exclusions", "exclusion_category"): ("school_exclusions", "Category"),
    ("exclusions", "event_type"): ("school_exclusions", "Category"),
    ("exclusions", "exclusion_reason_code"): ("school_exclusions", "Reason"),
    ("police_nominals", "incident_type"): ("police_incidents", "incident_type"),
    ("police_nominals", "event_type"): ("police_incidents", "incident_type"),
    ("police_nominals", "nominal_role"): ("police_incidents", "role"),
    ("police_nominals", "risk_level"): ("police_incidents", "risk_level"),
    ("youth_justice_outcomes", "outcome_type"): ("yjs_outcomes", "Outcome Type"),
    ("youth_justice_outcomes", "event_type"): ("yjs_outcomes", "Outcome Type"),
    ("youth_justice_outcomes", "offence_category"): ("yjs_outcomes", "Offence Category"),
    ("benefit_claims", "benefit_type"): ("dwp_benefits", "BENEFIT"),
    ("benefit_claims", "event_type"): ("dwp_benefits", "BENEFIT"),
    ("benefit_claims", "conditionality_regime"): ("dwp_benefits", "CONDITIONALITY"),
    ("health_referrals", "service"): ("health_services", "Service"),
    ("health_referrals", "event_type"): ("health_services", "Service"),
    ("health_referrals", "primary_substance"): ("health_services", "Primary Substance"),
    ("housing_events", "event_type"): ("housing_events", "Event Type"),
    ("programme_members", "intensity"): ("programme_cases", "intensity"),
    ("programme_members", "family_role"): ("programme_cases", "role"),
}
# registry code columns int_events puts in no event column as text: sex (person records only), booleans (flags read
# as true/false), codes only staging or other marts carry, and the feeds with no events
NOT_IN_EVENTS = {
    ("csc_persons", "GENDER"), ("csc_relationships", "RELATIONSHIP"), ("csc_episodes", "REFERRAL_SOURCE"),
    ("early_help_episodes", "Sex"), ("early_help_episodes", "Closure Reason"), ("school_roll", "Gender"),
    ("school_roll", "FSMeligible"), ("police_incidents", "sex"), ("police_incidents", "domestic_abuse_flag"),
    ("police_incidents", "asb_flag"), ("yjs_outcomes", "Sex"), ("health_services", "Gender Code"),
    ("programme_cases", "sex"),
}

CTE = re.compile(r"^(\w+) as \(\n(.*?)^\),?$", re.MULTILINE | re.DOTALL)
GUARD = re.compile(r"when (\w+) not in \(([^()]*)\)\s+then 'UNLISTED'")
SEED_CTE = re.compile(r"^(\w+) as \(select \* from \{\{ ref\('(\w+)'\) \}\}\),?$", re.MULTILINE)


def _guards() -> dict[tuple[str, str], set[str]]:
    """(CTE, column) -> the codes int_events keeps, from its literal list or the seed its subquery reads."""
    sql = INT_EVENTS.read_text(encoding="utf-8")
    seed_of = dict(SEED_CTE.findall(sql))
    guards = {}
    for cte, body in CTE.findall(sql):
        for column, listed in GUARD.findall(body):
            subquery = re.fullmatch(r"\s*select code from (\w+)\s*", listed)
            if subquery:
                with open(CODE_LISTS / f"{seed_of[subquery.group(1)]}.csv", newline="") as handle:
                    guards[(cte, column)] = {row["code"] for row in csv.DictReader(handle)}
            else:
                guards[(cte, column)] = set(re.findall(r"'([^']*)'", listed))
    return guards


def _registry_codes() -> dict[tuple[str, str], set[str]]:
    """(feed, column) -> its codes as staging's clean_code writes them, for every registry column with codes."""
    return {(feed.name, column.name): {normalise_code(code) for code in column.codes}
            for feed in load_registry().values() for column in feed.columns if column.codes}


def test_every_registry_code_column_is_guarded_or_reaches_no_event():
    registry = set(_registry_codes())
    assert NOT_IN_EVENTS <= registry, NOT_IN_EVENTS - registry  # no stale entry
    unclassified = registry - set(GUARDED.values()) - NOT_IN_EVENTS
    assert not unclassified, f"say whether int_events guards these (GUARDED) or they reach no event: {unclassified}"


def test_int_events_guards_exactly_the_listed_columns():
    assert set(_guards()) == set(GUARDED)


def test_each_guard_keeps_every_registry_code_and_nothing_else():
    """A registry code a guard lacks would turn a valid event into UNLISTED (and out of the criteria rules keyed on
    it); a code the registry lacks would pass text the raw gate flags. So each list is the registry's, exactly."""
    registry, guards = _registry_codes(), _guards()
    for key, source in GUARDED.items():
        assert guards[key] == registry[source], (key, source, guards[key] ^ registry[source])
