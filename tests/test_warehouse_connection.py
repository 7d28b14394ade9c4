"""warehouse_connection closes its DuckDB connection when the block raises (DuckDBResource.get_connection()
alone leaves it open), so a failed asset or check does not keep the warehouse file held in the process."""

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from orchestration.lib.resources import warehouse_connection


class FailedInsideBlock(Exception):
    pass


def test_connection_is_closed_after_an_error_inside_the_block(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    resource = DuckDBResource(database=str(path))

    # `con` outlives the block here as an asset's local does while its exception's traceback is kept
    with pytest.raises(FailedInsideBlock):
        with warehouse_connection(resource) as con:
            con.execute("create table written_before_the_error as select 1 as n")
            raise FailedInsideBlock("the asset failed")

    with pytest.raises(duckdb.ConnectionException, match="already closed"):
        con.execute("select 1")
    # A connection left open would refuse this one: same file, same process, a different configuration.
    other = duckdb.connect(str(path), config={"threads": 1})
    try:
        assert other.execute("select n from written_before_the_error").fetchall() == [(1,)]
    finally:
        other.close()

