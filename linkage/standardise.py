"""Standardise any partner list the way the warehouse does, for `familyhub link` / `familyhub match`.

The SQL is the warehouse's own: the dbt macros in `dbt_project/macros/standardise.sql` (clean name,
clean address, soundex, NHS / NI / UPN checks) are rendered here with Jinja, so there is one definition
of each rule. What differs is tolerance: a partner
list need not be British, so a value in an unknown format is kept as an upper-cased string and compared
as a string, not set to NULL. Only a value in a UK identifier's own shape that fails its check is nulled
(a mistyped NHS number), as in the warehouse; a postcode that is not UK-shaped is kept compacted, and a
name or address in a non-Latin script (Cyrillic, Greek, Arabic, Chinese...), which the warehouse's A-Z
cleaning would empty, is transliterated to Latin letters first (text-unidecode), so that Олександр
Шевченко on one list and Oleksandr Shevchenko on another compare, block and get a soundex. A date of
birth is a placeholder (NULL) on 1 January, a spreadsheet's day zero (1899-12-30/31) or in the future, but
not for being in 1900 or earlier as in the warehouse: a list may hold people born then. A date that is not
whole keeps its year in `dob_year` (a 1 January standing for a year alone, a mistyped day or month), which
`familyhub link`'s model compares. A forename that starts with a title (MRS, SIR, THE RT HON) loses it.
A name that is a placeholder (UNKNOWN, NOT KNOWN, N/K, TEST, XXX, a forename BABY...) is NULL, not a name
that strangers share. Real-world exports also write numbers where text was meant: a date or postcode
written as a float (19850312.0, 2600.0) is its digits, an Excel serial day number (31118) a date, and a
date-time with a 12-hour clock (03/12/1985 12:00:00 AM) loses its time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

REPO_ROOT = Path(__file__).resolve().parents[1]
MACROS_SQL = REPO_ROOT / "dbt_project" / "macros" / "standardise.sql"
NICKNAMES_CSV = REPO_ROOT / "seeds" / "nicknames.csv"

# the vocabulary a partner list can map onto (FIELD in `--map FIELD=COL`)
FIELDS = ("first_name", "middle_names", "surname", "dob", "sex", "address_line", "locality", "postcode", "uprn",
          "nhs_number", "ni_number", "upn", "pnc_id", "other_id", "full_name", "suffix")
DEFAULT_DOB_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y%m%d", "%Y/%m/%d", "%d %b %Y",
                       "%d %B %Y", "%d-%b-%Y", "%d/%b/%Y", "%b %d, %Y", "%B %d, %Y", "%m/%d/%Y", "%m-%d-%Y",
                       "%m.%d.%Y")
# the DOB as text, less a time of day (1984-07-25T00:00:00.000Z, 25/07/1984 00:00, a US export's
# 03/12/1985 12:00:00 AM: how a date-time column is exported) and less the `.0` of a number written as a
# float (19850312.0: a yyyymmdd column that pandas read as numbers because one cell was empty)
DOB_TEXT = ("nullif(regexp_replace(regexp_replace(trim(dob), '[ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)? *"
            "([AaPp][.]?[Mm][.]?)? *(Z|[+-][0-9]{2}:?[0-9]{2})?$', ''), '^([0-9]+)[.]0+$', '\\1'), '')")
# Excel's day number (days since 1899-12-30, its day zero): a date column exported as numbers. Five digits
# only (1927-05-18 to 2173): four could be a year alone. Read only when no --dob-format is given and most of the
# list's DOBs are such numbers: elsewhere a five-digit DOB is a mistyped year (19855) or a day-month-year number
# that lost its leading zero (10385), not a date to invent.
EXCEL_SERIAL_DOB = (f"case when regexp_full_match({DOB_TEXT}, '[0-9]{{5}}') "
                    f"then date '1899-12-30' + cast({DOB_TEXT} as integer) end")
# a number written as a float (2600.0: a numeric column with an empty cell, saved by pandas) is its digits:
# else a postcode 2600.0 compacts to 26000, and an id 123456789.0 never equals 123456789
def _whole(column: str) -> str:
    return f"regexp_replace(trim({column}), '^([0-9]+)[.]0+$', '\\1')"


# a number in scientific notation (1.23457E+11: how Excel shows, and saves to CSV, a number of twelve digits or
# more): its digits when the mantissa holds them all (4.012345678E+9), else NULL, as those lost are unknown and
# two ids sharing their first six digits would agree on the text
SCIENTIFIC = "[0-9]([.][0-9]+)?[eE][+][0-9]{1,2}"  # with its + (Excel, pandas and R write it): 1E5 may be an id


def _mantissa_digits(column: str) -> str:
    return f"regexp_replace(regexp_extract(trim({column}), '^[^eE]+'), '[.]', '')"


def _digits_lost(column: str) -> str:
    return (f"(regexp_full_match(trim({column}), '{SCIENTIFIC}') and length({_mantissa_digits(column)}) "
            f"<> try_cast(regexp_extract(trim({column}), '[0-9]+$') as integer) + 1)")


def _identifier_text(column: str) -> str:
    """An identifier's text: as _whole, and a number in scientific notation expanded or, digits lost, NULL."""
    return (f"case when {_digits_lost(column)} then null "
            f"when regexp_full_match(trim({column}), '{SCIENTIFIC}') then {_mantissa_digits(column)} "
            f"else {_whole(column)} end")


