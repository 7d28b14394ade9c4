{#
    Expressions shared by the marts (families, events, criteria). Each returns a SQL expression
    unless it says otherwise.
#}

{#
    The event id: one id per staging row, the same in every model that refers to an event
    (fct_event, the criteria evidence lists, the returns):
    md5(source_feed || '|' || record_key).
#}
{% macro event_id(source_feed, record_key) -%}
    md5(cast({{ source_feed }} as varchar) || '|' || cast({{ record_key }} as varchar))
{%- endmacro %}

{#
    The as-at date of ages, families and criteria: the dbt var `reporting_date`
    (`--vars '{reporting_date: 2026-03-31}'`), or the run date when it is null.
#}
{#- The as-at date: the var `reporting_date`, else FAMILYHUB_REPORTING_DATE (what Dagster sets: an
    environment variable, unlike --vars, keeps dbt's partial parse), else the run date. -#}
{% macro reporting_date() -%}
    {%- set value = var('reporting_date', none) or env_var('FAMILYHUB_REPORTING_DATE', '') -%}
    {%- if value is none or value | string | trim in ('', 'None', 'null') -%}
        current_date
    {%- else -%}
        cast('{{ value }}' as date)
    {%- endif -%}
{%- endmacro %}

{#
    The date a person born on `dob` reaches `years` (an integer) of age. Someone born on
    29 February reaches it on 1 March in a non-leap year (DuckDB's date arithmetic would
    give 28 February).
#}
{% macro birthday(dob, years) -%}
    (cast({{ dob }} + to_years({{ years }}) as date)
        + case
            when month({{ dob }}) = 2 and day({{ dob }}) = 29
                and day(cast({{ dob }} + to_years({{ years }}) as date)) = 28 then 1
            else 0
        end)
{%- endmacro %}

{# Age in whole years on `on_date`, consistent with birthday() (29 February counts from 1 March). #}
{% macro age_on(dob, on_date) -%}
    (year({{ on_date }}) - year({{ dob }})
        - case when strftime({{ on_date }}, '%m%d') < strftime({{ dob }}, '%m%d') then 1 else 0 end)
{%- endmacro %}

{# An address line as a matching key: upper case, accents stripped, punctuation to spaces, spaces collapsed. #}
{% macro standard_address(column) -%}
    nullif(trim(regexp_replace(regexp_replace(
        upper(strip_accents({{ column }})), '[^A-Z0-9\s]', ' ', 'g'), '\s+', ' ', 'g')), '')
{%- endmacro %}

{# A postcode as 'OUTWARD INWARD' (upper case, one space); NULL when not a UK postcode shape. #}
{% macro standard_postcode(column) -%}
    case
        when regexp_full_match(
            regexp_replace(upper({{ column }}), '[^A-Z0-9]', '', 'g'),
            '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}'
        )
            then regexp_replace(
                regexp_replace(upper({{ column }}), '[^A-Z0-9]', '', 'g'), '([0-9][A-Z]{2})$', ' \1'
            )
    end
{%- endmacro %}

{#
    The event-bearing staging models (one row = one event, with event_type and event_date),
    in the order fct_event unions them. Returns a list, not SQL.
#}
{% macro event_models() -%}
    {{ return([
        'stg_social_care__episodes',
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

{#
    No event lost: rows per source_feed in `model` equal the staging counts per source_feed
    (int_event_staging_counts, counted straight from every event-bearing staging model).
    Returns the feeds whose counts differ. The counts live in a model, not in this test, so
    that building staging alone does not select this test (dbt selects a test with any parent).
#}
{% test event_counts_match_staging(model) %}

with

staged as (

    select * from {{ ref('int_event_staging_counts') }}

),

in_model as (

    select source_feed, count(*) as n_in_model from {{ model }} group by source_feed

),

final as (

    select
        coalesce(staged.source_feed, in_model.source_feed) as source_feed,
        coalesce(staged.n_staged, 0) as n_staged,
        coalesce(in_model.n_in_model, 0) as n_in_model
    from staged
    full outer join in_model on staged.source_feed = in_model.source_feed
    where coalesce(staged.n_staged, 0) <> coalesce(in_model.n_in_model, 0)

)

select * from final

{% endtest %}

{# Every row satisfies `expression` (a boolean SQL expression over the model's columns). #}
{% test expression_holds(model, expression) %}

select * from {{ model }} where not coalesce(({{ expression }}), false)

{% endtest %}

{#
    Does an event meet a row of the criteria_indicator_events seed? The one match rule of the
    criteria and of fct_event's criteria lists: same feed, and each of event type, role and
    criteria event code equal or '*' in the seed. event_code: the event's criteria event code column.
#}
{% macro event_meets_indicator_rule(events, rules, event_code='event_code') -%}
    {{ events }}.source_feed = {{ rules }}.source_feed
    and ({{ rules }}.event_type = '*' or {{ events }}.event_type = {{ rules }}.event_type)
    and ({{ rules }}.event_role = '*' or {{ events }}.event_role = {{ rules }}.event_role)
    and ({{ rules }}.event_code = '*' or {{ events }}.{{ event_code }} = {{ rules }}.event_code)
{%- endmacro %}
