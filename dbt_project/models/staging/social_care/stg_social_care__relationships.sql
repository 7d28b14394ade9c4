with

source as (

    select * from {{ source('raw', 'csc_relationships') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('person_id') }} as person_id,
        {{ clean_text('related_person_id') }} as related_person_id,
        {{ clean_code('relationship') }} as relationship_type,
        start_date,
        end_date,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by person_id, related_person_id
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['person_id', 'related_person_id']) }} as record_key,
        'social_care' as source_system,
        'csc_relationships' as source_feed,
        person_id,
        related_person_id,
        relationship_type,
        start_date,
        end_date,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
