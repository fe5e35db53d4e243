"""Write → audit → publish, through the installed `paperlake` entry point in subprocesses.

* A reader polling while a run adds files always sees one consistent version.
* A run whose data fails a blocking check publishes nothing and exits non-zero naming the check; a
  plain DuckDB client attaching the lake as `paperlake attach` prints still sees the published rows.
* `history`, `query --as-of`, `export` and `sql` read published versions.
* Ctrl-C (SIGINT) and SIGTERM stop a run within 5 s and leave the previous version published.
"""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from paperlake.config import Paths
from paperlake.db import VersionError, connect_readonly, connect_version, published_versions
from paperlake.warehouse import served_version
from schemas.catalog import TABLES
from tests.helpers import CLI, SEED_ENTRIES, landing_with_copies, run_env, served_counts, start_run

# sightings rows = valid entries of the pages = sightings counted by the papers (distinct contents only)
CONSISTENT = """SELECT (SELECT count(*) FROM sightings), (SELECT sum(n_valid) FROM pages),
                       (SELECT sum(n_sightings) FROM papers)"""
SEEDS = sorted(SEED_ENTRIES)
# loaded by every Python process of the faulty run (sitecustomize on PYTHONPATH), the pipeline child too
FAULT = """
import paperlake.steps as steps
from paperlake import lake

real = steps.publish_papers


def lose_a_paper(paths, *args, **kwargs):  # one paper lost after enrichment: its sightings point nowhere
    written = real(paths, *args, **kwargs)
    with lake.open_lake(paths) as con:
        first = "(SELECT min(paper_id) FROM lake.main.papers)"
        con.execute(f"DELETE FROM lake.main.papers WHERE paper_id = {first}")
    return written


steps.publish_papers = lose_a_paper
"""


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=300
    )


