with

source as (

    select * from {{ source('raw', 'dwp_benefits') }}
    where
        {{ not_quarantined() }}
        and {{ not_superseded() }}

),

renamed as (

    select
        {{ clean_text('nino') }} as source_record_id,
        {{ clean_text('forename') }} as first_name,
        {{ clean_text('surname') }} as surname,
        dob,
        {{ clean_text('postcode') }} as postcode,
        {{ clean_code('benefit') }} as benefit_type,
        claim_start,
        claim_end,
        {{ clean_code('conditionality') }} as conditionality_regime,
        {{ provenance_columns() }}

    from source

),

deduplicated as (

    select * from renamed
    qualify row_number() over (
        partition by source_record_id, benefit_type, claim_start
        order by {{ latest_version_first() }}
    ) = 1

),

final as (

    select
        {{ record_key(['source_record_id', 'benefit_type', 'claim_start']) }} as record_key,
        'dwp' as source_system,
        'dwp_benefits' as source_feed,
        source_record_id,
        first_name,
        cast(null as varchar) as middle_names,
        surname,
        dob,
        cast(null as varchar) as sex,
        cast(null as varchar) as address_line,
        cast(null as varchar) as locality,
        postcode,
        cast(null as varchar) as uprn,
        cast(null as varchar) as nhs_number,
        source_record_id as ni_number,
        cast(null as varchar) as upn,
        cast(null as varchar) as pnc_id,
        claim_start as record_date,
        benefit_type as event_type,
        claim_start as event_date,
        claim_end as end_date,
        benefit_type,
        conditionality_regime,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at

    from deduplicated

)

select * from final
