"""The one seam between linkage and the engine that runs Splink.

`LinkageBackend` is what the rest of the package uses: load an Arrow table under a unique name (or a
view of one, filtered by record id), build a Splink `Linker` on it, and fetch query results back as
Arrow. The default is DuckDB in memory, so Splink's working tables never land in the warehouse file and
no connection is threaded through the callers; a Spark backend would implement the same five methods
with `SparkAPI`.
"""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import duckdb
import pyarrow as pa
from splink import DuckDBAPI, Linker

_names = itertools.count()


class LinkageBackend(Protocol):
    def load(self, records: pa.Table, name: str) -> Any: ...

    def filtered(self, splink_df: Any, person_record_ids: list[str], name: str, keep: bool) -> Any: ...

    def linker(self, splink_df: Any, settings: Any, validate: bool = True) -> Linker: ...

    def to_arrow(self, splink_df: Any) -> pa.Table: ...

    def close(self) -> None: ...


class DuckDBBackend:
    """Splink on a private in-memory DuckDB database."""

    def __init__(self, threads: int | None = None, memory_limit: str | None = None):
        self.con = duckdb.connect(":memory:")
        if threads:
            self.con.execute(f"set threads = {int(threads)}")
        if memory_limit:
            self.con.execute(f"set memory_limit = '{memory_limit}'")
        self.con.execute("set preserve_insertion_order = false")
        self.db_api = DuckDBAPI(connection=self.con)

    def load(self, records: pa.Table, name: str):
        # Splink looks a table's columns up by name only: make every name unique.
        table = f"{name}_{next(_names)}"
        self.con.register(f"{table}_arrow", records)
        self.con.execute(f"create table {table} as select * from {table}_arrow")
        self.con.unregister(f"{table}_arrow")
        return self.db_api.register(table, dataset_display_name=table)

    def filtered(self, splink_df, person_record_ids: list[str], name: str, keep: bool):
        """A view of a loaded table: the records with (keep) or without these ids, without copying them."""
        table = f"{name}_{next(_names)}"
        ids = f"{table}_ids"
        self.con.register(f"{ids}_arrow", pa.table({"person_record_id": pa.array(person_record_ids, pa.string())}))
        self.con.execute(f"create table {ids} as select * from {ids}_arrow")
        self.con.unregister(f"{ids}_arrow")
        join = "semi" if keep else "anti"
        self.con.execute(f"create view {table} as select * from {splink_df.physical_name} "
                         f"{join} join {ids} using (person_record_id)")
        return self.db_api.register(table, dataset_display_name=table)

    def linker(self, splink_df, settings, validate: bool = True) -> Linker:
        """validate=False skips Splink's check of the settings against the columns (a third of a second;
        the committed model was checked when it was trained, and INPUT_COLUMNS are loaded as they were)."""
        return Linker(splink_df, settings, log_level="WARNING", validate_settings=validate)

    def to_arrow(self, splink_df) -> pa.Table:
        return self.con.sql(f"select * from {splink_df.physical_name}").to_arrow_table()

    def close(self) -> None:
        self.con.close()


def default_backend() -> LinkageBackend:
    return DuckDBBackend()
