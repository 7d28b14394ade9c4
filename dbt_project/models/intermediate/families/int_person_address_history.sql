{#
    Address history: one row per person and household key, from every source row that
    carries an address, with the dates it was recorded there.

    The household key is the UPRN where known ('uprn:<uprn>'); else the UPRN other rows
    recorded for the same postcode and house (the address line's leading flat or house number,
    or the whole line when it has none: sources differ in whether the line carries the street
    and town); else that postcode and house ('address:<postcode>|<house>').
    A row with only a postcode (DWP, health, youth justice, programme) counts towards the
    person's own keyed address with that postcode; failing that, towards the keyed address with
    that postcode of someone they have a recorded carer/child link with (a parent on benefits
    whose child's school gives the full address); failing that, towards the only keyed address
    at that postcode where someone with the same (golden) surname lives; otherwise it is left out.

    valid_from is the first date the person was recorded at the address; valid_to (exclusive)
    the first date they were recorded at a new address after that, null while it is their
    latest. Ordering by first appearance keeps a source that still sends an old address from
    moving the person back.

    An address's postcode and line are the ones most of its rows give; ties go to the one
    recorded latest, then the greatest value. DuckDB's mode() breaks ties arbitrarily, and the
    postcode places postcode-only rows (so it moves household keys): a rebuild on the same
    records must give the same rows.
#}
with

person_records as (

    select * from {{ ref('int_person_records') }}

),

crosswalk as (

    select * from {{ source('linkage', 'person_crosswalk') }}

),

family_relationships as (

    select * from {{ ref('int_family_relationships') }}

),

golden_records as (

    select * from {{ ref('int_person_golden_records') }}

),

observations_raw as (

    select
        crosswalk.person_id,
        person_records.source_system,
        person_records.source_feed,
        person_records.record_key,
        person_records.record_date as observed_date,
        nullif(regexp_replace(person_records.uprn, '[^0-9]', '', 'g'), '') as uprn,
        {{ standard_address('person_records.address_line') }} as address_line,
        {{ standard_postcode('person_records.postcode') }} as postcode
    from person_records
    inner join crosswalk on person_records.person_record_id = crosswalk.person_record_id
    where person_records.record_date is not null

),

observations as (

    select
        *,
        coalesce(
            nullif(regexp_extract(address_line, '^((FLAT|APARTMENT|UNIT) [0-9]+[A-Z]?|[0-9]+[A-Z]?)( |$)', 1), ''),
            address_line
        ) as house
    from observations_raw

),

uprn_counts_by_house as (

    select
        postcode,
        house,
        uprn,
        count(*) as n_rows
    from observations
    where uprn is not null and house is not null and postcode is not null
    group by all

),

uprn_by_house as (

    -- the UPRN most rows give for a postcode and house, so rows without one join the same household
    select
        postcode,
        house,
        arg_max(uprn, (n_rows, uprn)) as uprn
    from uprn_counts_by_house
    group by all

),

keyed_observations as (

    select
        observations.person_id,
        observations.source_system,
        observations.observed_date,
        observations.postcode,
        observations.address_line,
        coalesce(observations.uprn, uprn_by_house.uprn) as uprn,
        case
            when coalesce(observations.uprn, uprn_by_house.uprn) is not null
                then 'uprn:' || coalesce(observations.uprn, uprn_by_house.uprn)
            when observations.house is not null and observations.postcode is not null
                then 'address:' || observations.postcode || '|' || observations.house
        end as household_key
    from observations
    left join uprn_by_house
        on
            observations.postcode = uprn_by_house.postcode
            and observations.house = uprn_by_house.house

),

keyed_observations_counted as (

    -- how many of the address's rows give each postcode, and when it was last recorded (the votes below)
    select
        *,
        count(postcode) over (partition by person_id, household_key, postcode) as postcode_rows,
        max(observed_date) over (partition by person_id, household_key, postcode) as postcode_latest
    from keyed_observations
    where household_key is not null

),

keyed_addresses as (

    select
        person_id,
        household_key,
        arg_max(postcode, (postcode_rows, postcode_latest, postcode)) as postcode
    from keyed_observations_counted
    group by person_id, household_key

),

surname_keys as (

    -- postcodes where exactly one keyed address has residents of a surname
    select
        keyed_addresses.postcode,
        golden_records.surname,
        min(keyed_addresses.household_key) as household_key
    from keyed_addresses
    inner join golden_records on keyed_addresses.person_id = golden_records.person_id
    where golden_records.surname is not null and keyed_addresses.postcode is not null
    group by keyed_addresses.postcode, golden_records.surname
    having count(distinct keyed_addresses.household_key) = 1

),

related_people as (

    select
        carer_person_id as person_id,
        child_person_id as related_person_id
    from family_relationships
    union
    select
        child_person_id as person_id,
        carer_person_id as related_person_id
    from family_relationships

),

candidate_keys as (

    -- the person's own keyed addresses first, then those of people they have a recorded link with
    select
        person_id,
        postcode,
        household_key,
        1 as preference
    from keyed_addresses
    union all
    select
        related_people.person_id,
        keyed_addresses.postcode,
        keyed_addresses.household_key,
        2 as preference
    from related_people
    inner join keyed_addresses on related_people.related_person_id = keyed_addresses.person_id
    union all
    select
        golden_records.person_id,
        surname_keys.postcode,
        surname_keys.household_key,
        3 as preference
    from golden_records
    inner join surname_keys on golden_records.surname = surname_keys.surname

),

postcode_only_placed as (

    -- a postcode-only row joins the best candidate address with that postcode (then the least key)
    select
        observations.person_id,
        observations.source_system,
        observations.observed_date,
        observations.postcode,
        cast(null as varchar) as address_line,
        cast(null as varchar) as uprn,
        arg_min(candidate_keys.household_key, (candidate_keys.preference, candidate_keys.household_key))
            as household_key
    from observations
    inner join candidate_keys
        on
            observations.person_id = candidate_keys.person_id
            and observations.postcode = candidate_keys.postcode
    where observations.uprn is null and observations.address_line is null
    group by
        observations.person_id, observations.source_feed, observations.record_key,
        observations.source_system, observations.observed_date, observations.postcode

),

all_placed as (

    select * from keyed_observations
    where household_key is not null
    union all by name
    select * from postcode_only_placed

),

all_placed_counted as (

    -- the votes for the address's line and postcode, as in keyed_observations_counted
    select
        *,
        count(address_line) over (partition by person_id, household_key, address_line) as address_line_rows,
        max(observed_date) over (partition by person_id, household_key, address_line) as address_line_latest,
        count(postcode) over (partition by person_id, household_key, postcode) as postcode_rows,
        max(observed_date) over (partition by person_id, household_key, postcode) as postcode_latest
    from all_placed

),

per_address as (

    select
        person_id,
        household_key,
        case when starts_with(household_key, 'uprn:') then 'uprn' else 'address' end as household_basis,
        max(uprn) as uprn,
        arg_max(address_line, (address_line_rows, address_line_latest, address_line)) as address_line,
        arg_max(postcode, (postcode_rows, postcode_latest, postcode)) as postcode,
        min(observed_date) as first_observed_date,
        max(observed_date) as last_observed_date,
        count(*) as n_observations,
        list_sort(list(distinct source_system)) as source_systems
    from all_placed_counted
    group by person_id, household_key

),

final as (

    select
        *,
        first_observed_date as valid_from,
        -- the first new address recorded on a later day ends this one (half-open: [valid_from, valid_to))
        min(first_observed_date) over (
            partition by person_id
            order by first_observed_date
            range between interval 1 day following and unbounded following
        ) as valid_to
    from per_address

)

select * from final
