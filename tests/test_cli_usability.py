"""What a user meets on day one, through the installed entry point: help that is complete and names the
environment, `--version`, usage errors in one line, tables that fit an 80-column terminal, `show` matching
its text literally, `export` that never overwrites a folder by surprise, and `run` answering an empty
landing folder or a busy output folder at once (before Dagster starts), on a terminal or not."""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from paperlake.config import Paths
from schemas.catalog import TABLES
from tests.helpers import CLI, SAMPLE, run_env, write_run

pytestmark = pytest.mark.subprocess
COMMANDS = ["run", "query", "search", "show", "status", "history", "diff", "export", "sql", "attach"]


def _cli(*args: str, out: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**(env or os.environ), "COLUMNS": "80"}
    if out is not None:
        env["PAPERLAKE_OUT_DIR"] = str(out)
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


def _fits(text: str, width: int = 80) -> None:
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, "\n".join(too_long)


def test_help_is_complete_names_the_environment_and_an_example():
    top = _cli("--help")
    assert top.returncode == 0
    _fits(top.stdout)
    assert "PAPERLAKE_RAW_DIR" in top.stdout and "PAPERLAKE_OUT_DIR" in top.stdout
    listing = top.stdout.split("Commands:", 1)[1]
    assert "..." not in listing, listing  # no short help cut mid-sentence
    assert {line.split()[0] for line in listing.splitlines() if line[:3].strip()} == set(COMMANDS)
    for command in COMMANDS:
        text = _cli(command, "--help").stdout
        _fits(text)
        assert "PAPERLAKE_OUT_DIR" in text and "Example:" in text, (command, text)
    assert "PAPERLAKE_RAW_DIR" in _cli("run", "--help").stdout


def test_version_and_usage_errors():
    shown = _cli("--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"paperlake {version('paperlake')}"
    assert "search --help" in _one_line_error(_cli("search"))
    assert "paperlake --help" in _one_line_error(_cli("no-such-command"))
    assert "--limit" in _one_line_error(_cli("search", "x", "--limit", "0"))


@pytest.fixture(scope="module")
def served(pipeline_run) -> Path:
    return pipeline_run[0].out_dir


def test_history_search_and_show_fit_80_columns(served):
    history = _cli("history", out=served)
    _fits(history.stdout)
    header = next(line for line in history.stdout.splitlines() if line.startswith("┃"))
    assert all(name in header for name in ("version", "published_at", "pages", "papers"))  # whole words

    found = json.loads(_cli("search", "language", "models", "-f", "json", "-n", "5", out=served).stdout)
    table = _cli("search", "language", "models", "-n", "5", out=served).stdout
    _fits(table)
    assert "upvotes" in table and "title" in table
    for paper in found:  # each title's first words on one line, not wrapped into a narrow column
        assert " ".join(paper["title"].split()[:3]) in table, (paper["title"], table)
        assert paper["paper_id"] in table

    wide = _cli("search", "language", "models", "-n", "5", "--wide", out=served).stdout
    assert "github_repos" in wide and "n_sightings" in wide

    shown = _cli("show", found[0]["paper_id"], out=served)
    assert shown.returncode == 0, shown.stderr
    _fits(shown.stdout)
    assert found[0]["paper_id"] in shown.stdout and "sightings" in shown.stdout


def test_show_matches_its_text_literally_and_refuses_nothing(served):
    assert "paper_id" in _one_line_error(_cli("show", "", out=served))
    assert "paper_id" in _one_line_error(_cli("show", "  ", out=served))
    for text in ("%", "_", "\\"):
        sql = f"SELECT count(*) AS n FROM papers WHERE contains(title, '{text}')"
        expected = json.loads(_cli("query", sql, "-f", "json", out=served).stdout)[0]["n"]
        proc = _cli("show", text, out=served)
        if expected == 0:
            assert "no paper" in _one_line_error(proc)
        elif expected == 1:
            assert proc.returncode == 0 and text in proc.stdout
        else:
            assert proc.returncode == 2 and f"{expected} papers match" in proc.stderr


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_export_refuses_a_non_empty_folder_unless_forced(served, tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "papers.parquet").write_bytes(b"an older export")
    before = _hashes(target)
    assert "--force" in _one_line_error(_cli("export", str(target), out=served))
    assert _hashes(target) == before

    forced = _cli("export", str(target), "--force", out=served)
    assert forced.returncode == 0, forced.stderr
    expected = sorted([*(f"{t}.parquet" for t in TABLES), "notes.txt"])
    assert sorted(p.name for p in target.iterdir()) == expected
    assert (target / "notes.txt").read_text() == "mine"
    assert pq.read_table(target / "papers.parquet").num_rows > 0  # replaced whole, no partial file left

    fresh = _cli("export", str(tmp_path / "new" / "folder"), out=served)
    assert fresh.returncode == 0 and len(list((tmp_path / "new" / "folder").iterdir())) == len(TABLES)
    assert "not a folder" in _one_line_error(_cli("export", str(target / "notes.txt"), out=served))


def test_run_refuses_an_emptied_or_missing_landing_folder_before_dagster(tmp_path):
    """A missing folder, and an empty one whose files the lake holds (an unmounted disk would otherwise
    retract every paper; a first build of an empty folder publishes an empty version instead)."""
    emptied = tmp_path / "emptied"
    shutil.copytree(SAMPLE, emptied)
    write_run(Paths(emptied, tmp_path / "out"))  # the lake holds the five captures (no Dagster)
    for capture in emptied.iterdir():
        capture.unlink()
    for raw in (emptied, tmp_path / "missing"):
        env = run_env(raw, tmp_path / "out", tmp_path / "home")
        started = time.perf_counter()
        message = _one_line_error(_cli("run", env=env))
        assert str(raw) in message and time.perf_counter() - started < 15
        assert not (tmp_path / "home").exists()  # refused before the Dagster instance was made


def test_a_second_run_says_it_waits_when_not_on_a_terminal(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
    env = {**run_env(raw, tmp_path / "out", tmp_path / "home"), "COLUMNS": "80"}
    state = tmp_path / "out" / "state"
    state.mkdir(parents=True)
    with (state / "writer.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run writes this output folder
        second = subprocess.Popen(
            [CLI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert second.stderr is not None
        line = second.stderr.readline()  # blocks until the CLI says why it waits
        assert "waiting for another paperlake run" in line and str(tmp_path / "out") in line
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 128 + signal.SIGINT
    assert not (tmp_path / "home").exists()  # it waited before starting Dagster


def test_the_stop_message_needs_no_lazy_import():
    """A signal can land while the main thread imports rich's emoji table for its first print; the
    handler's own message must not need that half-imported module (it failed a SIGTERM test so)."""
    probe = (
        "import sys; from pipelines.cli import _say_stopped; _say_stopped(15); "
        "print('rich._emoji_codes' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "stopped by SIGTERM" in proc.stderr and proc.stdout.strip() == "False"
