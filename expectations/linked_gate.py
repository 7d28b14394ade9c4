"""The linked gate: one, on the person index linkage.person_crosswalk (Dagster key linkage/person_crosswalk).

Aggregates in SQL over the crosswalk (and the standardised records it was built from): every person record
in the index once; the largest cluster under a bound; the singleton share and cross-source match rates
within ranges; and, once the linkage step keeps an id lineage (linkage.person_id_lineage) and the previous
run's crosswalk, no person_id lost or new between runs without a lineage entry.

Ranges (module constants; documented with their reasons in expectations/README.md). The synthetic demo
(2k-30k persons, 9 systems) shows: singleton share 0.59-0.60, persons in 2+ systems 0.38-0.40, per system
0.39 (education: the whole school roll, most children known to nobody else) to 0.90-1.00 (social care,
programme, youth justice: families every partner knows), largest cluster 12-14 records. A council joining
the same kinds of feeds is in the same region: most people appear in one system only. The error bands are
wide (linkage has clearly malfunctioned: chaining collapses people, or nothing links); the warning bands are
where a run deserves a look before the returns use it.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb

from expectations.framework import ERROR, WARNING, Check, GatePlan, register_gate, scalar_rows, share, table_exists

GATE = "linked_gate"
SCHEMA = "linkage"
CROSSWALK = "person_crosswalk"
RECORDS_TABLE = ("intermediate", "int_person_records_standardised")
LINEAGE_TABLE = "person_id_lineage"  # run_id, recorded_at, change, person_id, related_person_id, n_records, reason
# the crosswalk as the previous linkage run left it (written by the linkage step before it replaces the index)
PREVIOUS_CROSSWALK = "person_crosswalk_previous"  # as linkage/lineage.py names them

SINGLETON_SHARE_ERROR = (0.20, 0.97)  # share of persons with one source record
SINGLETON_SHARE_WARNING = (0.40, 0.85)
MULTI_SYSTEM_SHARE_ERROR = (0.02, 0.90)  # share of persons with records in 2+ source systems
MULTI_SYSTEM_SHARE_WARNING = (0.10, 0.70)
# per source system: share of its records whose person also has a record in another system
CROSS_SYSTEM_ERROR_MIN = 0.01  # (almost) nothing links: the feed's identifiers or DOBs are broken
CROSS_SYSTEM_WARNING_MIN = 0.10
CROSS_SYSTEM_MIN_RECORDS = 50  # a system with fewer records is reported, not judged (too few to tell)
LARGEST_CLUSTER_WARNING = 20  # the error bound is linkage.run.GIANT_CLUSTER_SIZE (40): chaining
PERSON_ID_CHURN_WARNING = 0.10  # share of last run's person_ids that changed (lost + new, with lineage)


def _range(expectation: str, metric: str, severity: str, bounds: tuple[float, float], column: str | None = None):
    lo, hi = bounds
    return Check(expectation, column, severity, metric, f"{lo:g} <= share <= {hi:g}", min_value=lo, max_value=hi)


@register_gate(GATE)
def plan_linked_gate(con: duckdb.DuckDBPyConnection, target: str = CROSSWALK, *, schema: str = SCHEMA) -> GatePlan:
    from linkage.run import GIANT_CLUSTER_SIZE

    table = f'{schema}."{target}"'
    checks: list[Check] = []
    metrics: dict[str, object] = {}
    observed: dict[str, str] = {}
    counts: dict[str, int] = {}

    exists = table_exists(con, schema, target)
    metrics["crosswalk_rows"] = scalar_rows(con, f"select count(*) from {table}")[0][0] if exists else 0
    observed["crosswalk_rows"] = f"{metrics['crosswalk_rows']} rows" if exists else "table missing"
    checks.append(Check("crosswalk_not_empty", None, ERROR, "crosswalk_rows", "rows >= 1", min_value=1))
    if not exists or not metrics["crosswalk_rows"]:
        return GatePlan(gate=GATE, target=target, asset_key=f"{schema}/{target}", checks=checks, metrics=metrics,
                        observed=observed)

    # --- the index itself: every record once, one person each ------------------------------------------
    rows, null_ids, records, persons = scalar_rows(con, f"""
        select count(*), count(*) - count(person_id), count(distinct person_record_id), count(distinct person_id)
        from {table}""")[0]
    duplicates = rows - records
    metrics |= {"person_id__null_count": null_ids, "person_record_id__duplicate_count": duplicates}
    observed |= {"person_id__null_count": f"{null_ids} of {rows} records",
                 "person_record_id__duplicate_count": f"{duplicates} rows repeat a record ({records} distinct)"}
    checks += [
        Check("person_id_not_null", "person_id", ERROR, "person_id__null_count", "null count = 0", max_value=0),
        Check("one_person_per_record", "person_record_id", ERROR, "person_record_id__duplicate_count",
              "duplicate rows = 0", max_value=0),
    ]
    counts |= {"person_records": records, "persons": persons}
    if table_exists(con, *RECORDS_TABLE):
        missing, extra = scalar_rows(con, f"""
            select (select count(*) from {RECORDS_TABLE[0]}.{RECORDS_TABLE[1]} r
                    where not exists (select 1 from {table} c where c.person_record_id = r.person_record_id)),
                   (select count(*) from {table} c
                    where not exists (select 1 from {RECORDS_TABLE[0]}.{RECORDS_TABLE[1]} r
                                      where r.person_record_id = c.person_record_id))""")[0]
        metrics |= {"records__not_in_crosswalk": missing, "crosswalk__unknown_records": extra}
        observed |= {"records__not_in_crosswalk": f"{missing} standardised records without a person_id",
                     "crosswalk__unknown_records": f"{extra} crosswalk records not among the standardised records"}
        checks += [
            Check("every_record_linked", None, ERROR, "records__not_in_crosswalk", "records without a person = 0",
                  max_value=0),
            Check("crosswalk_records_known", None, ERROR, "crosswalk__unknown_records", "unknown records = 0",
                  max_value=0),
        ]

    # --- cluster shape --------------------------------------------------------------------------------
    largest, singletons, multi_system = scalar_rows(con, f"""
        with persons as (select person_id, count(*) as n, count(distinct source_system) as systems
                         from {table} group by person_id)
        select coalesce(max(n), 0), count(*) filter (where n = 1), count(*) filter (where systems >= 2)
        from persons""")[0]
    metrics |= {"largest_cluster_size": largest, "singleton_share": share(singletons, persons),
                "multi_system_person_share": share(multi_system, persons)}
    observed |= {"largest_cluster_size": f"{largest} records",
                 "singleton_share": f"{share(singletons, persons):.4g} ({singletons} of {persons} persons)",
                 "multi_system_person_share":
                     f"{share(multi_system, persons):.4g} ({multi_system} of {persons} persons)"}
    checks += [
        Check("largest_cluster_under_bound", None, ERROR, "largest_cluster_size",
              f"records in one person <= {GIANT_CLUSTER_SIZE}", max_value=GIANT_CLUSTER_SIZE),
        Check("largest_cluster_under_bound", None, WARNING, "largest_cluster_size",
              f"records in one person <= {LARGEST_CLUSTER_WARNING}", max_value=LARGEST_CLUSTER_WARNING),
        _range("singleton_share_in_range", "singleton_share", ERROR, SINGLETON_SHARE_ERROR),
        _range("singleton_share_in_range", "singleton_share", WARNING, SINGLETON_SHARE_WARNING),
        _range("multi_system_share_in_range", "multi_system_person_share", ERROR, MULTI_SYSTEM_SHARE_ERROR),
        _range("multi_system_share_in_range", "multi_system_person_share", WARNING, MULTI_SYSTEM_SHARE_WARNING),
    ]
    counts |= {"largest_cluster_size": largest, "singleton_persons": singletons, "multi_system_persons": multi_system}

    # --- cross-source match rate per system ----------------------------------------------------------------
    for system, system_records, linked in scalar_rows(con, f"""
            with persons as (select person_id, count(distinct source_system) as systems from {table} group by 1)
            select c.source_system, count(*), count(*) filter (where p.systems >= 2)
            from {table} c join persons p using (person_id)
            group by 1 order by 1"""):
        metric = f"{system}__cross_system_share"
        metrics[metric] = share(linked, system_records)
        observed[metric] = f"{share(linked, system_records):.4g} ({linked} of {system_records} records)"
        too_few = (f"{system_records} records, under {CROSS_SYSTEM_MIN_RECORDS}"
                   if system_records < CROSS_SYSTEM_MIN_RECORDS else None)
        checks += [
            Check("cross_system_match_rate", system, ERROR, metric, f"share >= {CROSS_SYSTEM_ERROR_MIN:g}",
                  min_value=CROSS_SYSTEM_ERROR_MIN, skip_reason=too_few),
            Check("cross_system_match_rate", system, WARNING, metric, f"share >= {CROSS_SYSTEM_WARNING_MIN:g}",
                  min_value=CROSS_SYSTEM_WARNING_MIN, skip_reason=too_few),
        ]

    # --- person_id stability between runs -------------------------------------------------------------------
    checks += _lineage_checks(con, schema, table, metrics, observed, counts)

    return GatePlan(gate=GATE, target=target, asset_key=f"{schema}/{target}", checks=checks, metrics=metrics,
                    observed=observed, counts=counts)


def _lineage_checks(con, schema: str, table: str, metrics: dict, observed: dict, counts: dict) -> list[Check]:
    """person_ids of the previous run gone from this one, and person_ids new in this one, that the latest
    linkage run's lineage rows do not explain. In linkage/lineage.py, person_id is the id that ends in
    'merged'/'retired' rows (related_person_id: where its records went) and the id created in 'new'/'split'
    rows (related_person_id: the person it split from). So an id ends with a 'merged'/'retired' row naming it
    or a 'split' row splitting from it; an id starts with a 'new'/'split' row naming it or a 'merged' row
    sending records to it. Not evaluated
    (recorded, neither passed nor failed) until the linkage step writes its lineage and previous crosswalk."""
    lost_check = Check("no_person_id_lost_without_lineage", "person_id", ERROR, "person_ids__lost_without_lineage",
                       "previous run's person_ids absent now without a lineage entry = 0", max_value=0)
    new_check = Check("no_person_id_new_without_lineage", "person_id", ERROR, "person_ids__new_without_lineage",
                      "person_ids absent in the previous run without a lineage entry = 0", max_value=0)
    churn_check = Check("person_id_churn", "person_id", WARNING, "person_ids__churn_share",
                        f"(lost + new) / previous person_ids <= {PERSON_ID_CHURN_WARNING:g}",
                        max_value=PERSON_ID_CHURN_WARNING)
    missing = [f"{schema}.{t}" for t in (LINEAGE_TABLE, PREVIOUS_CROSSWALK) if not table_exists(con, schema, t)]
    if missing:
        reason = f"{' and '.join(missing)} not built yet"
        return [replace(c, skip_reason=reason) for c in (lost_check, new_check, churn_check)]

    lineage, previous = f"{schema}.{LINEAGE_TABLE}", f"{schema}.{PREVIOUS_CROSSWALK}"
    previous_ids, lost, lost_unexplained, new, new_unexplained = scalar_rows(con, f"""
        with latest as (
            select change, person_id, related_person_id from {lineage}
            where run_id = (select run_id from {lineage} order by recorded_at desc limit 1)
        ),
        ended as (
            select person_id from latest where change in ('merged', 'retired') and person_id is not null
            union select related_person_id from latest where change = 'split' and related_person_id is not null
        ),
        created as (
            select person_id from latest where change in ('new', 'split') and person_id is not null
            union select related_person_id from latest where change = 'merged' and related_person_id is not null
        ),
        previous_ids as (select distinct person_id from {previous}),
        current_ids as (select distinct person_id from {table}),
        lost as (select person_id from previous_ids except select person_id from current_ids),
        new as (select person_id from current_ids except select person_id from previous_ids)
        select (select count(*) from previous_ids),
               (select count(*) from lost),
               (select count(*) from lost where person_id not in (select person_id from ended)),
               (select count(*) from new),
               (select count(*) from new where person_id not in (select person_id from created))""")[0]
    churn = share(lost + new, previous_ids)
    metrics |= {"person_ids__lost_without_lineage": lost_unexplained,
                "person_ids__new_without_lineage": new_unexplained, "person_ids__churn_share": churn}
    observed |= {
        "person_ids__lost_without_lineage": f"{lost_unexplained} of {lost} person_ids gone since the previous run",
        "person_ids__new_without_lineage": f"{new_unexplained} of {new} person_ids new since the previous run",
        "person_ids__churn_share": f"{churn:.4g} ({lost} lost + {new} new of {previous_ids} previous person_ids)",
    }
    counts |= {"person_ids_lost": lost, "person_ids_new": new}
    return [lost_check, new_check, churn_check]
