{#
    Carer -> child links that sources record, one row per (carer, child, relationship, source):
    children's social care relationships (mother, father, step-father, guardian, grandparent,
    other carer: the related person is the child's carer; siblings are not carer links), and
    the family roles of early help and programme cases (each adult of a case -> each child,
    or unborn child, of the same case, while the case is open). They link a child to a carer
    who lives elsewhere. Valid dates are the union of the source's dates (null = open).
#}
with

relationships as (

    select * from {{ ref('stg_social_care__relationships') }}

),

social_care_persons as (

    select * from {{ ref('stg_social_care__persons') }}

),

early_help_members as (

    select * from {{ ref('stg_early_help__episode_members') }}

),

programme_members as (

    select * from {{ ref('stg_programme__case_members') }}

),

crosswalk as (

    select * from {{ source('linkage', 'person_crosswalk') }}

),

social_care_people as (

    -- social care ids -> person_id through the social care person register
    select
        social_care_persons.person_id as social_care_person_id,
        crosswalk.person_id
    from social_care_persons
    inner join crosswalk
        on
            social_care_persons.source_system = crosswalk.source_system
            and social_care_persons.source_record_id = crosswalk.source_record_id

),

social_care_links as (

    select
        carer.person_id as carer_person_id,
        child.person_id as child_person_id,
        relationships.relationship_type,
        relationships.source_system,
        relationships.start_date as valid_from,
        relationships.end_date as valid_to
    from relationships
    inner join social_care_people as child on relationships.person_id = child.social_care_person_id
    inner join social_care_people as carer on relationships.related_person_id = carer.social_care_person_id
    where relationships.relationship_type in ('MOTHER', 'FATHER', 'STEPFATHER', 'GUARDIAN', 'GRANDPARENT', 'OTHER')

),

case_members as (

    select
        early_help_members.source_system,
        early_help_members.case_ref as case_id,
        crosswalk.person_id,
        case
            when early_help_members.role_in_family in ('LEAD_ADULT', 'OTHER_ADULT') then 'carer'
            when early_help_members.role_in_family in ('CHILD', 'UNBORN') then 'child'
        end as case_role,
        early_help_members.event_date,
        early_help_members.end_date
    from early_help_members
    inner join crosswalk
        on
            early_help_members.source_system = crosswalk.source_system
            and early_help_members.source_record_id = crosswalk.source_record_id

    union all

    select
        programme_members.source_system,
        programme_members.family_case_id as case_id,
        crosswalk.person_id,
        case
            when programme_members.family_role in ('MAIN_CARER', 'OTHER_ADULT') then 'carer'
            when programme_members.family_role = 'CHILD' then 'child'
        end as case_role,
        programme_members.event_date,
        programme_members.end_date
    from programme_members
    inner join crosswalk
        on
            programme_members.source_system = crosswalk.source_system
            and programme_members.source_record_id = crosswalk.source_record_id

),

case_links as (

    select
        carer.person_id as carer_person_id,
        child.person_id as child_person_id,
        'CASE_' || upper(carer.source_system) as relationship_type,
        carer.source_system,
        greatest(carer.event_date, child.event_date) as valid_from,
        case
            when carer.end_date is null then child.end_date
            when child.end_date is null then carer.end_date
            else least(carer.end_date, child.end_date)
        end as valid_to
    from case_members as carer
    inner join case_members as child
        on
            carer.source_system = child.source_system
            and carer.case_id = child.case_id
    where carer.case_role = 'carer' and child.case_role = 'child' and carer.person_id <> child.person_id

),

all_links as (

    select * from social_care_links
    union all
    select * from case_links

),

final as (

    select
        carer_person_id,
        child_person_id,
        relationship_type,
        source_system,
        min(valid_from) as valid_from,
        case when bool_or(valid_to is null) then null else max(valid_to) end as valid_to
    from all_links
    where carer_person_id <> child_person_id
    group by carer_person_id, child_person_id, relationship_type, source_system

)

select * from final
