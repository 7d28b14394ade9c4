{#
    A family's events in order: every event of a member dated while they were a member
    (household or relationship), numbered per family by date (then event id); read it
    `order by family_id, event_sequence`. An event can appear in two families' chronologies
    when its person belonged to both that day. Like fct_event, each row carries the headlines the
    criteria count it under and its raw locator (delivery, file, row, load time).
#}
with

events as (

    select * from {{ ref('fct_event') }}

),

memberships as (

    select * from {{ ref('family_membership') }}

),

member_events as (

    select
        memberships.family_id,
        memberships.role as member_role,
        memberships.membership_basis,
        events.*
    from memberships
    inner join events
        on
            memberships.person_id = events.person_id
            and memberships.valid_from <= events.event_date
            and events.event_date < coalesce(memberships.known_end_date, date '9999-12-31')

),

final as (

    select
        family_id,
        row_number() over (partition by family_id order by event_date, event_id) as event_sequence,
        event_id,
        person_id,
        member_role,
        membership_basis,
        event_date,
        end_date,
        headline,
        headline_name,
        criteria_headline_codes,
        event_type,
        event_code,
        event_role,
        description,
        measure_value,
        measure_unit,
        source_system,
        source_feed,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at
    from member_events

)

select * from final
