-- Seed exclusion_category_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_type where source_feed = 'school_exclusions'.

with

exclusion_category_codes as (

    select * from {{ ref('exclusion_category_codes') }}

)

select * from exclusion_category_codes
