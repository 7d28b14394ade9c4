"""Family references that stay with a family across quarters: the register of refs issued, and their lineage.

marts.dim_family's family_id is md5(household key | episode start): a later delivery that reveals an earlier
start of the household episode, or a linkage merge or split that moves the household key, gives the same family
a new family_id. The department follows a family across quarters by its family_ref, so a ref, once it is in a
return, is carried forward instead of recomputed from the new id (as linkage/ids.py carries person ids):

    restricted.family_ref_register  one row per period and programme case reported on: the family unit it was
                                    reported under (returns.build.family_unit_id), the family_ref, the members
                                    (person ids) the unit covered, the evidence the ref was given on (basis), and
                                    its status: 'built', 'blocked' (an extract gate of the period failed on it)
                                    or 'sent' (a return's file named the case under it)
    returns.family_ref_lineage      one row per ref that split off or merged away in a period, with the ref it
                                    came from or went into, shared members and why (refs and counts only), status

The register holds internal ids beside refs, like restricted.pseudonyms, so it lives in the restricted schema.
Each build of a return resolves the period's refs and records them; its other returns, built from the same marts,
resolve the same (the resolution is deterministic). A ref becomes a commitment when a file SENDS it: the outbox
step (which runs only when its extract gate passed) marks the (case, ref) rows its file names, and the lineage
of its refs, 'sent' (send_period_refs). Sent rows are never replaced: every later build of the period reads them
back, so a rebuilt quarter keeps them (byte-identical files), and a case a build no longer holds keeps its row.
Rows not sent are resolved afresh by each build of the period; a failed extract gate marks them 'blocked', and no
other period reads those, so a build the gate blocked leaves nothing behind once the data is fixed. A send whose
rows name a case or a family change otherwise than the period's register and lineage (a build of another of its
returns, on other data, came between) is refused. A case a rebuild adds, or a period built for the first time, is
resolved against the nearest other period's rows, sent or built:

1. evidence for each family unit of the period, strongest first: refs its cases were reported under ('case'),
   else the ref its family unit id was reported under ('family'), else refs whose members it holds at least half
   of, of the smaller of the two member sets ('members');
2. each earlier ref goes to one unit: the one with the strongest evidence, then most members shared with it
   (ties: the smaller unit id);
3. a unit given several refs (a merge) keeps the one sharing most members (ties: the first issued, then the
   smaller ref); the others are recorded as 'merged' into it;
4. a unit given none gets a new ref, HMAC of its unit id (salted while that ref is taken: ever issued before):
   'new', or 'split' from each ref it had evidence for, which stays with the unit that won it.

So an unchanged family keeps HMAC(family_id), as before the register existed, a family whose id changed keeps
the ref it was reported under, and only a household that truly splits or merges changes a ref, with a lineage row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from expectations.framework import transaction
from returns.pseudonyms import Pseudonymiser

REGISTER_TABLE = "restricted.family_ref_register"
BUILT, BLOCKED, SENT = "built", "blocked", "sent"  # a register or lineage row's status
LINEAGE_TABLE = "returns.family_ref_lineage"
REGISTER_COLUMNS = {"reporting_period": "varchar", "family_case_id": "varchar", "family_unit_id": "varchar",
                    "family_ref": "varchar", "basis": "varchar", "member_person_ids": "varchar[]"}
LINEAGE_COLUMNS = {"reporting_period": "varchar", "change": "varchar", "family_ref": "varchar",
                   "related_family_ref": "varchar", "n_shared_members": "bigint", "reason": "varchar"}
# evidence for carrying a ref, strongest first ('registered': the period's own ref, from an earlier build of it)
EVIDENCE = ("registered", "case", "family", "members")
_EVIDENCE_TEXT = {
    "case": "a case of this family was reported under {related}",
    "family": "this household family was reported under {related}",
    "members": "{shared} of this family's members were reported under {related}",
    "registered": "this family was reported under {related} in an earlier build of the period",
}


@dataclass(frozen=True)
class PeriodFamilyRefs:
    register: pd.DataFrame  # REGISTER_COLUMNS, the period's rows
    lineage: pd.DataFrame  # LINEAGE_COLUMNS, the period's rows

    def ref_of_case(self) -> dict[str, str]:
        return dict(zip(self.register.family_case_id, self.register.family_ref, strict=True))

    def change_of_ref(self) -> dict[str, tuple[str, list[str]]]:
        """family_ref -> (change, the refs it split from or that merged into it), for refs changed in the period."""
        changes: dict[str, tuple[str, list[str]]] = {}
        for (ref, change), rows in self.lineage.groupby(["family_ref", "change"], sort=True):
            changes[ref] = (change, sorted(rows.related_family_ref))
        return changes


def issue_ref(pseudonymiser: Pseudonymiser, family_unit_id: str, taken: set[str]) -> str:
    """A new ref for a family unit: HMAC of its id, salted with a counter while that ref is taken by another unit."""
    salt = 0
    while True:
        ref = pseudonymiser.ref("family", family_unit_id if not salt else f"{family_unit_id}|{salt}")
        if ref not in taken:
            return ref
        salt += 1


def _nearest_first(history: pd.DataFrame, period_label: str) -> pd.DataFrame:
    """Other periods' rows, the nearest period first: earlier periods latest first, then later ones earliest first."""
    others = history[history.reporting_period != period_label]
    earlier = sorted({p for p in others.reporting_period if p < period_label}, reverse=True)
    later = sorted({p for p in others.reporting_period if p > period_label})
    rank = {p: i for i, p in enumerate([*earlier, *later])}
    return others.assign(_rank=others.reporting_period.map(rank)).sort_values(
        ["_rank", "family_case_id", "family_ref"], kind="stable")


