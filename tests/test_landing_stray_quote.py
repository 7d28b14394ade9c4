"""A stray (unbalanced) quote followed by a line break: a field the sender broke over lines without closing its
quote (an address typed as `"Flat 2`, a line break, `Main St,...`). The lines going on with that record are
rejected with it, naming the row they continue, instead of being judged alone (a misleading field count, or a
bogus record); a line that is a plausible record is still judged as one, and named for checking. Also: folders
under landing/ that no feed owns are counted without walking their subfolders. Small hand-made files on a
temporary DuckDB."""

from __future__ import annotations

import pytest

from orchestration.defs.landing.loader import MAX_RECORD_LINES, UNBALANCED_QUOTE, land_feed, unknown_landing_folders
from orchestration.lib.feeds import registry

from tests.test_landing_edge_cases import con, deliver, landing, rows, yjs_row  # noqa: F401 (fixtures)

CSC = registry()["csc_persons"]  # csv, comma, 12 columns, ADDRESS_LINE_1 the 7th
YJS = registry()["yjs_outcomes"]  # tsv, cp1252, 11 columns


def csc_row(person_id="P1", forename="Ann", address="1 High St"):
    return [person_id, forename, "", "Smith", "01/02/2010", "F", address, "Townville", "FH1 2AB", "100",
            "9990000001", "01/09/2026"]


def broken(cells, column, pieces, delimiter):
    """The record's lines when the sender broke cells[column] over lines after a quote that never closes."""
    first = delimiter.join(cells[:column] + ['"' + pieces[0]])
    last = delimiter.join([pieces[-1]] + cells[column + 1:])
    return [first, *pieces[1:-1], last]


def land_lines(con, landing, feed, lines, name):
    path = deliver(landing / feed.name / name, (feed.delimiter.join(feed.header) + "\n" + "\n".join(lines) + "\n")
                   .encode(feed.encoding))
    [result] = land_feed(con, feed, landing).files
    assert result.status == "landed", result.reason
    return path, result


def rejects(con):
    return rows(con, "select row_number, reason, original_text from raw._rejects order by 1")


@pytest.mark.parametrize("feed, row, column, name", [
    (CSC, csc_row, 6, "csc_persons_2026-09-30.csv"),  # an address, comma-separated
    (YJS, lambda n: yjs_row(outcome_ref=n), 6, "yjs_outcomes_2026-09-30.tsv"),  # a postcode, tab-separated
])
def test_the_lines_going_on_after_a_stray_quote_are_rejected_as_its_continuation(con, landing, feed, row, column,
                                                                                  name):
    record = broken(row("R2"), column, ["Flat 2", "Block B", "Main St"], feed.delimiter)  # over 3 lines
    lines = [feed.delimiter.join(row("R1")), *record, feed.delimiter.join(row("R5"))]
    _, result = land_lines(con, landing, feed, lines, name)
    width = len(feed.header)
    # nothing lost: every line either lands or is rejected, the good rows around it land with their numbers
    assert (result.rows_landed, result.rows_rejected) == (2, 3)
    key = feed.columns[1].raw_name if feed is YJS else "person_id"
    assert rows(con, f'select "{key}", _row_number from {feed.raw_table} order by 2') == [("R1", 1), ("R5", 5)]
    continues = "continues row 2, which an unbalanced quote left short of fields (a line break inside a quoted field " \
                "that does not close): {} on this line, not the header's " + str(width)
    # before: row 3 was 'expected N fields, found 1' and row 4 'found N - 6', as if each were a broken record
    assert rejects(con) == [(2, UNBALANCED_QUOTE, record[0]), (3, continues.format("1 field"), record[1]),
                            (4, continues.format(f"{width - column} fields"), record[2])]
    assert rows(con, "select reason from raw._deliveries") == [(None,)]


