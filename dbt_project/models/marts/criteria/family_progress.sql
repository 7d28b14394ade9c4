-- Progress of families attached to the programme: one row per programme case, as_at_date (cases attached on or
-- before it) and Supporting Families headline. Each headline's status among the case members at attachment and
-- during support (identification windows), at closure and six months after closure (resolution windows: the rule
-- met over the last resolution_lookback_months means unresolved), as known at the as_at_date.
-- During support = the identification points person_indicators already holds for the case members after the
-- attachment date and on or before closure: every quarter end in the three years to the reporting date (and the
-- attachment date of any other case a member is in). Quarterly granularity: a need that appears and goes within
-- one quarter, or during support older than the earliest quarter end evaluated, is not seen.
-- Claim rule (is_claim_candidate; not_claimable_reason says which part failed first):
--   - the case is closed and its six-month check is due;
--   - it has a lead practitioner, a whole-family assessment and a family action plan recorded on or before closure
--     (the claim's evidence of the way of working), and at least one need identified at attachment;
--   - the family was eligible at attachment: a dependent child (under 18) or an expectant parent among the case
--     members and the members of its family on the attachment date, and 3+ headlines met among the case members
--     (n_needs_at_attachment, the count the Family Progress Data reports);
--   - every need identified at attachment is resolved at closure and still resolved six months later;
--   - every need identified during support is resolved at closure and still resolved six months later, as the
--     outcomes framework's "every identified need" includes it: a headline not met at attachment but met during
--     support (status_during_support) or at closure (its rule met over the six months to closure). Met at
--     closure: new_need_not_resolved_at_closure; met again at the six-month check: new_need_not_sustained;
--   - support did not resume within those six months: no other case sharing a member or the family was open at
--     any time between this case's closure and its six-month check;
--   - the family has not been claimed for already: no other case sharing a member or the family meets every
--     rule above with an earlier six-month check (the same date: the lower case id is the claim). One result
--     per family, so two concurrent records of the same work do not claim twice.
-- A headline whose rule could not be measured at closure or the six-month check (not_measured: absence with no
-- attendance term in the window though the pupil had one the year before) is not resolved there: no evidence.
-- A headline first met at the six-month check (not at attachment, not during support, not at closure) arose after
-- support ended: it does not block the claim. is_new_need_after_attachment flags every headline met after
-- attachment but not at it (during support, at closure or six months after) for the auditor.

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

dim_person as (

    select * from {{ ref('dim_person') }}

),

expectant_windows as (

    select * from {{ ref('int_person_expectant_windows') }}

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

-- who counts for the dependent-child test at attachment: the case members and their family's members that day
attachment_people as (

    select
        programme_case_members.family_case_id,
        programme_case_members.person_id
    from programme_case_members

    union

    select
        case_families.family_case_id,
        family_membership.person_id
    from case_families
    inner join programme_cases
        on case_families.family_case_id = programme_cases.family_case_id
    inner join family_membership
        on
            case_families.family_id = family_membership.family_id
            and programme_cases.attached_date >= family_membership.valid_from
            and (family_membership.valid_to is null or programme_cases.attached_date < family_membership.valid_to)

),

attachment_households as (

    select
        programme_cases.family_case_id,
        count(distinct attachment_people.person_id) filter (
            where
            dim_person.dob <= programme_cases.attached_date
            and programme_cases.attached_date < {{ birthday('dim_person.dob', 18) }}
        ) as n_dependent_children_at_attachment,
        count(distinct expectant_windows.person_id) > 0 as is_expecting_at_attachment
    from programme_cases
    inner join attachment_people
        on programme_cases.family_case_id = attachment_people.family_case_id
    left join dim_person
        on attachment_people.person_id = dim_person.person_id
    left join expectant_windows
        on
            attachment_people.person_id = expectant_windows.person_id
            and programme_cases.attached_date >= expectant_windows.valid_from
            and (expectant_windows.valid_to is null or programme_cases.attached_date < expectant_windows.valid_to)
    group by programme_cases.family_case_id

),

-- what ties a case to a family: each member, and the family most members belonged to at attachment
case_family_keys as (

    select
        family_case_id,
        'person|' || person_id as family_key
    from programme_case_members

    union

    select
        family_case_id,
        'family|' || family_id as family_key
    from case_families

),

-- pairs of cases of the same family (sharing a member or the family): one claim per family
related_cases as (

    select distinct
        this_case.family_case_id,
        other_case.family_case_id as other_family_case_id
    from case_family_keys as this_case
    inner join case_family_keys as other_case
        on
            this_case.family_key = other_case.family_key
            and this_case.family_case_id <> other_case.family_case_id

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
        -- a rule not measured there (absence: attendance data stopping before the window) is no evidence of
        -- resolution: the headline reads not_measured unless another rule meets it
        bool_or(person_indicators.is_met is null) as is_not_measured,
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

-- the first identification point during support at which a headline is met among the case members, with the
-- events that met it there (a headline met at attachment is judged by the attachment rule instead)
during_support_headlines as (

    select
        programme_cases.family_case_id,
        person_indicators.headline_code,
        person_indicators.as_at_date as first_met_date,
        list_sort(list_distinct(flatten(list(person_indicators.evidence_event_ids)))) as evidence_event_ids
    from programme_cases
    inner join programme_case_members
        on programme_cases.family_case_id = programme_case_members.family_case_id
    inner join person_indicators
        on
            programme_case_members.person_id = person_indicators.person_id
            and programme_cases.attached_date < person_indicators.as_at_date
            and (programme_cases.closed_date is null or programme_cases.closed_date >= person_indicators.as_at_date)
    where
        person_indicators.lookback_basis = 'identification'
        and person_indicators.is_met
    group by programme_cases.family_case_id, person_indicators.headline_code, person_indicators.as_at_date
    qualify
        row_number() over (
            partition by programme_cases.family_case_id, person_indicators.headline_code
            order by person_indicators.as_at_date
        ) = 1

),

headline_statuses as (

    select
        family_case_id,
        headline_code,
        any_value(case when is_met then 'met' else 'on_cusp' end) filter (where checkpoint = 'attachment')
            as attachment_status,
        any_value(
            case when is_met then 'met' when is_not_measured then 'not_measured' else 'on_cusp' end
        ) filter (where checkpoint = 'closure') as closure_status,
        any_value(
            case when is_met then 'met' when is_not_measured then 'not_measured' else 'on_cusp' end
        ) filter (where checkpoint = 'sustained') as sustained_status,
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
        -- as known at the as_at_date: a point after it (the case still open then) was not seen yet
        case
            when headline_statuses.attachment_status = 'met' then 'met_at_attachment'
            when during_support_headlines.first_met_date <= as_at_dates.as_at_date then 'met'
            else 'not_met'
        end as status_during_support,
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
        case
            when
                coalesce(headline_statuses.attachment_status, 'not_met') <> 'met'
                and during_support_headlines.first_met_date <= as_at_dates.as_at_date
                then during_support_headlines.evidence_event_ids
        end as during_support_evidence_event_ids,
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
    left join during_support_headlines
        on
            programme_cases.family_case_id = during_support_headlines.family_case_id
            and criteria_needs.need_code = during_support_headlines.headline_code

),

judged as (

    select
        *,
        status_at_attachment = 'met' as is_need_at_attachment,
        status_at_closure in ('not_met', 'on_cusp') as is_resolved_at_closure,
        status_six_months_after_closure in ('not_met', 'on_cusp') as is_sustained,
        status_during_support = 'met'
        or (status_at_attachment <> 'met' and status_at_closure = 'met') as is_need_identified_during_support,
        status_at_attachment <> 'met'
        and (
            status_during_support = 'met'
            or status_at_closure = 'met'
            or status_six_months_after_closure = 'met'
        ) as is_new_need_after_attachment
    from case_headlines

),

counted as (

    select
        *,
        count(*) filter (where is_need_at_attachment) over case_at_date as n_needs_at_attachment,
        count(*) filter (where is_need_at_attachment and is_resolved_at_closure and is_sustained)
            over case_at_date as n_needs_resolved_and_sustained,
        count(*) filter (where is_new_need_after_attachment) over case_at_date as n_new_needs_after_attachment,
        -- needs identified during support still present at closure (not resolved), or back six months later
        count(*) filter (where is_need_identified_during_support and status_at_closure = 'met')
            over case_at_date as n_new_needs_not_resolved_at_closure,
        count(*) filter (where is_need_identified_during_support and status_six_months_after_closure = 'met')
            over case_at_date as n_new_needs_not_sustained
    from judged
    window case_at_date as (partition by family_case_id, as_at_date)

),

cases_at_date as (

    select distinct
        counted.family_case_id,
        counted.as_at_date,
        counted.attached_date,
        case when counted.closed_date <= counted.as_at_date then counted.closed_date end as closed_date,
        -- known once the case has closed by the as-at date (then it may lie after it: the check still to come)
        case when counted.closed_date <= counted.as_at_date then counted.sustained_check_date end
            as sustained_check_date,
        counted.key_worker_id,
        case when counted.assessment_date <= counted.as_at_date then counted.assessment_date end as assessment_date,
        case when counted.plan_date <= counted.as_at_date then counted.plan_date end as plan_date,
        counted.n_needs_at_attachment,
        counted.n_needs_resolved_and_sustained,
        counted.n_new_needs_not_resolved_at_closure,
        counted.n_new_needs_not_sustained,
        coalesce(attachment_households.n_dependent_children_at_attachment, 0) as n_dependent_children_at_attachment,
        coalesce(attachment_households.is_expecting_at_attachment, false) as is_expecting_at_attachment
    from counted
    left join attachment_households
        on counted.family_case_id = attachment_households.family_case_id

),

cases_eligible as (

    select
        *,
        (n_dependent_children_at_attachment > 0 or is_expecting_at_attachment)
        and n_needs_at_attachment >= 3 as is_eligible_at_attachment
    from cases_at_date

),

-- another case of the family open at some time between this one's closure and its six-month check, as known
-- at the as_at_date (a case still open then, or closed after it, counts as open)
support_resumed as (

    select distinct
        cases_eligible.family_case_id,
        cases_eligible.as_at_date
    from cases_eligible
    inner join related_cases
        on cases_eligible.family_case_id = related_cases.family_case_id
    inner join cases_eligible as other_case
        on
            related_cases.other_family_case_id = other_case.family_case_id
            and cases_eligible.as_at_date = other_case.as_at_date
    where
        cases_eligible.closed_date is not null
        and other_case.attached_date < cases_eligible.sustained_check_date
        and coalesce(other_case.closed_date, date '9999-12-31') > cases_eligible.closed_date

),

-- the first reason a case cannot be claimed, short of the one-claim-per-family rule
cases_judged as (

    select
        cases_eligible.*,
        support_resumed.family_case_id is not null as has_other_case_in_sustainment_period,
        case
            when cases_eligible.closed_date is null then 'not_closed'
            when cases_eligible.sustained_check_date > cases_eligible.as_at_date then 'sustainment_not_yet_due'
            when cases_eligible.key_worker_id is null then 'no_lead_practitioner'
            when not coalesce(cases_eligible.assessment_date <= cases_eligible.closed_date, false)
                then 'no_whole_family_assessment'
            when not coalesce(cases_eligible.plan_date <= cases_eligible.closed_date, false) then 'no_family_plan'
            when cases_eligible.n_needs_at_attachment = 0 then 'no_need_at_attachment'
            when not cases_eligible.is_eligible_at_attachment then 'not_eligible_at_attachment'
            when cases_eligible.n_needs_resolved_and_sustained < cases_eligible.n_needs_at_attachment
                then 'need_not_resolved_or_sustained'
            when cases_eligible.n_new_needs_not_resolved_at_closure > 0 then 'new_need_not_resolved_at_closure'
            when cases_eligible.n_new_needs_not_sustained > 0 then 'new_need_not_sustained'
            when support_resumed.family_case_id is not null then 'support_resumed_within_six_months'
        end as case_rule_failed
    from cases_eligible
    left join support_resumed
        on
            cases_eligible.family_case_id = support_resumed.family_case_id
            and cases_eligible.as_at_date = support_resumed.as_at_date

),

-- cases of the same family that pass every other rule with an earlier six-month check (ties: the lower id)
already_claimed as (

    select distinct
        cases_judged.family_case_id,
        cases_judged.as_at_date
    from cases_judged
    inner join related_cases
        on cases_judged.family_case_id = related_cases.family_case_id
    inner join cases_judged as earlier_claim
        on
            related_cases.other_family_case_id = earlier_claim.family_case_id
            and cases_judged.as_at_date = earlier_claim.as_at_date
    where
        earlier_claim.case_rule_failed is null
        and (earlier_claim.sustained_check_date, earlier_claim.family_case_id)
        < (cases_judged.sustained_check_date, cases_judged.family_case_id)

),

claims as (

    select
        cases_judged.family_case_id,
        cases_judged.as_at_date,
        cases_judged.n_dependent_children_at_attachment,
        cases_judged.is_expecting_at_attachment,
        cases_judged.is_eligible_at_attachment,
        cases_judged.has_other_case_in_sustainment_period,
        already_claimed.family_case_id is not null as is_family_already_claimed,
        coalesce(
            cases_judged.case_rule_failed,
            case when already_claimed.family_case_id is not null then 'family_already_claimed' end
        ) as not_claimable_reason
    from cases_judged
    left join already_claimed
        on
            cases_judged.family_case_id = already_claimed.family_case_id
            and cases_judged.as_at_date = already_claimed.as_at_date

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
        -- known once the case has closed by the as-at date (then it may lie after it: the check still to come)
        case when counted.closed_date <= counted.as_at_date then counted.sustained_check_date end
            as sustained_check_date,
        counted.intensity,
        counted.key_worker_id,
        case when counted.assessment_date <= counted.as_at_date then counted.assessment_date end as assessment_date,
        case when counted.plan_date <= counted.as_at_date then counted.plan_date end as plan_date,
        counted.n_case_members,
        counted.status_at_attachment,
        counted.status_during_support,
        counted.status_at_closure,
        counted.status_six_months_after_closure,
        counted.is_need_at_attachment,
        counted.is_need_at_attachment and counted.is_resolved_at_closure and counted.is_sustained
            as is_resolved_and_sustained,
        counted.n_needs_at_attachment,
        counted.n_needs_resolved_and_sustained,
        claims.n_dependent_children_at_attachment,
        claims.is_expecting_at_attachment,
        claims.is_eligible_at_attachment,
        counted.is_need_identified_during_support,
        counted.is_new_need_after_attachment,
        counted.n_new_needs_after_attachment,
        claims.has_other_case_in_sustainment_period,
        claims.is_family_already_claimed,
        claims.not_claimable_reason is null as is_claim_candidate,
        claims.not_claimable_reason,
        counted.attachment_evidence_event_ids,
        counted.during_support_evidence_event_ids,
        case
            when counted.status_at_closure in ('met', 'on_cusp', 'not_measured')
                then counted.closure_evidence_event_ids
        end as closure_evidence_event_ids,
        case
            when counted.status_six_months_after_closure in ('met', 'on_cusp', 'not_measured')
                then counted.sustained_evidence_event_ids
        end as sustained_evidence_event_ids
    from counted
    inner join claims
        on
            counted.family_case_id = claims.family_case_id
            and counted.as_at_date = claims.as_at_date
    left join case_families
        on counted.family_case_id = case_families.family_case_id

)

select * from final
