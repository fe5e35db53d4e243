"""Paths a user walks with `paperlake run`, through the installed entry point: an output folder inside the
landing folder, a run stopped just after it published, a disk that fills up mid-run, and what a run says
about itself (which version it published, no Dagster warnings on the terminal)."""

import shutil
import subprocess
from pathlib import Path

import pytest

from paperlake.config import Paths
from paperlake.warehouse import served_version
from tests.helpers import CLI, SAMPLE, run_env, served_counts

pytestmark = pytest.mark.subprocess


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "run", *args], env={**env, "COLUMNS": "100"}, capture_output=True, text=True)


def test_an_output_folder_inside_the_landing_folder_is_never_read_as_captures(tmp_path):
    """~/papers as the landing folder and ~/papers/out as the output folder (plus a link to one of its
    files): every run sees the five captures only, and a second run has nothing to do."""
    raw = tmp_path / "papers"
    shutil.copytree(SAMPLE, raw)
    out, home = raw / "out", raw / "dagster_home"
    env = run_env(raw, out, home)
    first = _run(env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Warning" not in first.stdout + first.stderr  # Dagster's beta notices: not on a user's terminal
    said = " ".join(first.stdout.split())
    assert f"version {served_version(Paths(raw, out))} was published" in said, said
    (raw / "served.txt").symlink_to(out / "paperlake.duckdb")  # through a link, too
    second = _run(env)
    assert second.returncode == 0, second.stdout + second.stderr
    counts = served_counts(Paths(raw, out))
    assert counts["pages"] == 5 and counts["rejects"] == 0, counts
    third = _run(env)
    assert "nothing new" in third.stdout, third.stdout + third.stderr


# the pipeline process stops its supervisor with Ctrl-C right after publishing, before report and digest
STOP_AFTER_PUBLISH = """
import os, signal, sys, time

if sys.argv[1:2] != ["run"]:  # the pipeline process only, not the `paperlake run` supervisor
    import paperlake.steps as steps

    real = steps.publish

    def publish_then_ctrl_c(*args, **kwargs):
        published = real(*args, **kwargs)
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(60)  # killed by the supervisor long before
        return published

    steps.publish = publish_then_ctrl_c
"""


def test_ctrl_c_just_after_publishing_says_so_and_the_next_run_writes_the_missing_outputs(tmp_path):
    raw, out, home = tmp_path / "raw", tmp_path / "out", tmp_path / "home"
    shutil.copytree(SAMPLE, raw)
    env = run_env(raw, out, home)
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(STOP_AFTER_PUBLISH)
    stopped = _run({**env, "PYTHONPATH": str(fault)})
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "nothing new was published" not in stopped.stderr, stopped.stderr
    said, version = " ".join(stopped.stderr.split()), served_version(Paths(raw, out))
    assert f"version {version} was published" in said and "report and digest will be written" in said, said
    assert served_counts(Paths(raw, out))["papers"] == 266
    assert not (out / "digest" / "latest.md").exists() and not (out / "reports").exists()

    nothing_new = _run(env)  # no new capture: completes version 1's outputs, publishes nothing
    assert nothing_new.returncode == 0, nothing_new.stdout + nothing_new.stderr
    said = " ".join(nothing_new.stdout.split())
    assert "wrote the served version's report and digest" in said and "nothing new was published" in said
    assert f"version {version}" in (out / "digest" / "latest.md").read_text(encoding="utf-8")
    assert {p.name for p in (out / "reports").glob("*.png")} == {
        "papers_per_month.png",
        "topics_over_time.png",
        "upvote_distribution.png",
        "top_papers.png",
    }
    assert "nothing new" in _run(env).stdout  # and now there is nothing left to do


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB disk of its own (tmpfs; needs root, as CI has): the sample's lake does not fit on it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def _started_runs(home: Path) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return len(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])))


def _one_line_naming(proc: subprocess.CompletedProcess, folder: Path) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    error = proc.stderr.strip()
    assert "Traceback" not in proc.stdout + proc.stderr and len(error.splitlines()) == 1, proc.stderr
    said = " ".join(error.split())
    assert f"no space left on the disk of {folder}" in said and "served version is intact" in said, said
    return said


def test_a_full_output_disk_ends_in_one_line_naming_it_and_the_next_run_recovers(tmp_path, small_disk):
    raw, out, home = tmp_path / "raw", small_disk / "out", tmp_path / "home"
    shutil.copytree(SAMPLE, raw)
    env = run_env(raw, out, home)
    said = _one_line_naming(_run(env), out)
    assert "No space left on device" in said and str(out) in said.split("failed:", 1)[1]
    assert _started_runs(home) == 0
    status = subprocess.run([CLI, "status"], env={**env, "COLUMNS": "300"}, capture_output=True, text=True)
    assert "FAILURE" in status.stdout and "No space left on device" in status.stdout, status.stdout  # why
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    again = _run(env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert served_counts(Paths(raw, out))["papers"] == 266


def test_a_full_dagster_home_disk_ends_in_one_line_and_leaves_no_run_marked_running(tmp_path, small_disk):
    raw, out, home = tmp_path / "raw", tmp_path / "out", small_disk / "home"
    shutil.copytree(SAMPLE, raw)
    env = run_env(raw, out, home)
    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)  # room for runs
    assert _run(env).returncode == 0
    (raw / "late.txt").write_bytes((raw / "001_0e521db46ed8cd94.txt").read_bytes() + b"\n")
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 16 * 1024))
    _one_line_naming(_run(env), home)
    (small_disk / "filler").unlink()  # space freed
    again = _run(env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _started_runs(home) == 0
    assert served_counts(Paths(raw, out))["sightings"] == 283 + 47


@pytest.mark.dagster
def test_a_run_says_each_step_as_it_starts(tmp_path, sample_copy):
    """The progress line after parsing: every asset and check step of the run is said when it starts, in
    the order Dagster runs them (what `paperlake run` shows beside its bars)."""
    import dagster as dg

    from pipelines.run import run_pipeline

    said: list[str] = []
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(Paths(sample_copy, tmp_path / "out"), instance=instance, log=said.append)
        [run] = instance.get_runs()
        started = [
            e.dagster_event.step_key
            for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
            if e.dagster_event
        ]
    assert outcome.success
    steps = [line.removesuffix(" (update_job)") for line in said if line.endswith(" (update_job)")]
    assert steps == started and {"core_papers", "out_duckdb", "out_report", "out_digest"} <= set(steps), said


def test_status_shows_the_reject_rate_a_run_warns_about_and_the_feed_is_set_from_the_environment(tmp_path):
    raw, out, home = tmp_path / "raw", tmp_path / "out", tmp_path / "home"
    shutil.copytree(SAMPLE, raw)
    for name in ("a.bin", "b.txt", "c.txt"):  # three files of eight are not captures: 37.5 % of files
        (raw / name).write_bytes(b"\x00\x01 not a capture" if name.endswith(".bin") else b"shopping list\n")
    feed = {"PAPERLAKE_FEED_ENTRIES": "3", "PAPERLAKE_FEED_BASE_URL": "https://papers.example.org/digest"}
    env = {**run_env(raw, out, home), **feed}
    bad = _run({**env, "PAPERLAKE_FEED_ENTRIES": "many"})
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stdout + bad.stderr
    assert "PAPERLAKE_FEED_ENTRIES must be a whole number" in bad.stderr and not out.joinpath("lake").exists()
    ran = _run(env)
    assert ran.returncode == 0 and "warnings: reject_rate" in ran.stdout, ran.stdout + ran.stderr
    status = subprocess.run([CLI, "status"], env={**env, "COLUMNS": "100"}, capture_output=True, text=True)
    said = " ".join(status.stdout.split())
    assert "reject rate: 0.0% of entries, 37.5% of files" in said and "above 5%: over" in said, said
    import feedparser

    parsed = feedparser.parse((out / "digest" / "feed.xml").read_bytes())
    assert not parsed.bozo and len(parsed.entries) == 3
    assert all(e.link.startswith("https://papers.example.org/digest/") for e in parsed.entries)


def test_a_first_build_of_an_empty_folder_publishes_an_empty_version_and_emptying_it_later_is_refused(
    tmp_path,
):
    raw, out, home = tmp_path / "raw", tmp_path / "out", tmp_path / "home"
    raw.mkdir()
    env = run_env(raw, out, home)
    first = _run(env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert set(served_counts(Paths(raw, out)).values()) == {0}
    shutil.copy(SAMPLE / "000_7cb6f7359ec6334f.txt", raw)
    assert _run(env).returncode == 0 and served_counts(Paths(raw, out))["sightings"] == 45
    (raw / "000_7cb6f7359ec6334f.txt").unlink()
    emptied = _run(env)
    assert emptied.returncode == 2 and len(emptied.stderr.strip().splitlines()) == 1, emptied.stderr
    assert "1 ingested files would all be retracted" in " ".join(emptied.stderr.split())
    assert served_counts(Paths(raw, out))["sightings"] == 45
