with

source as (

    select * from {{ source('raw', 'school_attendance') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('upn') }} as upn,
        {{ clean_text('forename') }} as first_name,
        {{ clean_text('legal_surname') }} as surname,
        dob,
        {{ clean_text('urn') }} as urn,
        {{ clean_text('academic_year') }} as academic_year_as_delivered,
        -- first year of the academic year: '2023/24', '2023-24', '2023/2024' and '202324' -> 2023
        try_cast(regexp_extract({{ clean_text('academic_year') }}, '^(\d{4})', 1) as integer)
            as academic_year_start,
        -- AUT / Autumn -> 'AUT', SPR / Spring -> 'SPR', SUM / Summer -> 'SUM'
        left({{ clean_code('term') }}, 3) as term,
        sessions_possible,
        sessions_authorised,
        sessions_unauthorised,
        {{ provenance_columns() }}

    from source

),

standardised as (

    select
        *,
        coalesce(
            cast(academic_year_start as varchar)
            || '/'
            || lpad(cast((academic_year_start + 1) % 100 as varchar), 2, '0'),
            academic_year_as_delivered
        ) as academic_year,
        -- nominal census term dates (DfE: autumn 1 Aug - 31 Dec, spring 1 Jan - Easter,
        -- summer Easter - 31 Jul; Easter is taken as 31 March here)
        case term
            when 'AUT' then make_date(academic_year_start, 8, 1)
            when 'SPR' then make_date(academic_year_start + 1, 1, 1)
            when 'SUM' then make_date(academic_year_start + 1, 4, 1)
        end as term_start_date,
        case term
            when 'AUT' then make_date(academic_year_start, 12, 31)
            when 'SPR' then make_date(academic_year_start + 1, 3, 31)
            when 'SUM' then make_date(academic_year_start + 1, 7, 31)
        end as term_end_date

    from renamed

),

deduplicated as (

    select * from standardised
    qualify row_number() over (
        partition by upn, urn, academic_year, term
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['upn', 'urn', 'academic_year', 'term']) }} as record_key,
        'education' as source_system,
        'school_attendance' as source_feed,
        upn as source_record_id,
        first_name,
        cast(null as varchar) as middle_names,
        surname,
        dob,
        cast(null as varchar) as sex,
        cast(null as varchar) as address_line,
        cast(null as varchar) as locality,
        cast(null as varchar) as postcode,
        cast(null as varchar) as uprn,
        cast(null as varchar) as nhs_number,
        cast(null as varchar) as ni_number,
        upn,
        cast(null as varchar) as pnc_id,
        term_start_date as record_date,
        urn,
        academic_year,
        academic_year_start,
        term,
        'ATTENDANCE_TERM' as event_type,
        term_start_date as event_date,
        term_end_date as end_date,
        sessions_possible,
        sessions_authorised,
        sessions_unauthorised,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
