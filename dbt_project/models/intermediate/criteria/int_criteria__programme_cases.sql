-- Programme cases (the council's Supporting Families case records), one row per case, with the dates
-- family_progress judges needs at: attachment, closure and six months after closure.

with

case_members as (

    select * from {{ ref('stg_programme__case_members') }}

),

case_members_counted as (

    -- how many of the case's members have each key worker, and the latest attachment with them
    select
        *,
        count(key_worker_id) over (partition by family_case_id, key_worker_id) as key_worker_members,
        max(event_date) over (partition by family_case_id, key_worker_id) as key_worker_latest
    from case_members

),

cases as (

    -- every tie is broken by a value, so a rebuild on the same records gives the same case (DuckDB's mode()
    -- breaks ties arbitrarily)
    select
        family_case_id,
        min(event_date) as attached_date,
        -- a case is closed once every member's attachment has ended
        case when count(*) = count(end_date) then max(end_date) end as closed_date,
        -- the most intensive support any member received
        arg_max(
            intensity,
            (
                case intensity when 'INTENSIVE' then 3 when 'TARGETED' then 2 when 'LIGHT_TOUCH' then 1 else 0 end,
                intensity
            )
        ) as intensity,
        -- the key worker most members have; ties: the latest attached member's, then the greatest id
        arg_max(key_worker_id, (key_worker_members, key_worker_latest, key_worker_id)) as key_worker_id,
        -- recorded against any member: the earliest (the case system copies them to every member's row)
        min(assessment_date) as assessment_date,
        min(plan_date) as plan_date,
        count(*) as n_case_members
    from case_members_counted
    group by family_case_id

),

final as (

    select
        family_case_id,
        attached_date,
        closed_date,
        cast(closed_date + interval 6 month as date) as sustained_check_date,
        intensity,
        key_worker_id,
        assessment_date,
        plan_date,
        n_case_members
    from cases

)

select * from final
