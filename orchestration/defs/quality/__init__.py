"""Quality gates as blocking Dagster asset checks (see orchestration/defs/quality/checks.py, expectations/)."""
