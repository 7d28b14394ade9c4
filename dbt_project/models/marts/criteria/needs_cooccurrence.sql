-- The needs co-occurrence matrix councils put in front of leaders: for each as_at_date, cohort and ordered
-- pair of Supporting Families headlines (A, B), how many families meet A, how many meet both, and the share
-- of families with A that also have B. Every pair is present (share null when no family meets A); the
-- diagonal (A, A) has share 1. Cohorts: all_families (every family with a member at the date) and
-- sf_eligible (families eligible for Supporting Families at the date).

with

as_at_dates as (

    select * from {{ ref('int_criteria__as_at_dates') }}

),

family_criteria as (

    select * from {{ ref('family_criteria') }}

),

family_eligibility as (

    select * from {{ ref('family_eligibility') }}

),

criteria_needs as (

    select * from {{ ref('criteria_needs') }}

),

cohorts as (

    select unnest(['all_families', 'sf_eligible']) as cohort

),

headlines_met as (

    select
        family_criteria.family_id,
        family_criteria.as_at_date,
        family_criteria.need_code as headline_code,
        'all_families' as cohort
    from family_criteria
    where family_criteria.programme = 'SF' and family_criteria.is_met

    union all

    select
        family_criteria.family_id,
        family_criteria.as_at_date,
        family_criteria.need_code as headline_code,
        'sf_eligible' as cohort
    from family_criteria
    inner join family_eligibility
        on
            family_criteria.family_id = family_eligibility.family_id
            and family_criteria.as_at_date = family_eligibility.as_at_date
    where family_criteria.programme = 'SF' and family_criteria.is_met and family_eligibility.is_sf_eligible

),

with_a as (

    select
        as_at_date,
        cohort,
        headline_code,
        count(*) as families_with_a
    from headlines_met
    group by as_at_date, cohort, headline_code

),

with_both as (

    select
        headline_a.as_at_date,
        headline_a.cohort,
        headline_a.headline_code as headline_a,
        headline_b.headline_code as headline_b,
        count(*) as families_with_both
    from headlines_met as headline_a
    inner join headlines_met as headline_b
        on
            headline_a.family_id = headline_b.family_id
            and headline_a.as_at_date = headline_b.as_at_date
            and headline_a.cohort = headline_b.cohort
    group by headline_a.as_at_date, headline_a.cohort, headline_a.headline_code, headline_b.headline_code

),

all_pairs as (

    select
        as_at_dates.as_at_date,
        cohorts.cohort,
        needs_a.need_code as headline_a,
        needs_a.need_name as headline_a_name,
        needs_b.need_code as headline_b,
        needs_b.need_name as headline_b_name
    from as_at_dates
    cross join cohorts
    cross join criteria_needs as needs_a
    cross join criteria_needs as needs_b
    where needs_a.programme = 'SF' and needs_b.programme = 'SF'

),

final as (

    select
        all_pairs.as_at_date,
        all_pairs.cohort,
        all_pairs.headline_a,
        all_pairs.headline_a_name,
        all_pairs.headline_b,
        all_pairs.headline_b_name,
        coalesce(with_a.families_with_a, 0) as families_with_a,
        coalesce(with_both.families_with_both, 0) as families_with_both,
        cast(coalesce(with_both.families_with_both, 0) as double) / nullif(with_a.families_with_a, 0) as share
    from all_pairs
    left join with_a
        on
            all_pairs.as_at_date = with_a.as_at_date
            and all_pairs.cohort = with_a.cohort
            and all_pairs.headline_a = with_a.headline_code
    left join with_both
        on
            all_pairs.as_at_date = with_both.as_at_date
            and all_pairs.cohort = with_both.cohort
            and all_pairs.headline_a = with_both.headline_a
            and all_pairs.headline_b = with_both.headline_b

)

select * from final
