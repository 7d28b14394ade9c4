"""The analyst copy never gives two families one reference: after a household split, a rebuilt quarter keeps its
refs by case, so two family units can hold one ref in the register; registered_family_refs gives it to one."""

from __future__ import annotations

import duckdb

from returns.family_refs import REGISTER_COLUMNS, REGISTER_TABLE, _create_tables, registered_family_refs


def register(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("create schema restricted")
    con.execute("create schema returns")
    _create_tables(con)
    con.executemany(f"insert into {REGISTER_TABLE} ({', '.join(REGISTER_COLUMNS)}) values (?, ?, ?, ?, ?, ?)", rows)
    return con


def test_a_ref_held_by_two_units_goes_to_the_one_with_most_of_its_cases_and_the_other_gets_none():
    con = register([
        # 2026-Q2 rebuilt after the split: C1 and C2 (unit U1) and C3 (now unit U2) keep their ref R1
        ("2026-Q2", "C1", "U1", "R1", "registered", ["p1", "p2"]),
        ("2026-Q2", "C2", "U1", "R1", "registered", ["p1", "p2"]),
        ("2026-Q2", "C3", "U2", "R1", "registered", ["p3", "p4", "p5"]),
        ("2026-Q2", "C4", "U3", "R2", "case", ["p6"]),
    ])
    refs, issued = registered_family_refs(con)
    assert refs == {"U1": "R1", "U3": "R2"} and issued == {"R1", "R2"}


def test_on_equal_cases_the_unit_with_more_members_then_the_smaller_id_keeps_the_ref():
    con = register([
        ("2026-Q2", "C1", "U2", "R1", "registered", ["p1"]),
        ("2026-Q2", "C2", "U1", "R1", "registered", ["p2", "p3"]),
        ("2026-Q2", "C3", "U5", "R2", "registered", ["p4"]),
        ("2026-Q2", "C4", "U4", "R2", "registered", ["p5"]),
    ])
    refs, _ = registered_family_refs(con)
    assert refs == {"U1": "R1", "U4": "R2"}
    assert len(set(refs.values())) == len(refs)
