"""Clustering that resists chaining.

Connected components at a threshold chain households into one person: a record with no date of birth
links the father to the son who shares his name, and both to their address. Here edges above the
threshold are taken strongest first and two clusters merge only when no pair of their records
conflicts on a strong identifier (NHS number, NI number, UPN: different and not one typo apart),
on date of birth (different, not transposed, not one character apart), on sex, or on forename (twins:
same surname, DOB and address) when both clusters already hold a record of one source system, or, across
systems, unless the two share an NHS / NI number or UPN; or on middle names (both give some, and none of
either's fits a forename or middle name of the other: a same-name father and son, JOHN PAUL / JOHN DAVID
SMITH), unless the two share an identifier; or on generation (a list's JR / SR: a father and his son).
A refused merge stays two clusters; the edge is reported as refused.

Numpy over an Arrow/pandas edge list, with the rules in pure Python for the few components where a
conflict is possible: it needs no database, so it is the same on any backend.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

STRONG_IDS = ("nhs_number", "ni_number", "upn")
NICKNAMES_CSV = Path(__file__).resolve().parents[1] / "seeds" / "nicknames.csv"


def event_keyed_systems() -> frozenset[str]:
    """Source systems keyed by event, not person (feeds.yml `person_keyed: false`: housing), where several records
    of one person are expected, so the same-system rules skip them. Read from the registry (plain YAML, parsed
    once per process) only when the warehouse's rules ask: `familyhub link` (LIST_RULES) never reads it."""
    from orchestration.lib import feeds  # lazily: linkage needs the registry only to cluster the warehouse

    return feeds.event_keyed_systems()


def _near(a: str, b: str) -> bool:
    """Equal, or one substitution or one adjacent transposition apart (same length)."""
    if a == b:
        return True
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def jaro_winkler(a: str, b: str) -> float:
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    window = max(max(la, lb) // 2 - 1, 0)
    fa, fb = [False] * la, [False] * lb
    matches = 0
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(lb, i + window + 1)):
            if not fb[j] and b[j] == ch:
                fa[i] = fb[j] = True
                matches += 1
                break
    if not matches:
        return 0.0
    sa = [a[i] for i in range(la) if fa[i]]
    sb = [b[j] for j in range(lb) if fb[j]]
    transpositions = sum(x != y for x, y in zip(sa, sb)) / 2
    jaro = (matches / la + matches / lb + (matches - transpositions) / matches) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4]):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


NAME_SIMILAR = 0.9


def _forename_variant(a: str, b: str) -> bool:
    """Two spellings of one forename: Jaro-Winkler >= NAME_SIMILAR, or, with the same initial, one typo,
    transposition or dropped letter apart (LISA / LSIA, HANNAH / HNNAH) or one the start of the other (CHRIS /
    CHRISTOPHER, ED / EDWARD, an initial J / JOHN). A different initial is a different name, not a typo: twins are often given
    rhyming names (HOLLY / MOLLY, AVA / EVA, DEAN / SEAN) that a review found merging."""
    if jaro_winkler(a, b) >= NAME_SIMILAR:
        return True
    if a[:1] != b[:1]:
        return False
    short, long_ = sorted((a, b), key=len)
    return _near(a, b) or long_.startswith(short) or _one_letter_dropped(short, long_)


