{#
    A person's events in order, for a caseworker's timeline and for Excel: one row per
    fct_event row with a person, numbered per person by date (then event id, so the order is
    stable), with the person's age on the day, the headlines the criteria count it under beside
    the display headline, and its raw locator (delivery, file, row, load time). Read it `order by
    person_id, event_sequence` (the table itself is not sorted: sorting millions of rows on
    every build buys nothing).
#}
with

events as (

    select * from {{ ref('fct_event') }}

),

people as (

    select * from {{ ref('dim_person') }}

),

final as (

    select
        events.person_id,
        row_number() over (
            partition by events.person_id
            order by events.event_date nulls last, events.event_id
        ) as event_sequence,
        events.event_id,
        events.event_date,
        events.end_date,
        case
            when events.event_date >= people.dob then cast({{ age_on('people.dob', 'events.event_date') }} as integer)
        end as age_at_event,
        events.headline,
        events.headline_name,
        events.criteria_headline_codes,
        events.event_type,
        events.event_code,
        events.event_role,
        events.description,
        events.measure_value,
        events.measure_unit,
        events.source_system,
        events.source_feed,
        events.family_id,
        events.source_delivery_id,
        events.source_file_name,
        events.source_row_number,
        events.source_loaded_at
    from events
    left join people on events.person_id = people.person_id
    where events.person_id is not null

)

select * from final
