with

source as (

    select * from {{ source('raw', 'school_roll') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('upn') }} as upn,
        {{ clean_text('forename') }} as first_name,
        {{ clean_text('middle_names') }} as middle_names,
        {{ clean_text('legal_surname') }} as surname,
        dob,
        {{ standardise_sex('gender') }} as sex,
        {{ clean_text('address_line1') }} as address_line,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_text('uprn') }} as uprn,
        {{ clean_text('urn') }} as urn,
        -- '07' and '7' are the same year group; R, N1, N2 stay as letters
        coalesce(
            cast(try_cast({{ clean_code('ncyear_actual') }} as integer) as varchar),
            {{ clean_code('ncyear_actual') }}
        ) as nc_year,
        entry_date,
        leaving_date,
        {{ clean_code('senprovision') }} as sen_provision_code,
        {{ to_boolean('fsmeligible') }} as is_fsm_eligible,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by upn, urn, entry_date
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['upn', 'urn', 'entry_date']) }} as record_key,
        'education' as source_system,
        'school_roll' as source_feed,
        upn as source_record_id,
        first_name,
        middle_names,
        surname,
        dob,
        sex,
        address_line,
        cast(null as varchar) as locality,
        postcode,
        uprn,
        cast(null as varchar) as nhs_number,
        cast(null as varchar) as ni_number,
        upn,
        cast(null as varchar) as pnc_id,
        entry_date as record_date,
        urn,
        'SCHOOL_ENROLMENT' as event_type,
        entry_date as event_date,
        leaving_date as end_date,
        nc_year,
        sen_provision_code,
        is_fsm_eligible,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
