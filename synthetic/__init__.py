"""Synthetic partner feeds for Family Data Hub, with the truth behind them.

    from synthetic import generate
    summary = generate(persons=2000, seed=42, out=Path("data"), as_at=date(2026, 9, 30))

Writes out/landing/<feed>/<file> (one delivery per feed, in each source system's own format) and
out/truth/*.parquet (for evaluation only). Returns a JSON-serialisable summary with counts only.
See synthetic/README.md for the model, the error rates and the hard cases.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from . import needs as needs_mod
from . import population, truth
from .dates import to_days
from .feeds import Context, dwp, early_help, education, health, housing, police, programme, social_care, youth_justice
from .writers import write_feed

WINDOW_START = dt.date(2019, 1, 1)
DEFAULT_AS_AT = dt.date(2026, 9, 30)
# generation order: education allocates UPNs, police PNC ids (used by youth justice), social care
# step-downs (used by early help)
SYSTEMS = [education, social_care, early_help, police, youth_justice, dwp, health, housing, programme]

__all__ = ["generate", "DEFAULT_AS_AT"]


def _streams(seed: int):
    """An independent generator per named step, so changing one step never shifts another's draws."""
    def rng_for(name: str) -> np.random.Generator:
        return np.random.default_rng([int(seed), zlib.crc32(name.encode())])
    return rng_for


def generate(persons: int = 30_000, seed: int = 42, out: Path | str = Path("data"),
             as_at: dt.date = DEFAULT_AS_AT) -> dict:
    if persons < 100:
        raise ValueError("persons must be at least 100")
    started = time.perf_counter()
    out = Path(out)
    rng_for = _streams(seed)
    w0, w1 = to_days(WINDOW_START), to_days(as_at)
    pop = population.build(persons, w0, w1, rng_for)
    need = needs_mod.build(pop, rng_for)
    ctx = Context(pop, need, rng_for, w0, w1)
    # the programme's cases come first: where support works it prevents most of the family's new needs, so every
    # feed (the programme's own closures too) is built from the needs support left
    ctx.shared["programme_cases"], ctx.needs = programme.attach(ctx)
    feeds: dict[str, dict] = {}
    truth_frames = []
    date_tag = as_at.isoformat()
    for system in SYSTEMS:
        for data in system.build(ctx):
            rows, summary = write_feed(data, out, date_tag, rng_for(f"write:{data.feed}"))
            feeds[data.feed] = summary
            truth_frames.append(rows)
    source_records = pd.concat(truth_frames, ignore_index=True)
    counts = truth.write(pop, ctx.needs, source_records, ctx.shared.get("upn", pd.Series(dtype=object)), out / "truth")
    return {
        "persons": int(len(pop.persons)),
        "households": counts.pop("households"),
        "seed": int(seed),
        "as_at": date_tag,
        "feeds": {k: feeds[k] for k in sorted(feeds)},
        "truth": counts,
        "seconds": round(time.perf_counter() - started, 2),
    }
