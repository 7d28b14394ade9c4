-- Which Supporting Families headlines and Troubled Families problems each family meets, or is on the cusp of,
-- as at each as_at_date: a family meets a need when any member at that date (family_membership) meets any of
-- its indicators. Only met or on-the-cusp rows are kept: no row means not met.

with

person_criteria as (

    select * from {{ ref('person_criteria') }}

),

family_membership as (

    select * from {{ ref('family_membership') }}

),

criteria_needs as (

    select * from {{ ref('criteria_needs') }}

),

-- each indicator result counts for its headline and, when it has one, its Troubled Families problem
person_needs as (

    select
        person_id,
        as_at_date,
        headline_code as need_code,
        indicator_code,
        is_met,
        is_on_cusp,
        first_met_date,
        evidence_event_ids
    from person_criteria

    union all

    select
        person_id,
        as_at_date,
        tf_problem_code as need_code,
        indicator_code,
        is_met,
        is_on_cusp,
        first_met_date,
        evidence_event_ids
    from person_criteria
    where tf_problem_code is not null

),

-- membership is half-open: valid_to is the first day out (null = still a member at the reporting date)
family_person_needs as (

    select
        family_membership.family_id,
        person_needs.*
    from person_needs
    inner join family_membership
        on
            person_needs.person_id = family_membership.person_id
            and person_needs.as_at_date >= family_membership.valid_from
            and (family_membership.valid_to is null or person_needs.as_at_date < family_membership.valid_to)

),

-- per status first (a member's indicator row is either met or on the cusp), so each list is built once
by_status as (

    select
        family_id,
        as_at_date,
        need_code,
        is_met,
        min(first_met_date) as first_met_date,
        list(distinct indicator_code order by indicator_code) as indicator_codes,
        list_sort(list_distinct(flatten(list(evidence_event_ids)))) as evidence_event_ids,
        list(distinct person_id order by person_id) as evidencing_person_ids
    from family_person_needs
    group by family_id, as_at_date, need_code, is_met

),

-- met when any member meets it, else on the cusp: keep the met group when there is one
aggregated as (

    select *
    from by_status
    qualify row_number() over (partition by family_id, as_at_date, need_code order by is_met desc) = 1

),

final as (

    select
        aggregated.family_id,
        aggregated.as_at_date,
        aggregated.need_code,
        criteria_needs.programme,
        criteria_needs.need_name,
        case when criteria_needs.programme = 'SF' then aggregated.need_code end as headline_code,
        case when criteria_needs.programme = 'TF' then aggregated.need_code end as tf_problem_code,
        aggregated.is_met,
        not aggregated.is_met as is_on_cusp,
        case when aggregated.is_met then aggregated.first_met_date end as first_met_date,
        aggregated.indicator_codes,
        aggregated.evidence_event_ids,
        aggregated.evidencing_person_ids
    from aggregated
    inner join criteria_needs
        on aggregated.need_code = criteria_needs.need_code

)

select * from final
