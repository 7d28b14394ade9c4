-- Seed event_headlines (seeds/events/), unchanged, in the marts schema for analysts.

with

event_headlines as (

    select * from {{ ref('event_headlines') }}

)

select * from event_headlines
