"""Issue 13's measures that `bench/run.py` takes beside its baselines, and the table of its targets.

- the peak RSS of a whole process tree (the CLI, the Dagster run, its spawned workers), sampled;
- DuckDB `read_text` over the corpus, a baseline for reading and splitting in a vectorised engine;
- the search index at the warehouse's size: paperlake's build against the fts extension's own;
- `related` against the exact TF-IDF top 5 on a sample of the warehouse's papers.
"""

import contextlib
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from paperlake import fulltext
from paperlake.config import Paths
from paperlake.duck import load, open_db, sql_str

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants now (Linux /proc)."""
    kids, todo, total = _children(), [pid], 0
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        with contextlib.suppress(OSError, IndexError):  # the process ended while we looked
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
    return total


def run_sampled(argv: list[str], env: dict[str, str], every_s: float = 0.2) -> tuple[float, float, str]:
    """Wall seconds and the peak RSS (MB) of the whole process tree of `argv`, and its output."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(every_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t
    sampler.join()
    if proc.returncode:
        raise RuntimeError(out[-6000:])
    return wall, peak[0] / 2**20, out


def duckdb_read_text(raw: Path) -> tuple[int, float]:
    """Paragraphs of every file, found by DuckDB (read_text, split on blank lines): the floor a
    vectorised engine sets for reading and splitting, on all cores."""
    with open_db(":memory:") as con:
        t = time.perf_counter()
        n = con.execute(
            "SELECT sum(len(string_split(content, chr(10) || chr(10)))) "
            f"FROM read_text({sql_str(str(raw / '*'))})"
        ).fetchone()[0]
        return int(n), time.perf_counter() - t


def search_index(paths: Paths) -> dict[str, float]:
    """Seconds to index the served papers for BM25: paperlake's build (fulltext.index_all) and the fts
    extension's create_fts_index, on the same rows, back to back."""
    out = {}
    for name in ("paperlake", "create_fts_index"):
        with open_db(":memory:") as con:
            load(con, "fts")
            con.execute(f"ATTACH {sql_str(str(paths.duckdb_path))} AS served (READ_ONLY)")
            con.execute("CREATE TABLE papers AS SELECT paper_id, title, abstract FROM served.papers LIMIT 0")
            if name == "paperlake":
                fulltext.define(con)
            con.execute("INSERT INTO papers SELECT paper_id, title, abstract FROM served.papers")
            t = time.perf_counter()
            if name == "paperlake":
                fulltext.index_all(con)
            else:
                fulltext.define(con)  # the extension indexes every row itself
            out[name] = round(time.perf_counter() - t, 2)
    return out


def related_overlap(paths: Paths, sample: int = 2000, seed: int = 1) -> dict[str, float]:
    """Share of the exact TF-IDF top 5 (scikit-learn, every paper) that the warehouse's `related` holds,
    on `sample` random papers; and the share of the exact top's similarity it captures."""
    from eval.enrich_overlap import exact_top, overlap
    from paperlake.warehouse import read_table

    papers = read_table("papers", paths)
    ids = random.Random(seed).sample(sorted(papers["paper_id"]), min(sample, len(papers)))
    related = papers.set_index("paper_id")["related"]
    exact, captured = exact_top(papers, ids, {"warehouse": related})
    return {
        "papers_sampled": len(ids),
        "overlap": round(overlap(related, exact, ids), 4),
        "similarity_captured": captured["warehouse"],
    }


@dataclass(frozen=True)
class Target:
    what: str
    value: float | None
    limit: float
    unit: str
    baseline: str
    at_least: bool = False  # the value must reach the limit rather than stay under it

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def row(self) -> str:
        sign = "≥" if self.at_least else "≤"
        value = "not measured" if self.value is None else f"{self.value:g} {self.unit}"
        return (
            f"| {self.what} | {value} | {sign} {self.limit:g} {self.unit} | {self.baseline} | "
            f"{'met' if self.met else '**not met**'} |"
        )


def targets_table(targets: list[Target]) -> list[str]:
    return [
        "| issue 23 target (set for 10,000 files) | measured | target | baseline in the same run | |",
        "|---|---|---|---|---|",
        *(t.row() for t in targets),
    ]
