-- Programme case members resolved to person ids (programme member_id -> person via the crosswalk).

with

case_members as (

    select * from {{ ref('stg_programme__case_members') }}

),

person_source_xref as (

    select * from {{ ref('person_source_xref') }}

),

final as (

    select distinct
        case_members.family_case_id,
        person_source_xref.person_id,
        case_members.family_role
    from case_members
    inner join person_source_xref
        on
            case_members.source_system = person_source_xref.source_system
            and case_members.source_record_id = person_source_xref.source_record_id

)

select * from final
