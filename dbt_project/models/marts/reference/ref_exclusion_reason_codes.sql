-- Seed exclusion_reason_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_code where source_feed = 'school_exclusions'.

with

exclusion_reason_codes as (

    select * from {{ ref('exclusion_reason_codes') }}

)

select * from exclusion_reason_codes
