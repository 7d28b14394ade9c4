{#
    One row per delivery landed (raw._deliveries, status 'landed') as this staging build found them, with
    whether it was held in quarantine then (raw._quarantined_deliveries, not released: staging leaves its rows
    out, macro not_quarantined). Built in the same dbt invocation as the other staging models, and no file
    lands while dbt holds the warehouse, so these are the deliveries the staging tables, and the marts built
    from them, were made of: what a return's manifest records (returns/build.py, built_from), where a
    delivery landed after staging ran would otherwise be listed though no mart holds its rows.

    The landing tables are not dbt sources (as in macros/staging.sql, whose not_quarantined is the quarantine
    rule here too): raw._deliveries exists once any file has landed, before any staging model can build.
#}
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
        delivery_id,
        feed,
        file_name,
        file_sha256,
        extract_date,
        landed_at,
        case when {{ not_quarantined('delivery_id') }} then false else true end as is_held_in_quarantine
    from landed

)

select * from final
