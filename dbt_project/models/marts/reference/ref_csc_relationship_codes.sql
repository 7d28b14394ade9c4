-- Seed csc_relationship_codes (seeds/code_lists/), unchanged, in the marts schema for analysts.
-- Decodes staging.stg_social_care__relationships.relationship_type.

with

csc_relationship_codes as (

    select * from {{ ref('csc_relationship_codes') }}

)

select * from csc_relationship_codes
