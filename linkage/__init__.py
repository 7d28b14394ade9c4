"""Probabilistic person linkage (Splink 5) for Family Data Hub. See linkage/README.md.

Public surface:
    linkage.settings   Splink settings in code (comparisons, blocking and training rules)
    linkage.train      train(records, model_path) -> model dict; DEFAULT_MODEL_PATH (committed JSON)
    linkage.run        link_persons(records) -> LinkageResult; read_records(con); write_outputs(con, result);
                       giant_clusters(con, bound)
    linkage.cluster    cluster(records, edges, threshold): clustering that refuses chaining merges
    linkage.index      update_person_index(con, run_id, mode): one run against a warehouse (full or incremental)
    linkage.incremental link_delta / write_delta: a delivery (new, changed, withdrawn records) into the index
                       in place (predict_between/_within on what it can reach)
    linkage.ids        person_id_for / carry_forward: stable ids and their changes
    linkage.lineage    the index's memory between runs: previous crosswalk, lineage, fingerprints, runs
    linkage.review     review queue, Excel workbook export, decisions import (must-link / cannot-link)
    linkage.charts     Splink's HTML charts as artefacts
    linkage.standardise / linkage.match   `familyhub link` and `familyhub match` for any list
    linkage.evaluate   truth_labels, accuracy, twin_pairs_merged (the only module reading truth)
    linkage.backend    LinkageBackend protocol, DuckDBBackend (default, in memory)
"""
