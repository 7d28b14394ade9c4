"""Splink's own charts as HTML artefacts (under <data_dir>/artefacts/linkage/), cheap enough for every run.

    match_weights.html       the model's partial match weights per comparison level (no record data)
    m_u_parameters.html      m and u per level (no record data)
    comparison_viewer.html   example pairs per comparison vector: the review queue and the largest persons
    cluster_studio.html      the largest persons as graphs of their records and scored pairs

An in-place run (linkage/index.py) keeps the charts of the last full one: same model, few persons changed.
The last two show record values: they are artefacts in the restricted data folder, like the review
workbook, owner-only (0600 in a 0700 folder, whatever the umask); only their paths go in Dagster metadata.
They are drawn from a sample (the largest `STUDIO_CLUSTERS` persons and up to `VIEWER_PAIRS` queued pairs), so
their cost does not grow with the index. Libraries are inlined so the files open offline.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import default_backend
from linkage.run import records_among

STUDIO_CLUSTERS = 10
VIEWER_PAIRS = 200


CHARTS = ("match_weights", "m_u_parameters", "comparison_viewer", "cluster_studio")


def chart_paths(out_dir: Path) -> dict[str, Path]:
    return {name: Path(out_dir) / f"{name}.html" for name in CHARTS}


def write_charts(out_dir: Path, model: dict, records: pa.Table, result, queue) -> dict[str, Path]:
    from linkage.incremental import register_term_frequencies

    out_dir.mkdir(parents=True, exist_ok=True)
    # the charts show record values: owner-only whatever the umask (as the demo key), the folder first so that
    # no one else can open a chart while Splink writes it
    out_dir.chmod(0o700)
    paths = chart_paths(out_dir)
    retained = {**model, "retain_intermediate_calculation_columns": True, "retain_matching_columns": True}
    backend = default_backend()
    try:
        columns = records.select(model_settings.INPUT_COLUMNS)
        # the sample: the largest persons' records and the queued pairs' records
        largest = result.clusters.sort_values(["n_records", "person_id"], ascending=[False, True]).head(STUDIO_CLUSTERS)
        crosswalk = result.crosswalk
        sample_ids = set(crosswalk.loc[crosswalk["person_id"].isin(largest["person_id"]), "person_record_id"])
        queued = queue.pairs.head(VIEWER_PAIRS)
        sample_ids |= set(queued["person_record_id_l"]) | set(queued["person_record_id_r"])
        sample = columns.filter(records_among(columns, sample_ids))
        sample_sdf = backend.load(sample, "charts_sample")
        linker = backend.linker(sample_sdf, retained)
        register_term_frequencies(linker, backend, records, model)  # of all records, as the run scored them
        linker.visualisations.match_weights_chart().save(str(paths["match_weights"]), inline=True)
        linker.visualisations.m_u_parameters_chart().save(str(paths["m_u_parameters"]), inline=True)
        predictions = linker.inference.predict_within(sample_sdf, threshold_match_weight=-5, warning_mode="never")
        linker.visualisations.comparison_viewer_dashboard(predictions, str(paths["comparison_viewer"]),
                                                          overwrite=True, num_example_rows=2)
        in_sample = crosswalk[crosswalk["person_record_id"].isin(sample_ids)]
        person_of = dict(zip(in_sample["person_record_id"], in_sample["person_id"]))
        ids = sample["person_record_id"].to_pylist()
        clustered = backend.load(sample.append_column("cluster_id", pa.array([person_of[i] for i in ids])),
                                 "charts_clusters")
        linker.visualisations.cluster_studio_dashboard(
            predictions, clustered, str(paths["cluster_studio"]), cluster_ids=largest["person_id"].tolist(),
            overwrite=True)
    finally:
        backend.close()
        for path in paths.values():
            if path.exists():
                path.chmod(0o600)
    return paths
