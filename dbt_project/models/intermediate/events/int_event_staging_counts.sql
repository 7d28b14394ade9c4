{#
    Rows per source_feed of every event-bearing staging model (event_models()): the other side
    of the no-event-lost reconciliation (test event_counts_match_staging on int_events and
    fct_event).
#}
with

{% for staging_model in event_models() %}
{{ staging_model }} as (

    select
        source_feed,
        count(*) as n_staged
    from {{ ref(staging_model) }}
    group by source_feed

),

{% endfor %}
all_counts as (

    {% for staging_model in event_models() %}
    select * from {{ staging_model }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        source_feed,
        cast(sum(n_staged) as bigint) as n_staged
    from all_counts
    group by source_feed

)

select * from final
