-- Seed early_help_closure_reason_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes staging.stg_early_help__episode_members.closure_reason.

with

early_help_closure_reason_codes as (

    select * from {{ ref('early_help_closure_reason_codes') }}

)

select * from early_help_closure_reason_codes
