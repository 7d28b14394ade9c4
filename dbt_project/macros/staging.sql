{#
    Small, reusable expressions for the staging layer. Each returns a SQL expression.
    They only trim, retype and standardise codes: name, postcode and identifier
    standardisation proper belongs to the linkage step.
#}

{# Trim surrounding whitespace (spaces, tabs, line breaks); empty text becomes NULL. #}
{% macro clean_text(column) -%}
    nullif(regexp_replace(cast({{ column }} as varchar), '^\s+|\s+$', '', 'g'), '')
{%- endmacro %}

{#
    A source code as an upper-case token: trimmed, upper-cased, runs of spaces and
    punctuation replaced by one underscore ('Lead Adult' -> 'LEAD_ADULT', ' n1 ' -> 'N1').
#}
{% macro clean_code(column) -%}
    nullif(
        regexp_replace(
            regexp_replace(upper(cast({{ column }} as varchar)), '[^A-Z0-9]+', '_', 'g'),
            '^_+|_+$', '', 'g'
        ),
        ''
    )
{%- endmacro %}

{#
    Sex as 'M', 'F' or 'U'. Male/M/1 -> 'M'; Female/F/2 -> 'F'; any other delivered
    value (Unknown, U, I, X, 9, 0 ...) -> 'U'; blank or missing -> NULL.
#}
{% macro standardise_sex(column) -%}
    case
        when {{ clean_code(column) }} is null then null
        when {{ clean_code(column) }} in ('M', 'MALE', '1') then 'M'
        when {{ clean_code(column) }} in ('F', 'FEMALE', '2') then 'F'
        else 'U'
    end
{%- endmacro %}

{# A yes/no style flag as boolean: Y/YES/TRUE/T/1 -> true, N/NO/FALSE/F/0 -> false, else NULL. #}
{% macro to_boolean(column) -%}
    case
        when {{ clean_code(column) }} in ('Y', 'YES', 'TRUE', 'T', '1') then true
        when {{ clean_code(column) }} in ('N', 'NO', 'FALSE', 'F', '0') then false
    end
{%- endmacro %}

{#
    The record key: the feed's key columns as text joined with '|'. NULL when any part
    is NULL, so the not_null test on record_key catches incomplete keys.
#}
{% macro record_key(columns) -%}
    {%- for column in columns -%}
        cast({{ column }} as varchar){% if not loop.last %} || '|' || {% endif %}
    {%- endfor -%}
{%- endmacro %}

{#
    A predicate keeping a raw table's rows out of staging while their delivery is quarantined:
    the raw gate (orchestration/defs/quality/checks.py) records in raw._quarantined_deliveries
    each delivery that failed one of its blocking checks, because staging reads every delivery
    and the gate judges only the latest, so a later good delivery would otherwise let the
    rejected rows through. A row whose released_at is set (a deliberate release) counts again.
    The table is read only when it exists (a warehouse whose raw gate never failed has none),
    and isn't a dbt source, so each staging model keeps the one raw source the gates key on.
#}
{% macro not_quarantined(delivery_id_column='_delivery_id') -%}
    {%- set quarantine = adapter.get_relation(
        database=target.database, schema='raw', identifier='_quarantined_deliveries'
    ) if execute else none -%}
    {%- if quarantine is not none -%}
        {{ delivery_id_column }} not in (
            select delivery_id from {{ quarantine }}
            where released_at is null and delivery_id is not null
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#
    Rows of a delivery that a later full extract of the same feed supersedes are left out. A full extract
    (`extract: full` in orchestration/feeds.yml; landing records it in raw._deliveries.full_extract) holds every
    record the source holds, so a record it no longer carries was withdrawn (or its key corrected) at source.
    "Later" is the staging order of deliveries: extract date, then landing time (latest_version_first), so a
    late resend of an older extract supersedes nothing. A full extract with a row rejected at landing supersedes
    nothing (that row's record would look withdrawn) until one lands whole. A full extract held in quarantine
    supersedes nothing; a released one does. orchestration/lib/deliveries.py is the same rule in Python (landing's
    notes, the raw and staged gates).
#}
{% macro not_superseded(delivery_id_column='_delivery_id') -%}
    {%- set deliveries = adapter.get_relation(
        database=target.database, schema='raw', identifier='_deliveries'
    ) if execute else none -%}
    {%- set has_flag = deliveries is not none
        and 'full_extract' in adapter.get_columns_in_relation(deliveries) | map(attribute='name') | list -%}
    {%- set quarantine = adapter.get_relation(
        database=target.database, schema='raw', identifier='_quarantined_deliveries'
    ) if execute else none -%}
    {%- if has_flag -%}
        {{ delivery_id_column }} not in (
            select older.delivery_id
            from {{ deliveries }} as older
            inner join {{ deliveries }} as later_full
                on later_full.feed = older.feed
                and later_full.full_extract
                and later_full.status = 'landed'
                and later_full.rows_rejected = 0
                and (coalesce(later_full.extract_date, cast(later_full.landed_at as date)), later_full.landed_at)
                > (coalesce(older.extract_date, cast(older.landed_at as date)), older.landed_at)
            where older.status = 'landed'
            {%- if quarantine is not none %}
                and later_full.delivery_id not in (
                    select delivery_id from {{ quarantine }}
                    where released_at is null and delivery_id is not null
                )
            {%- endif %}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#
    Landing's provenance columns, renamed for staging, and source_extracted_on, which orders a record's
    versions (latest_version_first): it stays inside the model, not in its columns.
#}
{% macro provenance_columns() -%}
    _delivery_id as source_delivery_id,
    _file_name as source_file_name,
    _row_number as source_row_number,
    _loaded_at as source_loaded_at,
    {{ delivery_extracted_on() }} as source_extracted_on
{%- endmacro %}

{#
    The date a raw row's delivery was extracted: the date in its file name, which landing records in
    raw._deliveries.extract_date (orchestration/lib/feeds.py: Feed.extract_date), else the day it landed.
    A warehouse whose raw._deliveries has no extract_date yet (landing adds it) orders by landing day.
#}
{% macro delivery_extracted_on(delivery_id_column='_delivery_id', loaded_at_column='_loaded_at') -%}
    {%- set deliveries = adapter.get_relation(
        database=target.database, schema='raw', identifier='_deliveries'
    ) if execute else none -%}
    {%- set has_extract_date = deliveries is not none
        and 'extract_date' in adapter.get_columns_in_relation(deliveries) | map(attribute='name') | list -%}
    {%- if has_extract_date -%}
        coalesce(
            (
                select max(deliveries.extract_date) from {{ deliveries }} as deliveries
                where deliveries.delivery_id = {{ delivery_id_column }} and deliveries.status = 'landed'
            ),
            cast({{ loaded_at_column }} as date)
        )
    {%- else -%}
        cast({{ loaded_at_column }} as date)
    {%- endif -%}
{%- endmacro %}

{#
    The order of a record's versions, latest first: the delivery's extract date, so a resend of an older
    extract landing after a newer one does not replace it; then landing time (a same-day correction landed
    later wins); then row number (a record repeated in one file: its last row). expectations/staged_gate.py
    replicates it.
#}
{% macro latest_version_first() -%}
    source_extracted_on desc, source_loaded_at desc, source_row_number desc
{%- endmacro %}

{#
    Person-bearing staging models: every one carries the shared person vocabulary below,
    with these types, so the linkage step can union them. Checked by
    tests/test_pipeline.py::test_person_models_share_one_vocabulary.
#}
{% macro person_models() -%}
    {{ return([
        'stg_social_care__persons',
        'stg_early_help__episode_members',
        'stg_education__pupil_enrolments',
        'stg_education__attendance_terms',
        'stg_education__exclusions',
        'stg_police__incident_nominals',
        'stg_youth_justice__outcomes',
        'stg_dwp__benefit_claims',
        'stg_health__service_referrals',
        'stg_housing__events',
        'stg_programme__case_members'
    ]) }}
{%- endmacro %}

{#- The least age (years) a person can have on a row of this staging model at its record_date, or null: an
    offender or suspect is at least 10 (the age of criminal responsibility in England and Wales), and so is a
    youth justice outcome's subject. Clustering refuses to put such a row with a date of birth that makes the
    person younger (linkage/cluster.py): a same-name son's records and his father's offence recorded without a
    date of birth. (Benefit claimants, 16 or older, were tried too: a day/month transposed DOB near the 16th
    birthday split 30 true persons at 1M source rows and kept no one apart, so they are left out.) -#}
{% macro min_age_at_record(model) -%}
    {%- if model == 'stg_police__incident_nominals' -%}
        cast(case when nominal_role in ('OFFENDER', 'SUSPECT') then 10 end as integer)
    {%- elif model == 'stg_youth_justice__outcomes' -%}
        cast(10 as integer)
    {%- else -%}
        cast(null as integer)
    {%- endif -%}
{%- endmacro %}

{% macro person_vocabulary() -%}
    {{ return({
        'record_key': 'VARCHAR',
        'source_system': 'VARCHAR',
        'source_feed': 'VARCHAR',
        'source_record_id': 'VARCHAR',
        'first_name': 'VARCHAR',
        'middle_names': 'VARCHAR',
        'surname': 'VARCHAR',
        'dob': 'DATE',
        'sex': 'VARCHAR',
        'address_line': 'VARCHAR',
        'locality': 'VARCHAR',
        'postcode': 'VARCHAR',
        'uprn': 'VARCHAR',
        'nhs_number': 'VARCHAR',
        'ni_number': 'VARCHAR',
        'upn': 'VARCHAR',
        'pnc_id': 'VARCHAR',
        'record_date': 'DATE',
        'source_delivery_id': 'VARCHAR',
        'source_file_name': 'VARCHAR',
        'source_row_number': 'BIGINT',
        'source_loaded_at': 'TIMESTAMP'
    }) }}
{%- endmacro %}
