-- Rules of kind absence_rate (persistent and severe absence), evaluated at every evaluation point. Keeps only
-- the points where the indicator is met or on the cusp.
--   identification: the `lookback_terms` consecutive terms ending with the latest term that had ended on or
--            before the as_at_date (terms are numbered 3 per academic year, so consecutive terms have
--            consecutive numbers). A pupil needs a record in each of them: two terms of data are not enough.
--   resolution: at family_progress's resolution points (case closure and six months after), when the indicator
--            has a resolution_lookback_months, the terms that ENDED in [as_at_date - resolution_lookback_months
--            + 1 day, as_at_date]: one or two terms for 6 months, so a need is judged on recent attendance, not
--            on the terms that identified it. Each such term the pupil has a record for is judged on its own and
--            the worst decides (one is enough): absence in any recent term keeps the need unresolved. Pooling
--            them would let the term a case closed in, mostly before closure, hide a bad term wholly after it
--            at the six-month check. No record in the window, but one in the year before it (the pupil was at
--            school, then the data stops): a row with is_met NULL, not measured, whose evidence is that last
--            earlier term; family_progress reads it as not evidenced, never as resolved. No record in either: no
--            row.
--   measure: sessions missed (authorised + unauthorised) over sessions possible, pooled across schools when a
--            pupil moved mid-term; across the identification window's terms, and at a resolution point the
--            worst term's (its evidence: every term in the window).
--   met:     measure >= threshold (exactly 10% is met); on the cusp: cusp_threshold <= measure < threshold.
--            Compared in exact decimals, so 30 of 300 sessions is exactly 10%.
-- Each pupil's identification windows are judged once (one per term), then looked up by each point's latest
-- completed term; resolution windows are judged per point (case members only, so few).

with

evaluation_points as (

    select * from {{ ref('int_criteria__evaluation_points') }}

),

evidence as (

    select * from {{ ref('int_criteria__indicator_evidence') }}
    where rule_kind = 'absence_rate'

),

indicators as (

    select * from {{ ref('criteria_indicators') }}
    where rule_kind = 'absence_rate'

),

term_calendar as (

    select
        term_sequence,
        max(end_date) as term_end_date
    from evidence
    group by term_sequence

),

-- the latest term that had ended on or before each date
point_terms as (

    select
        point_dates.as_at_date,
        max(term_calendar.term_sequence) as latest_term_sequence
    from (select distinct as_at_date from evaluation_points) as point_dates
    inner join term_calendar
        on point_dates.as_at_date >= term_calendar.term_end_date
    group by point_dates.as_at_date

),

pupil_terms as (

    select
        person_id,
        indicator_code,
        term_sequence,
        max(end_date) as term_end_date,
        sum(sessions_possible) as sessions_possible,
        sum(sessions_missed) as sessions_missed,
        list(event_id) as term_event_ids
    from evidence
    group by person_id, indicator_code, term_sequence

),

-- identification: every window of `lookback_terms` consecutive terms a pupil has data in, named by its last term
window_members as (

    select
        pupil_terms.person_id,
        pupil_terms.indicator_code,
        pupil_terms.term_sequence as latest_term_sequence,
        pupil_terms.term_end_date as latest_term_end_date,
        pupil_terms.term_sequence - terms_back.terms_back as member_term_sequence,
        indicators.lookback_terms,
        indicators.threshold,
        indicators.cusp_threshold,
        indicators.resolution_lookback_months
    from pupil_terms
    inner join indicators
        on pupil_terms.indicator_code = indicators.indicator_code
    cross join unnest(range(indicators.lookback_terms)) as terms_back (terms_back)

),

consecutive_term_windows as (

    select
        window_members.person_id,
        window_members.indicator_code,
        window_members.latest_term_sequence,
        window_members.latest_term_end_date,
        window_members.threshold,
        window_members.cusp_threshold,
        window_members.resolution_lookback_months,
        sum(pupil_terms.sessions_possible) as sessions_possible,
        sum(pupil_terms.sessions_missed) as sessions_missed,
        list_sort(flatten(list(pupil_terms.term_event_ids))) as evidence_event_ids
    from window_members
    inner join pupil_terms
        on
            window_members.person_id = pupil_terms.person_id
            and window_members.indicator_code = pupil_terms.indicator_code
            and window_members.member_term_sequence = pupil_terms.term_sequence
    group by all
    having count(*) = any_value(window_members.lookback_terms)

),

-- resolution: the terms each resolution point's window holds, per indicator with a resolution window
resolution_window_terms as (

    select
        evaluation_points.person_id,
        evaluation_points.as_at_date,
        evaluation_points.lookback_basis,
        pupil_terms.indicator_code,
        pupil_terms.term_end_date,
        pupil_terms.sessions_possible,
        pupil_terms.sessions_missed,
        pupil_terms.term_event_ids,
        indicators.threshold,
        indicators.cusp_threshold
    from evaluation_points
    inner join pupil_terms
        on
            evaluation_points.person_id = pupil_terms.person_id
            and evaluation_points.as_at_date >= pupil_terms.term_end_date
    inner join indicators
        on pupil_terms.indicator_code = indicators.indicator_code
    where
        evaluation_points.lookback_basis = 'resolution'
        and indicators.resolution_lookback_months is not null
        and pupil_terms.term_end_date >= cast(
            evaluation_points.as_at_date - to_months(indicators.resolution_lookback_months) + interval 1 day as date
        )

),

