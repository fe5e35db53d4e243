"""Crash safety and concurrency, through the real `paperlake run` entry point in subprocesses.

* SIGKILL at spread-out moments of a run: the published version stays readable (serving file and lake),
  and the next run completes with the right counts.
* Two runs at once, with a read-only DuckDB reader polling throughout: both finish, nothing is corrupt,
  and the reader never fails.
"""

import fcntl
import os
import random
import signal
import subprocess
import threading
import time

import duckdb
import pytest

from paperlake import lake
from paperlake.config import Paths
from paperlake.db import connect_version
from schemas.catalog import TABLES
from tests.helpers import CLI, SAMPLE, landing_with_copies, run_env, served_counts, start_run

pytestmark = pytest.mark.subprocess


def _assert_readable(paths: Paths) -> None:
    """The serving file and the lake's last published version both open and agree."""
    served = served_counts(paths)
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


def test_sigkill_during_runs_leaves_readable_tables_and_next_run_completes(tmp_path):
    raw, out, home = landing_with_copies(tmp_path, 20), tmp_path / "out", tmp_path / "home"
    env, paths = run_env(raw, out, home), Paths(raw, out)
    started = time.perf_counter()
    first = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=300)
    duration = time.perf_counter() - started
    assert first.returncode == 0, first.stdout + first.stderr
    baseline = served_counts(paths)
    rng = random.Random(20261123)
    for n in range(6):
        (raw / f"late_{n}.txt").write_bytes(
            (SAMPLE / "001_0e521db46ed8cd94.txt").read_bytes() + b"\n" * (n + 1)
        )
        proc = start_run(env)
        time.sleep(rng.uniform(0.3, duration))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _assert_writer_gone(paths)
        _assert_readable(paths)
    final = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    counts = served_counts(paths)
    assert counts["pages"] == baseline["pages"] + 6
    assert counts["sightings"] == baseline["sightings"] + 6 * 47
    assert counts["papers"] == baseline["papers"]  # the late files repeat papers already known
    assert counts["rejects"] == 0


def test_two_runs_at_once_and_a_reader_during_writes(tmp_path):
    raw, out, home = landing_with_copies(tmp_path, 10), tmp_path / "out", tmp_path / "home"
    env, paths = run_env(raw, out, home), Paths(raw, out)
    assert subprocess.run([CLI, "run"], env=env, capture_output=True, timeout=300).returncode == 0
    expected = served_counts(paths)
    errors: list[str] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                counts = served_counts(paths)
                assert counts["papers"] == expected["papers"], counts
                reads += 1
            except (duckdb.Error, AssertionError) as exc:
                errors.append(repr(exc))
            time.sleep(0.05)

    thread = threading.Thread(target=reader)
    thread.start()
    procs = [start_run(env), start_run(env)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    stop.set()
    thread.join()
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert errors == []
    assert reads > 10
    assert served_counts(paths) == expected
