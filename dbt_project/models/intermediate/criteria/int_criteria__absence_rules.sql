-- Rules of kind absence_rate (persistent and severe absence), evaluated at every evaluation point. Keeps only
-- the points where the indicator is met or on the cusp.
--   terms:   the window is the `lookback_terms` consecutive terms ending with the latest term that had ended
--            on or before the as_at_date (terms are numbered 3 per academic year, so consecutive terms have
--            consecutive numbers). A pupil needs a record in each of them: two terms of data are not enough.
--   measure: sessions missed (authorised + unauthorised) over sessions possible, pooled across those terms
--            and across schools when a pupil moved mid-term.
--   met:     measure >= threshold (exactly 10% is met); on the cusp: cusp_threshold <= measure < threshold.
--            Compared in exact decimals, so 30 of 300 sessions is exactly 10%.
-- Each pupil's windows are judged once (one per term), then looked up by each point's latest completed term.

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
        sum(sessions_missed) as sessions_missed
    from evidence
    group by person_id, indicator_code, term_sequence

),

-- every window of `lookback_terms` consecutive terms a pupil has data in, named by its last term
window_members as (

    select
        pupil_terms.person_id,
        pupil_terms.indicator_code,
        pupil_terms.term_sequence as latest_term_sequence,
        pupil_terms.term_end_date as latest_term_end_date,
        pupil_terms.term_sequence - terms_back.terms_back as member_term_sequence,
        indicators.lookback_terms,
        indicators.threshold,
        indicators.cusp_threshold
    from pupil_terms
    inner join indicators
        on pupil_terms.indicator_code = indicators.indicator_code
    cross join unnest(range(indicators.lookback_terms)) as terms_back (terms_back)

),

pupil_windows as (

    select
        window_members.person_id,
        window_members.indicator_code,
        window_members.latest_term_sequence,
        window_members.latest_term_end_date,
        window_members.lookback_terms,
        window_members.threshold,
        window_members.cusp_threshold,
        count(*) as n_terms,
        sum(pupil_terms.sessions_possible) as sessions_possible,
        sum(pupil_terms.sessions_missed) as sessions_missed
    from window_members
    inner join pupil_terms
        on
            window_members.person_id = pupil_terms.person_id
            and window_members.indicator_code = pupil_terms.indicator_code
            and window_members.member_term_sequence = pupil_terms.term_sequence
    group by all

),

judged as (

    select
        *,
        cast(sessions_missed as decimal(18, 4)) >= threshold * sessions_possible as is_met,
        cusp_threshold is not null
        and cast(sessions_missed as decimal(18, 4)) >= cusp_threshold * sessions_possible as reaches_cusp
    from pupil_windows
    where
        n_terms = lookback_terms
        and sessions_possible > 0

),

flagged_windows as (

    select *
    from judged
    where is_met or reaches_cusp

),

-- the attendance rows behind each flagged window
window_evidence as (

    select
        flagged_windows.person_id,
        flagged_windows.indicator_code,
        flagged_windows.latest_term_sequence,
        list(evidence.event_id order by evidence.event_id) as evidence_event_ids
    from flagged_windows
    inner join evidence
        on
            flagged_windows.person_id = evidence.person_id
            and flagged_windows.indicator_code = evidence.indicator_code
            and evidence.term_sequence
            between flagged_windows.latest_term_sequence - flagged_windows.lookback_terms + 1
            and flagged_windows.latest_term_sequence
    group by flagged_windows.person_id, flagged_windows.indicator_code, flagged_windows.latest_term_sequence

),

final as (

    select
        evaluation_points.person_id,
        evaluation_points.as_at_date,
        evaluation_points.lookback_basis,
        flagged_windows.indicator_code,
        flagged_windows.is_met,
        not flagged_windows.is_met as is_on_cusp,
        -- the measure is known when the latest term in the window ends
        case when flagged_windows.is_met then flagged_windows.latest_term_end_date end as first_met_date,
        window_evidence.evidence_event_ids,
        cast(len(window_evidence.evidence_event_ids) as bigint) as n_evidence_events,
        cast(flagged_windows.sessions_missed as double) / flagged_windows.sessions_possible as measure_value
    from evaluation_points
    inner join point_terms
        on evaluation_points.as_at_date = point_terms.as_at_date
    inner join flagged_windows
        on
            evaluation_points.person_id = flagged_windows.person_id
            and point_terms.latest_term_sequence = flagged_windows.latest_term_sequence
    inner join window_evidence
        on
            flagged_windows.person_id = window_evidence.person_id
            and flagged_windows.indicator_code = window_evidence.indicator_code
            and flagged_windows.latest_term_sequence = window_evidence.latest_term_sequence

)

select * from final
