-- Seed cp_category_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_code where source_feed = 'csc_episodes' and event_type = 'CPP'.

with

cp_category_codes as (

    select * from {{ ref('cp_category_codes') }}

)

select * from cp_category_codes
