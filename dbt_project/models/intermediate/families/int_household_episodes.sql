{#
    Household episodes: people recorded at the same household key over overlapping date
    ranges. One row per person's stay at an address (int_person_address_history), with the
    episode it belongs to.

    Stays at one key are sorted by start; a stay starting on or after the end of every earlier
    stay (half-open ranges: moving out on the day another moves in does not overlap) starts a
    new episode. The episode id is md5('household|' || household_key || '|' || episode start):
    derived from stable inputs, so the same records give the same id on every run.
#}
with

address_history as (

    select * from {{ ref('int_person_address_history') }}

),

stays as (

    select
        person_id,
        household_key,
        household_basis,
        uprn,
        address_line,
        postcode,
        valid_from,
        valid_to,
        coalesce(valid_to, date '9999-12-31') as valid_to_or_open
    from address_history

),

running_ends as (

    select
        *,
        max(valid_to_or_open) over (
            partition by household_key
            order by valid_from, person_id
            rows between unbounded preceding and 1 preceding
        ) as previous_max_end
    from stays

),

numbered as (

    select
        *,
        sum(case when previous_max_end is null or valid_from >= previous_max_end then 1 else 0 end) over (
            partition by household_key
            order by valid_from, person_id
            rows between unbounded preceding and current row
        ) as episode_number
    from running_ends

),

episodes as (

    select
        household_key,
        episode_number,
        min(valid_from) as episode_start,
        nullif(max(valid_to_or_open), date '9999-12-31') as episode_end
    from numbered
    group by household_key, episode_number

),

final as (

    select
        md5('household|' || numbered.household_key || '|' || cast(episodes.episode_start as varchar))
            as household_episode_id,
        numbered.household_key,
        numbered.household_basis,
        episodes.episode_start,
        episodes.episode_end,
        numbered.person_id,
        numbered.uprn,
        numbered.address_line,
        numbered.postcode,
        numbered.valid_from,
        numbered.valid_to
    from numbered
    inner join episodes
        on
            numbered.household_key = episodes.household_key
            and numbered.episode_number = episodes.episode_number

)

select * from final