def _without_leading_zeros(text: str) -> str:
    """Digits less their leading zeros (a spreadsheet drops them from one list and not the other); other text as
    it is."""
    return f"case when regexp_full_match({text}, '[0-9]+') then nullif(ltrim({text}, '0'), '') else {text} end"


# a US ZIP+4 (27601-1234, 276011234) is compared as its ZIP code: one list gives the +4, another not
POSTCODE_TEXT = f"regexp_replace({_whole('postcode')}, '^([0-9]{{5}})[ -]?[0-9]{{4}}$', '\\1')"
# 1 January is a list's stand-in for an unknown date (or a year alone) when it holds more than this share
# of the list's dates and at least JAN1_PLACEHOLDER_MIN of them (1 in 365 is expected): elsewhere it is a
# birthday, and dropping it let a same-name father and son merge
JAN1_PLACEHOLDER_SHARE = 0.01
JAN1_PLACEHOLDER_MIN = 3
# an identifier value on more records than this is a placeholder (UNKNOWN, 0, 999999...), not a person's:
# NULL (blocking on it would also compare every pair of those records)
IDENTIFIER_PLACEHOLDER_RECORDS = 50
# identifier -> its cleaned column before the checks (a UPRN is a property's: many people may share one)
IDENTIFIER_COLUMNS = {"nhs_number": "nhs_raw", "ni_number": "ni_raw", "upn": "upn_raw", "pnc_id": "pnc_id",
                      "other_id": "other_id"}
MALE = ("M", "MALE", "MAN", "BOY", "1", "H", "HOMBRE", "HOMME", "MASCULIN", "MASCULINO", "MANN", "MANNLICH", "MAENNLICH")
FEMALE = ("F", "FEMALE", "WOMAN", "GIRL", "2", "W", "WEIBLICH", "FRAU", "MUJER", "FEMME", "FEMININ", "FEMENINO")


@lru_cache(maxsize=1)
def _macros():
    import jinja2

    return jinja2.Environment().from_string(MACROS_SQL.read_text(encoding="utf-8")).module


TRANSLITERATED_FIELDS = ("first_name", "middle_names", "surname", "full_name", "address_line", "locality")
# titles, dropped before a name in one column and from the start of a forename (a forename that is only a
# title is missing: MRS, SIR THE RT HON...)
NAME_TITLES = frozenset({"MR", "MRS", "MS", "MISS", "MX", "MASTER", "DR", "PROF", "REV", "REVD", "REVEREND", "FR",
                         "SIR", "DAME", "LADY", "LORD", "HON", "RT", "THE", "CAPT", "CAPTAIN", "MAJOR", "COL",
                         "COLONEL", "GENERAL", "ADMIRAL", "BARON", "BARONESS", "COUNTESS", "VISCOUNT"})
TITLES_AT_START = "^((" + "|".join(sorted(NAME_TITLES)) + ")( |$))+"
# A forename column holding several given names (JOHN PAUL) is split when each is a name the nicknames seed
# knows or one this many of the list's records give alone; at most this many words (a longer one is a name
# in some other order, kept whole).
KNOWN_NAME_MIN_RECORDS = 2
MAX_FORENAME_WORDS = 4
LATIN_END = 0x24F  # the last code point of Latin Extended-B: accents up to here are SQL's strip_accents's

# Placeholder names: what a system writes where it has no name, so that strangers would share it (30% of a
# list as 'Unknown Unknown' merged strangers and put those 6,000 records in one block). Compared after cleaning
# (upper case, accents and punctuation gone: N/K is NK, hyphens split words). A name is a placeholder when
# every word is one of NAME_PLACEHOLDER_WORDS (UNKNOWN UNKNOWN, UNKNOWN MALE, XXX) or, with at least two words,
# of those and NAME_PLACEHOLDER_FILLERS (NOT KNOWN, NO NAME GIVEN).
NAME_PLACEHOLDER_WORDS = frozenset({
    # not known, its misspellings and abbreviations (UNK; N/K only with its slash or dots: see NAME_NK)
    "UNKNOWN", "UNKOWN", "UNKNWON", "UKNOWN", "UNKNOW", "UNK", "NOTKNOWN",
    # an empty value spelt out by an export (N/A is one only with its punctuation: see NAME_NA)
    "NONE", "NULL",
    # to be confirmed, announced or decided: a name to come
    "TBC", "TBA", "TBD",
    # withheld on purpose: anonymous callers, redacted referrals
    "ANONYMOUS", "UNNAMED", "NONAME", "WITHHELD", "REDACTED",
    # a form's label or a tester's record, not a person's name (XXX, XX, X: any run of X, see below)
    "NAME", "FORENAME", "SURNAME", "FIRSTNAME", "LASTNAME", "DUMMY"})
