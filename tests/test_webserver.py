"""The Dagster webserver loads the code location with every asset, check and schedule (checked over GraphQL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from orchestration.lib.feeds import registry

REPO_ROOT = Path(__file__).resolve().parents[1]

QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation { repositories { schedules { name } } }
        }
      }
    }
  }
  assetNodes { assetKey { path } assetChecksOrError { __typename ... on AssetChecks { checks { name } } } }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(dbt_manifest, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("webserver") / "webserver.log"
    webserver_bin = Path(sys.executable).parent / "dagster-webserver"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(webserver_bin), "-h", "127.0.0.1", "-p", str(port), "-m", "orchestration.definitions"],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"webserver exited with {process.returncode}; see {log}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("webserver did not answer within 120 s")
            time.sleep(1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # our own process group, by pid
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_code_location_loads_with_every_asset_and_check(webserver):
    data = requests.post(webserver, json={"query": QUERY}, timeout=60).json()["data"]
    [entry] = data["workspaceOrError"]["locationEntries"]
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry["locationOrLoadError"]
    keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
    assert {f"raw/{feed}" for feed in registry()} <= keys
    # one staging model per feed, and the snapshot of the deliveries staging read
    assert sum(k.startswith("staging/") for k in keys) == len(registry()) + 1
    assert "staging/stg_landing__deliveries" in keys
    assert {"marts/fct_event", "marts/family_eligibility", "returns/family_progress_data",
            "outbox/analyst_workbook"} <= keys
    checks = {(("/".join(node["assetKey"]["path"])), check["name"]) for node in data["assetNodes"]
              for check in node["assetChecksOrError"].get("checks", [])}
    assert ("linkage/person_crosswalk", "linked_gate") in checks
    assert ("returns/results_claims", "extract_gate") in checks
    assert sum(name == "raw_gate" for _, name in checks) == len(registry())
    schedules = {s["name"] for repo in entry["locationOrLoadError"]["repositories"] for s in repo["schedules"]}
    assert {"family_progress_data_quarterly", "national_impact_study_quarterly", "results_claims_quarterly",
            "analyst_workbook_quarterly"} <= schedules
