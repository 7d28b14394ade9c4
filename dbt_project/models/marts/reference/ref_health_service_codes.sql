-- Seed health_service_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_type where source_feed = 'health_services'.

with

health_service_codes as (

    select * from {{ ref('health_service_codes') }}

)

select * from health_service_codes
