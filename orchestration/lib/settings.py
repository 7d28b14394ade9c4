"""Where Family Data Hub keeps its data. The only module that reads the environment."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE_FILE = "warehouse.duckdb"  # dbt-duckdb names the database after the file stem: keep it fixed.


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    # The as-at date of ages, criteria and cohorts (dbt var `reporting_date`); None means the run date.
    reporting_date: dt.date | None = None

    @property
    def warehouse(self) -> Path:
        return self.data_dir / WAREHOUSE_FILE

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def truth_dir(self) -> Path:
        return self.data_dir / "truth"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def artefacts_dir(self) -> Path:
        return self.data_dir / "artefacts"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.landing_dir, self.outbox_dir, self.artefacts_dir):
            path.mkdir(parents=True, exist_ok=True)

    def with_reporting_date(self, reporting_date: dt.date) -> "Settings":
        """These settings as at another date, exported so code locations loaded later in this process see it."""
        os.environ["FAMILYHUB_REPORTING_DATE"] = reporting_date.isoformat()
        return Settings(data_dir=self.data_dir, reporting_date=reporting_date)

    def export_for_dbt(self) -> None:
        """dbt reads its warehouse path (dbt_project/profiles.yml) and as-at date from the environment."""
        os.environ["FAMILYHUB_WAREHOUSE"] = str(self.warehouse)
        if self.reporting_date:  # read by the dbt macro reporting_date()
            os.environ["FAMILYHUB_REPORTING_DATE"] = self.reporting_date.isoformat()
        else:
            os.environ.pop("FAMILYHUB_REPORTING_DATE", None)
        # A test between a mart and a seed belongs to the marts step: with dbt's default ("eager") the staging
        # step, which builds the seeds, would run it before the mart exists. dagster-dbt still switches to
        # explicit test selection when a run picks a subset of checks.
        os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")


def get_settings() -> Settings:
    data_dir = Path(os.environ.get("FAMILYHUB_DATA_DIR") or REPO_ROOT / "data")
    reporting_date = os.environ.get("FAMILYHUB_REPORTING_DATE")
    return Settings(data_dir=data_dir.resolve(),
                    reporting_date=dt.date.fromisoformat(reporting_date) if reporting_date else None)


PSEUDONYM_KEY_VARIABLE = "FAMILYHUB_PSEUDONYM_KEY"


def pseudonym_key_configured() -> bool:
    """Whether the deployment sets the pseudonym key; Dagster reads its value through dg.EnvVar, never this."""
    return bool(os.environ.get(PSEUDONYM_KEY_VARIABLE))
