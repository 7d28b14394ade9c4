"""How dbt nodes appear in Dagster: keys by schema, groups by layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


class FamilyHubTranslator(DagsterDbtTranslator):
    """Models are keyed [schema, model] (e.g. staging/stg_dwp__benefit_claims) and grouped by layer.

    Sources keep the default key [source, table], so source('raw', 'dwp_benefits') is the landing
    asset raw/dwp_benefits.
    """

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_code_references=False))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in {"model", "seed", "snapshot"}:
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] in {"model", "seed", "snapshot"}:
            return dbt_resource_props["schema"]
        return super().get_group_name(dbt_resource_props)
