"""The lake's writes on small tables: a file's rows replaced, difference-only sync, schema growth, and
rollback: a write that fails leaves the last commit."""

import pyarrow as pa
import pytest

from paperlake import changes, commit, lake, steps
from paperlake.config import Paths

SCHEMA = pa.schema([("source_file", pa.string()), ("position", pa.int64()), ("title", pa.string())])
T = "lake.staging.t"
M = "lake.main.t"


def _rows(*rows: tuple) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA)


def _all(con, table: str = T) -> list[tuple]:
    return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=str)


def _sync(con, rows: pa.Table) -> int:
    with commit.transaction(con):
        return commit.sync(con, M, rows, ["source_file", "position"])


def test_write_parsed_swaps_a_files_rows_and_keeps_its_neighbours(tmp_path):
    with lake.open_lake(Paths(tmp_path, tmp_path / "out")) as con:
        steps.write_parsed(con, ["a", "b"], {T: _rows(("a", 1, "x"), ("a", 2, "y"), ("b", 1, "z"))})
        steps.write_parsed(con, ["a"], {T: _rows(("a", 1, "x2"))})
        assert _all(con) == [("a", 1, "x2"), ("b", 1, "z")]
        steps.write_parsed(con, ["b"], {T: _rows()})  # a file with no rows any more
        assert _all(con) == [("a", 1, "x2")]


def test_sync_writes_only_the_keys_that_changed(tmp_path):
    with lake.open_lake(Paths(tmp_path, tmp_path / "out")) as con:
        first = _rows(("a", 1, "x"), ("a", 2, "y"), ("b", 1, "z"), ("b", None, "n1"), ("b", None, "n2"))
        assert _sync(con, first) == 4
        before = lake.current_snapshot(con)
        assert _sync(con, first) == 0
        assert not changes.changed_since(con, before, ("main",))  # nothing written
        second = _rows(("a", 1, "x"), ("a", 2, "Y"), ("c", 1, "w"), ("b", None, "n1"), ("b", None, "n2"))
        assert _sync(con, second) == 3  # a#2, b#1 gone, c#1
        assert _all(con, M) == sorted((tuple(r.values()) for r in second.to_pylist()), key=str)


def test_a_column_added_to_the_contract_is_added_to_an_existing_lake_table(tmp_path):
    old = pa.schema([("source_file", pa.string()), ("position", pa.int64())])
    with lake.open_lake(Paths(tmp_path, tmp_path / "out")) as con:
        steps.write_parsed(
            con, ["a"], {T: pa.Table.from_pylist([{"source_file": "a", "position": 1}], schema=old)}
        )
        assert lake.read(con, T, SCHEMA).to_pylist() == [{"source_file": "a", "position": 1, "title": None}]
        steps.write_parsed(con, ["b"], {T: _rows(("b", 1, "t"))})
        assert _all(con) == [("a", 1, None), ("b", 1, "t")]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_transaction_leaves_the_last_commit(tmp_path, error):
    """Every shape of write inside a transaction that then fails (an error, or Ctrl-C) is rolled back:
    the tables and the lake's snapshot are those of the last commit."""
    with lake.open_lake(Paths(tmp_path, tmp_path / "out")) as con:
        steps.write_parsed(con, ["a"], {T: _rows(("a", 1, "x"))})
        _sync(con, _rows(("a", 1, "x")))
        before, snapshot = (_all(con), _all(con, M)), lake.current_snapshot(con)
        with pytest.raises(error), commit.transaction(con):
            commit.replace_in(con, T, _rows(("a", 1, "changed")), "source_file", ["a"])
            commit.sync(con, M, _rows(("b", 1, "new")), ["source_file", "position"])
            commit.overwrite(con, "lake.staging.u", _rows(("c", 1, "whole")))
            assert _all(con) == [("a", 1, "changed")]  # written, inside the transaction
            raise error
        assert (_all(con), _all(con, M)) == before
        assert lake.current_snapshot(con) == snapshot and not lake.table_exists(con, "lake.staging.u")
