with

source as (

    select * from {{ source('raw', 'yjs_outcomes') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('outcome_ref') }} as outcome_ref,
        {{ clean_text('yj_ref') }} as source_record_id,
        -- 'First Names' holds all forenames: the first is the first name, the rest are middle names
        regexp_replace({{ clean_text('first_names') }}, '\s+', ' ', 'g') as forenames,
        {{ clean_text('surname') }} as surname,
        dob,
        {{ standardise_sex('sex') }} as sex,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_text('pnc') }} as pnc_id,
        outcome_date,
        {{ clean_code('outcome_type') }} as outcome_type,
        {{ clean_code('offence_category') }} as offence_category,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by outcome_ref
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['outcome_ref']) }} as record_key,
        'youth_justice' as source_system,
        'yjs_outcomes' as source_feed,
        source_record_id,
        split_part(forenames, ' ', 1) as first_name,
        nullif(trim(substr(forenames, length(split_part(forenames, ' ', 1)) + 1)), '') as middle_names,
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
        pnc_id,
        outcome_date as record_date,
        source_record_id as yj_ref,
        outcome_ref,
        outcome_type as event_type,
        outcome_date as event_date,
        cast(null as date) as end_date,
        outcome_type,
        offence_category,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
