-- Seed csc_episode_type_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_type where source_feed = 'csc_episodes'.

with

csc_episode_type_codes as (

    select * from {{ ref('csc_episode_type_codes') }}

)

select * from csc_episode_type_codes
