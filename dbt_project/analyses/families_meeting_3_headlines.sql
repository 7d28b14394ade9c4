{#
    "Which families meet three or more Supporting Families headlines as at 31 March, with the events
    that prove it, ordered by priority?" One row per (family, headline met, evidencing event).

    `dbt compile --select families_meeting_3_headlines --vars '{as_at: 2026-03-31}'` prints it as SQL for
    the DuckDB CLI or DBeaver; bench/pipeline.py times it.
#}
with

eligible as (

    select
        family_id,
        as_at_date,
        priority_score,
        n_headlines_met,
        n_dependent_children
    from {{ ref('family_eligibility') }}
    where as_at_date = date '{{ var("as_at", "2026-03-31") }}' and is_sf_eligible

),

-- materialized: DuckDB 2.0.0 fails on this join at scale without it ("dict-surviving join" internal error)
evidence as materialized (

    select
        eligible.*,
        criteria.need_code as headline_code,
        criteria.need_name as headline,
        criteria.indicator_codes,
        criteria.first_met_date,
        unnest(criteria.evidence_event_ids) as event_id
    from eligible
    inner join {{ ref('family_criteria') }} as criteria
        on
            eligible.family_id = criteria.family_id
            and eligible.as_at_date = criteria.as_at_date
    where criteria.programme = 'SF' and criteria.is_met

),

final as (

    select
        evidence.*,
        event.event_date,
        event.source_system,
        event.event_type,
        event.description
    from evidence
    inner join {{ ref('fct_event') }} as event
        on evidence.event_id = event.event_id

)

select * from final
order by
    priority_score desc,
    n_headlines_met desc,
    family_id,
    headline_code,
    event_date
