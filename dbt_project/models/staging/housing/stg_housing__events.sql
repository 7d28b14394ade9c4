with

source as (

    select * from {{ source('raw', 'housing_events') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('event_ref') }} as event_ref,
        {{ clean_text('tenancy_ref') }} as tenancy_ref,
        {{ clean_text('uprn') }} as uprn,
        {{ clean_text('lead_tenant_forename') }} as first_name,
        {{ clean_text('lead_tenant_surname') }} as surname,
        lead_tenant_dob as dob,
        {{ clean_text('ni_number') }} as ni_number,
        {{ clean_text('address') }} as address_line,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_code('event_type') }} as event_type_code,
        event_date,
        arrears_balance,
        {{ provenance_columns() }}

    from source

),

standardised as (

    select
        * exclude (event_type_code),
        -- long forms sometimes typed in place of the codes
        case event_type_code
            when 'NOTICE_OF_SEEKING_POSSESSION' then 'NOSP'
            when 'NOTICE_TO_QUIT' then 'NTQ'
            when 'ARREARS' then 'RENT_ARREARS'
            when 'HOMELESSNESS_APPLICATION' then 'HOMELESS_APPLICATION'
            when 'TA' then 'TEMPORARY_ACCOMMODATION'
            else event_type_code
        end as event_type

    from renamed

),

deduplicated as (

    select * from standardised
    qualify row_number() over (
        partition by event_ref
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['event_ref']) }} as record_key,
        'housing' as source_system,
        'housing_events' as source_feed,
        -- the housing extract has no person id: the event is the person record
        event_ref as source_record_id,
        first_name,
        cast(null as varchar) as middle_names,
        surname,
        dob,
        cast(null as varchar) as sex,
        address_line,
        cast(null as varchar) as locality,
        postcode,
        uprn,
        cast(null as varchar) as nhs_number,
        ni_number,
        cast(null as varchar) as upn,
        cast(null as varchar) as pnc_id,
        event_date as record_date,
        event_ref,
        tenancy_ref,
        event_type,
        event_date,
        cast(null as date) as end_date,
        arrears_balance,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
