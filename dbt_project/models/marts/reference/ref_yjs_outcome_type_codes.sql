-- Seed yjs_outcome_type_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_type where source_feed = 'yjs_outcomes'.

with

yjs_outcome_type_codes as (

    select * from {{ ref('yjs_outcome_type_codes') }}

)

select * from yjs_outcome_type_codes
