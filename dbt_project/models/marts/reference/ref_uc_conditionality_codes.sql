-- Seed uc_conditionality_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_code where source_feed = 'dwp_benefits'.

with

uc_conditionality_codes as (

    select * from {{ ref('uc_conditionality_codes') }}

)

select * from uc_conditionality_codes
