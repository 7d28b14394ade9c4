{#
    Every person-bearing staging model in one vocabulary, one row per source row (record key).

    min_age_at_record: the least age a person can have on a row of this kind at its record_date (macro
    min_age_at_record), so that clustering never gives an offender a date of birth under the age of criminal
    responsibility.

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
        {{ column }},
        {% endfor %}
        {{ min_age_at_record(model) }} as min_age_at_record
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