def test_a_plausible_record_after_a_short_row_is_judged_alone_and_named_for_checking(con, landing):
    # a forename broken after its stray quote, the rest with a comma in it: 12 fields, clean types
    lines = [",".join(csc_row("P1")), 'P2,"Cara', "Ann, Marie,,Smith,01/01/2012,F,2 Low St,Townville,FH1 2AD,,,",
             ",".join(csc_row("P4"))]
    _, result = land_lines(con, landing, CSC, lines, "csc_persons_2026-09-30.csv")
    # it may be a record of its own: a stray quote never swallows good rows, so it lands...
    assert (result.rows_landed, result.rows_rejected) == (3, 1)
    assert rows(con, "select _row_number from raw.csc_persons order by 1") == [(1,), (3,), (4,)]
    assert [r[:2] for r in rejects(con)] == [(2, UNBALANCED_QUOTE)]
    # ...but not unsaid (before: no note): the delivery's reason names it by row number, no values
    assert result.reason == ("row 3 has the header's fields and follows a row that an unbalanced quote left short of "
                             "fields: judged as a record of its own; check that it does not continue that row")


def test_a_plausible_record_after_a_short_row_that_fails_its_types_says_it_may_continue_it(con, landing):
    # an address broken after its stray quote whose rest has enough commas to reach 12 fields: shifted values, so
    # DOB and RECORD_UPDATED are not dates (before: rejected for those alone, which is not the reason)
    rest = "Main St, East, West, North, Side, Top, Low, Townville,FH1 2AB,100,9990000001,01/09/2026"
    lines = [",".join(csc_row("P1")), "P2,Bob,,Jones,02/03/2011,M,\"Flat 2", rest]
    _, result = land_lines(con, landing, CSC, lines, "csc_persons_2026-09-30.csv")
    assert (result.rows_landed, result.rows_rejected) == (1, 2)
    [_, (number, reason, text)] = rejects(con)
    assert (number, text) == (3, rest)
    assert reason.startswith("follows row 2, which an unbalanced quote left short of fields (this row may continue "
                             "it); DOB: not a date")
    assert "row 3 has the header's fields" in result.reason


def test_a_stray_quote_in_a_whole_record_leaves_the_next_lines_to_themselves(con, landing):
    stray = csc_row("P1", forename='"Ann')  # a typo in a whole line: the record is complete, nothing goes on
    record = broken(csc_row("P3"), 6, ["Flat 2", "Main St"], ",")  # a short row, and its exact continuation
    lines = [",".join(stray), "a,b,c", *record, "x,y", ",".join(csc_row("P6"))]
    land_lines(con, landing, CSC, lines, "csc_persons_2026-09-30.csv")
    assert [r[:2] for r in rejects(con)] == [
        (1, UNBALANCED_QUOTE), (2, "expected 12 fields, found 3"), (3, UNBALANCED_QUOTE),
        (4, "continues row 3, which an unbalanced quote left short of fields (a line break inside a quoted field "
            "that does not close): 6 fields on this line, not the header's 12"),
        # its record has all its fields: the next short line is a broken record of its own
        (5, "expected 12 fields, found 2")]
    assert rows(con, "select _row_number from raw.csc_persons") == [(6,)]


def test_a_stray_quotes_record_goes_on_over_at_most_max_record_lines(con, landing):
    lines = ['P1,"Flat 2'] + [f"line {i}" for i in range(MAX_RECORD_LINES + 2)]  # one field each, never complete
    land_lines(con, landing, CSC, lines, "csc_persons_2026-09-30.csv")
    reasons = [reason for _, reason, _ in rejects(con)]
    assert len(reasons) == len(lines)  # every line kept
    assert reasons[0] == UNBALANCED_QUOTE
    assert all(r.startswith("continues row 1,") for r in reasons[1:MAX_RECORD_LINES])
    assert reasons[MAX_RECORD_LINES:] == ["expected 12 fields, found 1"] * 3


def test_a_folder_no_feed_owns_counts_its_own_files_without_walking_its_subfolders(landing):
    deliver(landing / "archive" / "a.csv", b"a\n1\n")
    deliver(landing / "archive" / ".hidden", b"")
    for depth in range(1, 4):  # a council's archive tree: not walked on every sensor tick
        deliver(landing.joinpath("archive", *[f"y{d}" for d in range(depth)], "old.csv"), b"a\n1\n")
    deliver(landing / "nested_only" / "2024" / "old.csv", b"a\n1\n")  # no file of its own: left out
    deliver(landing / "loose.csv", b"a\n1\n")
    # before: archive counted 4 (files at any depth) and nested_only 1
    assert unknown_landing_folders(landing, list(registry().values())) == {"": 1, "archive": 1}
