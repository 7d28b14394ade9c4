{#- Standardisation and identifier checks, as SQL expressions over a column (DuckDB). Used by the
    person-record models; the raw gate checks the same rules in expectations/identifiers.py. -#}

{#- Latin letters that strip_accents leaves whole (it removes marks, and these are letters of their
    own), spelt in A-Z: without this the A-Z cleaning dropped them (Łukasz became UKASZ). Plain ASCII
    (as many bytes as characters: nearly every value) skips the replacements. -#}
{% macro latin_letters(column) -%}
    case when strlen({{ column }}) = length({{ column }}) then {{ column }} else
    replace(replace(replace(replace(replace(replace(replace(
        translate({{ column }}, 'łŁøØđĐðÐħĦı', 'lLoOdDdDhHi'),
        'ß', 'ss'), 'æ', 'ae'), 'Æ', 'AE'), 'œ', 'oe'), 'Œ', 'OE'), 'þ', 'th'), 'Þ', 'TH') end
{%- endmacro %}

{% macro clean_name(column) -%}
    nullif(trim(regexp_replace(regexp_replace(
        upper(strip_accents({{ latin_letters(column) }})), '[^A-Z\s-]', '', 'g'), '[\s]+', ' ', 'g')), '')
{%- endmacro %}

{% macro clean_address(column) -%}
    nullif(trim(regexp_replace(regexp_replace(
        upper(strip_accents({{ latin_letters(column) }})), '[^A-Z0-9\s]', ' ', 'g'), '\s+', ' ', 'g')), '')
{%- endmacro %}

{#- Soundex (American): first letter, then the codes of the rest, adjacent repeats collapsed,
    vowels dropped, H and W transparent, padded to four characters. RE2 has no back-references,
    so repeats are collapsed digit by digit. -#}
{% macro soundex(column) -%}
    case when regexp_replace({{ column }}, '[^A-Z]', '', 'g') <> '' then
        left(regexp_replace({{ column }}, '[^A-Z]', '', 'g'), 1) || left(replace(substr(
            {%- for d in range(7) %}regexp_replace({% endfor -%}
            translate(regexp_replace({{ column }}, '[^A-Z]', '', 'g'),
                      'BFPVCGJKQSXZDTLMNRAEIOUYHW', '111122222222334556000000')
            {%- for d in range(7) %}, '{{ d }}+', '{{ d }}', 'g'){% endfor -%}
        , 2), '0', '') || '000', 3)
    end
{%- endmacro %}

{#- NHS number: ten digits, the tenth a modulus-11 check over the first nine (weights 10..2). -#}
{% macro nhs_number_is_valid(column) -%}
    coalesce(case when regexp_full_match({{ column }}, '[0-9]{10}') then
        (11 - ({% for i in range(1, 10) %}cast(substr({{ column }}, {{ i }}, 1) as integer) * {{ 11 - i }}
        {%- if not loop.last %} + {% endif %}{% endfor %}) % 11) % 11
            = cast(substr({{ column }}, 10, 1) as integer)
    end, false)
{%- endmacro %}

{#- NI number: prefix letters (no D F I Q U V; no O second; not BG GB NK KN TN NT ZZ), six digits, A-D. -#}
{% macro ni_number_is_valid(column) -%}
    coalesce(regexp_full_match({{ column }}, '[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]')
        and left({{ column }}, 2) not in ('BG', 'GB', 'NK', 'KN', 'TN', 'NT', 'ZZ'), false)
{%- endmacro %}

{#- UPN: check letter, 11 digits, a digit or letter; the check letter is
    sum(value(char_i) * i, i = 2..13) mod 23 in ABCDEFGHJKLMNPQRTUVWXYZ. -#}
{% macro upn_is_valid(column) -%}
    coalesce(case when regexp_full_match({{ column }}, '[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]') then
        substr('ABCDEFGHJKLMNPQRTUVWXYZ', 1 + ((
            {%- for i in range(2, 14) %}
            {{ i }} * case when regexp_full_match(substr({{ column }}, {{ i }}, 1), '[0-9]')
                then cast(substr({{ column }}, {{ i }}, 1) as integer)
                else instr('ABCDEFGHJKLMNPQRTUVWXYZ', substr({{ column }}, {{ i }}, 1)) - 1 end
            {%- if not loop.last %} +{% endif %}
            {%- endfor %}
        ) % 23), 1) = left({{ column }}, 1)
    end, false)
{%- endmacro %}
