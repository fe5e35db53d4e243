"""Every landing entry ends as a pages row whatever its name's bytes or kind, through the installed
entry point in one run: a name that is not UTF-8 is stored escaped and losslessly, a link out of the
landing folder is never read (no excerpt of its target), broken links and FIFOs are rejected without
being opened, and a second run finds nothing new."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from paperlake import landing
from schemas.vocabulary import RejectReason
from tests.helpers import CLI, SAMPLE, run_env

SECRET = "a line that must never reach the warehouse"
NOT_UTF8 = b"caf\xe9_\\x41 \xff.txt"  # Latin-1 é, a literal backslash escape, a lone 0xff


def test_keys_are_lossless_and_keep_valid_names(tmp_path):
    names = [NOT_UTF8, b"plain.txt", "déjà vu.txt".encode(), b"back\\slash.txt", b"x\\xe9.txt", b"\xe9.txt"]
    for name in names:
        (tmp_path / os.fsdecode(name)).write_bytes(name)
    keys = landing.landing_files(tmp_path)
    assert len(keys) == len(names)  # injective on this folder, which holds both `x\xe9` and `é` spelt raw
    assert {"plain.txt", "déjà vu.txt", "back\\slash.txt", "x\\xe9.txt"} <= set(keys)  # unchanged
    assert "caf\\xe9_\\\\x41 \\xff.txt" in keys
    for key in keys:
        key.encode("utf-8")  # text a Parquet string and a terminal can hold
        assert landing.path_of(tmp_path, key).read_bytes() == os.fsencode(keys[key].name)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """The sample, one seed under a non-UTF-8 name, links in and out, a broken link and a FIFO."""
    root = tmp_path_factory.mktemp("names")
    raw, outside = root / "raw", root / "outside"
    shutil.copytree(SAMPLE, raw)
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET}\n" * 3)
    seeds = sorted(p.name for p in raw.iterdir())
    os.rename(raw / seeds[0], os.path.join(os.fsencode(raw), NOT_UTF8))
    (raw / "leak.txt").symlink_to(outside / "secret.txt")
    (raw / "up.txt").symlink_to(Path("..") / "outside" / "secret.txt")  # relative, still outside
    (raw / "inside.txt").symlink_to(seeds[1])
    (raw / "broken.txt").symlink_to(raw / "nowhere.txt")
    os.mkfifo(raw / "pipe.txt")  # opening it would block the run for ever
    env = run_env(raw, root / "out", root / "home")
    first = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    return env, raw


def _query(env: dict[str, str], sql: str) -> list[dict]:
    proc = subprocess.run([CLI, "query", sql, "--format", "json"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.subprocess
def test_every_entry_is_a_pages_row_and_no_link_is_followed_out(hostile_run):
    env, raw = hostile_run
    pages = {r["source_file"]: r for r in _query(env, "SELECT source_file, status, n_valid FROM pages")}
    assert set(pages) == set(landing.landing_files(raw))
    assert len(pages) == len(list(raw.iterdir()))
    escaped = "caf\\xe9_\\\\x41 \\xff.txt"
    assert pages[escaped]["status"] == "ok" and pages[escaped]["n_valid"] > 0
    assert pages["inside.txt"]["status"] == "ok"  # a link inside the folder is read as its target
    rejects = {
        r["source_file"]: r for r in _query(env, "SELECT source_file, reason, detail, excerpt FROM rejects")
    }
    assert {k: rejects[k]["reason"] for k in rejects} == {
        "leak.txt": RejectReason.LINK_OUTSIDE_LANDING,
        "up.txt": RejectReason.LINK_OUTSIDE_LANDING,
        "broken.txt": RejectReason.NOT_A_REGULAR_FILE,
        "pipe.txt": RejectReason.NOT_A_REGULAR_FILE,
    }
    assert all(r["excerpt"] is None for r in rejects.values())
    dump = json.dumps(_query(env, "SELECT * FROM rejects")) + json.dumps(_query(env, "SELECT * FROM pages"))
    assert SECRET not in dump


@pytest.mark.subprocess
def test_a_second_run_finds_nothing_new_and_shows_the_name_escaped(hostile_run):
    env, _ = hostile_run
    again = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "nothing new" in again.stdout, again.stdout + again.stderr
    show = subprocess.run(
        [CLI, "query", "SELECT source_file FROM pages WHERE source_file LIKE 'caf%'"],
        env={**env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
    )
    assert "caf\\xe9_\\\\x41 \\xff.txt" in show.stdout, show.stdout
