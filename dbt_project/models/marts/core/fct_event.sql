{#
    Every event from every feed in one shape (int_events), one row per staging row: the
    person it is about (person_id through the crosswalk; social care episodes through the
    social care person register), the family they were in on the event date, and the
    Supporting Families headline it is filed under for display (seed event_headlines; the
    criteria decide what evidences a need).

    A person in two families on the event date (e.g. a child's household and, by relationship,
    a parent's) gets their household family; ties go to the latest-starting membership.
#}
with

events as (

    select * from {{ ref('int_events') }}

),

crosswalk as (

    select * from {{ source('linkage', 'person_crosswalk') }}

),

social_care_persons as (

    select * from {{ ref('stg_social_care__persons') }}

),

event_headlines as (

    select * from {{ ref('event_headlines') }}

),

memberships as (

    select * from {{ ref('family_membership') }}

),

events_with_ids as (

    select
        {{ event_id('events.source_feed', 'events.record_key') }} as event_id,
        events.*,
        coalesce(events.source_record_id, social_care_persons.source_record_id) as person_source_record_id
    from events
    left join social_care_persons on events.social_care_person_id = social_care_persons.person_id

),

events_with_people as (

    select
        events_with_ids.*,
        crosswalk.person_id
    from events_with_ids
    left join crosswalk
        on
            events_with_ids.source_system = crosswalk.source_system
            and events_with_ids.person_source_record_id = crosswalk.source_record_id

),

family_at_event as (

    select
        events_with_people.event_id,
        arg_max(
            memberships.family_id,
            (memberships.membership_basis = 'household', memberships.valid_from, memberships.family_id)
        ) as family_id
    from events_with_people
    inner join memberships
        on
            events_with_people.person_id = memberships.person_id
            and events_with_people.event_date >= memberships.valid_from
            and events_with_people.event_date < coalesce(memberships.known_end_date, date '9999-12-31')
    group by events_with_people.event_id

),

final as (

    select
        events_with_people.event_id,
        events_with_people.person_id,
        family_at_event.family_id,
        events_with_people.event_date,
        events_with_people.end_date,
        events_with_people.record_date,
        events_with_people.event_type,
        events_with_people.event_code,
        coalesce(specific_headline.headline, any_code_headline.headline) as headline,
        coalesce(specific_headline.headline_name, any_code_headline.headline_name) as headline_name,
        events_with_people.source_system,
        events_with_people.source_feed,
        events_with_people.person_source_record_id as source_record_id,
        events_with_people.record_key,
        events_with_people.measure_value,
        events_with_people.measure_unit,
        events_with_people.event_role,
        events_with_people.description
    from events_with_people
    left join family_at_event on events_with_people.event_id = family_at_event.event_id
    left join event_headlines as specific_headline
        on
            events_with_people.source_feed = specific_headline.source_feed
            and events_with_people.event_type = specific_headline.event_type
            and events_with_people.event_code = specific_headline.event_code
    left join event_headlines as any_code_headline
        on
            events_with_people.source_feed = any_code_headline.source_feed
            and events_with_people.event_type = any_code_headline.event_type
            and any_code_headline.event_code is null

)

select * from final