# words that are a placeholder only beside another such word (NOT KNOWN, UNKNOWN MALE, TEST TEST): alone they
# may be a name (No is a Korean surname, Anon a Thai forename, Male and Test English surnames)
NAME_PLACEHOLDER_FILLERS = frozenset({"NOT", "NO", "KNOWN", "GIVEN", "STATED", "RECORDED", "PROVIDED", "SUPPLIED",
                                      "DISCLOSED", "AVAILABLE", "SPECIFIED", "ANON", "TEST", "MALE", "FEMALE"})
# A forename that starts with one of these stands in for a newborn's or an unborn child's (UNBORN CHILD,
# INFANT OF JANE): the child has no forename yet, and the same word on every baby is no evidence. NULL is what
# the clustering already expects of a baby with no forename (linkage.cluster). BABY too, but only alone or
# before one of BABY_FOLLOWERS (BABY OF JANE, BABY BOY, BABY 2): Baby is a given name in South Asian and
# Filipino families (Baby Rani). Forenames only: Baby and Infant are not surnames here.
FORENAME_PLACEHOLDER_STARTS = ("INFANT", "UNBORN", "NEWBORN")
BABY_FOLLOWERS = ("OF", "BOY", "GIRL", "MALE", "FEMALE", "UNBORN", "TWIN", "ONE", "TWO", "A", "B")
# N/A (N.A.) and N/K are placeholders; NA, NK and N.K. are kept: Na is a Korean surname and a Chinese given
# name (linkage.match.read_list keeps a bare NA in a name field for the same reason), N.K. initials
NAME_NA = "N *[/.] *A[.]?|N */ *K"


def _is_placeholder_name(cleaned: str, raw: str, forename: bool = False) -> str:
    """SQL: the cleaned name `cleaned` (from the list's `raw`) is a placeholder, not a name. A value with no
    letter in any script (?, -, 0, 999) is one too: the A-Z cleaning keeps it as written, so all such
    records would agree."""
    words = f"string_split(trim(regexp_replace({cleaned}, '[^A-Z]+', ' ', 'g')), ' ')"
    vocabulary = ", ".join(f"'{w}'" for w in sorted(NAME_PLACEHOLDER_WORDS | NAME_PLACEHOLDER_FILLERS))
    core = ", ".join(f"'{w}'" for w in sorted(NAME_PLACEHOLDER_WORDS))
    starts = ", ".join(f"'{w}'" for w in FORENAME_PLACEHOLDER_STARTS)
    followers = ", ".join(f"'{w}'" for w in BABY_FOLLOWERS)
    baby = f"or {words}[1] in ({starts}) or ({words}[1] = 'BABY' and (len({words}) = 1 or {words}[2] in ({followers})))"
    return f"""coalesce({cleaned} is not null and (
        not regexp_matches({raw}, '\\pL')
        or regexp_full_match(upper(trim({raw})), '{NAME_NA}')
        or (list_bool_and(list_transform({words}, lambda w: w in ({vocabulary}) or regexp_full_match(w, 'X+')))
            and (len({words}) > 1 or {words}[1] in ({core}) or regexp_full_match({words}[1], 'X+')))
        {baby if forename else ""}), false)"""


def _latin(value):
    """A value with letters beyond the Latin script, transliterated (else the value as given)."""
    if not isinstance(value, str) or all(ord(ch) <= LATIN_END for ch in value):
        return value
    from text_unidecode import unidecode

    return unidecode(value).strip() or value


def _dobs_are_day_numbers(con) -> bool:
    """Most of the list's DOBs are five-digit numbers: Excel day numbers (EXCEL_SERIAL_DOB)."""
    numbers, given = con.execute(f"select count(*) filter (where regexp_full_match({DOB_TEXT}, '[0-9]{{5}}')), "
                                 f"count({DOB_TEXT}) from raw_list").fetchall()[0]
    return numbers > given / 2


