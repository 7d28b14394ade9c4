-- Seed early_help_presenting_issue_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.event_code where source_feed = 'early_help_episodes'.

with

early_help_presenting_issue_codes as (

    select * from {{ ref('early_help_presenting_issue_codes') }}

)

select * from early_help_presenting_issue_codes
