-- Every rule's result at every evaluation point, met or on the cusp only, with the headline and Troubled
-- Families problem each indicator evidences.

with

event_rules as (

    select * from {{ ref('int_criteria__event_rules') }}

),

absence_rules as (

    select * from {{ ref('int_criteria__absence_rules') }}

),

indicators as (

    select * from {{ ref('criteria_indicators') }}

),

rule_results as (

    select * from event_rules
    union all by name
    select * from absence_rules

),

final as (

    select
        rule_results.person_id,
        rule_results.as_at_date,
        rule_results.lookback_basis,
        rule_results.indicator_code,
        indicators.headline_code,
        indicators.tf_problem_code,
        rule_results.is_met,
        rule_results.is_on_cusp,
        rule_results.first_met_date,
        rule_results.evidence_event_ids,
        rule_results.n_evidence_events,
        rule_results.measure_value
    from rule_results
    inner join indicators
        on rule_results.indicator_code = indicators.indicator_code

)

select * from final