def _one_letter_dropped(short: str, long_: str) -> bool:
    """Is short long_ with one letter left out?"""
    return len(long_) == len(short) + 1 and any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _ascii_upper(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().strip().upper()


@lru_cache(maxsize=1)
def _nickname_forms() -> dict[str, frozenset[str]]:
    """Each name in the nicknames seed -> itself and every canonical form the seed gives it. The
    standardisation keeps one canonical form per name (HARRY -> HAROLD, the first of HAROLD, HARRISON and
    HENRY), so HARRY and HENRY have different ones: here they still agree."""
    forms: dict[str, set[str]] = {}
    with NICKNAMES_CSV.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name, canonical = _ascii_upper(row["name"]), _ascii_upper(row["canonical"])
            forms.setdefault(name, {name}).add(canonical)
    return {name: frozenset(values) for name, values in forms.items()}


def _nicknames_agree(a: str, b: str) -> bool:
    """Do two forenames share a canonical form in the nicknames seed (one may be the other's)?"""
    forms = _nickname_forms()
    return not forms.get(a, frozenset((a,))).isdisjoint(forms.get(b, frozenset((b,))))


def _share_forename(a: dict, b: dict) -> bool:
    """Do two clusters hold a forename with the same canonical form?"""
    fa, fb = a.get("forenames"), b.get("forenames")
    return bool(fa and fb and not fa.keys().isdisjoint(fb))


def _forenames_agree(a: dict, b: dict) -> bool:
    """Do two clusters share a forename: the same canonical form, or a variant or a nickname of one
    among the names as written and their canonical forms (a typo of a nickname has another canonical
    form: HARRI and HARRY, whose canonical is HAROLD)."""
    fa, fb = a.get("forenames"), b.get("forenames")
    if not fa or not fb:
        return False
    if not fa.keys().isdisjoint(fb):
        return True
    xs, ys = set(fa) | a.get("given", set()), set(fb) | b.get("given", set())
    return any(_forename_variant(x, y) or _nicknames_agree(x, y) for x in xs for y in ys)


# Years of birth without a whole date (a partner list's year alone): one person's are a year apart at most
# (a date near the new year, an estimate) or two digits swapped (1856 / 1865). Every two years alone in a
# cluster must be so, not each merged pair: pairwise, 2003 ~ 2004 ~ 2005 chained the residents of a hostel
# whose list gives years alone; nor one digit apart (2003 / 2000), which near the years of a list is any.
YEAR_SPAN = 1


def _years_alike(a: int, b: int) -> bool:
    x, y = str(a), str(b)
    swapped = len(x) == len(y) and any(x[:i] + x[i + 1] + x[i] + x[i + 2:] == y for i in range(len(x) - 1))
    decade = len(x) == len(y) == 4 and x[:2] == y[:2] and x[3] == y[3]  # 1850 / 1880: the decade mistyped
    return abs(a - b) <= YEAR_SPAN or swapped or decade


def _years_compatible(a: int, b: int) -> bool:
    """A year alone and the year of a whole date, of one person: alike, or one digit mistyped (as a whole
    date may be, _dob_compatible)."""
    return _years_alike(a, b) or _near(str(a), str(b))


def _dob_compatible(a: str, b: str) -> bool:
    """Dates as YYYYMMDD: equal, day/month transposed, or one character apart."""
    if a == b:
        return True
    if a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return True
    return _near(a, b)


LOOSE_DOB_DAYS = 366
# A record without DOB linking to conflicting clusters (a same-name father and son) is ambiguous when its
# edges to them are within this match weight (a factor of 2^6) of each other
AMBIGUITY_MARGIN = 6.0
# The version of the rules below. An in-place run reclusters only the persons a delivery reaches, so a change
# to what the rules merge must force one full run (linkage.index.choose_mode) to reach every person.
# 1: until session 21; 2: different forenames across systems never merge without a shared identifier;
# 3: conflicting middle names (JOHN PAUL / JOHN DAVID) never merge without a shared identifier, and a forename
# keyed as a surname excuses different forenames only in a swap both ways (_names_swapped); 4: particles and names
# siblings share (DEL, VAN, THI), and JUNIOR / SENIOR, are not middle names.
CLUSTER_RULES_VERSION = 4


@lru_cache(maxsize=65536)
def _name_tokens(name: str) -> tuple[str, ...]:
    """The names in one name field: MARY ANN, ANNE-MARIE are two each."""
    return tuple(name.replace("-", " ").split())


def _given_names_compatible(x: str, y: str) -> bool:
    """Two given names one person's records may show: equal, a variant (a typo, the start of the other, an
    initial J / JOHN) or nicknames of one name."""
    return x == y or _forename_variant(x, y) or _nicknames_agree(x, y)


def _given_tokens(a: dict) -> set[str]:
    """A cluster's given names: forenames (as written and canonical) and middle names, one name each."""
    tokens = set(a.get("middles", ()))
    for name in (*a.get("forenames", ()), *a.get("given", ())):
        tokens.update(_name_tokens(name))
    return tokens


# what a middle-name field holds that is not a name: a placeholder (US NMN, no middle name), a generation
# suffix, or a particle or a name siblings share (MARIA DEL CARMEN / MARIA DEL PILAR, Vietnamese VAN and THI); dropped
# before comparing, so that NONE or JR never conflicts with PAUL and DEL is no name twins have in common
MIDDLE_NAME_NON_NAMES = frozenset({"NONE", "UNKNOWN", "NK", "NA", "NMN", "NMI", "NOT", "KNOWN", "X", "XX", "XXX",
                                   "JR", "JNR", "SR", "SNR", "JUNIOR", "SENIOR", "II", "III", "IV",
                                   "DE", "DEL", "DELA", "DELLA", "LA", "LAS", "LOS", "DA", "DAS", "DOS", "DI", "DU",
                                   "VAN", "VON", "DER", "DEN", "BIN", "BINTI", "BINT", "THI"})


def _middle_tokens(name: str) -> set[str]:
    return {t for t in _name_tokens(name) if t not in MIDDLE_NAME_NON_NAMES}


def _initials_fit(token: str, given: set[str]) -> bool:
    """Initials run together (J.P. cleaned to JP): each letter starts one of the other's given names."""
    return len(token) <= 3 and all(any(name.startswith(letter) for name in given) for letter in token)


def _middle_names_conflict(a: dict, b: dict) -> bool:
    """Both clusters give middle names and none of either's fits any given name (forename or middle) of the
    other: JOHN PAUL / JOHN DAVID (a same-name father and son). JOHN PAUL / JOHN P, / JP (initials), / JOHN (no
    middle), / PAUL JOHN (a swap), JOHN PAUL JAMES / JOHN JAMES and a typo do not conflict; nor do two clusters
    that share a whole DOB, which a father and son never do (a maiden name or a nickname in the field, JONES /
    ELIZABETH, is then one person's), unless both wrote them in the forename column: MARIA JOSE / MARIA ELENA
    are the names twins go by (linkage.standardise splits the column, and their forenames are then both MARIA)."""
    ma, mb = a.get("middles"), b.get("middles")
    if not ma or not mb:
        return False
    compatible = _given_names_compatible
    if a.get("dob") and b.get("dob") and not a["dob"].isdisjoint(b["dob"]):
        if not (a.get("forename_middles") and b.get("forename_middles")):
            return False
        # one DOB: any one typo is one person's, as twins' names are not one letter apart (FEBRL's SARA-KOUISE,
        # TOMMI-EE against SARA-LOUISE, TOMMI-LEE)
        compatible = _typo_apart
    ga, gb = _given_tokens(a), _given_tokens(b)
    if not ma.isdisjoint(gb) or not mb.isdisjoint(ga):
        return False
    return not (any(compatible(x, y) for x in ma for y in gb)
                or any(compatible(x, y) for x in mb for y in ga)
                or any(_initials_fit(x, gb) for x in ma) or any(_initials_fit(x, ga) for x in mb))


def _typo_apart(x: str, y: str) -> bool:
    """Compatible given names, or names of three letters or more one letter changed, swapped with the next, or
    dropped apart (not initials: JOHN P / JOHN D are twins)."""
    short, long_ = sorted((x, y), key=len)
    return _given_names_compatible(x, y) or (len(short) >= 3 and (_near(x, y) or _one_letter_dropped(short, long_)))


def _written_forenames(a: dict) -> set[str]:
    """A cluster's forenames as written and in their canonical forms (JOHN's canonical form is JOAO)."""
    return set(a.get("forenames", ())) | a.get("given", set())


def _names_swapped(a: dict, b: dict, both_dated: bool) -> bool:
    """Does a give b's surname as a forename, and b's forename as a surname (or no surname): names keyed in
    each other's fields? Without a DOB on both sides one side alone is not enough: a household's swapped record
    (SMITH JOHN) gives every member's surname as a forename, and excused MARY SMITH's different forename from
    JOHN's, chaining the households of a voter roll without DOBs (9 at 1% of names swapped). With DOBs on both
    (and the DOB rule's agreement) one side is enough, as before: lists such as Splink's fake_1000 swap a
    person's names back and forth and also garble a forename, and the two-way test cost them 2 points of
    recall. Forenames as written: the canonical form of JOHN (JOAO) is no one's surname. The way back may
    carry a typo or a nickname (SMITH JONH / JOHN SMITH, SMITH BILL / WILLIAM SMITH)."""
    if _written_forenames(a).isdisjoint(b.get("surname", ())):
        return False
    if both_dated or "surname" not in a:
        return True
    return any(x == y or _forename_variant(x, y) or _nicknames_agree(x, y)
               for x in _written_forenames(b) for y in a["surname"])


def _dob_compatible_within(days: int):
    """For a list whose DOBs are loose (weeks or months out, never decades), or whose model learned a date
    weeks out as evidence of one person: compatible, or within this many days."""
    def compatible(a: str, b: str) -> bool:
        if _dob_compatible(a, b):
            return True
        try:
            da, db = (dt.date(int(x[:4]), int(x[4:6]), int(x[6:8])) for x in (a, b))
        except ValueError:
            return False
        return abs((da - db).days) <= days
    return compatible


def _sets_conflict(sa: frozenset | set | None, sb: frozenset | set | None, compatible) -> bool:
    if not sa or not sb:
        return False
    if not sa.isdisjoint(sb):
        return False
    return not any(compatible(x, y) for x in sa for y in sb)


def _positions(lookup: pd.Index, record_ids) -> np.ndarray:
    """Each id's row in `records` (-1 when absent)."""
    return lookup.get_indexer(pd.Index(record_ids, dtype=object))


def _decided_pairs(pairs: pd.DataFrame | None, lookup: pd.Index) -> np.ndarray:
    """A reviewer's pairs as rows of `records`, in the order given, less those naming an unknown record
    or the same record twice: shape (k, 2)."""
    if pairs is None or not len(pairs):
        return np.empty((0, 2), dtype=np.int64)
    a, b = _positions(lookup, pairs["person_record_id_l"]), _positions(lookup, pairs["person_record_id_r"])
    keep = (a >= 0) & (b >= 0) & (a != b)
    return np.column_stack([a[keep], b[keep]]).astype(np.int64)


def _components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected components of the graph on n nodes with these edges: each node's label is the smallest
    node of its component. Hook every root onto the smallest root it has an edge to, then point every
    node at its root; a few rounds, each a pass of numpy over the edges."""
    label = np.arange(n, dtype=np.int64)
    while True:
        la, lb = label[left], label[right]
        apart = la != lb
        if not apart.any():
            return label
        la, lb = la[apart], lb[apart]
        np.minimum.at(label, np.maximum(la, lb), np.minimum(la, lb))
        while True:  # parents are always smaller than their children, so this ends
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped


CONFLICT_FIELDS = (*STRONG_IDS, "dob", "sex")


def _many_values(values: np.ndarray, component: np.ndarray) -> np.ndarray:
    """Per component label: do its records hold more than one distinct non-missing value?"""
    n = len(component)
    codes = pd.factorize(values)[0]  # -1: missing (None or NaN)
    present = codes >= 0
    lowest = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    highest = np.full(n, -1, dtype=np.int64)
    np.minimum.at(lowest, component[present], codes[present])
    np.maximum.at(highest, component[present], codes[present])
    return highest > lowest


@dataclass(frozen=True)
class ClusterRules:
    """The rules beyond the threshold: the warehouse's by default, LIST_RULES for `familyhub link`.
    system_rules: the same-source-system rules (off for a list, whose records share one 'system').
    shared_id_overrides_dob: two clusters holding the same identifier (NHS / NI / UPN, or a list's
    other_id when records has that column) may merge although their DOBs differ (in a partner list a
    mistyped DOB is commoner than two people sharing an id; the warehouse keeps the DOB rule, as a
    baby's record carrying its mother's NHS number is not rare there).
    loose_dobs: a DOB difference refuses a merge when it is more than a typo or a transposition (False),
    or only when it is more than a year (True: a list whose matched records' DOBs are often weeks or
    months out, estimated; a parent and a same-name child stay apart either way).
    near_dob_days: with loose_dobs False, DOBs this many days apart or less are compatible too (a list
    whose model learned a date a few weeks out as evidence of one person; twins share a DOB, a parent is
    decades away).
    sex_conflicts: a sex difference always refuses a merge (the warehouse: boy and girl twins). False (a
    list, whose sex is keyed by hand and wrong now and then): only between clusters that share no forename
    (canonical form): one forename keyed with two sexes is a slip, while LOUIS / LOUISE or JULIAN / JULIA,
    which the forename rule counts as variants, are boy and girl twins.
    middle_name_conflicts: two clusters whose middle names conflict (_middle_names_conflict) merge only when
    they share an NHS / NI number or UPN (or other_id, with shared_id_overrides_dob); on in both rule sets,
    where records has middle_names (a list maps them with --map middle_names=COL).
    surnames_only: words a list gives as surnames and never as forenames (`familyhub link`); one in the
    middle-name field (a maternal surname, GARCIA; a maiden name) is not a given name and does not count: they
    had refused one person's records (an audit: recall 0.90 -> 0.76 with ages)."""
    system_rules: bool = True
    shared_id_overrides_dob: bool = False
    loose_dobs: bool = False
    near_dob_days: int = 0
    sex_conflicts: bool = True
    middle_name_conflicts: bool = True
    surnames_only: frozenset[str] = frozenset()


WAREHOUSE_RULES = ClusterRules()
# A list deduplicates one file, so two registrations in it say nothing. The DOB rule is set per list.
LIST_RULES = ClusterRules(system_rules=False, shared_id_overrides_dob=True, sex_conflicts=False)


def _need_rules(records: pd.DataFrame, component: np.ndarray, decided: np.ndarray,
                rules: ClusterRules) -> np.ndarray:
    """Per record: is its component one the rules could split? A component is settled without them, as
    one cluster with every edge merging, when no two of its records can conflict whatever the merge
    order: each has a date of birth; NHS number, NI number, UPN, DOB and sex each hold at most one
    distinct value across it; so do forenames, the given names a list wrote after them in its forename
    column and a list's generations (JR / SR); and no reviewer's decision names one of its records. (Other
    middle names need no check: they never conflict between clusters that share a DOB.)"""
    n = len(component)
    size = np.bincount(component, minlength=n)

    def any_of(mask: np.ndarray) -> np.ndarray:  # per component label: does one of its records match?
        out = np.zeros(n, dtype=bool)
        out[component[mask]] = True
        return out

    tangled = any_of(pd.isna(records["dob"].to_numpy()))
    for f in CONFLICT_FIELDS:
        tangled |= _many_values(records[f].to_numpy(), component)
    tangled |= _many_values(records["first_name_canonical"].to_numpy(), component)
    if rules.middle_name_conflicts and "forename_middles" in records:
        tangled |= _many_values(records["forename_middles"].to_numpy(), component)
    if "generation" in records:
        tangled |= _many_values(records["generation"].to_numpy(), component)
    tangled |= any_of(np.isin(np.arange(n), decided.ravel()))
    if "latest_possible_dob" in records:  # a date of birth later than a record's role allows
        latest = pd.to_numeric(records["latest_possible_dob"], errors="coerce").to_numpy(dtype=float)
        dob = pd.to_numeric(records["dob"], errors="coerce").to_numpy(dtype=float)
        lowest, highest = np.full(n, np.inf), np.full(n, -np.inf)
        np.minimum.at(lowest, component[~np.isnan(latest)], latest[~np.isnan(latest)])
        np.maximum.at(highest, component[~np.isnan(dob)], dob[~np.isnan(dob)])
        tangled |= highest > lowest
    return tangled[component] & (size[component] > 1)


@dataclass
class ClusterResult:
    cluster_of: pd.DataFrame  # person_record_id, cluster_root (the smallest member id)
    accepted: np.ndarray  # per edge, in the input order: did it merge or join already-joined records
    refused_merges: int


def cluster(records: pd.DataFrame, edges: pd.DataFrame, threshold: float,
            no_dob_threshold: float | None = None, must_link: pd.DataFrame | None = None,
            cannot_link: pd.DataFrame | None = None, rules: ClusterRules = WAREHOUSE_RULES) -> ClusterResult:
    """records: person_record_id (text), source_system, first_name_canonical (and optionally first_name, as
    written, and middle_names), surname, nhs_number, ni_number, upn, dob (YYYYMMDD text), sex.
    edges: person_record_id_l, person_record_id_r, match_weight (any order).
    must_link / cannot_link: person_record_id_l, person_record_id_r: a clerical reviewer's decisions. Must-links
    merge first, whatever the model says; no merge ever puts a cannot-linked pair in one cluster (a must-link
    that would is refused). Pairs naming a record not in `records` are ignored.
    rules: which rules apply beyond the threshold (ClusterRules).

    Merges only ever follow edges at or above the threshold and must-links, so the clustering decomposes
    over the connected components of that graph: a record in none stays alone, a component nothing in
    can conflict is one cluster, and only the others go through the rules (`_cluster_by_rules`)."""
    ids = records["person_record_id"].to_numpy()
    n = len(ids)
    lookup = pd.Index(ids, dtype=object)
    if not lookup.is_unique:
        raise ValueError(f"records: person_record_id repeats ({n - lookup.nunique()} duplicates)")
    # each id's place in text order: the tie-break between equal weights, and the cluster key
    text_order = np.argsort(ids.astype(str), kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[text_order] = np.arange(n)

    strong_mask = (edges["match_weight"] >= threshold).to_numpy()
    strong = edges[strong_mask]
    left_in = _positions(lookup, strong["person_record_id_l"])
    right_in = _positions(lookup, strong["person_record_id_r"])
    unknown = int(((left_in < 0) | (right_in < 0)).sum())
    if unknown:
        raise ValueError(f"edges: {unknown} edges above the threshold name a record not in records")
    weights_in = strong["match_weight"].to_numpy()
    # strongest first, ties by ids
    order = np.lexsort((rank[right_in], rank[left_in], -weights_in))
    left, right, weights = left_in[order], right_in[order], weights_in[order]
    must = _decided_pairs(must_link, lookup)
    cannot = _decided_pairs(cannot_link, lookup)

    component = _components(n, np.concatenate([left, must[:, 0]]), np.concatenate([right, must[:, 1]]))
    ruled = _need_rules(records, component, np.concatenate([must, cannot]), rules)
    # an edge from a record to itself (Splink makes none) goes through the phases like any other (one
    # touching a record without DOB, below the no-DOB bar, is not accepted): leave its component to the rules
    ruled |= np.isin(component, component[left[left == right]])
    cluster_label = component.copy()
    accepted_sorted = np.ones(len(order), dtype=bool)  # every edge of a settled component merges
    refused = 0
    subset = np.flatnonzero(ruled)
    if len(subset):
        local = np.full(n, -1, dtype=np.int64)
        local[subset] = np.arange(len(subset))
        edge_ruled = ruled[left]
        # the rules allocate a few small sets per record: the cyclic collector's repeated scans of every
        # live object would cost a third of the time, and the work makes no garbage cycles to collect
        collecting = gc.isenabled()
        gc.disable()
        try:
            roots, accepted_sorted[edge_ruled], refused = _cluster_by_rules(
                records.iloc[subset], rank[subset], local[left[edge_ruled]], local[right[edge_ruled]],
                weights[edge_ruled], threshold, no_dob_threshold, local[must[ruled[must[:, 0]]]],
                local[cannot[ruled[cannot[:, 0]] & ruled[cannot[:, 1]]]], rules)
        finally:
            if collecting:
                gc.enable()
        cluster_label[subset] = n + roots  # clear of the component labels, which are < n

    # the smallest member id of each cluster, without a per-group Python fallback on text
    smallest = np.full(2 * n, n, dtype=np.int64)
    np.minimum.at(smallest, cluster_label, rank)
    frame = pd.DataFrame({"person_record_id": ids, "cluster_root": ids[text_order][smallest[cluster_label]]})
    accepted = np.zeros(len(edges), dtype=bool)
    positions = np.flatnonzero(strong_mask)
    accepted[positions[order]] = accepted_sorted
    return ClusterResult(frame, accepted, refused)


def _cluster_by_rules(records: pd.DataFrame, rank: np.ndarray, left: np.ndarray, right: np.ndarray,
                      weights: np.ndarray, threshold: float, no_dob_threshold: float | None,
                      must: np.ndarray, cannot_pairs: np.ndarray,
                      rules: ClusterRules) -> tuple[np.ndarray, np.ndarray, int]:
    """The anti-chaining rules over records (rows 0..n-1) and the edges between them (left, right: rows;
    already strongest first, ties by ids; all at or above the threshold). rank: each record's place in
    id order. must / cannot: reviewers' pairs as rows, shape (k, 2). Returns each record's root row, per
    edge whether it was accepted, and the number of refused merges."""
    n = len(records)
    parent = list(range(n))
    attrs: list[dict[str, set] | None] = [None] * n
    shared_ids = (*STRONG_IDS, *(("other_id",) if rules.shared_id_overrides_dob and "other_id" in records else ()))
    # latest_possible_dob: the latest date of birth a record's roles allow (an offender is 10 or older)
    # generation: a list's generational suffix as a number (SR 1, JR 2, III 3: linkage.standardise.GENERATIONS)
    fields = (*shared_ids, "dob", "sex", *(("latest_possible_dob",) if "latest_possible_dob" in records else ()),
              *(("generation",) if "generation" in records else ()))
    columns = {f: records[f].to_numpy() for f in fields}
    # a year without a whole date (a partner list's year alone): compared with the clusters' years
    years = (records["dob_year"].to_numpy() if "dob_year" in records else np.full(n, None, dtype=object))
    forenames = records["first_name_canonical"].to_numpy()
    given = records["first_name"].to_numpy() if "first_name" in records else np.full(n, None, dtype=object)
    middles, forename_middles = (
        records[c].to_numpy() if rules.middle_name_conflicts and c in records else np.full(n, None, dtype=object)
        for c in ("middle_names", "forename_middles"))
    surnames = records["surname"].to_numpy()
    for i in range(n):
        a = {}
        for f in fields:
            v = columns[f][i]
            if v is not None and v == v:  # not None / NaN
                a[f] = {v}
        if forenames[i] is not None and forenames[i] == forenames[i]:
            a["forenames"] = {forenames[i]: 1}
            if given[i] is not None and given[i] == given[i] and given[i] != forenames[i]:
                a["given"] = {given[i]}
        if surnames[i] is not None and surnames[i] == surnames[i]:
            a["surname"] = {surnames[i]}
        tokens = set()
        if middles[i] is not None and middles[i] == middles[i]:
            tokens = _middle_tokens(middles[i]) - rules.surnames_only
        # given names after the first in the forename column, split off or not (MARIA FERNANDA kept whole)
        if forename_middles[i] is not None and forename_middles[i] == forename_middles[i]:
            written = _middle_tokens(forename_middles[i])
            if written:
                a["forename_middles"] = written
                tokens |= written
            if "forenames" in a and given[i] is not None and given[i] == given[i] and not _name_tokens(given[i])[1:]:
                # split off: the forename as written whole is one of its forms too (LACHLAN-JOHN against a garbled
                # LACHLQ-NJOHN, kept whole, is a variant; LACHLAN alone is not)
                a["given"] = a.get("given", set()) | {f"{given[i]} {forename_middles[i]}"}
        if tokens:
            a["middles"] = tokens
        if "dob" not in a and years[i] is not None and years[i] == years[i]:
            a["year"] = {int(years[i])}
        attrs[i] = a
    size = [1] * n
    # records of an event-keyed system (housing) are one per event, not person: several per person are expected
    event_keyed = event_keyed_systems() if rules.system_rules else frozenset()
    systems = [set() if s in event_keyed or not rules.system_rules else {s}
               for s in records["source_system"].tolist()]
    # per cluster root: the records it may never share a cluster with (reviewers' cannot-links)
    cannot: dict[int, set[int]] = {}
    for a, b in cannot_pairs.tolist():
        cannot.setdefault(a, set()).add(b)
        cannot.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def names_conflict(a: dict, b: dict, shared_system: bool, edge: bool) -> bool:
        """Different forenames (not a nickname, a swap or a typo apart) in two clusters that already
        share a source system: two people that system registered separately, e.g. twins. Across systems,
        an edge on which the forenames differ rests on surname, DOB and address, what twins share, unless
        the two share an NHS / NI number or UPN: it never merges, whatever its weight (twins each known to
        one system merged at 7.3-14.1, a girl and her sister at 12.7 with sex on both sides). The pair
        stays in the review queue; a reviewer's 'match' joins them. Between rivals for a record without a
        DOB (edge False) only the same-system rule counts."""
        fa, fb = a.get("forenames"), b.get("forenames")
        if not fa or not fb or not fa.keys().isdisjoint(fb):
            return False
        if _names_swapped(a, b, both_dated="dob" in a and "dob" in b) or _names_swapped(
                b, a, both_dated="dob" in a and "dob" in b):
            return False  # a forename keyed in the surname field
        if not shared_system and not (edge and not shares_an_id(a, b)):
            return False
        return not _forenames_agree(a, b)

    def shares_an_id(a: dict, b: dict) -> bool:
        """A shared NHS / NI number or UPN (or a list's other_id)."""
        return any(f in a and f in b and not a[f].isdisjoint(b[f]) for f in shared_ids)

    def id_outweighs_dob(a: dict, b: dict) -> bool:
        """A shared identifier excuses a DOB difference only when both sides give a forename and they
        agree (_forenames_agree): a baby's record carrying its mother's NHS number, often with no
        forename yet, is a different person."""
        return shares_an_id(a, b) and _forenames_agree(a, b)

    def years_conflict(a: dict, b: dict) -> bool:
        """With a year alone on one side (no whole date): two years alone of the merged cluster would not
        be alike, or one side's years alone match no year of the other's whole dates."""
        if "year" not in a and "year" not in b:
            return False
        alone = sorted(a.get("year", set()) | b.get("year", set()))
        if not all(_years_alike(x, y) for i, x in enumerate(alone) for y in alone[i + 1:]):
            return True
        whole_a, whole_b = ({int(d[:4]) for d in x.get("dob", ())} for x in (a, b))
        return (_sets_conflict(a.get("year"), whole_b, _years_compatible)
                or _sets_conflict(b.get("year"), whole_a, _years_compatible))

    def cannot_join(ra: int, rb: int) -> bool:
        if len(cannot.get(rb, ())) < len(cannot.get(ra, ())):
            ra, rb = rb, ra
        return any(find(x) == rb for x in cannot.get(ra, ()))

    def conflict(a: dict, b: dict, shared_system: bool = False, edge: bool = False) -> bool:
        if not a or not b:
            return False
        if names_conflict(a, b, shared_system, edge):
            return True
        # a same-name father and son: one person's records never give middle names that fit no given name of
        # the other; a shared identifier says one person (as for forenames across systems). Between rivals for
        # a record without DOB (edge False) too: JOHN PAUL and JOHN DAVID both fitting it make it ambiguous
        if _middle_names_conflict(a, b) and not shares_an_id(a, b):
            return True
        # JOHN SMITH SR and JOHN SMITH JR: a father and his son, whatever else they share but an identifier
        if _sets_conflict(a.get("generation"), b.get("generation"), lambda x, y: x == y) and not shares_an_id(a, b):
            return True
        for f in STRONG_IDS:
            if _sets_conflict(a.get(f), b.get(f), _near):
                return True
        if (_sets_conflict(a.get("dob"), b.get("dob"), dob_compatible) or years_conflict(a, b)) and not (
                rules.shared_id_overrides_dob and id_outweighs_dob(a, b)):
            return True
        if born_too_late(a, b) or born_too_late(b, a):
            return True
        if not _sets_conflict(a.get("sex"), b.get("sex"), lambda x, y: x == y):
            return False
        return rules.sex_conflicts or not _share_forename(a, b)

    def born_too_late(a: dict, b: dict) -> bool:
        """A date of birth of b later than a's records allow: a's police record as an offender (10 or older)
        when b's DOB makes the person 9 then. A same-name son's records and his father's offence recorded
        without a DOB (YYYYMMDD text compares as dates)."""
        return "latest_possible_dob" in a and "dob" in b and max(b["dob"]) > min(a["latest_possible_dob"])

    accepted_sorted = np.zeros(len(left), dtype=bool)
    refused = 0
    floor = threshold if no_dob_threshold is None else no_dob_threshold
    dob_compatible = (_dob_compatible_within(LOOSE_DOB_DAYS) if rules.loose_dobs
                      else _dob_compatible_within(rules.near_dob_days) if rules.near_dob_days else _dob_compatible)

    def union(ra: int, rb: int) -> None:
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        a, b = attrs[ra], attrs[rb]
        for f, values in b.items():
            if f == "forenames" and f in a:
                merged = dict(a[f])
                for name, count in values.items():
                    merged[name] = merged.get(name, 0) + count
                a[f] = merged
            else:
                a[f] = a[f] | values if f in a else values
        attrs[rb] = None
        systems[ra] = systems[ra] | systems[rb]
        if rb in cannot:
            cannot.setdefault(ra, set()).update(cannot.pop(rb))

    def merge(k: int, same_system_conflicts: bool = False) -> None:
        nonlocal refused
        ra, rb = find(left[k]), find(right[k])
        if ra == rb:
            accepted_sorted[k] = True
            return
        shared_system = not systems[ra].isdisjoint(systems[rb])
        # a second registration in one system is as likely a same-name relative, unless the two share an NHS / NI
        # number or UPN and their forenames agree: then it is the same person registered twice
        if (conflict(attrs[ra], attrs[rb], shared_system, edge=True)
                or (same_system_conflicts and shared_system and not id_outweighs_dob(attrs[ra], attrs[rb]))
                or cannot_join(ra, rb)):
            refused += 1
            return
        union(ra, rb)
        accepted_sorted[k] = True

    weak = np.array(["dob" not in a for a in attrs], dtype=bool)  # records without a date of birth

    # Phase 0: reviewers' must-links, in a fixed order (by record id), refused only by a cannot-link.
    for a, b in sorted(must.tolist(), key=lambda p: (rank[p[0]], rank[p[1]])):
        ra, rb = find(a), find(b)
        if ra != rb and not cannot_join(ra, rb):
            union(ra, rb)

    # Phase 1: edges between records that both have a date of birth, strongest first; those whose
    # forenames agree (same canonical form) before the others, so that each twin's own records have
    # come together before an edge between the twins is considered.
    left, right = left.tolist(), right.tolist()
    edge_weak = weak[left] | weak[right]
    same_forename = (forenames[left] == forenames[right]) & pd.notna(forenames[left])
    for k in np.flatnonzero(~edge_weak & same_forename).tolist():
        merge(k)
    for k in np.flatnonzero(~edge_weak & ~same_forename).tolist():
        merge(k)

    # Phase 2: a record without a date of birth joins a cluster only when the clusters it links to do
    # not conflict with each other, and not a cluster that already holds a record of its own system
    # (a second registration with no DOB is as likely a same-name relative) unless it shares the cluster's
    # NHS / NI number or UPN with agreeing forenames; otherwise (a son and his same-name father) it is
    # ambiguous and stays on its own, where a clerical review can pick it up.
    candidates: dict[int, dict[int, float]] = {}  # record without DOB -> cluster root -> its strongest edge
    for k in np.flatnonzero(edge_weak).tolist():
        a, b = left[k], right[k]
        if weak[a] != weak[b]:
            record, other = (a, b) if weak[a] else (b, a)
            roots_ = candidates.setdefault(record, {})
            root = find(other)
            roots_[root] = max(roots_.get(root, -math.inf), weights[k])
    ambiguous = set()
    for record, roots_ in candidates.items():
        # a cluster the record itself conflicts with (an NHS number, a birth year, a forename its edge could never
        # merge on) is no rival: it could never join it
        roots_ = {root: weight for root, weight in roots_.items()
                  if not conflict(attrs[record], attrs[root], edge=True)}
        if not roots_:
            continue
        # a cluster the record links to far more weakly than to its best is no rival (edges come
        # strongest first: it is refused as a conflict when its turn comes)
        best = max(roots_.values())
        roots_list = sorted(root for root, weight in roots_.items() if weight >= best - AMBIGUITY_MARGIN)
        if any(conflict(attrs[x], attrs[y]) or cannot_join(x, y)
               for i, x in enumerate(roots_list) for y in roots_list[i + 1:]):
            ambiguous.add(record)
    for k in np.flatnonzero(edge_weak).tolist():
        if weights[k] < floor:
            continue
        if left[k] in ambiguous or right[k] in ambiguous:
            refused += 1
            continue
        merge(k, same_system_conflicts=True)

    roots = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
    return roots, accepted_sorted, refused
