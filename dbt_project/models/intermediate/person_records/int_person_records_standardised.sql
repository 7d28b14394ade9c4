{#- Local helpers (this folder's own; the shared macros/ folder belongs to staging). -#}

{%- set clean_name_sql -%}
    nullif(trim(regexp_replace(regexp_replace(
        upper(strip_accents(__col__)), '[^A-Z\s-]', '', 'g'), '[\s]+', ' ', 'g')), '')
{%- endset -%}

{%- set clean_address_sql -%}
    nullif(trim(regexp_replace(regexp_replace(
        upper(strip_accents(__col__)), '[^A-Z0-9\s]', ' ', 'g'), '\s+', ' ', 'g')), '')
{%- endset -%}

{#- Soundex (American): first letter, then the codes of the rest, adjacent repeats collapsed,
    vowels dropped, H and W transparent, padded to four characters. RE2 has no back-references,
    so repeats are collapsed digit by digit. -#}
{%- set soundex_sql -%}
    case when regexp_replace(__col__, '[^A-Z]', '', 'g') <> '' then
        left(regexp_replace(__col__, '[^A-Z]', '', 'g'), 1) || left(replace(substr(
            {%- for d in range(7) %}regexp_replace({% endfor -%}
            translate(regexp_replace(__col__, '[^A-Z]', '', 'g'),
                      'BFPVCGJKQSXZDTLMNRAEIOUYHW', '111122222222334556000000')
            {%- for d in range(7) %}, '{{ d }}+', '{{ d }}', 'g'){% endfor -%}
        , 2), '0', '') || '000', 3)
    end
{%- endset -%}

{#- NHS number: ten digits, the tenth a modulus-11 check over the first nine (weights 10..2). -#}
{%- set nhs_number_is_valid_sql -%}
    coalesce(case when regexp_full_match(__col__, '[0-9]{10}') then
        (11 - ({% for i in range(1, 10) %}cast(substr(__col__, {{ i }}, 1) as integer) * {{ 11 - i }}{% if not loop.last %} + {% endif %}{% endfor %}) % 11) % 11
            = cast(substr(__col__, 10, 1) as integer)
    end, false)
{%- endset -%}

{#- NI number: prefix letters (no D F I Q U V; no O second; not BG GB NK KN TN NT ZZ), six digits, A-D. -#}
{%- set ni_number_is_valid_sql -%}
    coalesce(regexp_full_match(__col__, '[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]')
        and left(__col__, 2) not in ('BG', 'GB', 'NK', 'KN', 'TN', 'NT', 'ZZ'), false)
{%- endset -%}

{#- UPN: check letter, 11 digits, a digit or letter; the check letter is
    sum(value(char_i) * i, i = 2..13) mod 23 in ABCDEFGHJKLMNPQRTUVWXYZ. -#}
{%- set upn_is_valid_sql -%}
    coalesce(case when regexp_full_match(__col__, '[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]') then
        substr('ABCDEFGHJKLMNPQRTUVWXYZ', 1 + ((
            {%- for i in range(2, 14) %}
            {{ i }} * case when regexp_full_match(substr(__col__, {{ i }}, 1), '[0-9]')
                then cast(substr(__col__, {{ i }}, 1) as integer)
                else instr('ABCDEFGHJKLMNPQRTUVWXYZ', substr(__col__, {{ i }}, 1)) - 1 end
            {%- if not loop.last %} +{% endif %}
            {%- endfor %}
        ) % 23), 1) = left(__col__, 1)
    end, false)
{%- endset -%}

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
       from the latest row with a postcode, because people move.
#}
with

records as (

    select * from {{ ref('int_person_records') }}

),

nicknames as (

    -- a nickname mapping to several canonical forms (Al -> Alan, Albert) takes the first
    select
        upper(strip_accents(trim(name))) as name,
        min(upper(strip_accents(trim(canonical)))) as canonical
    from {{ ref('nicknames') }}
    group by 1

),

cleaned as (

    select
        person_record_id,
        source_system,
        source_record_id,
        record_key,
        source_feed,
        record_date,
        source_loaded_at,
        source_row_number,
        {{ clean_name_sql | replace('__col__', 'first_name') }} as first_name,
        {{ clean_name_sql | replace('__col__', 'middle_names') }} as middle_names,
        {{ clean_name_sql | replace('__col__', 'surname') }} as surname,
        dob as dob_raw,
        case when sex in ('M', 'F') then sex end as sex,
        {{ clean_address_sql | replace('__col__', 'address_line') }} as address_line,
        {{ clean_address_sql | replace('__col__', 'locality') }} as locality,
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
        {{ nhs_number_is_valid_sql | replace('__col__', 'nhs_number_raw') }} as nhs_number_valid,
        {{ ni_number_is_valid_sql | replace('__col__', 'ni_number_raw') }} as ni_number_valid,
        {{ upn_is_valid_sql | replace('__col__', 'upn_raw') }} as upn_valid,
        dob_raw is not null
            and (
                (month(dob_raw) = 1 and day(dob_raw) = 1)
                or year(dob_raw) <= 1900
            ) as dob_placeholder,
        case
            when length(postcode_compact) between 5 and 7
                and regexp_full_match(postcode_compact, '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
                then substr(postcode_compact, 1, length(postcode_compact) - 3)
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

{% set voted = ['first_name', 'middle_names', 'surname', 'dob', 'sex', 'nhs_number', 'ni_number', 'upn', 'pnc_id'] %}

long_values as (

    unpivot (
        select person_record_id, record_date,
            {% for column in voted %}cast({{ column }} as varchar) as {{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
        from standardised_rows
    )
    on {{ voted | join(', ') }}
    into name field value value

),

value_counts as (

    select person_record_id, field, value, count(*) as n_rows, max(record_date) as latest
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

    pivot votes on field in ({% for column in voted %}'{{ column }}'{% if not loop.last %}, {% endif %}{% endfor %})
    using first(value) group by person_record_id

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
        arg_max(
            {address_line: address_line, locality: locality, postcode: postcode, uprn: uprn},
            (postcode is not null or uprn is not null, record_date, source_loaded_at, source_row_number, record_key)
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
        per_record.latest_address.address_line as address_line,
        per_record.latest_address.locality as locality,
        per_record.latest_address.postcode as postcode,
        per_record.latest_address.uprn as uprn,
        voted_wide.nhs_number,
        voted_wide.ni_number,
        voted_wide.upn,
        voted_wide.pnc_id,
        per_record.has_invalid_nhs_number,
        per_record.has_invalid_ni_number,
        per_record.has_invalid_upn,
        per_record.has_placeholder_dob
    from per_record
    inner join voted_wide using (person_record_id)

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
        {{ soundex_sql | replace('__col__', 'joined.first_name') }} as first_name_soundex,
        joined.middle_names,
        joined.surname,
        {{ soundex_sql | replace('__col__', "regexp_replace(joined.surname, '[ -]', '', 'g')") }} as surname_soundex,
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
        joined.has_placeholder_dob
    from joined
    left join nicknames on nicknames.name = joined.first_name

)

select * from final
