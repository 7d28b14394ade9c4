-- Every event the ruleset can use, with the person it belongs to and the shared event id. The events come from
-- int_events (the one union of the event-bearing staging models): event_code here is its criteria_event_code,
-- the code criteria_indicator_events matches on.

with

events as (

    select * from {{ ref('int_events') }}

),

person_source_xref as (

    select * from {{ ref('person_source_xref') }}

),

indicator_events as (

    select * from {{ ref('criteria_indicator_events') }}

),

-- feeds no indicator reads (the school roll, programme attachments) are left out
ruleset_feeds as (

    select distinct source_feed from indicator_events

),

ruleset_events as (

    select
        events.*,
        -- social care episodes name the child by the social care person id, which is its source record id
        coalesce(events.source_record_id, events.social_care_person_id) as person_source_record_id
    from events
    inner join ruleset_feeds on events.source_feed = ruleset_feeds.source_feed

),

final as (

    select
        {{ event_id('ruleset_events.source_feed', 'ruleset_events.record_key') }} as event_id,
        person_source_xref.person_id,
        ruleset_events.source_feed,
        ruleset_events.record_key,
        ruleset_events.source_system,
        ruleset_events.event_type,
        ruleset_events.event_role,
        ruleset_events.criteria_event_code as event_code,
        ruleset_events.event_date,
        ruleset_events.end_date,
        ruleset_events.term_sequence,
        ruleset_events.sessions_possible,
        ruleset_events.sessions_missed
    from ruleset_events
    inner join person_source_xref
        on
            ruleset_events.source_system = person_source_xref.source_system
            and ruleset_events.person_source_record_id = person_source_xref.source_record_id
    where ruleset_events.event_date is not null

)

select * from final
