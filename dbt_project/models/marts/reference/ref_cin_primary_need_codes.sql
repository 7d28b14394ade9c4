-- Seed cin_primary_need_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_code where source_feed = 'csc_episodes' and event_type <> 'CPP'.

with

cin_primary_need_codes as (

    select * from {{ ref('cin_primary_need_codes') }}

)

select * from cin_primary_need_codes