def carry_family_refs(period_label: str, current: pd.DataFrame, history: pd.DataFrame,
                      pseudonymiser: Pseudonymiser) -> PeriodFamilyRefs:
    """current: family_case_id, family_unit_id, person_id (one row per case member; person_id may be null) for
    the cases the period reports on. history: every register row (REGISTER_COLUMNS), the period's own included.
    Deterministic: the same inputs give the same refs, whatever their row order."""
    own = history[history.reporting_period == period_label]
    registered = dict(zip(own.family_case_id, own.family_ref, strict=True))
    registered_basis = dict(zip(own.family_case_id, own.basis, strict=True))
    nearest = _nearest_first(history, period_label)
    case_ref = dict(nearest.drop_duplicates("family_case_id")[["family_case_id", "family_ref"]].to_numpy())
    unit_ref = dict(nearest.drop_duplicates("family_unit_id")[["family_unit_id", "family_ref"]].to_numpy())
    ref_period = dict(nearest.drop_duplicates("family_ref")[["family_ref", "reporting_period"]].to_numpy())
    first_issued = history.groupby("family_ref").reporting_period.min().to_dict()
    ref_members: dict[str, set[str]] = {}
    for row in nearest.itertuples(index=False):
        if row.reporting_period == ref_period[row.family_ref]:
            ref_members.setdefault(row.family_ref, set()).update(row.member_person_ids or ())
    refs_of_person: dict[str, set[str]] = {}
    for ref, members in ref_members.items():
        for person in members:
            refs_of_person.setdefault(person, set()).add(ref)

    cases_of_unit = {u: sorted(set(rows.family_case_id)) for u, rows in current.groupby("family_unit_id")}
    members_of_unit = {u: {p for p in rows.person_id if isinstance(p, str)}
                       for u, rows in current.groupby("family_unit_id")}

    def shared(unit: str, ref: str) -> int:
        return len(members_of_unit[unit] & ref_members.get(ref, set()))

    # 1. evidence per unit: (unit, ref, evidence)
    offers: list[tuple[str, str, str]] = []
    for unit in sorted(cases_of_unit):
        cases = cases_of_unit[unit]
        by_case = {case_ref[c] for c in cases if c in case_ref}
        if any(c in registered for c in cases):
            found, evidence = {registered[c] for c in cases if c in registered}, "registered"
        elif by_case:
            found, evidence = by_case, "case"
        elif unit in unit_ref:
            found, evidence = {unit_ref[unit]}, "family"
        else:
            members = members_of_unit[unit]
            candidates = {r for p in members for r in refs_of_person.get(p, ())}
            found = {r for r in candidates if 2 * shared(unit, r) >= min(len(members), len(ref_members[r]))}
            evidence = "members"
        offers.extend((unit, ref, evidence) for ref in sorted(found))
    evidence_of = {unit: evidence for unit, _, evidence in offers}

    # 2. each ref to one unit
    won: dict[str, list[str]] = {}
    for ref, unit_offers in pd.DataFrame(offers, columns=["unit", "ref", "evidence"]).groupby("ref", sort=True):
        best = min(unit_offers.itertuples(index=False),
                   key=lambda o: (EVIDENCE.index(o.evidence), -shared(o.unit, ref), o.unit))
        won.setdefault(best.unit, []).append(ref)

    # 3. merges: a unit keeps one ref; 4. units left without one get a new ref
    ref_of_unit: dict[str, str] = {}
    lineage: list[dict] = []
    for unit, refs in sorted(won.items()):
        if evidence_of[unit] == "registered":
            continue  # an earlier build of the period already gave each of its cases a ref
        keep = min(refs, key=lambda r: (-shared(unit, r), first_issued[r], r))
        ref_of_unit[unit] = keep
        for other in sorted(set(refs) - {keep}):
            lineage.append(_lineage_row(period_label, "merged", keep, other, shared(unit, other), evidence_of[unit],
                                        ref_period[other]))
    taken = set(history.family_ref) | set(ref_of_unit.values())
    basis_of_unit = {unit: evidence_of[unit] for unit in ref_of_unit}
    for unit in sorted(cases_of_unit):
        if unit in ref_of_unit or evidence_of.get(unit) == "registered":
            continue
        ref_of_unit[unit] = issue_ref(pseudonymiser, unit, taken)
        taken.add(ref_of_unit[unit])
        lost = sorted({ref for u, ref, _ in offers if u == unit})
        basis_of_unit[unit] = "split" if lost else "new"
        for related in lost:
            lineage.append(_lineage_row(period_label, "split", ref_of_unit[unit], related, shared(unit, related),
                                        evidence_of[unit], ref_period.get(related, period_label)))

    rows = []
    for unit, cases in sorted(cases_of_unit.items()):
        members = sorted(members_of_unit[unit])
        unit_registered = sorted(registered[c] for c in cases if c in registered)
        for case in cases:
            if case in registered:
                ref, basis = registered[case], registered_basis[case]
            elif unit_registered:  # a case an earlier build of the period did not have joins its family's ref
                ref, basis = unit_registered[0], "registered"
            else:
                ref, basis = ref_of_unit[unit], basis_of_unit[unit]
            rows.append((period_label, case, unit, ref, basis, members))
    return PeriodFamilyRefs(register=pd.DataFrame(rows, columns=list(REGISTER_COLUMNS)),
                            lineage=pd.DataFrame(lineage, columns=list(LINEAGE_COLUMNS)))


