-- Seed cin_referral_source_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes staging.stg_social_care__episodes.referral_source_code.

with

cin_referral_source_codes as (

    select * from {{ ref('cin_referral_source_codes') }}

)

select * from cin_referral_source_codes
