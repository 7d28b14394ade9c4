with

source as (

    select * from {{ source('raw', 'health_services') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('referral_id') }} as referral_id,
        {{ clean_text('local_patient_id') }} as source_record_id,
        {{ clean_text('nhs_number') }} as nhs_number,
        {{ clean_text('given_name') }} as first_name,
        {{ clean_text('family_name') }} as surname,
        birth_date as dob,
        -- NHS person gender code: 1 male, 2 female, 9 indeterminate / not specified
        {{ standardise_sex('gender_code') }} as sex,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_code('service') }} as service,
        referral_date,
        discharge_date,
        {{ clean_code('primary_substance') }} as primary_substance,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by referral_id
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['referral_id']) }} as record_key,
        'health' as source_system,
        'health_services' as source_feed,
        source_record_id,
        first_name,
        cast(null as varchar) as middle_names,
        surname,
        dob,
        sex,
        cast(null as varchar) as address_line,
        cast(null as varchar) as locality,
        postcode,
        cast(null as varchar) as uprn,
        nhs_number,
        cast(null as varchar) as ni_number,
        cast(null as varchar) as upn,
        cast(null as varchar) as pnc_id,
        referral_date as record_date,
        source_record_id as local_patient_id,
        referral_id,
        service as event_type,
        referral_date as event_date,
        discharge_date as end_date,
        service,
        primary_substance,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
