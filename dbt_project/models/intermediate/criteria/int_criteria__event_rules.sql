-- Rules of kind event_count and episode_open, evaluated at every evaluation point. Keeps only the points where
-- the indicator is met or on the cusp.
--   window:       [window_start, as_at_date] with window_start = as_at_date - lookback_months + 1 day, so an event
--                 exactly lookback_months before the date is OUT (12 months before 31 March 2026 = 31 March 2025:
--                 out; 1 April 2025: in). A null lookback means the as_at_date alone.
--   event_count:  evidencing events dated in the window; met when there are at least `threshold`.
--   episode_open: evidencing episodes open at any time in the window (started on or before the date and not
--                 ended before window_start; no end date = still open).
--   lookback:     identification points use lookback_months; resolution points (family_progress, at closure and
--                 six months after) use resolution_lookback_months when it is set.

with

evaluation_points as (

    select * from {{ ref('int_criteria__evaluation_points') }}

),

-- materialized: DuckDB 2.0.0's dictionary-surviving hash join fails on this plan at scale ("dict-surviving
-- cache: global dictionary column ... changed identity"); a materialized CTE gives it a plain input
evidence as materialized (

    select * from {{ ref('int_criteria__indicator_evidence') }}
    where rule_kind in ('event_count', 'episode_open')

),

indicators as (

    select * from {{ ref('criteria_indicators') }}

),

candidates as (

    select
        evaluation_points.person_id,
        evaluation_points.as_at_date,
        evaluation_points.lookback_basis,
        evidence.indicator_code,
        evidence.rule_kind,
        evidence.event_id,
        evidence.event_date,
        evidence.end_date,
        indicators.threshold,
        indicators.cusp_threshold,
        case
            when evaluation_points.lookback_basis = 'resolution'
                then coalesce(indicators.resolution_lookback_months, indicators.lookback_months)
            else indicators.lookback_months
        end as lookback_months
    from evaluation_points
    inner join evidence
        on
            evaluation_points.person_id = evidence.person_id
            and evaluation_points.as_at_date >= evidence.event_date
    inner join indicators
        on evidence.indicator_code = indicators.indicator_code

),

windowed as (

    select
        *,
        case
            when lookback_months is null then as_at_date
            else cast(as_at_date - to_months(lookback_months) + interval 1 day as date)
        end as window_start
    from candidates

),

in_window as (

    select *
    from windowed
    where
        (rule_kind = 'event_count' and event_date >= window_start)
        or (rule_kind = 'episode_open' and coalesce(end_date, as_at_date) >= window_start)

),

counted as (

    select
        person_id,
        as_at_date,
        lookback_basis,
        indicator_code,
        any_value(threshold) as threshold,
        any_value(cusp_threshold) as cusp_threshold,
        count(distinct event_id) as n_evidence_events,
        list(distinct event_id order by event_id) as evidence_event_ids,
        list_sort(list(event_date)) as event_dates
    from in_window
    group by person_id, as_at_date, lookback_basis, indicator_code

),

judged as (

    select
        *,
        n_evidence_events >= threshold as is_met
    from counted

),

final as (

    select
        person_id,
        as_at_date,
        lookback_basis,
        indicator_code,
        is_met,
        not is_met and cusp_threshold is not null and n_evidence_events >= cusp_threshold as is_on_cusp,
        -- the date the threshold was reached inside the window: the threshold-th evidencing event's date
        case when is_met then event_dates[cast(threshold as integer)] end as first_met_date,
        evidence_event_ids,
        n_evidence_events,
        cast(n_evidence_events as double) as measure_value
    from judged

)

select * from final
where is_met or is_on_cusp
