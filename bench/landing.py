"""Benchmark: generate synthetic partner feeds, then land them into an empty warehouse.

Prints one JSON line: source rows landed, rejected, seconds, rows/s and peak RSS of the landing process,
plus the generation figures. Usage: python bench/landing.py [--persons N] [--keep DIR]
(the default persons give about a million source rows).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def land_everything(data_dir: Path) -> dict:
    import duckdb

    from orchestration.defs.landing.loader import land_feed
    from orchestration.lib.feeds import registry

    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    started = time.perf_counter()
    per_feed = {}
    landed = rejected = 0
    for feed in registry().values():
        feed_started = time.perf_counter()
        result = land_feed(con, feed, data_dir / "landing")
        if result.failures:
            raise SystemExit(f"{feed.name} failed to land: {result.failures[0].reason}")
        per_feed[feed.name] = {"rows": result.rows_landed, "seconds": round(time.perf_counter() - feed_started, 2)}
        landed += result.rows_landed
        rejected += result.rows_rejected
    seconds = time.perf_counter() - started
    con.close()
    return {
        "rows": landed + rejected,
        "rows_landed": landed,
        "rows_rejected": rejected,
        "seconds": round(seconds, 2),
        "rows_per_s": round((landed + rejected) / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "per_feed": per_feed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=215_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", help="generate into this folder and keep it")
    parser.add_argument("--land-only", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.land_only:  # the child process: landing alone, so its peak RSS is landing's
        print(json.dumps(land_everything(Path(args.land_only))))
        return

    from synthetic import generate

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="familyhub-bench-"))
    try:
        started = time.perf_counter()
        generate(persons=args.persons, seed=args.seed, out=workdir)
        generation_seconds = time.perf_counter() - started
        child = subprocess.run([sys.executable, __file__, "--land-only", str(workdir)],
                               check=True, capture_output=True, text=True)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        figures = {"benchmark": "landing", "persons": args.persons, **figures,
                   "generate_seconds": round(generation_seconds, 2)}
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
