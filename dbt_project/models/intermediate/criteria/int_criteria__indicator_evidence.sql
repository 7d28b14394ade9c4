-- Indicator evidence: one row per (person, indicator, event) for every event the ruleset says can evidence
-- the indicator (criteria_indicator_events; '*' matches any value). Whether the evidence meets the rule as at
-- a date is decided downstream (int_criteria__event_rules, int_criteria__absence_rules).

with

events as (

    select * from {{ ref('int_criteria__events') }}

),

indicator_events as (

    select * from {{ ref('criteria_indicator_events') }}

),

indicators as (

    select * from {{ ref('criteria_indicators') }}

),

matched as (

    select distinct
        events.person_id,
        indicator_events.indicator_code,
        events.event_id,
        events.source_feed,
        events.event_date,
        events.end_date,
        events.term_sequence,
        events.sessions_possible,
        events.sessions_missed
    from events
    inner join indicator_events
        on {{ event_meets_indicator_rule('events', 'indicator_events') }}

),

final as (

    select
        matched.person_id,
        matched.indicator_code,
        indicators.rule_kind,
        matched.event_id,
        matched.source_feed,
        matched.event_date,
        matched.end_date,
        matched.term_sequence,
        matched.sessions_possible,
        matched.sessions_missed,
        -- the event's own measure: the term's absence share for attendance, otherwise null
        case
            when matched.sessions_possible > 0
                then cast(matched.sessions_missed as double) / matched.sessions_possible
        end as measure_value
    from matched
    inner join indicators
        on matched.indicator_code = indicators.indicator_code

)

select * from final
