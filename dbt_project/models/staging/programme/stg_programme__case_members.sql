with

source as (

    select * from {{ source('raw', 'programme_cases') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('family_case_id') }} as family_case_id,
        {{ clean_text('member_id') }} as source_record_id,
        {{ clean_text('forename') }} as first_name,
        {{ clean_text('surname') }} as surname,
        dob,
        {{ standardise_sex('sex') }} as sex,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_code('role') }} as family_role,
        attached_date,
        closed_date,
        {{ clean_text('key_worker_id') }} as key_worker_id,
        {{ clean_code('intensity') }} as intensity,
        assessment_date,
        plan_date,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by family_case_id, source_record_id
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['family_case_id', 'source_record_id']) }} as record_key,
        'programme' as source_system,
        'programme_cases' as source_feed,
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
        cast(null as varchar) as nhs_number,
        cast(null as varchar) as ni_number,
        cast(null as varchar) as upn,
        cast(null as varchar) as pnc_id,
        attached_date as record_date,
        family_case_id,
        source_record_id as member_id,
        'PROGRAMME_ATTACHMENT' as event_type,
        attached_date as event_date,
        closed_date as end_date,
        family_role,
        intensity,
        key_worker_id,
        assessment_date,
        plan_date,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
