"""Crash safety and concurrency, through the real `paperlake run` entry point in subprocesses.

* SIGKILL at spread-out moments of a run: the published version stays readable (serving file and lake),
  and the next run completes with the right counts.
* Two runs at once, with a read-only DuckDB reader polling throughout: both finish, nothing is corrupt,
  and the reader never fails.
"""

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from paperlake import lake
from paperlake.config import TABLES, Paths
from paperlake.db import connect_readonly, connect_version
from tests.helpers import SAMPLE

pytestmark = pytest.mark.subprocess
CLI = str(Path(sys.executable).with_name("paperlake"))


def _env(raw: Path, out: Path, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PAPERLAKE_RAW_DIR": str(raw),
        "PAPERLAKE_OUT_DIR": str(out),
        "DAGSTER_HOME": str(home),
    }


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [CLI, "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )


def _counts(paths: Paths) -> dict[str, int]:
    with connect_readonly(paths) as con:
        return {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def _assert_readable(paths: Paths) -> None:
    """The serving file and the lake's last published version both open and agree."""
    served = _counts(paths)
    with lake.open_lake(paths, read_only=True) as con:
        version = lake.last_version(con)
    with connect_version(paths, version) as con:
        assert {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES} == served


def _assert_writer_gone(paths: Paths, within: float = 3.0) -> None:
    """The pipeline process that `paperlake run` supervised dies with it: the writer lock is free soon."""
    lock = paths.state_dir / "writer.lock"
    deadline = time.perf_counter() + within
    while True:
        with lock.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                assert time.perf_counter() < deadline, "the run went on after its supervisor was killed"
        time.sleep(0.1)


def _landing(tmp_path: Path, copies: int) -> Path:
    """The sample plus `copies` renamed copies (distinct bytes): a run long enough to interrupt."""
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
    seeds = sorted(SAMPLE.iterdir())
    for i in range(copies):
        src = seeds[i % len(seeds)]
        (raw / f"copy_{i:03d}.txt").write_bytes(src.read_bytes() + b"\n" * (100 + i))
    return raw


def test_sigkill_during_runs_leaves_readable_tables_and_next_run_completes(tmp_path):
    raw, out, home = _landing(tmp_path, 20), tmp_path / "out", tmp_path / "home"
    env, paths = _env(raw, out, home), Paths(raw, out)
    started = time.perf_counter()
    first = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=300)
    duration = time.perf_counter() - started
    assert first.returncode == 0, first.stdout + first.stderr
    baseline = _counts(paths)
    rng = random.Random(20261123)
    for n in range(6):
        (raw / f"late_{n}.txt").write_bytes(
            (SAMPLE / "001_0e521db46ed8cd94.txt").read_bytes() + b"\n" * (n + 1)
        )
        proc = _start(env)
        time.sleep(rng.uniform(0.3, duration))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _assert_writer_gone(paths)
        _assert_readable(paths)
    final = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    counts = _counts(paths)
    assert counts["pages"] == baseline["pages"] + 6
    assert counts["sightings"] == baseline["sightings"] + 6 * 47
    assert counts["papers"] == baseline["papers"]  # the late files repeat papers already known
    assert counts["rejects"] == 0


def test_two_runs_at_once_and_a_reader_during_writes(tmp_path):
    raw, out, home = _landing(tmp_path, 10), tmp_path / "out", tmp_path / "home"
    env, paths = _env(raw, out, home), Paths(raw, out)
    assert subprocess.run([CLI, "run"], env=env, capture_output=True, timeout=300).returncode == 0
    expected = _counts(paths)
    errors: list[str] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                counts = _counts(paths)
                assert counts["papers"] == expected["papers"], counts
                reads += 1
            except (duckdb.Error, AssertionError) as exc:
                errors.append(repr(exc))
            time.sleep(0.05)

    thread = threading.Thread(target=reader)
    thread.start()
    procs = [_start(env), _start(env)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    stop.set()
    thread.join()
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert errors == []
    assert reads > 10
    assert _counts(paths) == expected
