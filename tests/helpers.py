"""What tests share: the bundled sample, the seeds' entry counts, hand-written pages, a run's writes without
Dagster. Fixtures live in conftest.py; tests import these names from here, never from conftest."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from paperlake import lake, landing, steps
from paperlake.config import Paths
from paperlake.db import connect_readonly
from paperlake.enrich import index as enrich_index
from paperlake.ingest import PageTables, RawPage, process_pages
from paperlake.parse import ParseOptions
from schemas.catalog import TABLES

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "raw"
CLI = str(Path(sys.executable).with_name("paperlake"))  # the installed entry point
SHARED_SEEDS = ROOT.parent / "shared" / "seeds"
ASSETS = {  # every asset of the Definitions, as the UI and the code location must show them
    "raw_captures",
    "core_sightings",
    "core_papers",
    "out_pages",
    "out_rejects",
    "out_sightings",
    "out_papers",
    "out_matches",
    "out_upvote_history",
    "out_paper_links",
    "out_paper_topics",
    "out_duckdb",
    "out_report",
    "out_digest",
}
SEED_ENTRIES = {
    "000_7cb6f7359ec6334f.txt": 45,
    "001_0e521db46ed8cd94.txt": 47,
    "002_e8016f024cf684e5.txt": 49,
    "003_d2538b47dc31753c.txt": 72,
    "004_948de80309261307.txt": 70,
}


def page_text(*entries: str, date: str = "Dec 25", daily: bool = True) -> str:
    """A capture with the real header and the given entry blocks (already joined by blank lines)."""
    header = ["new", "", "Get trending papers in your email inbox!", "", "Subscribe", ""]
    if daily:
        header += ["Daily Papers", ""]
    header += ["byAK and the research community", "", date, ""]
    return "\n".join(header) + "\n" + "\n\n".join(entries) + "\n"


def process_page(page: RawPage, options: ParseOptions | None = None) -> PageTables:
    """One page through the production path, `process_pages`."""
    return process_pages([page], options)


def write_run(paths: Paths, changed: list[str] | None = None) -> enrich_index.Published:
    """What a run writes before its audit, without Dagster: (re)ingest the `changed` landing files (all of
    them by default), retract removed ones, resolve, enrich. Nothing is published."""
    keys = list(landing.landing_files(paths.raw_dir))
    present = keys if changed is None else [k for k in changed if k in keys]
    if present:
        with lake.open_lake(paths) as con:
            steps.write_parsed(con, present, steps.ingest_files(paths, present))
    steps.resolve_all(paths, keys)
    return steps.publish_papers(paths)


def landing_with_copies(tmp_path: Path, copies: int) -> Path:
    """The sample plus `copies` renamed copies (distinct bytes): a run long enough to interrupt."""
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
    seeds = sorted(SAMPLE.iterdir())
    for i in range(copies):
        src = seeds[i % len(seeds)]
        (raw / f"copy_{i:03d}.txt").write_bytes(src.read_bytes() + b"\n" * (100 + i))
    return raw


def run_env(raw: Path, out: Path, home: Path) -> dict[str, str]:
    """The environment of a `paperlake` process on these folders and Dagster home."""
    return {
        **os.environ,
        "PAPERLAKE_RAW_DIR": str(raw),
        "PAPERLAKE_OUT_DIR": str(out),
        "DAGSTER_HOME": str(home),
    }


def start_run(env: dict[str, str]) -> subprocess.Popen:
    """`paperlake run` in its own session (so that a test can signal its whole process group)."""
    return subprocess.Popen(
        [CLI, "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )


def served_counts(paths: Paths) -> dict[str, int]:
    """Rows of every table in the published version, as readers see it."""
    with connect_readonly(paths) as con:
        return {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
