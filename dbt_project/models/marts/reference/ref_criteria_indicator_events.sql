-- Seed criteria_indicator_events (seeds/criteria/), unchanged, in the marts schema for analysts.

with

criteria_indicator_events as (

    select * from {{ ref('criteria_indicator_events') }}

)

select * from criteria_indicator_events
