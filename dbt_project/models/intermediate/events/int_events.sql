{#
    Every event-bearing staging model (event_models() in macros/marts.sql) in one shape, one
    row per staging row: nothing is filtered, so counts per source_feed reconcile with staging
    (test event_counts_match_staging on fct_event).

    event_code is the feed's most specific code beside event_type (CP category or CIN need,
    presenting issue, SEN provision, term, exclusion reason, offence, conditionality regime,
    substance, intensity); measure_value a number the criteria read (absence %, sessions
    excluded, arrears). description is short and made of codes and their labels only: never
    names, addresses or free text.

    The criteria ruleset (int_criteria__events) reads its events from here too: criteria_event_code
    is the code seed criteria_indicator_events matches on (which differs from event_code for
    police: the domestic-abuse flag, not the offence; and for attendance: the term alone; fct_event
    carries it beside the indicators it evidences), and for attendance terms the term's sequence
    number and its sessions possible and missed serve the criteria alone.

    Every row keeps its staging row's raw locator (source_delivery_id, source_file_name,
    source_row_number, source_loaded_at): the delivery, file and row it was delivered in.

    A code outside its code list is the fixed token 'UNLISTED' here, never the delivered text: the
    raw gate only warns while under 1% of a delivery's values are outside the registry's codes, and
    such a value is whatever was typed in the cell (a note, a name), which would otherwise reach
    fct_event and the analyst copy. The code lists are the code-list seeds where a column has one,
    else the registry's codes (orchestration/feeds.yml; tests/test_event_code_lists.py keeps the
    two in step); police offence codes have no list and keep the Home Office class/subclass shape
    (008/01, staged as 008_01); an academic year staging cannot read is 'UNLISTED' too. Staging
    keeps the delivered value, for the data team to fix the source or the code list.
#}
with

csc_episode_types as (select * from {{ ref('csc_episode_type_codes') }}),

cp_categories as (select * from {{ ref('cp_category_codes') }}),

cin_primary_needs as (select * from {{ ref('cin_primary_need_codes') }}),

presenting_issues as (select * from {{ ref('early_help_presenting_issue_codes') }}),

sen_provisions as (select * from {{ ref('sen_provision_codes') }}),

exclusion_categories as (select * from {{ ref('exclusion_category_codes') }}),

exclusion_reasons as (select * from {{ ref('exclusion_reason_codes') }}),

police_incident_types as (select * from {{ ref('police_incident_type_codes') }}),

yjs_outcome_types as (select * from {{ ref('yjs_outcome_type_codes') }}),

benefit_types as (select * from {{ ref('benefit_type_codes') }}),

uc_conditionality_regimes as (select * from {{ ref('uc_conditionality_codes') }}),

health_services as (select * from {{ ref('health_service_codes') }}),

housing_event_types as (select * from {{ ref('housing_event_type_codes') }}),

-- Each staging model with its code columns replaced by the listed code or 'UNLISTED' (see the top). The pattern
-- `case when code not in (<list>) then 'UNLISTED' else code end` keeps NULL as NULL (NULL not in ... is NULL);
-- the seeds' codes are never NULL (their not_null tests).
social_care_episodes as (

    select
        * replace (
            case when event_type not in (select code from csc_episode_types) then 'UNLISTED' else event_type end
                as event_type,
            case when cp_category_code not in (select code from cp_categories) then 'UNLISTED' else cp_category_code end
                as cp_category_code,
            case
                when primary_need_code not in (select code from cin_primary_needs) then 'UNLISTED'
                else primary_need_code
            end as primary_need_code
        )
    from {{ ref('stg_social_care__episodes') }}

),

early_help_members as (

    select
        * replace (
            case
                when presenting_issue not in (select code from presenting_issues) then 'UNLISTED'
                else presenting_issue
            end as presenting_issue,
            -- the registry's codes (no seed)
            case
                when role_in_family not in ('LEAD_ADULT', 'OTHER_ADULT', 'CHILD', 'UNBORN') then 'UNLISTED'
                else role_in_family
            end as role_in_family
        )
    from {{ ref('stg_early_help__episode_members') }}

),

