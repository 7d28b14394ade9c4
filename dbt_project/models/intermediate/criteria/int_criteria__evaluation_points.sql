-- The (person, date) points every rule is evaluated at, so the rules are written once:
--   identification: every person with any evidence, at every as_at_date (person_criteria), and case members at
--                   attachment (family_progress);
--   resolution:     case members at case closure and six months after (family_progress), judged over the
--                   indicator's resolution window.
-- Points after the reporting date are left out: their evidence has not happened yet.

with

as_at_dates as (

    select * from {{ ref('int_criteria__as_at_dates') }}

),

evidence as (

    select * from {{ ref('int_criteria__indicator_evidence') }}

),

programme_cases as (

    select * from {{ ref('int_criteria__programme_cases') }}

),

programme_case_members as (

    select * from {{ ref('int_criteria__programme_case_members') }}

),

reporting as (

    select max(as_at_date) as reporting_date
    from as_at_dates

),

persons_with_evidence as (

    select distinct person_id
    from evidence

),

snapshot_points as (

    select
        persons_with_evidence.person_id,
        as_at_dates.as_at_date,
        'identification' as lookback_basis
    from persons_with_evidence
    cross join as_at_dates

),

case_dates as (

    select
        family_case_id,
        attached_date as as_at_date,
        'identification' as lookback_basis
    from programme_cases

    union all

    select
        family_case_id,
        closed_date as as_at_date,
        'resolution' as lookback_basis
    from programme_cases
    where closed_date is not null

    union all

    select
        family_case_id,
        sustained_check_date as as_at_date,
        'resolution' as lookback_basis
    from programme_cases
    where sustained_check_date is not null

),

case_points as (

    select
        programme_case_members.person_id,
        case_dates.as_at_date,
        case_dates.lookback_basis
    from case_dates
    inner join programme_case_members
        on case_dates.family_case_id = programme_case_members.family_case_id
    cross join reporting
    where case_dates.as_at_date <= reporting.reporting_date

),

final as (

    select
        person_id,
        as_at_date,
        lookback_basis
    from snapshot_points
    union
    select
        person_id,
        as_at_date,
        lookback_basis
    from case_points

)

select * from final
