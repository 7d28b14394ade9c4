-- Seed housing_event_type_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_type where source_feed = 'housing_events'.

with

housing_event_type_codes as (

    select * from {{ ref('housing_event_type_codes') }}

)

select * from housing_event_type_codes