pupil_enrolments as (

    select
        * replace (
            case
                when sen_provision_code not in (select code from sen_provisions) then 'UNLISTED'
                else sen_provision_code
            end as sen_provision_code,
            -- the registry's codes (no seed), leading zeros dropped as staging does
            case
                when nc_year not in (
                    'N1', 'N2', 'R', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14'
                ) then 'UNLISTED'
                else nc_year
            end as nc_year
        )
    from {{ ref('stg_education__pupil_enrolments') }}

),

attendance_terms as (

    select
        * replace (
            -- staging keeps a year it cannot read (academic_year_start NULL) as delivered
            case when academic_year_start is null then 'UNLISTED' else academic_year end as academic_year,
            case when term not in ('AUT', 'SPR', 'SUM') then 'UNLISTED' else term end as term
        )
    from {{ ref('stg_education__attendance_terms') }}

),

exclusions as (

    select
        * replace (
            case
                when exclusion_category not in (select code from exclusion_categories) then 'UNLISTED'
                else exclusion_category
            end as exclusion_category,
            case
                when event_type not in (select code from exclusion_categories) then 'UNLISTED'
                else event_type
            end as event_type,
            case
                when exclusion_reason_code not in (select code from exclusion_reasons) then 'UNLISTED'
                else exclusion_reason_code
            end as exclusion_reason_code
        )
    from {{ ref('stg_education__exclusions') }}

),

police_nominals as (

    select
        * replace (
            case
                when incident_type not in (select code from police_incident_types) then 'UNLISTED'
                else incident_type
            end as incident_type,
            case
                when event_type not in (select code from police_incident_types) then 'UNLISTED'
                else event_type
            end as event_type,
            -- the registry's codes (no seed)
            case
                when nominal_role not in ('VICTIM', 'OFFENDER', 'SUSPECT', 'WITNESS', 'SUBJECT') then 'UNLISTED'
                else nominal_role
            end as nominal_role,
            case when risk_level not in ('STANDARD', 'MEDIUM', 'HIGH') then 'UNLISTED' else risk_level end
                as risk_level,
            -- no code list: a Home Office class (digits, maybe a letter: 8L, 105A) and two-digit subclass
            case
                when not regexp_full_match(offence_code, '[0-9]{1,3}[A-Z]?_[0-9]{2}') then 'UNLISTED'
                else offence_code
            end as offence_code
        )
    from {{ ref('stg_police__incident_nominals') }}

),

youth_justice_outcomes as (

    select
        * replace (
            case when outcome_type not in (select code from yjs_outcome_types) then 'UNLISTED' else outcome_type end
                as outcome_type,
            case when event_type not in (select code from yjs_outcome_types) then 'UNLISTED' else event_type end
                as event_type,
            -- the registry's codes (no seed)
            case
                when offence_category not in (
                    'VIOLENCE', 'THEFT', 'DRUGS', 'CRIMINAL_DAMAGE', 'PUBLIC_ORDER', 'MOTORING', 'OTHER'
                ) then 'UNLISTED'
                else offence_category
            end as offence_category
        )
    from {{ ref('stg_youth_justice__outcomes') }}

),

benefit_claims as (

    select
        * replace (
            case when benefit_type not in (select code from benefit_types) then 'UNLISTED' else benefit_type end
                as benefit_type,
            case when event_type not in (select code from benefit_types) then 'UNLISTED' else event_type end
                as event_type,
            case
                when conditionality_regime not in (select code from uc_conditionality_regimes) then 'UNLISTED'
                else conditionality_regime
            end as conditionality_regime
        )
    from {{ ref('stg_dwp__benefit_claims') }}

),

health_referrals as (

    select
        * replace (
            case when service not in (select code from health_services) then 'UNLISTED' else service end
                as service,
            case when event_type not in (select code from health_services) then 'UNLISTED' else event_type end
                as event_type,
            -- the registry's codes (no seed)
            case
                when primary_substance not in ('ALCOHOL', 'OPIATES', 'CRACK', 'CANNABIS', 'COCAINE', 'OTHER')
                    then 'UNLISTED'
                else primary_substance
            end as primary_substance
        )
    from {{ ref('stg_health__service_referrals') }}

),