-- the window's worst term (highest share missed; ties: the later term) stands for it, with every term's events
resolution_windows as (

    select
        person_id,
        as_at_date,
        lookback_basis,
        indicator_code,
        arg_max(term_end_date, (share_missed, term_end_date)) as latest_term_end_date,
        any_value(threshold) as threshold,
        any_value(cusp_threshold) as cusp_threshold,
        arg_max(sessions_possible, (share_missed, term_end_date)) as sessions_possible,
        arg_max(sessions_missed, (share_missed, term_end_date)) as sessions_missed,
        list_sort(flatten(list(term_event_ids))) as evidence_event_ids
    from (
        select
            *,
            cast(sessions_missed as decimal(18, 4)) / sessions_possible as share_missed
        from resolution_window_terms
        where sessions_possible > 0
    ) as window_terms
    group by person_id, as_at_date, lookback_basis, indicator_code

),

-- resolution points with no attendance term in the window but one in the 12 months before it: not measured
earlier_terms as (

    select
        evaluation_points.person_id,
        evaluation_points.as_at_date,
        evaluation_points.lookback_basis,
        pupil_terms.indicator_code,
        arg_max(pupil_terms.term_event_ids, pupil_terms.term_end_date) as evidence_event_ids
    from evaluation_points
    inner join pupil_terms
        on evaluation_points.person_id = pupil_terms.person_id
    inner join indicators
        on pupil_terms.indicator_code = indicators.indicator_code
    where
        evaluation_points.lookback_basis = 'resolution'
        and indicators.resolution_lookback_months is not null
        and pupil_terms.term_end_date < cast(
            evaluation_points.as_at_date - to_months(indicators.resolution_lookback_months) + interval 1 day as date
        )
        and pupil_terms.term_end_date >= cast(
            evaluation_points.as_at_date - to_months(indicators.resolution_lookback_months + 12)
            + interval 1 day as date
        )
    group by
        evaluation_points.person_id,
        evaluation_points.as_at_date,
        evaluation_points.lookback_basis,
        pupil_terms.indicator_code

),

not_measured_results as (

    select earlier_terms.*
    from earlier_terms
    anti join resolution_windows
        on
            earlier_terms.person_id = resolution_windows.person_id
            and earlier_terms.as_at_date = resolution_windows.as_at_date
            and earlier_terms.indicator_code = resolution_windows.indicator_code

),

-- both kinds of window, judged by the one comparison (resolution windows carry their point)
term_windows as (

    select
        *,
        'consecutive_terms' as window_kind
    from consecutive_term_windows
    union all by name
    select
        *,
        'resolution_window' as window_kind
    from resolution_windows

),

judged as (

    select
        *,
        cast(sessions_missed as decimal(18, 4)) >= threshold * sessions_possible as is_met,
        cusp_threshold is not null
        and cast(sessions_missed as decimal(18, 4)) >= cusp_threshold * sessions_possible as reaches_cusp
    from term_windows
    where sessions_possible > 0

),

flagged_windows as (

    select *
    from judged
    where is_met or reaches_cusp

),

-- identification points, and resolution points of an indicator without a resolution window
consecutive_term_results as (

    select
        evaluation_points.person_id,
        evaluation_points.as_at_date,
        evaluation_points.lookback_basis,
        flagged_windows.indicator_code,
        flagged_windows.is_met,
        flagged_windows.latest_term_end_date,
        flagged_windows.evidence_event_ids,
        flagged_windows.sessions_possible,
        flagged_windows.sessions_missed
    from evaluation_points
    inner join point_terms
        on evaluation_points.as_at_date = point_terms.as_at_date
    inner join flagged_windows
        on
            evaluation_points.person_id = flagged_windows.person_id
            and point_terms.latest_term_sequence = flagged_windows.latest_term_sequence
    where
        flagged_windows.window_kind = 'consecutive_terms'
        and (evaluation_points.lookback_basis = 'identification' or flagged_windows.resolution_lookback_months is null)

),

resolution_results as (

    select
        person_id,
        as_at_date,
        lookback_basis,
        indicator_code,
        is_met,
        latest_term_end_date,
        evidence_event_ids,
        sessions_possible,
        sessions_missed
    from flagged_windows
    where window_kind = 'resolution_window'

),

results as (

    select * from consecutive_term_results
    union all
    select * from resolution_results

),

final as (

    select
        person_id,
        as_at_date,
        lookback_basis,
        indicator_code,
        is_met,
        not is_met as is_on_cusp,
        -- the measure is known when the term that decides ends (the window's latest; at a resolution point, its worst)
        case when is_met then latest_term_end_date end as first_met_date,
        evidence_event_ids,
        cast(len(evidence_event_ids) as bigint) as n_evidence_events,
        cast(sessions_missed as double) / sessions_possible as measure_value
    from results

    union all

    select
        person_id,
        as_at_date,
        lookback_basis,
        indicator_code,
        cast(null as boolean) as is_met,
        false as is_on_cusp,
        cast(null as date) as first_met_date,
        list_sort(evidence_event_ids) as evidence_event_ids,
        cast(len(evidence_event_ids) as bigint) as n_evidence_events,
        cast(null as double) as measure_value
    from not_measured_results

)

select * from final
