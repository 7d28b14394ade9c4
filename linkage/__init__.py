"""Probabilistic person linkage (Splink 5) for Family Data Hub. See linkage/README.md.

Public surface:
    linkage.settings   Splink settings in code (comparisons, blocking and training rules)
    linkage.train      train(records, model_path) -> model dict; DEFAULT_MODEL_PATH (committed JSON)
    linkage.run        link_persons(records) -> LinkageResult; read_records(con); write_outputs(con, result);
                       giant_clusters(con, bound)
    linkage.cluster    cluster(records, edges, threshold): clustering that refuses chaining merges
    linkage.ids        person_id_for / assign_person_ids: stable ids
    linkage.evaluate   truth_labels, accuracy, twin_pairs_merged (the only module reading truth)
    linkage.backend    LinkageBackend protocol, DuckDBBackend (default, in memory)
"""
