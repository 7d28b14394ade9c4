{#
    Who is in each family, in what role, when. A person may be in several families over time
    (and in two at once: a child's household family and, by a recorded relationship, the
    family of a parent living elsewhere).

    membership_basis 'household': the person's stay at the family's address, within the family
    window, split at the 18th birthday into a 'child' row and an adult row. An adult who is
    recorded as carer of a member (int_family_relationships) is 'parent_carer', else 'adult';
    a member with no known date of birth is 'member'.
    membership_basis 'relationship': a recorded carer -> child link to someone who does not live
    there: the carer of a child member joins as 'parent_carer' while the child is a child
    member; a child of an adult member joins as 'child' while under 18.
    valid_to is exclusive; null when the membership has no end on or before the reporting date.
#}
with

families as (

    select * from {{ ref('int_families') }}

),

episodes as (

    select * from {{ ref('int_household_episodes') }}

),

golden_records as (

    select * from {{ ref('int_person_golden_records') }}

),

family_relationships as (

    select * from {{ ref('int_family_relationships') }}

),

people as (

    select
        person_id,
        dob,
        {{ birthday('dob', 18) }} as eighteenth_birthday
    from golden_records

),

household_stays as (

    select
        families.family_id,
        episodes.person_id,
        people.dob,
        people.eighteenth_birthday,
        greatest(episodes.valid_from, families.family_start) as stay_from,
        least(
            coalesce(episodes.valid_to, date '9999-12-31'),
            coalesce(families.family_end, date '9999-12-31')
        ) as stay_to
    from families
    inner join episodes on families.household_episode_id = episodes.household_episode_id
    left join people on episodes.person_id = people.person_id

),

household_parts as (

    select
        family_id,
        person_id,
        'child' as age_role,
        greatest(stay_from, dob) as valid_from,
        least(stay_to, eighteenth_birthday) as valid_to
    from household_stays
    where dob is not null

    union all

    select
        family_id,
        person_id,
        case when dob is null then 'member' else 'adult' end as age_role,
        greatest(stay_from, coalesce(eighteenth_birthday, stay_from)) as valid_from,
        stay_to as valid_to
    from household_stays

),

household_members as (

    select * from household_parts
    where valid_from < valid_to

),

carers_of_members as (

    select distinct
        household_members.family_id,
        family_relationships.carer_person_id as person_id
    from household_members
    inner join family_relationships on household_members.person_id = family_relationships.child_person_id

),

household_rows as (

    select
        household_members.family_id,
        household_members.person_id,
        case
            when household_members.age_role = 'adult' and carers_of_members.person_id is not null
                then 'parent_carer'
            else household_members.age_role
        end as role,
        household_members.valid_from,
        household_members.valid_to,
        'household' as membership_basis
    from household_members
    left join carers_of_members
        on
            household_members.family_id = carers_of_members.family_id
            and household_members.person_id = carers_of_members.person_id

),

household_people as (

    select distinct
        family_id,
        person_id
    from household_members

),

carers_elsewhere as (

    -- the carer of a child member, while the child is a child member and the link holds
    select
        household_members.family_id,
        family_relationships.carer_person_id as person_id,
        'parent_carer' as role,
        greatest(household_members.valid_from, coalesce(family_relationships.valid_from, date '0001-01-01'))
            as valid_from,
        least(household_members.valid_to, coalesce(family_relationships.valid_to, date '9999-12-31')) as valid_to
    from household_members
    inner join family_relationships on household_members.person_id = family_relationships.child_person_id
    where household_members.age_role = 'child'

),

children_elsewhere as (

    -- the child of an adult member, while under 18, the link holds and the adult is a member
    select
        household_members.family_id,
        family_relationships.child_person_id as person_id,
        'child' as role,
        greatest(
            household_members.valid_from,
            coalesce(family_relationships.valid_from, date '0001-01-01'),
            coalesce(people.dob, date '9999-12-31')
        ) as valid_from,
        least(
            household_members.valid_to,
            coalesce(family_relationships.valid_to, date '9999-12-31'),
            people.eighteenth_birthday
        ) as valid_to
    from household_members
    inner join family_relationships on household_members.person_id = family_relationships.carer_person_id
    inner join people on family_relationships.child_person_id = people.person_id
    where household_members.age_role <> 'child'

),

relationship_candidates as (

    select * from carers_elsewhere
    union all
    select * from children_elsewhere

),

relationship_rows as (

    select
        relationship_candidates.family_id,
        relationship_candidates.person_id,
        relationship_candidates.role,
        min(relationship_candidates.valid_from) as valid_from,
        max(relationship_candidates.valid_to) as valid_to,
        'relationship' as membership_basis
    from relationship_candidates
    left join household_people
        on
            relationship_candidates.family_id = household_people.family_id
            and relationship_candidates.person_id = household_people.person_id
    where
        household_people.person_id is null
        and relationship_candidates.valid_from < relationship_candidates.valid_to
    group by relationship_candidates.family_id, relationship_candidates.person_id, relationship_candidates.role

),

all_rows as (

    select * from household_rows
    union all
    select * from relationship_rows

),

final as (

    select
        md5(
            family_id
            || '|'
            || person_id
            || '|'
            || role
            || '|'
            || membership_basis
            || '|'
            || cast(valid_from as varchar)
        ) as membership_id,
        family_id,
        person_id,
        role,
        valid_from,
        case when valid_to <= {{ reporting_date() }} then valid_to end as valid_to,
        nullif(valid_to, date '9999-12-31') as known_end_date,
        membership_basis
    from all_rows

)

select * from final
