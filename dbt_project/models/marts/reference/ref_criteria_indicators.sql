-- Seed criteria_indicators (seeds/criteria/), unchanged, in the marts schema for analysts.
-- Decodes marts.person_criteria.indicator_code; each item of marts.family_criteria.indicator_codes.

with

criteria_indicators as (

    select * from {{ ref('criteria_indicators') }}

)

select * from criteria_indicators
