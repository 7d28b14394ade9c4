-- Every staging event the ruleset can use, in one shape, with the person it belongs to and the shared event id.
-- event_role and event_code carry the one feed-specific value a rule may filter on (see criteria_indicator_events).

with

dwp_benefit_claims as (

    select * from {{ ref('stg_dwp__benefit_claims') }}

),

early_help_episode_members as (

    select * from {{ ref('stg_early_help__episode_members') }}

),

attendance_terms as (

    select * from {{ ref('stg_education__attendance_terms') }}

),

exclusions as (

    select * from {{ ref('stg_education__exclusions') }}

),

police_incident_nominals as (

    select * from {{ ref('stg_police__incident_nominals') }}

),

youth_justice_outcomes as (

    select * from {{ ref('stg_youth_justice__outcomes') }}

),

health_service_referrals as (

    select * from {{ ref('stg_health__service_referrals') }}

),

housing_events as (

    select * from {{ ref('stg_housing__events') }}

),

social_care_episodes as (

    select * from {{ ref('stg_social_care__episodes') }}

),

person_source_xref as (

    select * from {{ ref('person_source_xref') }}

),

unioned as (

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        cast(null as varchar) as event_role,
        conditionality_regime as event_code,
        event_date,
        end_date,
        cast(null as integer) as term_sequence,
        cast(null as bigint) as sessions_possible,
        cast(null as bigint) as sessions_missed
    from dwp_benefit_claims

    union all

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        role_in_family as event_role,
        presenting_issue as event_code,
        event_date,
        end_date,
        null as term_sequence,
        null as sessions_possible,
        null as sessions_missed
    from early_help_episode_members

    union all

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        null as event_role,
        term as event_code,
        event_date,
        end_date,
        -- consecutive terms have consecutive numbers: 3 per academic year (AUT, SPR, SUM)
        cast(left(academic_year, 4) as integer) * 3
        + case term when 'AUT' then 0 when 'SPR' then 1 when 'SUM' then 2 end as term_sequence,
        sessions_possible,
        coalesce(sessions_authorised, 0) + coalesce(sessions_unauthorised, 0) as sessions_missed
    from attendance_terms

    union all

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        null as event_role,
        exclusion_reason_code as event_code,
        event_date,
        end_date,
        null as term_sequence,
        null as sessions_possible,
        null as sessions_missed
    from exclusions

    union all

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        nominal_role as event_role,
        case when is_domestic_abuse then 'DOMESTIC_ABUSE' end as event_code,
        event_date,
        end_date,
        null as term_sequence,
        null as sessions_possible,
        null as sessions_missed
    from police_incident_nominals

    union all

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        null as event_role,
        offence_category as event_code,
        event_date,
        end_date,
        null as term_sequence,
        null as sessions_possible,
        null as sessions_missed
    from youth_justice_outcomes

    union all

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        null as event_role,
        primary_substance as event_code,
        event_date,
        end_date,
        null as term_sequence,
        null as sessions_possible,
        null as sessions_missed
    from health_service_referrals

    union all

    select
        source_feed,
        record_key,
        source_system,
        source_record_id,
        event_type,
        null as event_role,
        null as event_code,
        event_date,
        end_date,
        null as term_sequence,
        null as sessions_possible,
        null as sessions_missed
    from housing_events

    union all

    -- social care episodes name the child by the CSC person id
    select
        source_feed,
        record_key,
        source_system,
        person_id as source_record_id,
        event_type,
        null as event_role,
        coalesce(cp_category_code, primary_need_code) as event_code,
        event_date,
        end_date,
        null as term_sequence,
        null as sessions_possible,
        null as sessions_missed
    from social_care_episodes

),

final as (

    select
        {{ event_id('unioned.source_feed', 'unioned.record_key') }} as event_id,
        person_source_xref.person_id,
        unioned.source_feed,
        unioned.record_key,
        unioned.source_system,
        unioned.event_type,
        unioned.event_role,
        unioned.event_code,
        unioned.event_date,
        unioned.end_date,
        unioned.term_sequence,
        unioned.sessions_possible,
        unioned.sessions_missed
    from unioned
    inner join person_source_xref
        on
            unioned.source_system = person_source_xref.source_system
            and unioned.source_record_id = person_source_xref.source_record_id
    where unioned.event_date is not null

)

select * from final
