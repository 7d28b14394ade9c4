{#
    One row per delivery landed (raw._deliveries, status 'landed') as this staging build found them, with
    whether it was held in quarantine then (raw._quarantined_deliveries, not released: staging leaves its rows
    out, macro not_quarantined). Built in the same dbt invocation as the feed staging models, after them, and
    no file lands while dbt holds the warehouse, so these are the deliveries those staging tables, and the
    marts built from them, read (staging keeps each record's latest version, and a full extract supersedes
    earlier deliveries' rows, so not every delivery listed still contributes a row): what a return's manifest
    records (returns/build.py, built_from), where a delivery landed after staging ran would otherwise be
    listed though no mart holds its rows.

    The landing tables are not dbt sources (as in macros/staging.sql, whose not_quarantined is the quarantine
    rule here too): raw._deliveries exists once any file has landed, before any staging model can build.
#}
{#-
    Built after every feed's staging model, and skipped when one fails: in Dagster it is then downstream of
    every landing asset, so each run that restages a feed rebuilds it, and it never lists a delivery whose
    staging failed. (A new feed's staging model goes in this list: tests/test_returns_built_from.py checks.)
-#}
{%- set feed_models = [
    'stg_dwp__benefit_claims', 'stg_early_help__episode_members', 'stg_education__attendance_terms',
    'stg_education__exclusions', 'stg_education__pupil_enrolments', 'stg_health__service_referrals',
    'stg_housing__events', 'stg_police__incident_nominals', 'stg_programme__case_members',
    'stg_social_care__episodes', 'stg_social_care__persons', 'stg_social_care__relationships',
    'stg_youth_justice__outcomes',
] %}
{%- for model in feed_models %}
-- depends_on: {{ ref(model) }}
{%- endfor %}
{%- set deliveries = api.Relation.create(database=target.database, schema='raw', identifier='_deliveries') %}

with

landed as (

    select
        delivery_id,
        feed,
        file_name,
        file_sha256,
        extract_date,
        landed_at
    from {{ deliveries }}
    where status = 'landed'

),

final as (

    select
        landed.*,
        case when {{ not_quarantined('delivery_id') }} then false else true end as is_held_in_quarantine
    from landed

)

select * from final
