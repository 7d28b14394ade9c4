-- Seed criteria_needs (seeds/criteria/), unchanged, in the marts schema for analysts.
-- Decodes marts.fct_event.headline; marts.family_criteria.need_code; marts.person_criteria.headline_code;
-- marts.person_criteria.tf_problem_code; marts.family_progress.headline_code.

with

criteria_needs as (

    select * from {{ ref('criteria_needs') }}

)

select * from criteria_needs
