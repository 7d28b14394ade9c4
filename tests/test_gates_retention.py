"""GX validation result files and Data Docs keep the last N runs; the warehouse history keeps every run."""

from __future__ import annotations

import duckdb

from expectations.framework import ERROR, Check, GatePlan, gx_runs, record_results, validate_gate


def tiny_plan(rows: int) -> GatePlan:
    return GatePlan(gate="retention_probe", target="t", asset_key="test/t", metrics={"rows": rows},
                    checks=[Check("not_empty", None, ERROR, "rows", "rows >= 1", min_value=1)])


def test_only_the_last_runs_files_and_pages_are_kept(tmp_path):
    gx_root = tmp_path / "gx"
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        for i in range(4):
            result = validate_gate(tiny_plan(i), gx_root, run_id=f"run-{i}", keep_runs=2)
            record_results(con, result)
        history = con.execute("select run_id, passed from quality.validation_results order by run_id").fetchall()
    finally:
        con.close()

    assert set(gx_runs(gx_root)) == {"run-2", "run-3"}
    pages = {p.relative_to(gx_root / "data_docs" / "validations").parts[1]
             for p in (gx_root / "data_docs" / "validations").rglob("*.html")}
    assert pages == {"run-2", "run-3"}
    index = (gx_root / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert "run-3" in index and "run-0" not in index and "run-1" not in index
    # the warehouse history is never pruned: every run, with its outcome
    assert history == [("run-0", False), ("run-1", True), ("run-2", True), ("run-3", True)]

    # None keeps everything
    validate_gate(tiny_plan(1), gx_root, run_id="run-4", keep_runs=None)
    assert set(gx_runs(gx_root)) == {"run-2", "run-3", "run-4"}


def test_offline_data_docs_index_links_every_kept_validation_page(built_pipeline):
    """Data Docs open without internet: offline.html links each kept page, and every link resolves."""
    import re

    settings = built_pipeline[0]
    docs = settings.artefacts_dir / "gx" / "data_docs"
    index = (docs / "offline.html").read_text(encoding="utf-8")
    links = re.findall(r"href='(validations/[^']+)'", index)
    pages = sorted(p.relative_to(docs).as_posix() for p in (docs / "validations").glob("*/*/*/*.html"))
    assert links and sorted(links) == pages
    assert all((docs / link).exists() for link in links)
    assert {"raw_gate", "staged_gate", "linked_gate", "marts_gate"} <= {
        link.split("/")[1].split("__")[0] for link in links}