def _lineage_row(period_label: str, change: str, ref: str, related: str, n_shared: int, evidence: str,
                 related_period: str) -> dict:
    why = _EVIDENCE_TEXT[evidence].format(related=related, shared=n_shared)
    if change == "merged":
        reason = (f"{why} (last in {related_period}); it is now one household family with the family reported "
                  f"under {ref}, which keeps its reference")
    else:
        reason = (f"{why} (last in {related_period}); that reference stays with the household family holding "
                  f"more of its evidence, so this one, now a household family of its own, has a new reference")
    return {"reporting_period": period_label, "change": change, "family_ref": ref, "related_family_ref": related,
            "n_shared_members": n_shared, "reason": reason}


# --- the register in the warehouse --------------------------------------------------------------------------------


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    from expectations.framework import table_exists

    return table_exists(con, *table.split("."))


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in ((REGISTER_TABLE, REGISTER_COLUMNS), (LINEAGE_TABLE, LINEAGE_COLUMNS)):
        con.execute(f"create schema if not exists {table.split('.')[0]}")
        con.execute(f"create table if not exists {table} ({', '.join(f'{n} {t}' for n, t in columns.items())})")
        # rows of a register made before `status` existed were read back as commitments: they stay so
        con.execute(f"alter table {table} add column if not exists status varchar default '{SENT}'")


def read_register(con: duckdb.DuckDBPyConnection, status: bool = False) -> pd.DataFrame:
    """Every register row (REGISTER_COLUMNS, and `status` when asked: after _create_tables)."""
    columns = [*REGISTER_COLUMNS, *(["status"] if status else [])]
    if not _table_exists(con, REGISTER_TABLE):
        return pd.DataFrame(columns=columns)
    frame = con.execute(f"select {', '.join(columns)} from {REGISTER_TABLE}").df()
    frame["member_person_ids"] = [list(m) if m is not None else [] for m in frame.member_person_ids]
    return frame


