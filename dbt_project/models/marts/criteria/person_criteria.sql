-- Which criteria indicators each person meets, or is on the cusp of, as at each as_at_date, with the events
-- that prove it. Only met or on-the-cusp rows are kept: no row for (person, date, indicator) means not met.

with

person_indicators as (

    select * from {{ ref('int_criteria__person_indicators') }}
    where lookback_basis = 'identification'

),

as_at_dates as (

    select * from {{ ref('int_criteria__as_at_dates') }}

),

final as (

    select
        person_indicators.person_id,
        person_indicators.as_at_date,
        person_indicators.indicator_code,
        person_indicators.headline_code,
        person_indicators.tf_problem_code,
        person_indicators.is_met,
        person_indicators.is_on_cusp,
        person_indicators.first_met_date,
        person_indicators.evidence_event_ids,
        person_indicators.n_evidence_events,
        person_indicators.measure_value
    from person_indicators
    inner join as_at_dates
        on person_indicators.as_at_date = as_at_dates.as_at_date

)

select * from final
