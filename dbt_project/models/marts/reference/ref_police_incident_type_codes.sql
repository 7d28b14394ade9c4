-- Seed police_incident_type_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_type where source_feed = 'police_incidents'.

with

police_incident_type_codes as (

    select * from {{ ref('police_incident_type_codes') }}

)

select * from police_incident_type_codes
