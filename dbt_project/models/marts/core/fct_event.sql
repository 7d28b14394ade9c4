{#
    Every event from every feed in one shape (int_events), one row per staging row: the
    person it is about (person_id through the crosswalk; social care episodes by the social
    care person id they name), the family they were in on the event date, the raw row it was
    delivered in, the Supporting Families headline it is filed under for display (seed
    event_headlines), and what the criteria ruleset reads it as.

    A person in two families on the event date (e.g. a child's household and, by relationship,
    a parent's) gets their household family; ties go to the latest-starting membership.

    Display and criteria differ on purpose: the headline files an event once (a police DOMESTIC
    incident under SF08, any CRIME incident under SF07), while criteria_indicator_codes lists
    every indicator of the ruleset it evidences, matched on (source_feed, event_type,
    event_role, criteria_event_code) by the macro event_meets_indicator_rule, as the criteria are:
    a CRIME incident flagged domestic abuse with the person as OFFENDER evidences
    CRIME_OFFENDING (SF07) and DA_POLICE_INCIDENT (SF08). Whether an indicator is met as at a
    date (threshold, look-back) is person_criteria's answer, not this table's.
#}
with

events as (

    select * from {{ ref('int_events') }}

),

crosswalk as (

    select * from {{ source('linkage', 'person_crosswalk') }}

),

event_headlines as (

    select * from {{ ref('event_headlines') }}

),

memberships as (

    select * from {{ ref('family_membership') }}

),

indicator_events as (

    select * from {{ ref('criteria_indicator_events') }}

),

indicators as (

    select * from {{ ref('criteria_indicators') }}

),

events_with_ids as (

    select
        {{ event_id('events.source_feed', 'events.record_key') }} as event_id,
        events.*,
        -- a social care episode names its child by the social care person id, the source record id of
        -- the register row; kept when that row never reached staging (rejected at landing), so the
        -- unlinked episode still says whose it is
        coalesce(events.source_record_id, events.social_care_person_id) as person_source_record_id
    from events

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

-- the criteria read only dated events of a linked person (int_criteria__events): others evidence nothing
criteria_evidence as (

    select
        events_with_people.event_id,
        list(distinct indicator_events.indicator_code order by indicator_events.indicator_code)
            as criteria_indicator_codes,
        list(distinct indicators.headline_code order by indicators.headline_code) as criteria_headline_codes
    from events_with_people
    inner join indicator_events
        on {{ event_meets_indicator_rule('events_with_people', 'indicator_events', 'criteria_event_code') }}
    inner join indicators on indicator_events.indicator_code = indicators.indicator_code
    where events_with_people.person_id is not null and events_with_people.event_date is not null
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
        events_with_people.criteria_event_code,
        coalesce(criteria_evidence.criteria_indicator_codes, cast([] as varchar[])) as criteria_indicator_codes,
        coalesce(criteria_evidence.criteria_headline_codes, cast([] as varchar[])) as criteria_headline_codes,
        events_with_people.source_system,
        events_with_people.source_feed,
        events_with_people.person_source_record_id as source_record_id,
        events_with_people.record_key,
        events_with_people.source_delivery_id,
        events_with_people.source_file_name,
        events_with_people.source_row_number,
        events_with_people.source_loaded_at,
        events_with_people.measure_value,
        events_with_people.measure_unit,
        events_with_people.event_role,
        events_with_people.description
    from events_with_people
    left join family_at_event on events_with_people.event_id = family_at_event.event_id
    left join criteria_evidence on events_with_people.event_id = criteria_evidence.event_id
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