def register_period_refs(con: duckdb.DuckDBPyConnection, period_label: str, current: pd.DataFrame,
                         pseudonymiser: Pseudonymiser) -> PeriodFamilyRefs:
    """Resolve the period's family refs against the register (carry_family_refs: the period's own rows only once
    sent, other periods' unless blocked), then, in one transaction, replace the period's rows that were not sent
    (a sent row stays, with its status, whether or not this build holds its case) and its lineage not sent.
    Returns the period's rows as resolved, and its lineage."""
    _create_tables(con)
    register = read_register(con, status=True)
    own = register.reporting_period == period_label
    history = register[(own & (register.status == SENT)) | (~own & (register.status != BLOCKED))]
    resolved = carry_family_refs(period_label, current, history.drop(columns="status"), pseudonymiser)
    own_sent = history[history.reporting_period == period_label]
    was_sent = set(zip(own_sent.family_case_id, own_sent.family_ref))
    rows = resolved.register.assign(status=[SENT if pair in was_sent else BUILT for pair in
                                            zip(resolved.register.family_case_id, resolved.register.family_ref)])
    with transaction(con, _family_ref_register=rows, _family_ref_lineage=resolved.lineage):
        con.execute(f"delete from {REGISTER_TABLE} where reporting_period = ? and (status <> '{SENT}' "
                    "or family_case_id in (select family_case_id from _family_ref_register))", [period_label])
        con.execute(f"insert into {REGISTER_TABLE} ({', '.join(REGISTER_COLUMNS)}, status) "
                    f"select {_cast_select(REGISTER_COLUMNS)}, status from _family_ref_register")
        # A sent lineage row is kept: a rebuild of a sent period keeps its refs, so it adds none of them again. So is
        # an unsent one whose ref another return (not reporting changes) sent: the resolution keeps that ref, so it
        # would not find the change again; unless it is a merge whose other ref is in use again.
        con.execute(f"""delete from {LINEAGE_TABLE} where reporting_period = ? and status <> '{SENT}' and not (
                            family_ref in (select family_ref from {REGISTER_TABLE}
                                           where reporting_period = ? and status = '{SENT}')
                            and (change = 'split'
                                 or related_family_ref not in (select family_ref from _family_ref_register)))""",
                    [period_label, period_label])
        con.execute(f"insert into {LINEAGE_TABLE} ({', '.join(LINEAGE_COLUMNS)}, status) "
                    f"select {_cast_select(LINEAGE_COLUMNS)}, '{BUILT}' "
                    f"from _family_ref_lineage new where not exists (select 1 from {LINEAGE_TABLE} old "
                    "where old.reporting_period = new.reporting_period and old.change = new.change "
                    "and old.family_ref = new.family_ref and old.related_family_ref = new.related_family_ref)")
    lineage = con.execute(f"select {', '.join(LINEAGE_COLUMNS)} from {LINEAGE_TABLE} where reporting_period = ? "
                          "order by family_ref, related_family_ref", [period_label]).df()
    return PeriodFamilyRefs(register=resolved.register, lineage=lineage)


def block_period_refs(con: duckdb.DuckDBPyConnection, period_label: str) -> None:
    """An extract gate of the period failed: its refs not sent are not to be read by another period's build."""
    if not _table_exists(con, REGISTER_TABLE):
        return
    _create_tables(con)
    for table in (REGISTER_TABLE, LINEAGE_TABLE):
        con.execute(f"update {table} set status = '{BLOCKED}' where reporting_period = ? and status = '{BUILT}'",
                    [period_label])


