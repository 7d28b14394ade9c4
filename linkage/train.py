"""Train the Splink model and save it as JSON.

u by random sampling with a fixed seed; m by expectation maximisation over several blocking rules;
the prior from deterministic rules. Retrain (writes linkage/models/person_model.json):

    .venv/bin/python -m linkage.train --persons 20000 --seed 7

which generates a synthetic population, stages it with dbt into a scratch warehouse and trains on
`intermediate.int_person_records_standardised`.

Beside the model, `<model>.meta.json` records when it was trained, on how many person records, and a
fingerprint of those records (`training_fingerprint`); each run records the model it used in the
warehouse (`linkage.model_versions`, see linkage/index.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path

import pyarrow as pa

from linkage import settings as model_settings
from linkage.backend import LinkageBackend, default_backend

MODEL_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = MODEL_DIR / "person_model.json"
SEED = 20240401
U_MAX_PAIRS = 5e6

log = logging.getLogger(__name__)


def train(records: pa.Table, model_path: Path | None = DEFAULT_MODEL_PATH, seed: int = SEED,
          backend: LinkageBackend | None = None, u_max_pairs: float = U_MAX_PAIRS) -> dict:
    """Train on standardised person records; save JSON to model_path (unless None); return the model."""
    own = backend is None
    backend = backend or default_backend()
    try:
        sdf = backend.load(records.select(model_settings.INPUT_COLUMNS), "person_records_train")
        linker = backend.linker(sdf, model_settings.settings_creator())
        linker.training.estimate_probability_two_random_records_match(
            model_settings.DETERMINISTIC_RULES, recall=model_settings.DETERMINISTIC_RECALL)
        linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        for rule in model_settings.TRAINING_BLOCKING_RULES:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
        model = linker.misc.save_model_to_json()
    finally:
        if own:
            backend.close()
    if model_path is not None:
        Path(model_path).parent.mkdir(parents=True, exist_ok=True)
        Path(model_path).write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        meta = {"trained_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "training_records": int(records.num_rows), "training_fingerprint": training_fingerprint(records),
                "u_seed": seed, "splink_version": _splink_version()}
        meta_path(model_path).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return model


def _splink_version() -> str:
    from importlib.metadata import version

    return version("splink")


def meta_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".meta.json")


def load_model(model_path: Path = DEFAULT_MODEL_PATH) -> dict:
    return json.loads(Path(model_path).read_text(encoding="utf-8"))


def load_meta(model_path: Path = DEFAULT_MODEL_PATH) -> dict:
    """The model's training record ({} for a model saved without one)."""
    path = meta_path(model_path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def training_fingerprint(records: pa.Table) -> str:
    """md5 over the training records' ids and model columns, in id order: the same records give the same
    fingerprint, whatever their row order (ids and values never leave the function)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.register("records", records.select(model_settings.INPUT_COLUMNS))
        return con.execute(f"""select md5(string_agg(cast(hash({', '.join(model_settings.INPUT_COLUMNS)}) as varchar),
                                                     ',' order by person_record_id)) from records""").fetchall()[0][0]
    finally:
        con.close()


def _main() -> None:  # pragma: no cover - exercised by hand when retraining
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7, help="synthetic population seed")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    from linkage.warehouse import build_standardised_warehouse, read_records

    started = time.perf_counter()
    data_dir = build_standardised_warehouse(args.persons, args.seed, args.work_dir)
    records = read_records(data_dir)
    train(records, args.out)
    meta = json.loads(meta_path(args.out).read_text(encoding="utf-8"))
    meta.update(synthetic_persons=args.persons, synthetic_seed=args.seed)
    meta_path(args.out).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({"model": str(args.out), "person_records": records.num_rows,
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":  # pragma: no cover
    _main()
