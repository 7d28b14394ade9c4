-- Seed sen_provision_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_code where source_feed = 'school_roll'.

with

sen_provision_codes as (

    select * from {{ ref('sen_provision_codes') }}

)

select * from sen_provision_codes
