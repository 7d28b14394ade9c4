"""Clustering that resists chaining.

Connected components at a threshold chain households into one person: a record with no date of birth
links the father to the son who shares his name, and both to their address. Here edges above the
threshold are taken strongest first and two clusters merge only when no pair of their records
conflicts on a strong identifier (NHS number, NI number, UPN: different and not one typo apart),
on date of birth (different, not transposed, not one character apart), on sex, or, when both clusters
already hold a record of the same source system, on forename (twins: same surname, DOB and address). A refused merge
stays two clusters; the edge is reported as refused.

Pure Python over an Arrow/pandas edge list: it needs no database, so it is the same on any backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STRONG_IDS = ("nhs_number", "ni_number", "upn")
EVENT_KEYED_SYSTEMS = frozenset({"housing"})


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


def _dob_compatible(a: str, b: str) -> bool:
    """Dates as YYYYMMDD: equal, day/month transposed, or one character apart."""
    if a == b:
        return True
    if a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return True
    return _near(a, b)


def _sets_conflict(sa: frozenset | set | None, sb: frozenset | set | None, compatible) -> bool:
    if not sa or not sb:
        return False
    if not sa.isdisjoint(sb):
        return False
    return not any(compatible(x, y) for x in sa for y in sb)


def _decided_pairs(pairs: pd.DataFrame | None, index: dict) -> list[tuple[int, int]]:
    if pairs is None or not len(pairs):
        return []
    out = []
    for a, b in zip(pairs["person_record_id_l"].tolist(), pairs["person_record_id_r"].tolist()):
        if a in index and b in index and a != b:
            out.append((index[a], index[b]))
    return out


@dataclass
class ClusterResult:
    cluster_of: pd.DataFrame  # person_record_id, cluster_root (the smallest member id)
    accepted: np.ndarray  # per edge, in the input order: did it merge or join already-joined records
    refused_merges: int


def cluster(records: pd.DataFrame, edges: pd.DataFrame, threshold: float,
            no_dob_threshold: float | None = None, must_link: pd.DataFrame | None = None,
            cannot_link: pd.DataFrame | None = None, system_rules: bool = True) -> ClusterResult:
    """records: person_record_id, source_system, first_name_canonical, surname, nhs_number, ni_number, upn,
    dob (YYYYMMDD text), sex.
    edges: person_record_id_l, person_record_id_r, match_weight (any order).
    must_link / cannot_link: person_record_id_l, person_record_id_r: a clerical reviewer's decisions. Must-links
    merge first, whatever the model says; no merge ever puts a cannot-linked pair in one cluster (a must-link
    that would is refused). Pairs naming a record not in `records` are ignored.
    system_rules: apply the same-source-system rules (off for a list whose records share one 'system',
    such as a single partner file deduplicated by `familyhub link`)."""
    ids = records["person_record_id"].to_numpy()
    index = {rid: i for i, rid in enumerate(ids.tolist())}
    n = len(ids)
    parent = list(range(n))
    attrs: list[dict[str, set] | None] = [None] * n
    fields = (*STRONG_IDS, "dob", "sex")
    columns = {f: records[f].to_numpy() for f in fields}
    forenames = records["first_name_canonical"].to_numpy()
    surnames = records["surname"].to_numpy()
    for i in range(n):
        a = {}
        for f in fields:
            v = columns[f][i]
            if v is not None and v == v:  # not None / NaN
                a[f] = {v}
        if forenames[i] is not None and forenames[i] == forenames[i]:
            a["forenames"] = {forenames[i]: 1}
        if surnames[i] is not None and surnames[i] == surnames[i]:
            a["surname"] = {surnames[i]}
        attrs[i] = a
    size = [1] * n
    # housing records are keyed by event, not person: several per person are expected
    systems = [set() if s in EVENT_KEYED_SYSTEMS or not system_rules else {s}
               for s in records["source_system"].tolist()]
    # per cluster root: the records it may never share a cluster with (reviewers' cannot-links)
    cannot: dict[int, set[int]] = {}
    for a, b in _decided_pairs(cannot_link, index):
        cannot.setdefault(a, set()).add(b)
        cannot.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def names_conflict(a: dict, b: dict, shared_system: bool) -> bool:
        """Different forenames (not a nickname, a swap or a typo apart) in two clusters that already
        share a source system: two people that system registered separately, e.g. twins. (Requiring
        this across systems cost 1.5 points of recall: forenames vary between systems.)"""
        fa, fb = a.get("forenames"), b.get("forenames")
        if not fa or not fb or not fa.keys().isdisjoint(fb):
            return False
        if not fa.keys().isdisjoint(b.get("surname", ())) or not fb.keys().isdisjoint(a.get("surname", ())):
            return False  # a forename keyed in the surname field
        if not shared_system:
            return False
        return all(jaro_winkler(x, y) < NAME_SIMILAR for x in fa for y in fb)

    def cannot_join(ra: int, rb: int) -> bool:
        if len(cannot.get(rb, ())) < len(cannot.get(ra, ())):
            ra, rb = rb, ra
        return any(find(x) == rb for x in cannot.get(ra, ()))

    def conflict(a: dict, b: dict, shared_system: bool = False) -> bool:
        if not a or not b:
            return False
        if names_conflict(a, b, shared_system):
            return True
        for f in STRONG_IDS:
            if _sets_conflict(a.get(f), b.get(f), _near):
                return True
        if _sets_conflict(a.get("dob"), b.get("dob"), _dob_compatible):
            return True
        return _sets_conflict(a.get("sex"), b.get("sex"), lambda x, y: x == y)

    strong = edges[edges["match_weight"] >= threshold]
    order = np.lexsort((strong["person_record_id_r"].to_numpy(), strong["person_record_id_l"].to_numpy(),
                        -strong["match_weight"].to_numpy()))
    left = np.fromiter((index[x] for x in strong["person_record_id_l"].to_numpy()[order]), np.int64, len(order))
    right = np.fromiter((index[x] for x in strong["person_record_id_r"].to_numpy()[order]), np.int64, len(order))
    accepted_sorted = np.zeros(len(order), dtype=bool)
    refused = 0

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
        if (conflict(attrs[ra], attrs[rb], shared_system) or (same_system_conflicts and shared_system)
                or cannot_join(ra, rb)):
            refused += 1
            return
        union(ra, rb)
        accepted_sorted[k] = True

    weak = np.array(["dob" not in a for a in attrs], dtype=bool)  # records without a date of birth

    # Phase 0: reviewers' must-links, in a fixed order (by record id), refused only by a cannot-link.
    for a, b in sorted(_decided_pairs(must_link, index), key=lambda p: (ids[p[0]], ids[p[1]])):
        ra, rb = find(a), find(b)
        if ra != rb and not cannot_join(ra, rb):
            union(ra, rb)

    # Phase 1: edges between records that both have a date of birth, strongest first; those whose
    # forenames agree (same canonical form) before the others, so that each twin's own records have
    # come together before an edge between the twins is considered.
    edge_weak = weak[left] | weak[right]
    same_forename = (forenames[left] == forenames[right]) & pd.notna(forenames[left])
    for k in np.flatnonzero(~edge_weak & same_forename).tolist():
        merge(k)
    for k in np.flatnonzero(~edge_weak & ~same_forename).tolist():
        merge(k)

    # Phase 2: a record without a date of birth joins a cluster only when the clusters it links to do
    # not conflict with each other, and not a cluster that already holds a record of its own system
    # (a second registration with no DOB is as likely a same-name relative); otherwise (a son and his
    # same-name father) it is ambiguous and stays on its own, where a clerical review can pick it up.
    candidates: dict[int, set[int]] = {}
    for k in np.flatnonzero(edge_weak).tolist():
        a, b = int(left[k]), int(right[k])
        if weak[a] and not weak[b]:
            candidates.setdefault(a, set()).add(find(b))
        elif weak[b] and not weak[a]:
            candidates.setdefault(b, set()).add(find(a))
    ambiguous = set()
    for record, roots_ in candidates.items():
        roots_list = sorted(roots_)
        if any(conflict(attrs[x], attrs[y]) or cannot_join(x, y)
               for i, x in enumerate(roots_list) for y in roots_list[i + 1:]):
            ambiguous.add(record)
    weights = strong["match_weight"].to_numpy()[order]
    floor = threshold if no_dob_threshold is None else no_dob_threshold
    for k in np.flatnonzero(edge_weak).tolist():
        if weights[k] < floor:
            continue
        if int(left[k]) in ambiguous or int(right[k]) in ambiguous:
            refused += 1
            continue
        merge(k, same_system_conflicts=True)

    roots = np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)
    # the smallest member id of each cluster, without a per-group Python fallback on text
    order_of_ids = np.argsort(ids.astype(str), kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order_of_ids] = np.arange(n)
    smallest = np.full(n, n, dtype=np.int64)
    np.minimum.at(smallest, roots, rank)
    frame = pd.DataFrame({"person_record_id": ids, "cluster_root": ids[order_of_ids][smallest[roots]]})
    accepted = np.zeros(len(edges), dtype=bool)
    positions = np.flatnonzero((edges["match_weight"] >= threshold).to_numpy())
    accepted[positions[order]] = accepted_sorted
    return ClusterResult(frame[["person_record_id", "cluster_root"]], accepted, refused)
