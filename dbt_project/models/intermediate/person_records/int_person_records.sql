{#
    Every person-bearing staging model in one vocabulary, one row per source row (record key).

    The unit of linkage is not this row but the person record (source_system, source_record_id):
    a system's person id repeats across its event rows. This model keeps the row grain so that
    the standardised model can vote across a person record's rows and so that evaluation can join
    rows to the synthetic truth by (source_feed, record_key).
#}
with

unioned as (

    {% for model in person_models() %}
    select
    {% for column in person_vocabulary().keys() %}
        {{ column }}{% if not loop.last %},{% endif %}
    {% endfor %}
    from {{ ref(model) }}
    where source_record_id is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        md5(source_system || '|' || source_record_id) as person_record_id,
        *
    from unioned

)

select * from final