def _dob_formats_by_fit(con) -> list[str]:
    """DEFAULT_DOB_FORMATS, those that parse more of this list's DOBs first (a stable sort: day first
    wins a tie). 07/25/1984 is month first: a US list's dates would otherwise be read day first where
    they can be (07/12/1984 as 7 December) and lost where they cannot."""
    parsed = ", ".join(f"count(try_strptime({DOB_TEXT}, '{f}'))" for f in DEFAULT_DOB_FORMATS)
    counts = con.execute(f"select {parsed} from raw_list").fetchall()[0]
    return [f for _, f in sorted(zip(counts, DEFAULT_DOB_FORMATS), key=lambda pair: -pair[0])]


# words after a surname that are not part of it (John Smith Jr, III)
NAME_SUFFIXES = frozenset({"JR", "JNR", "JUNIOR", "SR", "SNR", "SENIOR", "II", "III", "IV"})
# those read as a generation at the end of a name: not JUNIOR or SENIOR, which are surnames too (MARY SENIOR)
GENERATION_WORDS = NAME_SUFFIXES - {"JUNIOR", "SENIOR"}
# A generational suffix (`--map suffix=COL`, or one of GENERATION_WORDS after a surname or forename or among the
# middle names) as the generation it names: JOHN SMITH SR (1) and JOHN SMITH JR (2), father and son, never merge
# (linkage.cluster). A suffix column may also say I, V or 2ND, which in a name would be an initial or no name.
GENERATIONS = {"SR": 1, "SNR": 1, "SENIOR": 1, "I": 1, "1ST": 1, "JR": 2, "JNR": 2, "JUNIOR": 2, "II": 2, "2ND": 2,
               "III": 3, "3RD": 3, "IV": 4, "4TH": 4, "V": 5, "5TH": 5}
# words before a surname that belong to it (Ursula von der Leyen, Juan de la Cruz, Ahmad bin Ismail)
SURNAME_PARTICLES = frozenset({"VON", "VAN", "DER", "DEN", "DE", "DEL", "DELLA", "DELLE", "DI", "DA", "DAS", "DOS",
                               "DU", "LA", "LE", "ST", "TEN", "TER", "BIN", "BINTI", "BINT", "AL", "EL", "AP", "NI",
                               "O", "MAC", "MC"})


def split_full_name(value) -> tuple[str | None, str | None, str | None]:
    """A name in one column, as (forename, middle names, surname): 'Smith, John Paul' (surname first
    before a comma), a surname in capitals in a name otherwise in mixed case ('WANG Wei', 'Jean DUPONT':
    the words in capitals), or 'Dr John Paul Smith' (the last word, with the particles in lower case before
    it: 'Ursula von der Leyen', while 'Nguyen Van Anh' keeps Van a middle name). A title before and a
    generational suffix after (Jr, III) are dropped. One word is a forename."""
    if not isinstance(value, str) or not value.strip():
        return None, None, None
    surname, comma, given = value.partition(",")
    if comma and all(w.upper().rstrip(".") in NAME_SUFFIXES for w in given.replace(",", " ").split()):
        value, surname, comma = surname, "", ""  # 'John Smith, Jr.'
    words = (given if comma else value).replace(",", " ").split()
    while words and words[0].upper().rstrip(".") in NAME_TITLES:
        words.pop(0)
    while len(words) > 1 and words[-1].upper().rstrip(".") in NAME_SUFFIXES:
        words.pop()
    if comma:
        surname = surname.strip() or None
    elif any(ch.islower() for ch in value) and 0 < sum(_in_capitals(w) for w in words) < len(words):
        surname = " ".join(w for w in words if _in_capitals(w))
        words = [w for w in words if not _in_capitals(w)]
    elif len(words) > 1:
        start = len(words) - 1
        while start > 1 and words[start - 1].islower() and words[start - 1].upper() in SURNAME_PARTICLES:
            start -= 1
        surname, words = " ".join(words[start:]), words[:start]
    else:
        surname = None
    return (words[0] if words else None), (" ".join(words[1:]) or None), surname


def _full_name_suffix(value) -> str | None:
    """The generational suffix at the end of a name in one column ('John Smith Jr.', 'Smith, John, III'), which
    split_full_name drops: it becomes the record's generation."""
    if not isinstance(value, str):
        return None
    words = value.replace(",", " ").split()
    return words[-1] if len(words) > 1 and words[-1].upper().rstrip(".") in GENERATION_WORDS else None


def _in_capitals(word: str) -> bool:
    """A word of two or more letters, all capitals (a surname so marked in a name in mixed case)."""
    letters = [ch for ch in word if ch.isalpha()]
    return len(letters) > 1 and all(ch.isupper() for ch in letters)


def _h(name: str, column: str) -> str:
    """The dbt macro `name` rendered for `column` (plain Jinja: the macros use no dbt context)."""
    return str(getattr(_macros(), name)(column)).strip()


