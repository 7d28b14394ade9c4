"""Resources shared by every asset, built from one Settings object."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

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
