"""Issue 35, item 7: `paperlake.db.connect()` in a notebook. It can be called any number of times, and
beside a plain `duckdb.connect(serving_file, read_only=True)` in one process, in either order; every
connection it returns is still the sandbox (no file read or written but the tables it serves, no
setting changed, read-only); a missing output folder is one line naming it and what to do."""

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import duckdb
import pytest

from paperlake.config import Paths
from paperlake.db import connect
from tests.helpers import SAMPLE

PAPERS = 266  # the sample's papers (tests/test_queries_cli.py)


@pytest.fixture
def paths(pipeline_run) -> Paths:
    return pipeline_run[0]


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


def _plain(paths: Paths) -> duckdb.DuckDBPyConnection:
    """What the README says works too: the serving file, read-only, no config of ours."""
    return duckdb.connect(str(paths.duckdb_path), read_only=True)


def _papers(con: duckdb.DuckDBPyConnection) -> int:
    return con.sql("SELECT count(*) FROM papers").fetchone()[0]  # type: ignore[index]


def _assert_sandboxed(con: duckdb.DuckDBPyConnection, paths: Paths, tmp_path: Path) -> None:
    """The refusals of tests/test_read_sandbox.py, on a connection from the Python API."""
    catalog = paths.out_dir / "lake" / "catalog.sqlite"
    refused = {
        "read_text": "SELECT content FROM read_text('/etc/passwd')",
        "read_blob of the lake": f"SELECT content FROM read_blob('{catalog}')",
        "copy to": f"COPY papers TO '{tmp_path / 'stolen.csv'}'",
        "copy over the serving file": f"COPY (SELECT 1) TO '{paths.duckdb_path}'",
        "attach a file": f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "set": "SET enable_external_access = true",
        "reset the lock": "RESET lock_configuration",
        "insert": "INSERT INTO papers (paper_id) VALUES ('x')",
    }
    for case, sql in refused.items():
        with pytest.raises(duckdb.Error) as caught:
            con.execute(sql)
        message = str(caught.value)
        assert any(w in message for w in ("disabled", "locked", "read-only", "read only")), (case, message)
    settings = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('enable_external_access', 'lock_configuration', 'autoload_known_extensions')"
        ).fetchall()
    )
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "autoload_known_extensions": "false",
    }
    assert list(tmp_path.iterdir()) == []


def test_connect_twice_in_one_process(paths, stack, tmp_path):
    first = stack.enter_context(connect(paths=paths))
    second = stack.enter_context(connect(paths=paths))
    assert _papers(first) == _papers(second) == PAPERS
    assert second.sql("SELECT count(*) FROM search_papers('hallucination')").fetchone()[0] > 0  # type: ignore[index]
    for con in (first, second):
        _assert_sandboxed(con, paths, tmp_path)


def test_connect_after_a_plain_duckdb_connection(paths, stack, tmp_path):
    plain = stack.enter_context(_plain(paths))
    sandboxed = stack.enter_context(connect(paths=paths))
    assert _papers(plain) == _papers(sandboxed) == PAPERS
    _assert_sandboxed(sandboxed, paths, tmp_path)
    plain.execute(f"COPY (SELECT 1 AS x) TO '{tmp_path / 'mine.csv'}'")  # the plain one is not sandboxed
    assert (tmp_path / "mine.csv").exists()


def test_a_plain_duckdb_connection_after_connect(paths, stack, tmp_path):
    sandboxed = stack.enter_context(connect(paths=paths))
    plain = stack.enter_context(_plain(paths))
    again = stack.enter_context(connect(paths=paths))  # and a third, with both open
    assert _papers(sandboxed) == _papers(plain) == _papers(again) == PAPERS
    for con in (sandboxed, again):
        _assert_sandboxed(con, paths, tmp_path)


def test_connect_without_an_output_folder_says_what_to_do(tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(FileNotFoundError) as caught:
        connect(paths=Paths(SAMPLE, missing))
    assert not isinstance(caught.value, duckdb.Error)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and str(missing) in message and "paperlake run" in message
    exc = caught.value  # no DuckDB exception chained to it
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    assert not missing.exists()  # nothing created
