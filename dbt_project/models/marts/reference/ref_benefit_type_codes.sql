-- Seed benefit_type_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_type where source_feed = 'dwp_benefits'.

with

benefit_type_codes as (

    select * from {{ ref('benefit_type_codes') }}

)

select * from benefit_type_codes
