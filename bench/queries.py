"""Query latency on the current warehouse (default data/out): median of repeated runs, warm connection.

Usage: python bench/queries.py [--repeat N]   (make bench runs it after make run)
Writes bench/results/queries.json and prints a table.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from paperlake.config import Paths
from paperlake.db import connect_readonly

QUERIES = {
    "search (BM25, has code, by upvotes)": """
        SELECT paper_id, title FROM search_papers('hallucination')
        WHERE has_code ORDER BY upvotes_max DESC NULLS LAST, score DESC""",
    "top-k (top 10 papers)": "SELECT * FROM top_papers LIMIT 10",
    "point lookup (paper by id)": "SELECT * FROM papers WHERE paper_id = (SELECT min(paper_id) FROM papers)",
    "sightings of one paper": """SELECT s.* FROM sightings s WHERE paper_id =
                                 (SELECT paper_id FROM papers ORDER BY n_sightings DESC LIMIT 1)""",
}


def whole_process(argv: list[str], repeat: int = 9, env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall time of a CLI call, interpreter start and imports included: what a user waits for."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(max(times), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    paths = Paths.from_env()
    results = {}
    with connect_readonly(paths) as con:
        n_papers = con.sql("SELECT count(*) FROM papers").fetchone()[0]
        for name, sql in QUERIES.items():
            con.sql(sql).fetchall()  # warm
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                con.sql(sql).fetchall()
                times.append((time.perf_counter() - t) * 1000)
            results[name] = {
                "median_ms": round(statistics.median(times), 2),
                "p95_ms": round(sorted(times)[int(0.95 * len(times)) - 1], 2),
            }
    cli = str(Path(sys.executable).with_name("paperlake"))
    for name, argv in {
        "`paperlake search` CLI, whole process": ["search", "hallucination", "--code", "-f", "json"],
        "`paperlake query` (small), whole process": ["query", "SELECT count(*) FROM papers", "-f", "csv"],
        "`paperlake status`, whole process (target < 1 s)": ["status"],
    }.items():
        results[name] = whole_process([cli, *argv])
    out = Path(__file__).parent / "results" / "queries.json"
    out.write_text(json.dumps({"papers": n_papers, "repeat": args.repeat, "results": results}, indent=2))
    print(f"{n_papers} papers, {args.repeat} repeats (CLI: 9)")
    for name, r in results.items():
        print(f"  {name:45s} median {r['median_ms']:8.2f} ms   p95 {r['p95_ms']:8.2f} ms")


if __name__ == "__main__":
    main()
