"""The read path is a sandbox, through the installed entry point, on a copy of the session's published
sample: every refused statement is refused by DuckDB (or the shell's safe mode) in one line, and the
output folder's files are unchanged by hash; runtime errors are one line; and every read command works on
an output folder nobody can write."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from paperlake.duck import extension_path
from tests.helpers import CLI

pytestmark = pytest.mark.subprocess


def _files(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its SHA-256: a write anywhere shows."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def served(pipeline_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the published sample: a test that broke the sandbox must not break the others."""
    out = tmp_path_factory.mktemp("sandbox") / "out"
    shutil.copytree(pipeline_run[0].out_dir, out)
    return out


def _cli(out: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAPERLAKE_OUT_DIR": str(out), "COLUMNS": "200"}
    return subprocess.run([*prefix, CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


def _refused(out: Path, tmp_path: Path, *args: str) -> str:
    """Run a statement that must be refused; the output folder and `tmp_path` stay as they were."""
    before, around = _files(out), sorted(tmp_path.iterdir())
    message = _one_line_error(_cli(out, *args))
    assert _files(out) == before and sorted(tmp_path.iterdir()) == around
    return message


def _statements(out: Path, tmp_path: Path) -> dict[str, str]:
    ducklake = extension_path("ducklake")
    catalog = out / "lake" / "catalog.sqlite"
    return {
        "copy over the serving file": f"COPY (SELECT * FROM papers) TO '{out / 'paperlake.duckdb'}'",
        "copy to a new file": f"COPY papers TO '{tmp_path / 'stolen.csv'}'",
        "read_text": "SELECT content FROM read_text('/etc/hostname')",
        "read_blob": f"SELECT content FROM read_blob('{catalog}')",
        "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
        "glob": "SELECT * FROM glob('/*')",
        "load": f"LOAD '{ducklake}'",
        "install": "INSTALL httpfs",
        "attach sqlite": f"ATTACH '{catalog}' AS c (TYPE sqlite)",
        "attach the lake read-write": f"ATTACH 'ducklake:sqlite:{catalog}' AS l (READ_WRITE)",
        "set": "SET enable_external_access = true",
        "reset the lock": "RESET lock_configuration",
        "load then attach": f"LOAD '{ducklake}'; ATTACH 'ducklake:sqlite:{catalog}' AS l (READ_WRITE)",
    }


@pytest.mark.parametrize(
    "case",
    [
        "copy over the serving file",
        "copy to a new file",
        "read_text",
        "read_blob",
        "read_csv",
        "glob",
        "load",
        "install",
        "attach sqlite",
        "attach the lake read-write",
        "set",
        "reset the lock",
        "load then attach",
    ],
)
def test_query_refuses_what_a_reader_must_not_do(served, tmp_path, case):
    sql = _statements(served, tmp_path)[case]
    message = _refused(served, tmp_path, "query", sql)
    reason = "exactly one SQL statement" if ";" in sql else "see README, Security"
    assert reason in message and ("disabled" in message or "locked" in message or ";" in sql), message


@pytest.mark.parametrize("case", ["copy to a new file", "read_text", "attach the lake read-write", "set"])
def test_query_as_of_a_version_is_sandboxed_too(served, tmp_path, case):
    version = json.loads(_cli(served, "history", "--format", "json").stdout)[0]["version"]
    _refused(served, tmp_path, "query", "--as-of", str(version), _statements(served, tmp_path)[case])


@pytest.mark.parametrize(
    "command",
    [
        ".shell touch {tmp}/shell",
        ".system touch {tmp}/shell",
        ".output {tmp}/output",
        ".once {tmp}/output",
        ".open {tmp}/opened.duckdb",
        ".read /etc/hostname",
        "COPY papers TO '{tmp}/copied.csv'",
        "SELECT content FROM read_text('/etc/hostname')",
        "ATTACH 'ducklake:sqlite:{out}/lake/catalog.sqlite' AS l (READ_WRITE)",
        "SET enable_external_access = true",
    ],
)
def test_sql_shell_is_in_safe_mode(served, tmp_path, command):
    before = _files(served)
    proc = _cli(served, "sql", "-c", command.format(tmp=tmp_path, out=served))
    assert proc.returncode != 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr
    assert any(word in proc.stderr for word in ("safe mode", "disabled", "locked")), proc.stderr
    assert _files(served) == before and list(tmp_path.iterdir()) == []


def test_sql_unrestricted_is_the_users_own_shell(served, tmp_path):
    proc = _cli(served, "sql", "--unrestricted", "-c", f"COPY (SELECT 1 AS x) TO '{tmp_path / 'mine.csv'}'")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mine.csv").read_text().split() == ["x", "1"]


@pytest.mark.parametrize(
    "args",
    [
        ("query", "SELECT title::INT FROM papers"),
        ("query", "SELECT error('x')"),
        ("query", "SELECT 1; SELECT 2"),
        ("search", "reasoning", "--limit", "99999999999999999999"),
        ("query", "--as-of", "999999", "SELECT 1"),
    ],
    ids=["cast", "error()", "two statements", "huge limit", "unknown version"],
)
def test_runtime_errors_are_one_line(served, args):
    _one_line_error(_cli(served, *args))


@pytest.fixture
def unwritable(served, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the output folder with every write bit off, and the prefix that runs a command as a user
    bound by them (root keeps its uid but loses the capabilities that override file permissions)."""
    out = tmp_path_factory.mktemp("readonly") / "out"
    shutil.copytree(served, out)
    for p in [out, *out.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) runs the read commands without root's override"
        prefix = (setpriv, "--bounding-set=-all", "--inh-caps=-all", "--")
    yield out, prefix
    for p in [out, *out.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)


def test_read_commands_work_on_an_output_folder_nobody_can_write(unwritable, tmp_path):
    out, prefix = unwritable
    before = _files(out)
    probe = _cli(out, "query", f"COPY (SELECT 1) TO '{out / 'probe.csv'}'", prefix=prefix)
    assert probe.returncode == 2  # refused by the sandbox, and below: the folder itself is unwritable
    assert subprocess.run([*prefix, "touch", str(out / "probe")], capture_output=True).returncode != 0
    paper = json.loads(_cli(out, "query", "SELECT paper_id FROM papers LIMIT 1", "-f", "json").stdout)[0]
    version = json.loads(_cli(out, "history", "-f", "json", prefix=prefix).stdout)[0]["version"]
    home = tmp_path / "dagster-home"  # status reads the run history and writes none
    reads = [
        ("status",),
        ("query", "SELECT count(*) FROM papers"),
        ("query", "--as-of", str(version), "SELECT count(*) FROM papers"),
        ("search", "reasoning"),
        ("show", paper["paper_id"]),
        ("history",),
        ("attach",),
        ("sql", "-c", "SELECT count(*) FROM search_papers('reasoning')"),
        ("sql", "--as-of", str(version), "-c", "SELECT count(*) FROM pages"),
        ("export", str(tmp_path / "exported")),
    ]
    for args in reads:
        proc = subprocess.run(
            [*prefix, CLI, *args],
            env={**os.environ, "PAPERLAKE_OUT_DIR": str(out), "DAGSTER_HOME": str(home), "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
        assert proc.stdout.strip(), args
    assert _files(out) == before
    exported = {p.name for p in (tmp_path / "exported").iterdir()}
    assert {"pages.parquet", "papers.parquet", "sightings.parquet"} <= exported