def _parse_dob(dob_format: str, text: str = DOB_TEXT) -> str:
    """SQL: `text` read as a date in `dob_format` (NULL if it does not fit). DuckDB reads a two-digit
    year (%y) 69-99 as 19xx and 00-68 as 20xx, so a birth in the 1950s or 60s would be a date to come and
    dropped: with %y, a date more than a year ahead is a century earlier (as the `years` step does for
    year < 100)."""
    parsed = f"try_strptime({text}, '{dob_format}')::date"
    if "%y" not in dob_format:
        return parsed
    # a date within the coming year stays (an unborn child's expected date: a placeholder, as before)
    return (f"case when {parsed} > current_date + interval 1 year then try(make_date(year({parsed}) - 100, "
            f"month({parsed}), day({parsed}))) else {parsed} end")


def check_dob_format(dob_format: str) -> None:
    """A --dob-format DuckDB's strptime accepts (it goes into SQL text: no quotes)."""
    from linkage.match import ListError

    if "'" in dob_format or "%" not in dob_format:
        raise ListError(f"--dob-format {dob_format!r} is not a date format (e.g. %d/%m/%Y)")
    try:
        duckdb.sql("select try_strptime('2000-01-01', ?)", params=[dob_format]).fetchall()
    except duckdb.Error:
        raise ListError(f"--dob-format {dob_format!r} is not a date format DuckDB reads (e.g. %d/%m/%Y)") from None


