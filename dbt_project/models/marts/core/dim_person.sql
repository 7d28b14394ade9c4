{#
    One row per person_id: the golden record (survivorship in int_person_golden_records),
    every identifier seen, the sources, first and last seen, and age as at the reporting date.
#}
with

golden_records as (

    select * from {{ ref('int_person_golden_records') }}

),

final as (

    select
        person_id,
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
        nhs_numbers_seen,
        ni_numbers_seen,
        upns_seen,
        pnc_ids_seen,
        dobs_seen,
        source_systems,
        n_source_records,
        n_source_rows,
        first_seen_date,
        last_seen_date,
        {{ reporting_date() }} as reporting_date,
        case
            when dob <= {{ reporting_date() }} then cast({{ age_on("dob", reporting_date()) }} as integer)
        end as age_at_reporting_date,
        has_conflicting_dob,
        has_conflicting_sex,
        has_multiple_nhs_numbers,
        has_invalid_nhs_number,
        has_invalid_ni_number,
        has_invalid_upn,
        has_invalid_identifier,
        has_placeholder_dob,
        dob is null as has_unknown_dob
    from golden_records

)

select * from final
