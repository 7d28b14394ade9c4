-- The dates criteria are evaluated "as at": every quarter end in the three years up to the reporting date,
-- plus the reporting date itself (var reporting_date; null = the run date).

with

reporting as (

    select
        {{ reporting_date() }} as reporting_date

),

quarter_ends as (

    select
        cast(quarter_start - interval 1 day as date) as as_at_date,
        reporting.reporting_date
    from reporting
    cross join
        unnest(
            generate_series(
                cast(date_trunc('quarter', reporting.reporting_date) as date) - interval 36 month,
                cast(date_trunc('quarter', reporting.reporting_date + interval 1 day) as date),
                interval 3 month
            )
        ) as quarters (quarter_start)

),

in_range as (

    select as_at_date
    from quarter_ends
    where
        as_at_date <= reporting_date
        and as_at_date > reporting_date - interval 3 year

    union

    select reporting_date as as_at_date
    from reporting

),

final as (

    select
        in_range.as_at_date,
        in_range.as_at_date = reporting.reporting_date as is_reporting_date,
        in_range.as_at_date
        = cast(date_trunc('quarter', in_range.as_at_date) + interval 3 month - interval 1 day as date)
            as is_quarter_end
    from in_range
    cross join reporting

)

select * from final
