{#
    When a person is known to be expecting a child, so a household without children yet
    counts as a family. Assumed evidence (the feeds carry no pregnancy field):
    - a perinatal mental health referral (health): the referred person, from the referral
      for nine months (perinatal services see parents in pregnancy and the first year);
    - an early help case with an unborn member: the case's adults, from the episode start to
      its end (at most nine months).
#}
with

health_referrals as (

    select * from {{ ref('stg_health__service_referrals') }}

),

early_help_members as (

    select * from {{ ref('stg_early_help__episode_members') }}

),

crosswalk as (

    select * from {{ source('linkage', 'person_crosswalk') }}

),

perinatal as (

    select
        crosswalk.person_id,
        health_referrals.event_date as valid_from,
        cast(health_referrals.event_date + interval 9 month as date) as valid_to,
        'perinatal_mental_health' as basis
    from health_referrals
    inner join crosswalk
        on
            health_referrals.source_system = crosswalk.source_system
            and health_referrals.source_record_id = crosswalk.source_record_id
    where health_referrals.service = 'PERINATAL_MH' and health_referrals.event_date is not null

),

unborn_cases as (

    select distinct case_ref
    from early_help_members
    where role_in_family = 'UNBORN'

),

early_help_unborn as (

    select
        crosswalk.person_id,
        early_help_members.event_date as valid_from,
        least(
            coalesce(early_help_members.end_date, date '9999-12-31'),
            cast(early_help_members.event_date + interval 9 month as date)
        ) as valid_to,
        'early_help_unborn_member' as basis
    from early_help_members
    inner join unborn_cases on early_help_members.case_ref = unborn_cases.case_ref
    inner join crosswalk
        on
            early_help_members.source_system = crosswalk.source_system
            and early_help_members.source_record_id = crosswalk.source_record_id
    where
        early_help_members.role_in_family in ('LEAD_ADULT', 'OTHER_ADULT')
        and early_help_members.event_date is not null

),

final as (

    select * from perinatal
    union all
    select * from early_help_unborn

)

select * from final
