-- One row per family and as_at_date, for every family with a member at that date: how many needs it meets,
-- whether it has a dependent child (a member under 18 on the date: a child turning 18 that day is not) or is
-- expecting one (a member in an expectant window on the date, int_person_expectant_windows: the same windows that
-- make an expectant household a family in int_families), and so whether it is eligible for Supporting Families
-- (a dependent child or expecting, and 3+ headlines met) or, on the Troubled Families 2015-20 rule, the same
-- child test and 2+ of the 6 problems. priority_score adds up the criteria_needs weights: priority_weight per
-- headline met, cusp_weight per headline only on the cusp.
with

as_at_dates as (

    select * from {{ ref('int_criteria__as_at_dates') }}

),

family_membership as (

    select * from {{ ref('family_membership') }}

),

dim_person as (

    select * from {{ ref('dim_person') }}

),

expectant_windows as (

    select * from {{ ref('int_person_expectant_windows') }}

),

family_criteria as (

    select * from {{ ref('family_criteria') }}

),

criteria_needs as (

    select * from {{ ref('criteria_needs') }}

),

members_at_date as (

    select distinct
        family_membership.family_id,
        as_at_dates.as_at_date,
        family_membership.person_id
    from family_membership
    inner join as_at_dates
        on
            family_membership.valid_from <= as_at_dates.as_at_date
            and (family_membership.valid_to is null or family_membership.valid_to > as_at_dates.as_at_date)

),

expecting_members as (

    select distinct
        members_at_date.family_id,
        members_at_date.as_at_date,
        members_at_date.person_id
    from members_at_date
    inner join expectant_windows
        on
            members_at_date.person_id = expectant_windows.person_id
            and members_at_date.as_at_date >= expectant_windows.valid_from
            and (expectant_windows.valid_to is null or members_at_date.as_at_date < expectant_windows.valid_to)

),

families_at_date as (

    select
        members_at_date.family_id,
        members_at_date.as_at_date,
        count(*) as n_members,
        count(*) filter (
            where
            dim_person.dob <= members_at_date.as_at_date
            and members_at_date.as_at_date < {{ birthday('dim_person.dob', 18) }}
        ) as n_dependent_children,
        count(expecting_members.person_id) as n_expectant_members
    from members_at_date
    left join dim_person
        on members_at_date.person_id = dim_person.person_id
    left join expecting_members
        on
            members_at_date.family_id = expecting_members.family_id
            and members_at_date.as_at_date = expecting_members.as_at_date
            and members_at_date.person_id = expecting_members.person_id
    group by members_at_date.family_id, members_at_date.as_at_date

),

needs_per_family as (

    select
        family_criteria.family_id,
        family_criteria.as_at_date,
        count(*) filter (where family_criteria.programme = 'SF' and family_criteria.is_met) as n_headlines_met,
        count(*) filter (where family_criteria.programme = 'SF' and family_criteria.is_on_cusp)
            as n_headlines_on_cusp,
        count(*) filter (where family_criteria.programme = 'TF' and family_criteria.is_met) as n_tf_problems_met,
        list(family_criteria.need_code order by family_criteria.need_code)
        filter (where family_criteria.programme = 'SF' and family_criteria.is_met) as headlines_met,
        list(family_criteria.need_code order by family_criteria.need_code)
        filter (where family_criteria.programme = 'SF' and family_criteria.is_on_cusp) as headlines_on_cusp,
        list(family_criteria.need_code order by family_criteria.need_code)
        filter (where family_criteria.programme = 'TF' and family_criteria.is_met) as tf_problems_met,
        coalesce(sum(criteria_needs.priority_weight) filter (where family_criteria.is_met), 0)
        + coalesce(sum(criteria_needs.cusp_weight) filter (where family_criteria.is_on_cusp), 0) as priority_score
    from family_criteria
    inner join criteria_needs
        on family_criteria.need_code = criteria_needs.need_code
    group by family_criteria.family_id, family_criteria.as_at_date

),

final as (

    select
        families_at_date.family_id,
        families_at_date.as_at_date,
        families_at_date.n_members,
        families_at_date.n_dependent_children,
        families_at_date.n_dependent_children > 0 as has_dependent_child,
        families_at_date.n_expectant_members,
        families_at_date.n_expectant_members > 0 as is_expecting,
        coalesce(needs_per_family.n_headlines_met, 0) as n_headlines_met,
        coalesce(needs_per_family.n_headlines_on_cusp, 0) as n_headlines_on_cusp,
        coalesce(needs_per_family.n_tf_problems_met, 0) as n_tf_problems_met,
        coalesce(needs_per_family.headlines_met, []) as headlines_met,
        coalesce(needs_per_family.headlines_on_cusp, []) as headlines_on_cusp,
        coalesce(needs_per_family.tf_problems_met, []) as tf_problems_met,
        (families_at_date.n_dependent_children > 0 or families_at_date.n_expectant_members > 0)
        and coalesce(needs_per_family.n_headlines_met, 0) >= 3 as is_sf_eligible,
        (families_at_date.n_dependent_children > 0 or families_at_date.n_expectant_members > 0)
        and coalesce(needs_per_family.n_tf_problems_met, 0) >= 2 as is_tf_eligible,
        -- one more headline met would make the family eligible
        (families_at_date.n_dependent_children > 0 or families_at_date.n_expectant_members > 0)
        and coalesce(needs_per_family.n_headlines_met, 0) = 2
        and coalesce(needs_per_family.n_headlines_on_cusp, 0) > 0 as is_sf_eligible_on_cusp,
        cast(coalesce(needs_per_family.priority_score, 0) as decimal(9, 2)) as priority_score
    from families_at_date
    left join needs_per_family
        on
            families_at_date.family_id = needs_per_family.family_id
            and families_at_date.as_at_date = needs_per_family.as_at_date

)

select * from final
