with

source as (

    select * from {{ source('raw', 'police_incidents') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('nominal_ref') }} as source_record_id,
        {{ clean_text('incident_ref') }} as incident_ref,
        {{ clean_text('forename') }} as first_name,
        {{ clean_text('surname') }} as surname,
        date_of_birth as dob,
        {{ standardise_sex('sex') }} as sex,
        {{ clean_text('address') }} as address_line,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_text('pnc_id') }} as pnc_id,
        occurred_at,
        {{ clean_code('incident_type') }} as incident_type,
        {{ to_boolean('domestic_abuse_flag') }} as is_domestic_abuse,
        {{ to_boolean('asb_flag') }} as is_asb,
        {{ clean_code('role') }} as nominal_role,
        {{ clean_code('offence_code') }} as offence_code,
        {{ clean_code('risk_level') }} as risk_level,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by source_record_id, incident_ref
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['source_record_id', 'incident_ref']) }} as record_key,
        'police' as source_system,
        'police_incidents' as source_feed,
        source_record_id,
        first_name,
        cast(null as varchar) as middle_names,
        surname,
        dob,
        sex,
        address_line,
        cast(null as varchar) as locality,
        postcode,
        cast(null as varchar) as uprn,
        cast(null as varchar) as nhs_number,
        cast(null as varchar) as ni_number,
        cast(null as varchar) as upn,
        pnc_id,
        cast(occurred_at as date) as record_date,
        source_record_id as nominal_ref,
        incident_ref,
        incident_type as event_type,
        cast(occurred_at as date) as event_date,
        cast(null as date) as end_date,
        occurred_at,
        incident_type,
        nominal_role,
        is_domestic_abuse,
        is_asb,
        offence_code,
        risk_level,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
