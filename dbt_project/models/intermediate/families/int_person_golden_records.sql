{#
    The golden record: one row per person_id, each attribute chosen by survivorship from the
    person's standardised records. For each attribute, the value from the source ranked best
    for it in the source_trust seed wins (a source the seed does not name takes the attribute's '*'
    row when it has one, as address does: all sources tie there, so a newly added feed's address
    competes on recency; otherwise it ranks last); ties go to the record seen most recently, then
    the person_record_id (so the choice is deterministic).
    Name parts travel together, as do address parts, so a golden name or address is one a
    source actually recorded. Every identifier seen is kept as a list.
#}
{%- set attributes = ['name', 'dob', 'sex', 'address', 'nhs_number', 'ni_number', 'upn', 'pnc_id'] -%}

with

crosswalk as (

    select * from {{ source('linkage', 'person_crosswalk') }}

),

person_records as (

    select * from {{ ref('int_person_records_standardised') }}

),

source_trust as (

    select * from {{ ref('source_trust') }}

),

trust_per_source as (

    select
        source_system,
        {%- for attribute in attributes %}
        min(trust_rank) filter (where attribute = '{{ attribute }}') as {{ attribute }}_rank
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from source_trust
    group by source_system

),

ranked_records as (

    select
        crosswalk.person_id,
        person_records.*,
        coalesce(person_records.last_record_date, date '1900-01-01') as recency,
        {%- for attribute in attributes %}
        -coalesce(named_trust.{{ attribute }}_rank, star_trust.{{ attribute }}_rank, 999) as {{ attribute }}_trust
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from person_records
    inner join crosswalk on person_records.person_record_id = crosswalk.person_record_id
    left join trust_per_source as named_trust on person_records.source_system = named_trust.source_system
    -- the '*' row (source_system '*'): ranks every source the seed does not name
    left join trust_per_source as star_trust on star_trust.source_system = '*'

),

survived as (

    select
        person_id,
        arg_max(
            { first_name: first_name, middle_names: middle_names, surname: surname },
            (name_trust, recency, person_record_id)
        ) filter (where first_name is not null or surname is not null) as golden_name,
        arg_max(dob, (dob_trust, recency, person_record_id)) filter (where dob is not null) as dob,
        arg_max(sex, (sex_trust, recency, person_record_id)) filter (where sex is not null) as sex,
        arg_max(
            { address_line: address_line, locality: locality, postcode: postcode, uprn: uprn },
            (address_trust, recency, person_record_id)
        ) filter (where postcode is not null or uprn is not null) as golden_address,
        {%- for identifier in ['nhs_number', 'ni_number', 'upn', 'pnc_id'] %}
        arg_max({{ identifier }}, ({{ identifier }}_trust, recency, person_record_id))
        filter (where {{ identifier }} is not null) as {{ identifier }},
        coalesce(list_sort(list(distinct {{ identifier }}) filter (where {{ identifier }} is not null)), [])
            as {{ identifier }}s_seen,
        {%- endfor %}
        list_sort(list(distinct dob) filter (where dob is not null)) as dobs_seen,
        list_sort(list(distinct source_system)) as source_systems,
        count(*) as n_source_records,
        cast(sum(n_source_rows) as bigint) as n_source_rows,
        min(first_record_date) as first_seen_date,
        max(last_record_date) as last_seen_date,
        count(distinct dob) > 1 as has_conflicting_dob,
        count(distinct sex) > 1 as has_conflicting_sex,
        count(distinct nhs_number) > 1 as has_multiple_nhs_numbers,
        bool_or(has_invalid_nhs_number) as has_invalid_nhs_number,
        bool_or(has_invalid_ni_number) as has_invalid_ni_number,
        bool_or(has_invalid_upn) as has_invalid_upn,
        bool_or(has_placeholder_dob) as has_placeholder_dob
    from ranked_records
    group by person_id

),

final as (

    select
        person_id,
        golden_name.first_name,
        golden_name.middle_names,
        golden_name.surname,
        dob,
        sex,
        golden_address.address_line,
        golden_address.locality,
        golden_address.postcode,
        golden_address.uprn,
        nhs_number,
        ni_number,
        upn,
        pnc_id,
        nhs_numbers_seen,
        ni_numbers_seen,
        upns_seen,
        pnc_ids_seen,
        coalesce(dobs_seen, []) as dobs_seen,
        source_systems,
        n_source_records,
        n_source_rows,
        first_seen_date,
        last_seen_date,
        has_conflicting_dob,
        has_conflicting_sex,
        has_multiple_nhs_numbers,
        has_invalid_nhs_number,
        has_invalid_ni_number,
        has_invalid_upn,
        has_placeholder_dob,
        has_invalid_nhs_number or has_invalid_ni_number or has_invalid_upn as has_invalid_identifier
    from survived

)

select * from final
