with

source as (

    select * from {{ source('raw', 'csc_episodes') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('episode_id') }} as episode_id,
        {{ clean_text('person_id') }} as person_id,
        {{ clean_code('episode_type') }} as episode_type,
        start_date,
        end_date,
        {{ clean_code('primary_need') }} as primary_need_code,
        {{ clean_code('cp_category') }} as cp_category_code,
        {{ clean_code('referral_source') }} as referral_source_code,
        {{ clean_text('end_reason') }} as end_reason,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by episode_id
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['episode_id']) }} as record_key,
        'social_care' as source_system,
        'csc_episodes' as source_feed,
        episode_id,
        person_id,
        episode_type as event_type,
        start_date as event_date,
        end_date,
        start_date as record_date,
        primary_need_code,
        cp_category_code,
        referral_source_code,
        end_reason,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
