with

source as (

    select * from {{ source('raw', 'csc_persons') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('person_id') }} as source_record_id,
        {{ clean_text('forename') }} as first_name,
        {{ clean_text('middle_names') }} as middle_names,
        {{ clean_text('surname') }} as surname,
        dob,
        {{ standardise_sex('gender') }} as sex,
        {{ clean_text('address_line_1') }} as address_line,
        {{ clean_text('town') }} as locality,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_text('uprn') }} as uprn,
        {{ clean_text('nhs_number') }} as nhs_number,
        cast(null as varchar) as ni_number,
        cast(null as varchar) as upn,
        cast(null as varchar) as pnc_id,
        record_updated as record_date,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by source_record_id
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['source_record_id']) }} as record_key,
        'social_care' as source_system,
        'csc_persons' as source_feed,
        source_record_id,
        source_record_id as person_id,
        first_name,
        middle_names,
        surname,
        dob,
        sex,
        address_line,
        locality,
        postcode,
        uprn,
        nhs_number,
        ni_number,
        upn,
        pnc_id,
        record_date,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
