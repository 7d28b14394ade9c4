with

source as (

    select * from {{ source('raw', 'school_exclusions') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('upn') }} as upn,
        {{ clean_text('forename') }} as first_name,
        {{ clean_text('surname') }} as surname,
        dob,
        {{ clean_text('urn') }} as urn,
        {{ clean_code('category') }} as exclusion_category,
        start_date,
        sessions,
        {{ clean_code('reason') }} as exclusion_reason_code,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by upn, start_date, exclusion_category
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['upn', 'start_date', 'exclusion_category']) }} as record_key,
        'education' as source_system,
        'school_exclusions' as source_feed,
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
        start_date as record_date,
        urn,
        exclusion_category as event_type,
        start_date as event_date,
        cast(null as date) as end_date,
        exclusion_category,
        exclusion_reason_code,
        sessions,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
