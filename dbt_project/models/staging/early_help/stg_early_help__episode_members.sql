with

source as (

    select * from {{ source('raw', 'early_help_episodes') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('case_ref') }} as case_ref,
        {{ clean_text('client_id') }} as source_record_id,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as surname,
        date_of_birth as dob,
        {{ standardise_sex('sex') }} as sex,
        {{ clean_text('address_line_1') }} as address_line,
        {{ clean_text('town') }} as locality,
        {{ clean_text('post_code') }} as postcode,
        {{ clean_code('role_in_family') }} as role_in_family,
        episode_start,
        episode_end,
        {{ clean_code('presenting_issue') }} as presenting_issue,
        {{ clean_code('closure_reason') }} as closure_reason,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by case_ref, source_record_id
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['case_ref', 'source_record_id']) }} as record_key,
        'early_help' as source_system,
        'early_help_episodes' as source_feed,
        source_record_id,
        first_name,
        cast(null as varchar) as middle_names,
        surname,
        dob,
        sex,
        address_line,
        locality,
        postcode,
        cast(null as varchar) as uprn,
        cast(null as varchar) as nhs_number,
        cast(null as varchar) as ni_number,
        cast(null as varchar) as upn,
        cast(null as varchar) as pnc_id,
        episode_start as record_date,
        case_ref,
        source_record_id as client_id,
        'EARLY_HELP_EPISODE' as event_type,
        episode_start as event_date,
        episode_end as end_date,
        role_in_family,
        presenting_issue,
        closure_reason,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
