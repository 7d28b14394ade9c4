{#
    One row per person record (source_system, source_record_id): the unit of linkage.

    1. Row-level standardisation (SQL only, DuckDB): upper case, accents stripped, punctuation
       removed; forename nickname canonical form from the nicknames seed; a soundex key;
       postcode normalised with outward code; NHS numbers failing the modulus-11 check and
       NI numbers / UPNs failing their format set to NULL with a flag; placeholder DOBs
       (1 January, 1900-01-01) set to NULL with a flag.
    2. Consolidation: a person record's rows are noisy copies of the same person (errors are
       keyed per row), so each field takes the value most rows agree on (ties: the latest
       record_date, then the value itself, so the choice is deterministic). Address fields come
       from the latest row with a postcode, because people move (rows of one date: the greatest key).

    Incremental: a delivery restandardises only the person records whose rows changed. Each record keeps a
    fingerprint of its input rows (every column of int_person_records but the delivery's: which delivery, file,
    row number and load time, so a full extract that sends unchanged rows again redoes none of their records)
    and of the standardisation itself (this file, its SQL as rendered with the macros, the nickname seed,
    DuckDB's version), so a record is redone when one of its rows is new, changed or gone, and every record is
    redone when the rules change.
    A record with no rows left is deleted in the same transaction (post_hook). Consolidation reads only a
    record's own rows, so the result equals a full rebuild (tests/test_incremental_standardisation.py).
#}
{{
    config(
        materialized='incremental',
        unique_key='person_record_id',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        post_hook="delete from {{ this }} as kept where not exists (select 1 from "
            ~ "{{ ref('int_person_records') }} as rows where rows.person_record_id = kept.person_record_id)",
    )
}}

{#- where and when a row was delivered, not what it says: the standardisation never reads these, so a full
    extract delivering the same rows again (new delivery, file, row numbers, load time) changes no fingerprint -#}
{%- set delivery_columns = 'source_delivery_id, source_file_name, source_row_number, source_loaded_at' %}

{#- the standardisation proper, as rendered (macros expanded): its text is part of each fingerprint -#}
{%- set standardisation %}
-- nickname forms: begin (tests/test_nickname_canonical.py runs from here to "end" on its own seeds)
nickname_pairs as (

    select distinct
        upper(strip_accents(trim(name))) as name,
        upper(strip_accents(trim(canonical))) as canonical
    from {{ ref('nicknames') }}

),

nicknames as (

    -- Each name's canonical form is the END of its chain (Joe -> Joseph -> Yusuf: Yusuf), so that every
    -- name on a chain shares one form. One step first: a nickname mapping to several canonical forms
    -- (Al -> Alan, Albert) takes the first, so Alan and Albert stay apart (no merging of whatever a
    -- nickname touches); two names given as each other's canonical form (Catherine, Katherine) both take
    -- the first of the two, else each would take the other and they would never share one. A walk stops
    -- at a name with no step, or before a name it has passed (a longer cycle): then every name on the
    -- cycle and leading into it takes the cycle's first name. The same SQL is in linkage/standardise.py.
    with recursive nickname_steps as (

        select
            nickname_pairs.name,
            min(nickname_pairs.canonical) as canonical
        from nickname_pairs
        left join nickname_pairs as reversed
            on
                nickname_pairs.name = reversed.canonical
                and nickname_pairs.canonical = reversed.name
        where reversed.name is null or nickname_pairs.name > nickname_pairs.canonical
        group by nickname_pairs.name

    ),

    nickname_walks as (

        select
            name,
            [name, canonical] as path
        from nickname_steps
        union all
        select
            nickname_walks.name,
            list_append(nickname_walks.path, nickname_steps.canonical) as path
        from nickname_walks
        inner join nickname_steps on nickname_walks.path[-1] = nickname_steps.name
        where not list_contains(nickname_walks.path, nickname_steps.canonical)

    )

    select
        nickname_walks.name,
        case
            when next_step.name is null then nickname_walks.path[-1]
            else list_min(nickname_walks.path[list_position(nickname_walks.path, next_step.canonical):])
        end as canonical
    from nickname_walks
    left join nickname_steps as next_step on nickname_walks.path[-1] = next_step.name
    where next_step.name is null or list_contains(nickname_walks.path, next_step.canonical)

),
-- nickname forms: end

cleaned as (

    select
        person_record_id,
        source_system,
        source_record_id,
        record_key,
        source_feed,
        record_date,
        min_age_at_record,
        {{ clean_name('first_name') }} as first_name,
        {{ clean_name('middle_names') }} as middle_names,
        {{ clean_name('surname') }} as surname,
        dob as dob_raw,
        case when sex in ('M', 'F') then sex end as sex,
        {{ clean_address('address_line') }} as address_line,
        {{ clean_address('locality') }} as locality,
        nullif(regexp_replace(upper(postcode), '[^A-Z0-9]', '', 'g'), '') as postcode_compact,
        nullif(regexp_replace(uprn, '[^0-9]', '', 'g'), '') as uprn,
        nullif(regexp_replace(nhs_number, '[\s-]', '', 'g'), '') as nhs_number_raw,
        nullif(regexp_replace(upper(ni_number), '\s', '', 'g'), '') as ni_number_raw,
        nullif(upper(trim(upn)), '') as upn_raw,
        nullif(upper(trim(pnc_id)), '') as pnc_id
    from records

),

validated as (

    select
        cleaned.*,
        {{ nhs_number_is_valid('nhs_number_raw') }} as nhs_number_valid,
        {{ ni_number_is_valid('ni_number_raw') }} as ni_number_valid,
        {{ upn_is_valid('upn_raw') }} as upn_valid,
        dob_raw is not null
        and (
            (month(dob_raw) = 1 and day(dob_raw) = 1)
            or year(dob_raw) <= 1900
        ) as dob_placeholder,
        case
            when
                length(postcode_compact) between 5 and 7
                and regexp_full_match(postcode_compact, '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
                then
                    substr(postcode_compact, 1, length(postcode_compact) - 3)
                    || ' ' || right(postcode_compact, 3)
        end as postcode
    from cleaned

),

standardised_rows as (

    select
        validated.*,
        case when nhs_number_valid then nhs_number_raw end as nhs_number,
        case when ni_number_valid then ni_number_raw end as ni_number,
        case when upn_valid then upn_raw end as upn,
        case when not dob_placeholder then dob_raw end as dob
    from validated

),

{#- the fields voted on: the value most of a person record's rows agree on -#}
{%- set voted = ['first_name', 'middle_names', 'surname', 'dob', 'sex', 'nhs_number', 'ni_number', 'upn', 'pnc_id'] %}

long_values as (

    unpivot (
        select
            person_record_id,
            record_date,
            cast(first_name as varchar) as first_name,
            cast(middle_names as varchar) as middle_names,
            cast(surname as varchar) as surname,
            cast(dob as varchar) as dob,
            cast(sex as varchar) as sex,
            cast(nhs_number as varchar) as nhs_number,
            cast(ni_number as varchar) as ni_number,
            cast(upn as varchar) as upn,
            cast(pnc_id as varchar) as pnc_id
        from standardised_rows
    )
    on {{ voted | join(', ') }}
    into name field value value

),

value_counts as (

    select
        person_record_id,
        field,
        value,
        count(*) as n_rows,
        max(record_date) as latest
    from long_values
    group by all

),

votes as (

    select
        person_record_id,
        field,
        arg_max(value, (n_rows, coalesce(latest, date '1900-01-01'), value)) as value
    from value_counts
    group by all

),

voted_wide as (

    pivot votes on field in ('{{ voted | join("', '") }}')
    using first(value)
    group by person_record_id

),

per_record as (

    select
        person_record_id,
        any_value(source_system) as source_system,
        any_value(source_record_id) as source_record_id,
        count(*) as n_source_rows,
        min(record_date) as first_record_date,
        max(record_date) as last_record_date,
        bool_or(nhs_number_raw is not null and not nhs_number_valid) as has_invalid_nhs_number,
        bool_or(ni_number_raw is not null and not ni_number_valid) as has_invalid_ni_number,
        bool_or(upn_raw is not null and not upn_valid) as has_invalid_upn,
        bool_or(dob_placeholder) as has_placeholder_dob,
        -- the latest date of birth the record's rows allow (an offence: see macro min_age_at_record)
        min(record_date - to_years(min_age_at_record)) as latest_possible_dob,
        -- (source_feed, record_key) is unique, so the order is total and a rebuild picks the same row; rows of
        -- one date are ordered by their keys, not by when they were delivered (see delivery_columns)
        arg_max(
            { address_line: address_line, locality: locality, postcode: postcode, uprn: uprn },
            (postcode is not null or uprn is not null, record_date, source_feed, record_key)
        ) as latest_address
    from standardised_rows
    group by person_record_id

),

joined as (

    select
        per_record.person_record_id,
        per_record.source_system,
        per_record.source_record_id,
        per_record.n_source_rows,
        per_record.first_record_date,
        per_record.last_record_date,
        voted_wide.first_name,
        voted_wide.middle_names,
        voted_wide.surname,
        cast(voted_wide.dob as date) as dob,
        voted_wide.sex,
        per_record.latest_address.address_line,
        per_record.latest_address.locality,
        per_record.latest_address.postcode,
        per_record.latest_address.uprn,
        voted_wide.nhs_number,
        voted_wide.ni_number,
        voted_wide.upn,
        voted_wide.pnc_id,
        per_record.has_invalid_nhs_number,
        per_record.has_invalid_ni_number,
        per_record.has_invalid_upn,
        per_record.has_placeholder_dob,
        per_record.latest_possible_dob,
        to_build.source_rows_fingerprint
    from per_record
    inner join voted_wide using (person_record_id)
    inner join to_build using (person_record_id)

),

final as (

    select
        joined.person_record_id,
        joined.source_system,
        joined.source_record_id,
        joined.n_source_rows,
        joined.first_record_date,
        joined.last_record_date,
        joined.first_name,
        coalesce(nicknames.canonical, joined.first_name) as first_name_canonical,
        {{ soundex('joined.first_name') }} as first_name_soundex,
        joined.middle_names,
        joined.surname,
        {{ soundex("regexp_replace(joined.surname, '[ -]', '', 'g')") }} as surname_soundex,
        nullif(
            list_filter(string_split(regexp_replace(joined.surname, '-', ' ', 'g'), ' '), lambda x: x <> ''),
            []
        ) as surname_tokens,
        nullif(
            list_filter(
                string_split(
                    regexp_replace(
                        concat_ws(' ', joined.first_name, joined.middle_names, joined.surname), '-', ' ', 'g'
                    ),
                    ' '
                ),
                lambda x: x <> ''
            ),
            []
        ) as name_tokens,
        joined.dob,
        year(joined.dob) as dob_year,
        joined.sex,
        joined.address_line,
        joined.locality,
        joined.postcode,
        split_part(joined.postcode, ' ', 1) as postcode_outward,
        joined.uprn,
        joined.nhs_number,
        joined.ni_number,
        joined.upn,
        joined.pnc_id,
        joined.has_invalid_nhs_number,
        joined.has_invalid_ni_number,
        joined.has_invalid_upn,
        joined.has_placeholder_dob,
        -- a record whose own DOB is later than its rows allow has a mistyped date (the DOB's or an offence's):
        -- it bounds nothing, else it would be kept apart from its own person
        case
            when joined.dob is null or joined.dob <= joined.latest_possible_dob
                then cast(joined.latest_possible_dob as date)
        end as latest_possible_dob,
        joined.source_rows_fingerprint
    from joined
    left join nicknames on joined.first_name = nicknames.name

)
{%- endset %}

with

-- int_person_records is read twice, not through one import CTE: DuckDB would materialise that CTE (1M rows
-- at 230,000 persons) where a delivery needs only its own records' rows

fingerprints as (

    -- a sum of the rows' hashes (what they say, not where they came from): the same whatever the rows' order,
    -- and a repeated row still counts; the rules are this file and its rendered standardisation (macros
    -- expanded), the nickname seed and DuckDB
    select
        person_rows.person_record_id,
        hash(
            sum(cast(hash(person_rows) as hugeint)),
            count(*),
            '{{ local_md5(model.raw_code ~ standardisation) }}',
            (select sum(cast(hash(name, canonical) as hugeint)) from {{ ref('nicknames') }}),
            version()
        ) as source_rows_fingerprint
    from (select * exclude ({{ delivery_columns }}) from {{ ref('int_person_records') }}) as person_rows
    group by person_rows.person_record_id

),

to_build as (

    select fingerprints.*
    from fingerprints
    {#- a table from before fingerprints were kept: every record is redone (on_schema_change adds the column) #}
    {% if is_incremental() and 'source_rows_fingerprint' in adapter.get_columns_in_relation(this)
        | map(attribute='name') | list %}
    where
        not exists (
            select 1 from {{ this }} as built
            where
                built.person_record_id = fingerprints.person_record_id
                and built.source_rows_fingerprint = fingerprints.source_rows_fingerprint
        )
    {% endif %}

),

records as (

    select person_rows.* exclude ({{ delivery_columns }})
    from {{ ref('int_person_records') }} as person_rows
    semi join to_build using (person_record_id)

),

{{ standardisation }}

select * from final