def send_period_refs(con: duckdb.DuckDBPyConnection, period_label: str, sent: pd.DataFrame,
                     pseudonymiser: Pseudonymiser) -> dict[str, int]:
    """A return's rows are about to be sent (its extract gate passed). Each case (case_ref) must name the family
    ref the period's register gives it and, where the rows report family changes (family_ref_change,
    previous_family_refs), the change its lineage records; then the (case, ref) rows the file names, and the
    lineage of its refs (below), are marked sent. Otherwise nothing is marked: `family_refs_not_registered` counts the
    rows' cases and refs that disagree (rows built before a build of another of the period's returns, on other
    data, resolved it again), and the caller must not send them. `family_refs_sent`: the refs in the rows. Only
    a file that reports family changes (the Family Progress Data) commits lineage: a claims file naming one
    case under a kept ref does not commit the merge of another family's ref into it."""
    _create_tables(con)
    register = read_register(con)
    own = register[register.reporting_period == period_label]
    case_of = dict(zip(pseudonymiser.refs("case", own.family_case_id), own.family_case_id, strict=True))
    ref_of = dict(zip(own.family_case_id, own.family_ref, strict=True))
    pairs = sent[["case_ref", "family_ref"]].drop_duplicates()
    disagree = sum(ref_of.get(case_of.get(case)) != ref for case, ref in zip(pairs.case_ref, pairs.family_ref,
                                                                             strict=True))
    if "family_ref_change" in sent:
        # the lineage as the period's last build left it (a gate of another of its returns may have blocked it since)
        lineage = con.execute(f"select {', '.join(LINEAGE_COLUMNS)} from {LINEAGE_TABLE} where reporting_period = ?",
                              [period_label]).df()
        changes = PeriodFamilyRefs(register=own, lineage=lineage).change_of_ref()
        reported = sent[["family_ref", "family_ref_change", "previous_family_refs"]].drop_duplicates()
        for ref, change, previous in reported.itertuples(index=False):
            kind, related = changes.get(ref, (None, []))
            expected = (kind.upper() if kind else None, ";".join(related) or None)
            disagree += expected != (change if isinstance(change, str) else None,
                                     previous if isinstance(previous, str) else None)
    if disagree:
        return {"family_refs_not_registered": int(disagree)}
    cases = pd.DataFrame({"family_case_id": [case_of[c] for c in pairs.case_ref], "family_ref": pairs.family_ref})
    with transaction(con, _family_refs_sent=cases):
        con.execute(f"update {REGISTER_TABLE} r set status = '{SENT}' from _family_refs_sent s "
                    "where r.reporting_period = ? and r.family_case_id = s.family_case_id "
                    "and r.family_ref = s.family_ref", [period_label])
        if "family_ref_change" in sent:  # only a file that reports changes commits them (it named these refs')
            con.execute(f"update {LINEAGE_TABLE} set status = '{SENT}' where reporting_period = ? "
                        "and family_ref in (select family_ref from _family_refs_sent)", [period_label])
    return {"family_refs_not_registered": 0, "family_refs_sent": int(pairs.family_ref.nunique())}


def _cast_select(columns: dict[str, str]) -> str:
    return ", ".join(f"cast({n} as {t}) as {n}" for n, t in columns.items())


def registered_family_refs(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], set[str]]:
    """(family unit id -> its ref, every ref ever issued) for the analyst copy: a unit that held a ref in the ref's
    latest period keeps it (the latest such ref), so a family the returns reported has the reference they used;
    no two units share one; any other unit gets issue_ref(unit, issued), which no reported family holds."""
    register = read_register(con)
    if register.empty:
        return {}, set()
    latest = register[register.reporting_period == register.groupby("family_ref").reporting_period.transform("max")]
    # one unit per ref: a rebuilt period keeps its refs by case, so after a household split two units can hold one
    # ref there; the ref goes to the unit holding most of its cases, then most members, then the smaller unit id
    # (the other unit gets a ref of its own, as a unit never reported does)
    sized = latest.assign(n_members=latest.member_person_ids.map(lambda m: 0 if m is None else len(m)))
    units = sized.groupby(["family_ref", "family_unit_id"], as_index=False).agg(
        n_cases=("family_case_id", "nunique"), n_members=("n_members", "max"),
        reporting_period=("reporting_period", "max"))
    holders = units.sort_values(["family_ref", "n_cases", "n_members", "family_unit_id"],
                                ascending=[True, False, False, True]).drop_duplicates("family_ref")
    holders = holders.sort_values(["family_unit_id", "reporting_period", "family_ref"], ascending=[True, False, True])
    return (dict(holders.drop_duplicates("family_unit_id")[["family_unit_id", "family_ref"]].to_numpy()),
            set(register.family_ref))
