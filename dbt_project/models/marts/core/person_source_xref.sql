{#
    The record locator: every source person record -> person_id, with the dates the record
    was seen. One row per person record (source_system, source_record_id).
#}
with

crosswalk as (

    select * from {{ source('linkage', 'person_crosswalk') }}

),

person_records as (

    select * from {{ ref('int_person_records_standardised') }}

),

final as (

    select
        crosswalk.person_id,
        crosswalk.source_system,
        crosswalk.source_record_id,
        crosswalk.person_record_id,
        person_records.first_record_date as first_seen_date,
        person_records.last_record_date as last_seen_date,
        person_records.n_source_rows
    from crosswalk
    left join person_records on crosswalk.person_record_id = person_records.person_record_id

)

select * from final