housing_events as (

    select
        * replace (
            case
                when event_type not in (select code from housing_event_types) then 'UNLISTED'
                else event_type
            end as event_type
        )
    from {{ ref('stg_housing__events') }}

),

programme_members as (

    select
        * replace (
            -- the registry's codes (no seed)
            case
                when intensity not in ('INTENSIVE', 'TARGETED', 'LIGHT_TOUCH') then 'UNLISTED'
                else intensity
            end as intensity,
            case
                when family_role not in ('MAIN_CARER', 'OTHER_ADULT', 'CHILD') then 'UNLISTED'
                else family_role
            end as family_role
        )
    from {{ ref('stg_programme__case_members') }}

),

social_care as (

    select
        social_care_episodes.record_key,
        social_care_episodes.source_delivery_id,
        social_care_episodes.source_file_name,
        social_care_episodes.source_row_number,
        social_care_episodes.source_loaded_at,
        social_care_episodes.source_system,
        social_care_episodes.source_feed,
        cast(null as varchar) as source_record_id,
        social_care_episodes.person_id as social_care_person_id,
        social_care_episodes.event_type,
        case
            when social_care_episodes.event_type = 'CPP' then social_care_episodes.cp_category_code
            else social_care_episodes.primary_need_code
        end as event_code,
        coalesce(social_care_episodes.cp_category_code, social_care_episodes.primary_need_code)
            as criteria_event_code,
        social_care_episodes.event_date,
        social_care_episodes.end_date,
        social_care_episodes.record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            coalesce(csc_episode_types.description, social_care_episodes.event_type),
            'category: ' || cp_categories.description,
            'need: ' || cin_primary_needs.description
        ) as description
    from social_care_episodes
    left join csc_episode_types on social_care_episodes.event_type = csc_episode_types.code
    left join cp_categories on social_care_episodes.cp_category_code = cp_categories.code
    left join cin_primary_needs on social_care_episodes.primary_need_code = cin_primary_needs.code

),

early_help as (

    select
        early_help_members.record_key,
        early_help_members.source_delivery_id,
        early_help_members.source_file_name,
        early_help_members.source_row_number,
        early_help_members.source_loaded_at,
        early_help_members.source_system,
        early_help_members.source_feed,
        early_help_members.source_record_id,
        cast(null as varchar) as social_care_person_id,
        early_help_members.event_type,
        early_help_members.presenting_issue as event_code,
        early_help_members.presenting_issue as criteria_event_code,
        early_help_members.event_date,
        early_help_members.end_date,
        early_help_members.record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        early_help_members.role_in_family as event_role,
        concat_ws(
            '; ',
            'Early help episode',
            'issue: ' || coalesce(presenting_issues.source_label, early_help_members.presenting_issue),
            'role: ' || early_help_members.role_in_family
        ) as description
    from early_help_members
    left join presenting_issues on early_help_members.presenting_issue = presenting_issues.code

),

enrolments as (

    select
        pupil_enrolments.record_key,
        pupil_enrolments.source_delivery_id,
        pupil_enrolments.source_file_name,
        pupil_enrolments.source_row_number,
        pupil_enrolments.source_loaded_at,
        pupil_enrolments.source_system,
        pupil_enrolments.source_feed,
        pupil_enrolments.source_record_id,
        cast(null as varchar) as social_care_person_id,
        pupil_enrolments.event_type,
        pupil_enrolments.sen_provision_code as event_code,
        cast(null as varchar) as criteria_event_code,
        pupil_enrolments.event_date,
        pupil_enrolments.end_date,
        pupil_enrolments.record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            'School enrolment',
            'year: ' || pupil_enrolments.nc_year,
            'SEN: ' || coalesce(sen_provisions.description, pupil_enrolments.sen_provision_code),
            case when pupil_enrolments.is_fsm_eligible then 'FSM eligible' end
        ) as description
    from pupil_enrolments
    left join sen_provisions on pupil_enrolments.sen_provision_code = sen_provisions.code

),

