-- Progress of families attached to the programme: one row per programme case, as_at_date (cases attached on or
-- before it) and Supporting Families headline. Each headline's status among the case members at attachment
-- (identification windows), at closure and six months after closure (resolution windows: the rule met over the
-- last resolution_lookback_months means unresolved), as known at the as_at_date.
-- Claim rule: the case has a lead practitioner, at least one need identified at attachment, and every need
-- identified at attachment is resolved at closure and still resolved six months later (so a need that recurs
-- within six months of closure fails it). Needs first seen after attachment do not block a claim.

with

as_at_dates as (

    select * from {{ ref('int_criteria__as_at_dates') }}

),

programme_cases as (

    select * from {{ ref('int_criteria__programme_cases') }}

),

programme_case_members as (

    select * from {{ ref('int_criteria__programme_case_members') }}

),

person_indicators as (

    select * from {{ ref('int_criteria__person_indicators') }}

),

family_membership as (

    select * from {{ ref('family_membership') }}

),

criteria_needs as (

    select * from {{ ref('criteria_needs') }}
    where programme = 'SF'

),

-- the family most of the case members belonged to when the case was attached
case_families as (

    select
        programme_cases.family_case_id,
        family_membership.family_id
    from programme_cases
    inner join programme_case_members
        on programme_cases.family_case_id = programme_case_members.family_case_id
    inner join family_membership
        on
            programme_case_members.person_id = family_membership.person_id
            and programme_cases.attached_date >= family_membership.valid_from
            and (family_membership.valid_to is null or programme_cases.attached_date < family_membership.valid_to)
    group by programme_cases.family_case_id, family_membership.family_id
    qualify
        row_number() over (
            partition by programme_cases.family_case_id
            order by count(distinct programme_case_members.person_id) desc, family_membership.family_id
        ) = 1

),

checkpoints as (

    select
        family_case_id,
        'attachment' as checkpoint,
        attached_date as checkpoint_date,
        'identification' as lookback_basis
    from programme_cases

    union all

    select
        family_case_id,
        'closure' as checkpoint,
        closed_date as checkpoint_date,
        'resolution' as lookback_basis
    from programme_cases
    where closed_date is not null

    union all

    select
        family_case_id,
        'sustained' as checkpoint,
        sustained_check_date as checkpoint_date,
        'resolution' as lookback_basis
    from programme_cases
    where sustained_check_date is not null

),

checkpoint_headlines as (

    select
        checkpoints.family_case_id,
        checkpoints.checkpoint,
        person_indicators.headline_code,
        bool_or(person_indicators.is_met) as is_met,
        list_sort(list_distinct(flatten(list(person_indicators.evidence_event_ids)))) as evidence_event_ids
    from checkpoints
    inner join programme_case_members
        on checkpoints.family_case_id = programme_case_members.family_case_id
    inner join person_indicators
        on
            programme_case_members.person_id = person_indicators.person_id
            and checkpoints.checkpoint_date = person_indicators.as_at_date
            and checkpoints.lookback_basis = person_indicators.lookback_basis
    group by checkpoints.family_case_id, checkpoints.checkpoint, person_indicators.headline_code

),

headline_statuses as (

    select
        family_case_id,
        headline_code,
        any_value(case when is_met then 'met' else 'on_cusp' end) filter (where checkpoint = 'attachment')
            as attachment_status,
        any_value(case when is_met then 'met' else 'on_cusp' end) filter (where checkpoint = 'closure')
            as closure_status,
        any_value(case when is_met then 'met' else 'on_cusp' end) filter (where checkpoint = 'sustained')
            as sustained_status,
        any_value(evidence_event_ids) filter (where checkpoint = 'attachment') as attachment_evidence_event_ids,
        any_value(evidence_event_ids) filter (where checkpoint = 'closure') as closure_evidence_event_ids,
        any_value(evidence_event_ids) filter (where checkpoint = 'sustained') as sustained_evidence_event_ids
    from checkpoint_headlines
    group by family_case_id, headline_code

),

case_headlines as (

    select
        programme_cases.*,
        as_at_dates.as_at_date,
        criteria_needs.need_code as headline_code,
        criteria_needs.need_name as headline_name,
        coalesce(headline_statuses.attachment_status, 'not_met') as status_at_attachment,
        case
            when programme_cases.closed_date is null or programme_cases.closed_date > as_at_dates.as_at_date
                then 'not_closed'
            else coalesce(headline_statuses.closure_status, 'not_met')
        end as status_at_closure,
        case
            when programme_cases.closed_date is null or programme_cases.closed_date > as_at_dates.as_at_date
                then 'not_closed'
            when programme_cases.sustained_check_date > as_at_dates.as_at_date then 'not_yet_due'
            else coalesce(headline_statuses.sustained_status, 'not_met')
        end as status_six_months_after_closure,
        headline_statuses.attachment_evidence_event_ids,
        headline_statuses.closure_evidence_event_ids,
        headline_statuses.sustained_evidence_event_ids
    from programme_cases
    inner join as_at_dates
        on programme_cases.attached_date <= as_at_dates.as_at_date
    cross join criteria_needs
    left join headline_statuses
        on
            programme_cases.family_case_id = headline_statuses.family_case_id
            and criteria_needs.need_code = headline_statuses.headline_code

),

judged as (

    select
        *,
        status_at_attachment = 'met' as is_need_at_attachment,
        status_at_closure in ('not_met', 'on_cusp') as is_resolved_at_closure,
        status_six_months_after_closure in ('not_met', 'on_cusp') as is_sustained
    from case_headlines

),

counted as (

    select
        *,
        count(*) filter (where is_need_at_attachment) over case_at_date as n_needs_at_attachment,
        count(*) filter (where is_need_at_attachment and is_resolved_at_closure and is_sustained)
            over case_at_date as n_needs_resolved_and_sustained
    from judged
    window case_at_date as (partition by family_case_id, as_at_date)

),

final as (

    select
        counted.family_case_id,
        counted.as_at_date,
        counted.headline_code,
        counted.headline_name,
        case_families.family_id,
        counted.attached_date,
        case when counted.closed_date <= counted.as_at_date then counted.closed_date end as closed_date,
        counted.sustained_check_date,
        counted.intensity,
        counted.key_worker_id,
        counted.n_case_members,
        counted.status_at_attachment,
        counted.status_at_closure,
        counted.status_six_months_after_closure,
        counted.is_need_at_attachment,
        counted.is_need_at_attachment and counted.is_resolved_at_closure and counted.is_sustained
            as is_resolved_and_sustained,
        counted.n_needs_at_attachment,
        counted.n_needs_resolved_and_sustained,
        counted.key_worker_id is not null
        and counted.n_needs_at_attachment > 0
        and counted.n_needs_resolved_and_sustained = counted.n_needs_at_attachment as is_claim_candidate,
        counted.attachment_evidence_event_ids,
        case when counted.status_at_closure in ('met', 'on_cusp') then counted.closure_evidence_event_ids end
            as closure_evidence_event_ids,
        case
            when counted.status_six_months_after_closure in ('met', 'on_cusp')
                then counted.sustained_evidence_event_ids
        end as sustained_evidence_event_ids
    from counted
    left join case_families
        on counted.family_case_id = case_families.family_case_id

)

select * from final
