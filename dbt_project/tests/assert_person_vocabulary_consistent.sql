{#
    Every person-bearing staging model (macros/staging.sql: person_models) carries every
    column of the shared person vocabulary with the agreed type, so the linkage step can
    union them. Returns one row per missing or mistyped column; reads only the catalogue.
#}
{%- for model in person_models() %}
-- depends_on: {{ ref(model) }}
{%- endfor %}

with

expected_columns as (

    {% for column, data_type in person_vocabulary().items() -%}
    select '{{ column }}' as column_name, '{{ data_type }}' as expected_type
    {% if not loop.last %}union all {% endif %}
    {%- endfor %}

),

person_models as (

    {% for model in person_models() -%}
    select '{{ ref(model).identifier }}' as table_name, '{{ ref(model).schema }}' as table_schema
    {% if not loop.last %}union all {% endif %}
    {%- endfor %}

),

actual_columns as (

    select
        table_schema,
        table_name,
        column_name,
        data_type
    from information_schema.columns
    where table_catalog = '{{ target.database }}'

),

final as (

    select
        person_models.table_name,
        expected_columns.column_name,
        expected_columns.expected_type,
        actual_columns.data_type as actual_type
    from person_models
    cross join expected_columns
    left join actual_columns
        on
            person_models.table_schema = actual_columns.table_schema
            and person_models.table_name = actual_columns.table_name
            and expected_columns.column_name = actual_columns.column_name
    where actual_columns.data_type is distinct from expected_columns.expected_type

)

select * from final
