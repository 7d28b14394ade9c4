{#
    One row per family (int_families): dates, whether current at the reporting date, member
    counts, the household key's basis and the address's geography (ward, LSOA, IMD decile)
    from the postcode lookup seed.
#}
with

families as (

    select * from {{ ref('int_families') }}

),

memberships as (

    select * from {{ ref('family_membership') }}

),

postcode_lookup as (

    select * from {{ ref('postcode_lookup') }}

),

wards as (

    select * from {{ ref('wards') }}

),

member_counts as (

    select
        family_id,
        count(distinct person_id) as n_members,
        count(distinct person_id) filter (where role = 'child') as n_children,
        count(distinct person_id) filter (
            where valid_from <= {{ reporting_date() }} and valid_to is null
        ) as n_current_members,
        count(distinct person_id) filter (
            where role = 'child' and valid_from <= {{ reporting_date() }} and valid_to is null
        ) as n_current_children,
        count(distinct person_id) filter (where membership_basis = 'relationship') as n_relationship_members
    from memberships
    group by family_id

),

final as (

    select
        families.family_id,
        families.household_episode_id,
        families.family_start as start_date,
        case when families.family_end <= {{ reporting_date() }} then families.family_end end as end_date,
        families.family_end as known_end_date,
        families.family_start <= {{ reporting_date() }}
        and (families.family_end is null or families.family_end > {{ reporting_date() }}) as is_current,
        {{ reporting_date() }} as reporting_date,
        coalesce(member_counts.n_members, 0) as n_members,
        coalesce(member_counts.n_children, 0) as n_children,
        coalesce(member_counts.n_current_members, 0) as n_current_members,
        coalesce(member_counts.n_current_children, 0) as n_current_children,
        coalesce(member_counts.n_relationship_members, 0) as n_relationship_members,
        families.household_basis,
        families.uprn,
        families.postcode,
        postcode_lookup.ward_code,
        coalesce(wards.ward_name, postcode_lookup.ward_name) as ward_name,
        postcode_lookup.lsoa_code,
        postcode_lookup.lsoa_name,
        postcode_lookup.imd_decile,
        wards.local_authority
    from families
    left join member_counts on families.family_id = member_counts.family_id
    left join postcode_lookup on families.postcode = postcode_lookup.postcode
    left join wards on postcode_lookup.ward_code = wards.ward_code

)

select * from final
