"""Time one enrichment increment on a built lake: build the enrichment state (a full publish_papers), then
land one new generated page, stage and resolve it, and time the incremental publish_papers (cProfile
with --profile).

Usage: python bench/enrich_increment.py --raw bench/corpus/10000/raw --out <copy of a built lake's out_dir>
The output folder is written to: run it on a copy. The landing folder is a temp folder of symlinks to
--raw plus the new page, so --raw is only read.
"""

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from bench.generate import Corpus
from paperlake import lake, landing, steps
from paperlake.config import Paths


def _timed(label: str, fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"{label}: {time.perf_counter() - t:.2f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--page", type=int, default=10_000, help="generator page number of the new file")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--skip-full", action="store_true", help="the state is already built")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        for f in args.raw.iterdir():
            (raw / f.name).symlink_to(f.resolve())
        paths = Paths(raw_dir=raw, out_dir=args.out)
        if not args.skip_full:
            _timed("full enrichment (state build)", steps.publish_papers, paths, full=True)
        _timed("no change", steps.publish_papers, paths)
        name, text, _ = Corpus(len(list(raw.iterdir())), seed=1).page(args.page)
        (raw / name).write_text(text, encoding="utf-8")
        with lake.open_lake(paths) as con:
            steps.write_parsed(con, [name], steps.ingest_files(paths, [name]))
        _timed("resolve (not this step)", steps.resolve_all, paths, list(landing.landing_files(raw)))
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        pub = _timed("incremental enrichment", steps.publish_papers, paths)
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        print({t: (r.num_rows, pub.counts[t]) for t, r in pub.rows.items()}, "full" if pub.full else "")


if __name__ == "__main__":
    main()