def _history(env: dict[str, str]) -> list[dict]:
    proc = _cli(env, "history", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.subprocess
def test_reader_during_a_run_sees_one_consistent_version(tmp_path):
    raw, out, home = landing_with_copies(tmp_path, 0), tmp_path / "out", tmp_path / "home"
    env, paths = run_env(raw, out, home), Paths(raw, out)
    assert _cli(env, "run").returncode == 0
    for i in range(12):  # distinct bytes, same papers: the run changes every table
        src = raw / SEEDS[i % 5]
        (raw / f"more_{i:02d}.txt").write_bytes(src.read_bytes() + b"\n" * (i + 1))
    seen: list[tuple] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                with connect_readonly(paths) as con:
                    seen.append(con.sql(CONSISTENT).fetchone())
            except duckdb.Error as exc:
                errors.append(repr(exc))
            time.sleep(0.02)

    thread = threading.Thread(target=reader)
    thread.start()
    proc = start_run(env)
    cli_polls = []
    while proc.poll() is None:
        poll = _cli(env, "query", CONSISTENT, "--format", "csv")
        cli_polls.append((poll.returncode, poll.stdout.splitlines()[-1] if poll.stdout else poll.stderr))
    stop.set()
    thread.join()
    assert proc.returncode == 0, proc.stdout.read()
    assert errors == []
    assert len(seen) > 20 and all(a == b == c for a, b, c in seen), set(seen)
    assert {s[0] for s in seen} >= {283}  # the old version was read while the run worked
    assert all(code == 0 for code, _ in cli_polls), cli_polls
    assert all(len(set(line.split(","))) == 1 for _, line in cli_polls), cli_polls
    assert served_counts(paths)["sightings"] == 283 + sum(SEED_ENTRIES[SEEDS[i % 5]] for i in range(12))


def _attached_counts(statements: str) -> dict[str, int]:
    """Rows per table seen by a plain DuckDB client running `statements` (what `paperlake attach` prints)."""
    with duckdb.connect() as con:
        con.execute(statements)
        return {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


@pytest.mark.subprocess
def test_failed_blocking_check_publishes_nothing(tmp_path):
    raw, out, home = landing_with_copies(tmp_path, 0), tmp_path / "out", tmp_path / "home"
    env, paths = run_env(raw, out, home), Paths(raw, out)
    assert _cli(env, "run").returncode == 0
    before, version = served_counts(paths), served_version(paths)
    hits = _cli(env, "search", "reasoning", "--format", "json").stdout
    (raw / "extra.txt").write_bytes((raw / "000_7cb6f7359ec6334f.txt").read_bytes() + b"\n\n")
    (tmp_path / "fault").mkdir()
    (tmp_path / "fault" / "sitecustomize.py").write_text(FAULT)
    proc = _cli({**env, "PYTHONPATH": str(tmp_path / "fault")}, "run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "sightings_reference_papers" in proc.stdout and "nothing was published" in proc.stdout
    assert served_version(paths) == version
    assert served_counts(paths) == before
    assert _cli(env, "search", "reasoning", "--format", "json").stdout == hits
    assert [h["version"] for h in _history(env)] == [version]
    assert _attached_counts(_cli(env, "attach").stdout) == before  # the documented outside attach
    unpinned = _cli(env, "attach").stdout.replace(f", SNAPSHOT_VERSION {version}", "")
    assert _attached_counts(unpinned)["pages"] == before["pages"] + 1  # main: the rows the audit refused
    fixed = _cli(env, "run")  # the fault gone, the same files publish a new version
    assert fixed.returncode == 0, fixed.stdout
    assert served_counts(paths)["pages"] == before["pages"] + 1
    assert [h["version"] for h in _history(env)][1:] == [version]


@pytest.mark.subprocess
def test_history_as_of_export_and_sql(tmp_path):
    raw, out, home = landing_with_copies(tmp_path, 0), tmp_path / "out", tmp_path / "home"
    env, paths = run_env(raw, out, home), Paths(raw, out)
    assert _cli(env, "run").returncode == 0
    first = served_counts(paths)
    (raw / "000_7cb6f7359ec6334f.txt").unlink()
    assert _cli(env, "run").returncode == 0
    history = _history(env)
    assert len(history) == 2 and history[0]["version"] > history[1]["version"]
    assert (
        history[1]["sightings"] == first["sightings"] and history[0]["sightings"] == first["sightings"] - 45
    )
    assert all(len(h["run_id"]) == 36 for h in history)
    table = _cli(env, "history")
    first_row = table.stdout.splitlines()[4]  # title, header, rule, then the newest version
    assert table.returncode == 0 and first_row.split("│")[1].strip() == str(history[0]["version"])
    old = history[1]["version"]
    now = _cli(env, "query", "SELECT count(*) AS n FROM sightings", "-f", "json")
    then = _cli(env, "query", "--as-of", str(old), "SELECT count(*) AS n FROM sightings", "-f", "json")
    assert json.loads(now.stdout) == [{"n": first["sightings"] - 45}]
    assert json.loads(then.stdout) == [{"n": first["sightings"]}]
    missing = _cli(env, "query", "--as-of", "999999", "SELECT 1")
    assert missing.returncode == 2 and "never published" in missing.stderr
    exported = _cli(env, "export", str(tmp_path / "export"), "--as-of", str(old))
    assert exported.returncode == 0, exported.stderr
    for t in TABLES:
        assert pq.read_table(tmp_path / "export" / f"{t}.parquet").num_rows == first[t]
    latest = _cli(env, "export", str(tmp_path / "latest"))
    assert latest.returncode == 0 and pq.read_table(tmp_path / "latest" / "pages.parquet").num_rows == 4
    shell = _cli(env, "sql", "-csv", "-c", "SELECT count(*) FROM search_papers('reasoning')")
    assert shell.returncode == 0 and int(shell.stdout.split()[-1]) > 5, shell.stderr
    shell_old = _cli(env, "sql", "--as-of", str(old), "-csv", "-c", "SELECT count(*) FROM pages")
    assert shell_old.returncode == 0 and shell_old.stdout.split()[-1] == "5", shell_old.stderr
    write = _cli(env, "sql", "-c", "DROP TABLE papers")
    assert write.returncode != 0 and "read-only" in (write.stdout + write.stderr)
    assert served_counts(paths)["papers"] == history[0]["papers"]


def _wait_for_a_started_dagster_run(home: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """The event a stop waits for: the instance in `home` holds a STARTED run (the run storage is read
    once the run process has created it, so the test never migrates it concurrently)."""
    deadline = time.monotonic() + timeout
    while not (home / "history" / "runs.db").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no Dagster run storage appeared"
        time.sleep(0.05)
    started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while not instance.get_run_records(filters=started, limit=1):
            assert proc.poll() is None and time.monotonic() < deadline, "no Dagster run started"
            time.sleep(0.05)


def _stop_during_run(tmp_path: Path, sig: signal.Signals) -> None:
    raw, out, home = landing_with_copies(tmp_path, 0), tmp_path / "out", tmp_path / "home"
    env, paths = run_env(raw, out, home), Paths(raw, out)
    assert _cli(env, "run").returncode == 0
    before, version = served_counts(paths), served_version(paths)
    for i in range(30):
        (raw / f"late_{i:02d}.txt").write_bytes(
            (raw / "001_0e521db46ed8cd94.txt").read_bytes() + b"\n" * (i + 1)
        )
    proc = start_run(env)
    _wait_for_a_started_dagster_run(home, proc)  # inside Dagster: ingesting or building the warehouse
    assert proc.poll() is None, "the run ended before it could be stopped"
    sent = time.perf_counter()
    if sig is signal.SIGINT:
        os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does: the whole foreground group
    else:
        os.kill(proc.pid, sig)  # a supervisor stopping the process alone
    output = proc.communicate(timeout=30)[0]
    assert time.perf_counter() - sent <= 5.0
    assert proc.returncode == 128 + sig, output
    assert "stopped" in output and "nothing new was published" in output
    assert served_version(paths) == version and served_counts(paths) == before
    rerun = _cli(env, "run")
    assert rerun.returncode == 0, rerun.stdout
    assert served_counts(paths)["sightings"] == before["sightings"] + 30 * 47


@pytest.mark.subprocess
def test_ctrl_c_stops_a_run_within_5_s_and_keeps_the_published_version(tmp_path):
    _stop_during_run(tmp_path, signal.SIGINT)


@pytest.mark.subprocess
def test_sigterm_stops_a_run_within_5_s_and_keeps_the_published_version(tmp_path):
    _stop_during_run(tmp_path, signal.SIGTERM)


@pytest.mark.dagster
def test_maintenance_expires_old_versions_and_keeps_the_published_one(tmp_path, sample_copy):
    from assets.resources import PaperlakeResource
    from pipelines.definitions import build_defs
    from pipelines.run import run_pipeline

    paths = Paths(sample_copy, tmp_path / "out")
    with dg.instance_for_test() as instance:
        assert run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False).success
        (sample_copy / "000_7cb6f7359ec6334f.txt").unlink()
        assert run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False).success
        old, new = sorted(published_versions(paths))
        served = served_counts(paths)
        resource = PaperlakeResource(raw_dir=str(sample_copy), out_dir=str(paths.out_dir), keep_days=0)
        job = build_defs(resource).resolve_job_def("lake_maintenance_job")
        assert job.execute_in_process(instance=instance).success
    assert published_versions(paths) == [new]
    with pytest.raises(VersionError):
        connect_version(paths, old)
    with connect_version(paths, new) as con:
        assert con.sql("SELECT count(*) FROM sightings").fetchone()[0] == served["sightings"]
    assert served_counts(paths) == served