def standardise(raw: pd.DataFrame, dob_format: str | None = None, jan1_is_placeholder: bool = False,
                uprn_zeros_stripped: bool = True) -> pa.Table:
    """raw: source, record_id and any of FIELDS as text (missing fields are NULL). Returns the columns
    the model and the clustering read (linkage.settings.INPUT_COLUMNS and more), one row per record.
    jan1_is_placeholder: 1 January is always a placeholder, as in the warehouse (else only where the list
    uses it so, JAN1_PLACEHOLDER_SHARE). uprn_zeros_stripped: a UPRN of digits loses its leading zeros (False:
    kept, as the warehouse keeps them, for `match` against it)."""
    if dob_format:
        check_dob_format(dob_format)
    frame = raw.copy()
    for field in FIELDS:
        if field not in frame:
            frame[field] = None
    frame = frame[["source", "record_id", *FIELDS]].astype(object).where(frame.notna(), None)
    for field in TRANSLITERATED_FIELDS:
        distinct = frame[field].dropna().unique()
        frame[field] = frame[field].map({v: _latin(v) for v in distinct})
    if frame["full_name"].notna().any():
        # a list with the name in one column: its parts fill the name fields the list did not map
        parts = pd.DataFrame(frame["full_name"].map(split_full_name).tolist(), index=frame.index,
                             columns=["first_name", "middle_names", "surname"])
        for field in parts:
            frame[field] = frame[field].where(frame[field].notna(), parts[field])
        frame["suffix"] = frame["suffix"].where(frame["suffix"].notna(), frame["full_name"].map(_full_name_suffix))
    con = duckdb.connect(":memory:")
    try:
        con.register("raw_list", pa.Table.from_pandas(frame.astype(str).where(frame.notna(), None),
                                                      preserve_index=False))
        # the given format first, then ISO (how typed dates from a workbook or Parquet arrive as text)
        if dob_format:
            # the given format reads the text without its time too (it may say %I:%M:%S %p itself)
            parses = [_parse_dob(dob_format), _parse_dob(dob_format, "trim(dob)"), _parse_dob("%Y-%m-%d")]
        else:
            parses = [*([EXCEL_SERIAL_DOB] if _dobs_are_day_numbers(con) else []),
                      *(_parse_dob(f) for f in _dob_formats_by_fit(con))]
        dob_parse = "coalesce(" + ", ".join(parses) + ")"
        male, female = (", ".join(f"'{code}'" for code in codes) for codes in (MALE, FEMALE))
        nick = NICKNAMES_CSV.as_posix()
        uprn_digits = f"regexp_replace({_identifier_text('uprn')}, '\\s', '', 'g')"
        other_id_text = f"nullif(regexp_replace(upper({_identifier_text('other_id')}), '[\\s-]', '', 'g'), '')"
        suffix_words = "|".join(sorted(GENERATION_WORDS))
        trailing_suffix = f"' ({suffix_words})$'"

        placeholder_words = ", ".join(f"'{w}'" for w in sorted(NAME_PLACEHOLDER_WORDS))

        def generation(text: str) -> str:
            return f"case {text} " + " ".join(f"when '{w}' then {g}" for w, g in GENERATIONS.items()) + " end"
        sql = f"""
        with nickname_pairs as (
            select distinct upper(strip_accents(trim(name))) as name, upper(strip_accents(trim(canonical))) as canonical
            from read_csv('{nick}', header = true, all_varchar = true)
        ),
        nicknames as (  -- as the warehouse's model (see its comment): each name takes the end of its chain
            with recursive nickname_steps as (
                select p.name, min(p.canonical) as canonical
                from nickname_pairs p left join nickname_pairs r on p.name = r.canonical and p.canonical = r.name
                where r.name is null or p.name > p.canonical
                group by p.name
            ),
            nickname_walks as (
                select name, [name, canonical] as path from nickname_steps
                union all
                select w.name, list_append(w.path, s.canonical) as path
                from nickname_walks w inner join nickname_steps s on w.path[-1] = s.name
                where not list_contains(w.path, s.canonical)
            )
            select w.name,
                case when next_step.name is null then w.path[-1]
                     else list_min(w.path[list_position(w.path, next_step.canonical):]) end as canonical
            from nickname_walks w left join nickname_steps next_step on w.path[-1] = next_step.name
            where next_step.name is null or list_contains(w.path, next_step.canonical)
        ),
        cleaned as (
            select
                source as source_system, record_id as source_record_id,
                md5(source || '|' || record_id) as person_record_id,
                nullif(regexp_replace(coalesce({_h('clean_name', 'first_name')}, nullif(upper(trim(first_name)), '')),
                                      '{TITLES_AT_START}', ''), '') as first_name,
                coalesce({_h('clean_name', 'middle_names')}, nullif(upper(trim(middle_names)), '')) as middle_names,
                coalesce({_h('clean_name', 'surname')}, nullif(upper(trim(surname)), '')) as surname,
                first_name as first_name_text, middle_names as middle_names_text, surname as surname_text,
                {dob_parse} as dob_read,
                nullif(trim(dob), '') is not null as dob_given,
                try_cast(nullif(regexp_extract({DOB_TEXT}, '(^|[^0-9])([0-9]{{4}})([^0-9]|$)', 2), '') as integer)
                    as dob_text_year,
                -- a code neither male nor female (U, 0, 9, D, X...) is unknown: a sex difference can refuse
                -- a merge (linkage.cluster), so only the two are compared
                case when upper(strip_accents(trim(sex))) in ({male}) then 'M'
                     when upper(strip_accents(trim(sex))) in ({female}) then 'F' end as sex,
                coalesce({_h('clean_address', 'address_line')}, nullif(upper(trim(address_line)), '')) as address_line,
                coalesce({_h('clean_address', 'locality')}, nullif(upper(trim(locality)), '')) as locality,
                nullif(regexp_replace(upper({POSTCODE_TEXT}), '[^[:alnum:]]', '', 'g'), '') as postcode_compact,
                nullif(regexp_replace(upper({POSTCODE_TEXT}), '\\s+', ' ', 'g'), '') as postcode_spaced,
                nullif(case when regexp_full_match({uprn_digits}, '[0-9]+')
                            then {_without_leading_zeros(uprn_digits) if uprn_zeros_stripped else uprn_digits}
                            else upper({_identifier_text('uprn')}) end, '') as uprn,
                nullif(regexp_replace({_identifier_text('nhs_number')}, '[\\s-]', '', 'g'), '') as nhs_raw,
                nullif(regexp_replace(upper(ni_number), '\\s', '', 'g'), '') as ni_raw,
                nullif(upper(trim(upn)), '') as upn_raw,
                nullif(upper(trim(pnc_id)), '') as pnc_id,
                nullif(upper(regexp_replace(suffix, '[^A-Za-z0-9]', '', 'g')), '') as suffix_code,
                {_without_leading_zeros(other_id_text)} as other_id,
                {" or ".join(_digits_lost(c) for c in ("uprn", "nhs_number", "other_id"))} as has_lost_identifier_digits
            from raw_list
        ),
        name_flags as (
            select *,
                {_is_placeholder_name('first_name', 'first_name_text', forename=True)} as first_name_placeholder,
                {_is_placeholder_name('middle_names', 'middle_names_text')} as middle_names_placeholder,
                {_is_placeholder_name('surname', 'surname_text')} as surname_placeholder
            from cleaned
        ),
        named as (  -- a placeholder name is missing (NAME_PLACEHOLDER_WORDS)
            select * exclude (first_name_text, middle_names_text, surname_text, first_name_placeholder,
                              middle_names_placeholder, surname_placeholder)
                replace (case when not first_name_placeholder then first_name end as first_name,
                         case when not middle_names_placeholder then middle_names end as middle_names,
                         case when not surname_placeholder then surname end as surname),
                first_name_placeholder or middle_names_placeholder or surname_placeholder as has_placeholder_name
            from name_flags
        ),
        generations as (
            -- a generation suffix in its own column, after the surname or forename (SMITH JR) or among the
            -- middle names: the record's generation (GENERATIONS), and off the name, which then compares whole
            select * exclude (first_name, surname, suffix_code),
                regexp_replace(first_name, {trailing_suffix}, '') as first_name,
                regexp_replace(surname, {trailing_suffix}, '') as surname,
                coalesce({generation('suffix_code')}, {generation(f"regexp_extract(surname, {trailing_suffix}, 1)")},
                         {generation(f"regexp_extract(first_name, {trailing_suffix}, 1)")},
                         {generation(f"regexp_extract(middle_names, '(^| )({suffix_words})( |$)', 2)")}) as generation
            from named
        ),
        known_given_names as (
            -- names a record gives alone (twice at least: a typo is not a name) or the nicknames seed knows
            select name from (
                select name from nickname_pairs union select canonical from nickname_pairs
                union (select first_name from generations where not contains(first_name, ' ')
                       group by first_name having count(*) >= {KNOWN_NAME_MIN_RECORDS})
                union (select word from (select unnest(string_split(middle_names, ' ')) as word from generations)
                       group by word having count(*) >= {KNOWN_NAME_MIN_RECORDS}))
            where length(name) > 1 and name not in ({placeholder_words})
        ),
        forenames_of_words as (  -- each forename of several words once (JOHN PAUL, ANNE-MARIE), with its words
            select first_name,
                list_filter(string_split(regexp_replace(first_name, '-', ' ', 'g'), ' '), lambda w: w <> '') as words
            from (select distinct first_name from generations where regexp_matches(first_name, '[ -]'))
        ),
        unknown_later_words as (  -- those with a word after the first that is no known name (and one of two letters)
            select f.first_name, bool_or(length(f.word) = 2) as fragment
            from (select first_name, unnest(words[2:]) as word from forenames_of_words) f
            left join known_given_names k on k.name = f.word
            where k.name is null
            group by f.first_name
        ),
        split_forenames as (
            -- given names in the forename column (JOHN PAUL, MARY R, ANNE-MARIE): the first is the forename, the
            -- others middle names, as when the list writes them in their own column (split). Only when the first
            -- word is a known name (JOHN PAULL, MARY R: a typo, an initial after it; not an unknown word of two
            -- letters, fake_1000's MATT EW) or every word after it is one (JONH PAUL: split as the name written
            -- right would be), of two to MAX_FORENAME_WORDS words; not one
            -- starting with a placeholder (UNKNOWN PAUL) or an initial (J PAUL: known by the second). Words that
            -- make a known name together are that name with a space typed into it (FEBRL's GEO RGE, THOM AS):
            -- rejoined. Else a forename garbled so (Splink's fake_1000 OL VRI, FEBRL's CNONO R) stays whole, as does
            -- one the list gives as a surname too (PRESTON-STANLEY ALEXANDER: the names swapped). Split
            -- or not, the words after the first are kept (forename_middles): twins MARIA ELENA / MARIA FERNANDA
            -- (FERNANDA unknown, so that forename whole) must still differ there (linkage.cluster)
            select f.first_name, f.words, joined.name is not null as rejoined,
                joined.name is null and compound and (unknown.first_name is null
                                                      or (first_known.name is not null and not unknown.fragment))
                    as split,
                joined.name is null and compound as compound
            from (select *, len(words) between 2 and {MAX_FORENAME_WORDS} and length(words[1]) > 1
                            and words[1] not in ({placeholder_words})
                            -- a surname of the list in the forename column: the names swapped, kept whole
                            and first_name not in (select surname from generations where surname is not null)
                                as compound
                  from forenames_of_words) f
            left join known_given_names joined on joined.name = array_to_string(f.words, '')
            left join known_given_names first_known on first_known.name = f.words[1]
            left join unknown_later_words unknown on unknown.first_name = f.first_name
            where joined.name is not null or compound
        ),
        forenames_split as (
            select g.* exclude (first_name, middle_names),
                case when s.rejoined then array_to_string(s.words, '') when s.split then s.words[1]
                     else g.first_name end as first_name,
                case when s.split then nullif(concat_ws(' ', array_to_string(s.words[2:], ' '), g.middle_names), '')
                     else g.middle_names end as middle_names,
                case when s.compound then array_to_string(s.words[2:], ' ') end as forename_middles
            from generations g left join split_forenames s on s.first_name = g.first_name
        ),
        years as (
            -- a two-digit year (25/07/84 reads as year 84): the latest year ending so that is not in the future
            select * exclude (dob_read),
                case when year(dob_read) < 100 then try(make_date(
                    year(dob_read) + case when year(dob_read) + 2000 <= year(current_date) then 2000 else 1900 end,
                    month(dob_read), day(dob_read))) else dob_read end as dob_parsed
            from forenames_split
        ),
        counted as (
            select *,
                count(*) filter (where month(dob_parsed) = 1 and day(dob_parsed) = 1) over () as jan1_dobs,
                count(dob_parsed) over () as parsed_dobs,
                {", ".join(f"case when {raw} is not null then count(*) over (partition by {raw}) else 0 end "
                           f"as {field}_records" for field, raw in IDENTIFIER_COLUMNS.items())}
            from years
        ),
        checked as (
            select counted.* exclude (pnc_id, other_id),
                {", ".join(f"case when {c}_records > {IDENTIFIER_PLACEHOLDER_RECORDS} then null else {c} end as {c}"
                           for c in ("pnc_id", "other_id"))},
                -- a value in a UK identifier's shape that fails its check is a typo: NULL; any other
                -- format is kept and compared as a string
                case when regexp_full_match(nhs_raw, '[0-9]{{10}}') and not {_h('nhs_number_is_valid', 'nhs_raw')}
                     then null when nhs_number_records > {IDENTIFIER_PLACEHOLDER_RECORDS} then null
                     else nhs_raw end as nhs_number,
                case when regexp_full_match(ni_raw, '[A-Z]{{2}}[0-9]{{6}}[A-D]')
                          and not {_h('ni_number_is_valid', 'ni_raw')} then null
                     when ni_number_records > {IDENTIFIER_PLACEHOLDER_RECORDS} then null else ni_raw end as ni_number,
                case when regexp_full_match(upn_raw, '[A-Z][0-9]{{11}}[0-9A-Z]') and not {_h('upn_is_valid', 'upn_raw')}
                     then null when upn_records > {IDENTIFIER_PLACEHOLDER_RECORDS} then null
                     else upn_raw end as upn,
                -- placeholders: 1 January where the list uses it so (JAN1_PLACEHOLDER_SHARE) and 1900-01-01,
                -- a spreadsheet's day zero, a date not yet come. Unlike the warehouse (a living English
                -- population), earlier years are kept: a list may be historical
                dob_parsed is not null and (
                    (month(dob_parsed) = 1 and day(dob_parsed) = 1
                     and ({str(jan1_is_placeholder).lower()} or year(dob_parsed) = 1900
                          or (jan1_dobs >= {JAN1_PLACEHOLDER_MIN}
                                                      and jan1_dobs > {JAN1_PLACEHOLDER_SHARE} * parsed_dobs)))
                    or dob_parsed in (date '1899-12-30', date '1899-12-31') or dob_parsed > current_date)
                    as has_placeholder_dob,
                case when not has_placeholder_dob then dob_parsed end as dob,
                -- the year of a date that is not whole: a 1 January standing for a year alone (not 1900),
                -- or the year in a date that does not parse (a mistyped day or month): compared as a year
                case when dob_parsed is null then dob_text_year
                     when not has_placeholder_dob then year(dob_parsed)
                     when month(dob_parsed) = 1 and day(dob_parsed) = 1 and year(dob_parsed) <> 1900
                          and dob_parsed <= current_date then year(dob_parsed) end as year_given,
                case when length(postcode_compact) between 5 and 7
                          and regexp_full_match(postcode_compact, '[A-Z]{{1,2}}[0-9][A-Z0-9]?[0-9][A-Z]{{2}}')
                     then substr(postcode_compact, 1, length(postcode_compact) - 3) || ' ' || right(postcode_compact, 3)
                end as uk_postcode
            from counted
        )
        select
            person_record_id, source_system, source_record_id,
            checked.first_name,
            coalesce(nicknames.canonical, checked.first_name) as first_name_canonical,
            {_h('soundex', 'checked.first_name')} as first_name_soundex,
            middle_names, forename_middles, surname, generation,
            {_h('soundex', "regexp_replace(surname, '[ -]', '', 'g')")} as surname_soundex,
            nullif(list_filter(string_split(regexp_replace(surname, '-', ' ', 'g'), ' '), lambda x: x <> ''), [])
                as surname_tokens,
            dob, case when year_given between 1000 and year(current_date) then year_given end as dob_year,
            sex, address_line, locality,
            coalesce(uk_postcode, postcode_compact) as postcode,
            case when uk_postcode is not null then split_part(uk_postcode, ' ', 1)
                 when contains(postcode_spaced, ' ') then split_part(postcode_spaced, ' ', 1) end as postcode_outward,
            uprn, nhs_number, ni_number, upn, pnc_id, other_id,
            dob_given and dob_parsed is null as has_unparsed_dob, has_placeholder_dob, has_placeholder_name,
            coalesce(has_lost_identifier_digits, false) as has_lost_identifier_digits,
            {" or ".join(f"{c}_records > {IDENTIFIER_PLACEHOLDER_RECORDS}" for c in IDENTIFIER_COLUMNS)}
                as has_placeholder_identifier
        from checked
        left join nicknames on nicknames.name = checked.first_name
        order by person_record_id
        """
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()