attendance as (

    select
        record_key,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at,
        source_system,
        source_feed,
        source_record_id,
        cast(null as varchar) as social_care_person_id,
        event_type,
        academic_year || ' ' || term as event_code,
        term as criteria_event_code,
        event_date,
        end_date,
        record_date,
        -- consecutive terms have consecutive numbers: 3 per academic year (AUT, SPR, SUM); staging's typed start
        -- year, so a year it cannot read (or an unlisted term) gives NULL here instead of failing the build
        academic_year_start * 3
        + case term when 'AUT' then 0 when 'SPR' then 1 when 'SUM' then 2 end as term_sequence,
        sessions_possible,
        coalesce(sessions_authorised, 0) + coalesce(sessions_unauthorised, 0) as sessions_missed,
        -- overall absence (authorised + unauthorised) as a share of possible sessions, as DfE measures it
        round(
            100.0 * (coalesce(sessions_authorised, 0) + coalesce(sessions_unauthorised, 0))
            / nullif(sessions_possible, 0),
            2
        ) as measure_value,
        'percent_sessions_missed' as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            'School attendance ' || academic_year || ' ' || term,
            'possible sessions: ' || sessions_possible,
            'authorised absence: ' || sessions_authorised,
            'unauthorised absence: ' || sessions_unauthorised
        ) as description
    from attendance_terms

),

school_exclusions as (

    select
        exclusions.record_key,
        exclusions.source_delivery_id,
        exclusions.source_file_name,
        exclusions.source_row_number,
        exclusions.source_loaded_at,
        exclusions.source_system,
        exclusions.source_feed,
        exclusions.source_record_id,
        cast(null as varchar) as social_care_person_id,
        exclusions.event_type,
        exclusions.exclusion_reason_code as event_code,
        exclusions.exclusion_reason_code as criteria_event_code,
        exclusions.event_date,
        exclusions.end_date,
        exclusions.record_date,
        cast(exclusions.sessions as double) as measure_value,
        'sessions' as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            coalesce(exclusion_categories.description, exclusions.exclusion_category),
            'reason: ' || exclusions.exclusion_reason_code,
            'sessions: ' || cast(exclusions.sessions as varchar)
        ) as description
    from exclusions
    left join exclusion_categories on exclusions.exclusion_category = exclusion_categories.code

),

police as (

    select
        police_nominals.record_key,
        police_nominals.source_delivery_id,
        police_nominals.source_file_name,
        police_nominals.source_row_number,
        police_nominals.source_loaded_at,
        police_nominals.source_system,
        police_nominals.source_feed,
        police_nominals.source_record_id,
        cast(null as varchar) as social_care_person_id,
        police_nominals.event_type,
        police_nominals.offence_code as event_code,
        case when police_nominals.is_domestic_abuse then 'DOMESTIC_ABUSE' end as criteria_event_code,
        police_nominals.event_date,
        police_nominals.end_date,
        police_nominals.record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        police_nominals.nominal_role as event_role,
        concat_ws(
            '; ',
            coalesce(police_incident_types.description, police_nominals.incident_type),
            'role: ' || police_nominals.nominal_role,
            case when police_nominals.is_domestic_abuse then 'domestic abuse flag' end,
            case when police_nominals.is_asb then 'ASB flag' end,
            'offence: ' || police_nominals.offence_code,
            'risk: ' || police_nominals.risk_level
        ) as description
    from police_nominals
    left join police_incident_types on police_nominals.incident_type = police_incident_types.code

),

youth_justice as (

    select
        youth_justice_outcomes.record_key,
        youth_justice_outcomes.source_delivery_id,
        youth_justice_outcomes.source_file_name,
        youth_justice_outcomes.source_row_number,
        youth_justice_outcomes.source_loaded_at,
        youth_justice_outcomes.source_system,
        youth_justice_outcomes.source_feed,
        youth_justice_outcomes.source_record_id,
        cast(null as varchar) as social_care_person_id,
        youth_justice_outcomes.event_type,
        youth_justice_outcomes.offence_category as event_code,
        youth_justice_outcomes.offence_category as criteria_event_code,
        youth_justice_outcomes.event_date,
        youth_justice_outcomes.end_date,
        youth_justice_outcomes.record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            coalesce(yjs_outcome_types.description, youth_justice_outcomes.outcome_type),
            'offence category: ' || youth_justice_outcomes.offence_category
        ) as description
    from youth_justice_outcomes
    left join yjs_outcome_types on youth_justice_outcomes.outcome_type = yjs_outcome_types.code

),

