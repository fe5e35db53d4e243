"""The lake's write primitives on small tables: row replacement, difference-only sync, schema growth."""

import pyarrow as pa

from paperlake import lake
from paperlake.config import Paths

SCHEMA = pa.schema([("source_file", pa.string()), ("position", pa.int64()), ("title", pa.string())])
T = "lake.staging.t"
M = "lake.main.t"


def _rows(*rows: tuple) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA)


def _all(con, table: str = T) -> list[tuple]:
    return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=str)


def test_replace_rows_swaps_a_files_rows_and_keeps_its_neighbours(tmp_path):
    with lake.open_lake(Paths(tmp_path, tmp_path / "out")) as con:
        lake.replace_rows(con, {T: _rows(("a", 1, "x"), ("a", 2, "y"), ("b", 1, "z"))}, ["a", "b"])
        lake.replace_rows(con, {T: _rows(("a", 1, "x2"))}, ["a"])
        assert _all(con) == [("a", 1, "x2"), ("b", 1, "z")]
        lake.replace_rows(con, {T: _rows()}, ["b"])  # a file with no rows any more
        assert _all(con) == [("a", 1, "x2")]


def test_sync_table_writes_only_the_keys_that_changed(tmp_path):
    with lake.open_lake(Paths(tmp_path, tmp_path / "out")) as con:
        first = _rows(("a", 1, "x"), ("a", 2, "y"), ("b", 1, "z"), ("b", None, "n1"), ("b", None, "n2"))
        assert lake.sync_table(con, M, first, ["source_file", "position"]) == 4
        before = lake.current_snapshot(con)
        assert lake.sync_table(con, M, first, ["source_file", "position"]) == 0
        assert not lake.changed_since(con, before, ("main",))  # nothing written
        second = _rows(("a", 1, "x"), ("a", 2, "Y"), ("c", 1, "w"), ("b", None, "n1"), ("b", None, "n2"))
        assert lake.sync_table(con, M, second, ["source_file", "position"]) == 3  # a#2, b#1 gone, c#1
        assert _all(con, M) == sorted((tuple(r.values()) for r in second.to_pylist()), key=str)


def test_a_column_added_to_the_contract_is_added_to_an_existing_lake_table(tmp_path):
    old = pa.schema([("source_file", pa.string()), ("position", pa.int64())])
    with lake.open_lake(Paths(tmp_path, tmp_path / "out")) as con:
        lake.replace_rows(
            con, {T: pa.Table.from_pylist([{"source_file": "a", "position": 1}], schema=old)}, ["a"]
        )
        assert lake.read(con, T, SCHEMA).to_pylist() == [{"source_file": "a", "position": 1, "title": None}]
        lake.replace_rows(con, {T: _rows(("b", 1, "t"))}, ["b"])
        assert _all(con) == [("a", 1, None), ("b", 1, "t")]
