"""Resources shared by every asset, built from one Settings object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from duckdb import DuckDBPyConnection

from orchestration.defs.dbt.project import dbt_project
from orchestration.defs.returns.resources import pseudonym_key_resource
from orchestration.lib.settings import Settings, get_settings


class SettingsResource(dg.ConfigurableResource):
    """Hands assets the data folder, so tests can point a run at a temporary one."""

    data_dir: str
    reporting_date: str | None = None  # ISO date; None means the run date

    def get(self) -> Settings:
        return Settings(data_dir=Path(self.data_dir),
                        reporting_date=dt.date.fromisoformat(self.reporting_date) if self.reporting_date else None)


@contextmanager
def warehouse_connection(duckdb: DuckDBResource) -> Iterator[DuckDBPyConnection]:
    """The warehouse connection every asset and check uses: DuckDBResource.get_connection() (lock retries
    included), closed even when the block raises. get_connection() has no try/finally: after an error its
    connection stays open for as long as the failed frame lives (the exception's traceback keeps it), holding
    the warehouse file in the process and refusing a connection to it with another configuration."""
    with duckdb.get_connection() as con:
        try:
            yield con
        finally:
            con.close()  # closing twice is harmless: get_connection() closes again on success


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    settings = settings or get_settings()
    settings.ensure_dirs()
    return {
        "settings": SettingsResource(
            data_dir=str(settings.data_dir),
            reporting_date=settings.reporting_date.isoformat() if settings.reporting_date else None),
        "duckdb": DuckDBResource(database=str(settings.warehouse)),
        "dbt": DbtCliResource(project_dir=dbt_project),
        "pseudonym_key": pseudonym_key_resource(settings),
    }
