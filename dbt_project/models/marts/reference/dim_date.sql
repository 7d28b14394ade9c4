-- One row per day, for analysts to group and filter the marts' dates by calendar quarter (the returns' reporting
-- periods and the criteria's as_at dates), UK financial year, academic year and term, ISO week and programme
-- period. The span depends only on the events and the reporting date: from 1 April of the financial year of the
-- earliest event, or 1 April 2012 (when Troubled Families began) if that is earlier, to 31 March of the financial
-- year after the one holding the later of the reporting date and the latest event (six-month checks included).

with

events as (

    select * from {{ ref('int_events') }}

),

span as (

    select
        least(min(event_date), date '2012-04-01') as first_day,
        greatest(max(event_date), {{ reporting_date() }}) as last_day
    from events

),

financial_span as (

    select
        make_date(year(first_day) - case when month(first_day) < 4 then 1 else 0 end, 4, 1) as first_day,
        make_date(year(last_day) + case when month(last_day) < 4 then 1 else 2 end, 3, 31) as last_day
    from span

),

days as (

    select cast(generated.day as date) as date_day
    from financial_span
    cross join
        unnest(generate_series(financial_span.first_day, financial_span.last_day, interval 1 day))
            as generated (day)

),

-- programme years (April to March): Troubled Families from 2012 (2015-20 the six-problem phase, 2020-21 its
-- extension year), Supporting Families from 2021, its outcomes framework (the criteria's headlines) 2022-25
programme_periods as (

    select
        periods.valid_from,
        periods.valid_to,
        periods.programme,
        periods.programme_period
    from (
        values
        (date '2012-04-01', date '2015-03-31', 'Troubled Families', 'Troubled Families 2012-15'),
        (date '2015-04-01', date '2020-03-31', 'Troubled Families', 'Troubled Families 2015-20'),
        (date '2020-04-01', date '2021-03-31', 'Troubled Families', 'Troubled Families 2020-21'),
        (date '2021-04-01', date '2022-03-31', 'Supporting Families', 'Supporting Families 2021-22'),
        (date '2022-04-01', date '2025-03-31', 'Supporting Families', 'Supporting Families 2022-25'),
        (date '2025-04-01', date '9999-12-31', 'Supporting Families', 'Supporting Families 2025 onwards')
    ) as periods (valid_from, valid_to, programme, programme_period)

),

parts as (

    select
        date_day,
        year(date_day) as calendar_year,
        quarter(date_day) as calendar_quarter,
        month(date_day) as calendar_month,
        day(date_day) as day_of_month,
        isodow(date_day) as day_of_week_iso,
        isoyear(date_day) as iso_year,
        week(date_day) as iso_week,
        -- the year an April-March financial year starts in
        year(date_day) - case when month(date_day) < 4 then 1 else 0 end as financial_year_start,
        -- the year an August-July academic year starts in, as staging dates school census terms
        -- (stg_education__attendance_terms: autumn 1 Aug-31 Dec, spring 1 Jan-31 Mar, summer 1 Apr-31 Jul)
        year(date_day) - case when month(date_day) < 8 then 1 else 0 end as academic_year_start
    from days

),

final as (

    select
        parts.date_day,
        cast(parts.calendar_year as integer) as calendar_year,
        cast(parts.calendar_quarter as integer) as calendar_quarter,
        parts.calendar_year || '-Q' || parts.calendar_quarter as reporting_period,
        cast(date_trunc('quarter', parts.date_day) + interval 3 month - interval 1 day as date) as quarter_end_date,
        parts.date_day = cast(date_trunc('quarter', parts.date_day) + interval 3 month - interval 1 day as date)
            as is_quarter_end,
        cast(parts.calendar_month as integer) as calendar_month,
        strftime(parts.date_day, '%B') as month_name,
        strftime(parts.date_day, '%Y-%m') as year_month,
        cast(parts.day_of_month as integer) as day_of_month,
        cast(parts.day_of_week_iso as integer) as day_of_week_iso,
        strftime(parts.date_day, '%A') as weekday_name,
        parts.day_of_week_iso >= 6 as is_weekend,
        cast(parts.iso_year as integer) as iso_year,
        cast(parts.iso_week as integer) as iso_week,
        parts.iso_year || '-W' || lpad(cast(parts.iso_week as varchar), 2, '0') as iso_week_label,
        parts.date_day - cast(parts.day_of_week_iso - 1 as integer) as week_start_date,
        parts.financial_year_start || '-' || lpad(cast((parts.financial_year_start + 1) % 100 as varchar), 2, '0')
            as financial_year,
        -- Q1 = April-June ... Q4 = January-March
        cast((parts.calendar_month + 8) % 12 // 3 + 1 as integer) as financial_quarter,
        parts.academic_year_start || '/' || lpad(cast((parts.academic_year_start + 1) % 100 as varchar), 2, '0')
            as academic_year,
        case
            when parts.calendar_month >= 8 then 'autumn'
            when parts.calendar_month <= 3 then 'spring'
            else 'summer'
        end as academic_term,
        case
            when parts.calendar_month >= 8 then 'AUT'
            when parts.calendar_month <= 3 then 'SPR'
            else 'SUM'
        end as academic_term_code,
        programme_periods.programme,
        programme_periods.programme_period,
        coalesce(programme_periods.programme = 'Supporting Families', false) as is_supporting_families
    from parts
    left join programme_periods
        on parts.date_day between programme_periods.valid_from and programme_periods.valid_to

)

select * from final