dwp as (

    select
        benefit_claims.record_key,
        benefit_claims.source_delivery_id,
        benefit_claims.source_file_name,
        benefit_claims.source_row_number,
        benefit_claims.source_loaded_at,
        benefit_claims.source_system,
        benefit_claims.source_feed,
        benefit_claims.source_record_id,
        cast(null as varchar) as social_care_person_id,
        benefit_claims.event_type,
        benefit_claims.conditionality_regime as event_code,
        benefit_claims.conditionality_regime as criteria_event_code,
        benefit_claims.event_date,
        benefit_claims.end_date,
        benefit_claims.record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            'Benefit claim: ' || coalesce(benefit_types.description, benefit_claims.benefit_type),
            'conditionality: ' || benefit_claims.conditionality_regime
        ) as description
    from benefit_claims
    left join benefit_types on benefit_claims.benefit_type = benefit_types.code

),

health as (

    select
        health_referrals.record_key,
        health_referrals.source_delivery_id,
        health_referrals.source_file_name,
        health_referrals.source_row_number,
        health_referrals.source_loaded_at,
        health_referrals.source_system,
        health_referrals.source_feed,
        health_referrals.source_record_id,
        cast(null as varchar) as social_care_person_id,
        health_referrals.event_type,
        health_referrals.primary_substance as event_code,
        health_referrals.primary_substance as criteria_event_code,
        health_referrals.event_date,
        health_referrals.end_date,
        health_referrals.record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            'Referral: ' || coalesce(health_services.description, health_referrals.service),
            'substance: ' || health_referrals.primary_substance
        ) as description
    from health_referrals
    left join health_services on health_referrals.service = health_services.code

),

housing as (

    select
        housing_events.record_key,
        housing_events.source_delivery_id,
        housing_events.source_file_name,
        housing_events.source_row_number,
        housing_events.source_loaded_at,
        housing_events.source_system,
        housing_events.source_feed,
        housing_events.source_record_id,
        cast(null as varchar) as social_care_person_id,
        housing_events.event_type,
        cast(null as varchar) as event_code,
        cast(null as varchar) as criteria_event_code,
        housing_events.event_date,
        housing_events.end_date,
        housing_events.record_date,
        cast(housing_events.arrears_balance as double) as measure_value,
        case when housing_events.arrears_balance is not null then 'gbp_arrears' end as measure_unit,
        cast(null as varchar) as event_role,
        concat_ws(
            '; ',
            coalesce(housing_event_types.description, housing_events.event_type),
            'arrears: ' || cast(housing_events.arrears_balance as varchar)
        ) as description
    from housing_events
    left join housing_event_types on housing_events.event_type = housing_event_types.code

),

programme as (

    select
        record_key,
        source_delivery_id,
        source_file_name,
        source_row_number,
        source_loaded_at,
        source_system,
        source_feed,
        source_record_id,
        cast(null as varchar) as social_care_person_id,
        event_type,
        intensity as event_code,
        cast(null as varchar) as criteria_event_code,
        event_date,
        end_date,
        record_date,
        cast(null as double) as measure_value,
        cast(null as varchar) as measure_unit,
        family_role as event_role,
        concat_ws('; ', 'Supporting Families programme attachment', 'intensity: ' || intensity, 'role: ' || family_role)
            as description
    from programme_members

),

-- by name: a column a feed lacks (term_sequence, sessions_possible, sessions_missed outside attendance) is null
final as (

    select * from social_care
    union all by name
    select * from early_help
    union all by name
    select * from enrolments
    union all by name
    select * from attendance
    union all by name
    select * from school_exclusions
    union all by name
    select * from police
    union all by name
    select * from youth_justice
    union all by name
    select * from dwp
    union all by name
    select * from health
    union all by name
    select * from housing
    union all by name
    select * from programme

)

select * from final
