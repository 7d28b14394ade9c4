{#
    Families: household episodes with a child under 18, or an expectant parent, in them.
    One row per family. The family lasts from the first day a child (or an expectant parent)
    is in the household to the last (a child leaves the family window on their 18th birthday,
    ranges half-open), within the episode. A household whose children have all turned 18
    ends as a family then; a later baby in the same episode continues the same family.

    family_id = md5('family|' || household_key || '|' || episode start): stable inputs only,
    so a rebuild on the same records gives the same ids.
#}
with

episodes as (

    select * from {{ ref('int_household_episodes') }}

),

golden_records as (

    select * from {{ ref('int_person_golden_records') }}

),

expectant_windows as (

    select * from {{ ref('int_person_expectant_windows') }}

),

stays as (

    select
        episodes.*,
        coalesce(episodes.valid_to, date '9999-12-31') as stay_end,
        golden_records.dob,
        {{ birthday('golden_records.dob', 18) }} as eighteenth_birthday
    from episodes
    left join golden_records on episodes.person_id = golden_records.person_id

),

child_windows as (

    select
        household_episode_id,
        greatest(valid_from, dob) as window_start,
        least(stay_end, eighteenth_birthday) as window_end
    from stays
    where dob is not null

),

expectant_in_household as (

    select
        stays.household_episode_id,
        greatest(stays.valid_from, expectant_windows.valid_from) as window_start,
        least(stays.stay_end, expectant_windows.valid_to) as window_end
    from stays
    inner join expectant_windows on stays.person_id = expectant_windows.person_id

),

all_windows as (

    select * from child_windows
    union all
    select * from expectant_in_household

),

family_windows as (

    select
        household_episode_id,
        min(window_start) as family_start,
        max(window_end) as family_end
    from all_windows
    where window_start < window_end
    group by household_episode_id

),

episodes_counted as (

    -- how many of the episode's stays give each postcode, and the latest stay to give it
    select
        *,
        count(postcode) over (partition by household_episode_id, postcode) as postcode_stays,
        max(valid_from) over (partition by household_episode_id, postcode) as postcode_latest
    from episodes

),

episode_addresses as (

    -- the postcode most stays give; ties go to the latest stay's, then the greatest (DuckDB's mode() breaks
    -- ties arbitrarily, and a rebuild on the same records must give the same rows)
    select
        household_episode_id,
        household_key,
        household_basis,
        episode_start,
        episode_end,
        max(uprn) as uprn,
        arg_max(postcode, (postcode_stays, postcode_latest, postcode)) as postcode
    from episodes_counted
    group by household_episode_id, household_key, household_basis, episode_start, episode_end

),

final as (

    select
        md5('family|' || episode_addresses.household_key || '|' || cast(episode_addresses.episode_start as varchar))
            as family_id,
        episode_addresses.household_episode_id,
        episode_addresses.household_key,
        episode_addresses.household_basis,
        episode_addresses.uprn,
        episode_addresses.postcode,
        episode_addresses.episode_start,
        episode_addresses.episode_end,
        family_windows.family_start,
        nullif(family_windows.family_end, date '9999-12-31') as family_end
    from family_windows
    inner join episode_addresses on family_windows.household_episode_id = episode_addresses.household_episode_id

)

select * from final
