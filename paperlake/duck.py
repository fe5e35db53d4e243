"""DuckDB itself, for every other module: connections that never download an extension (extensions load
by path from their wheels) and stay under a memory cap, and the small query helpers. Only duckdb is
imported, so the read path starts fast."""

import contextlib
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

Connection = duckdb.DuckDBPyConnection
LAKE = "lake"
MEMORY_ENV = "PAPERLAKE_DUCKDB_MEMORY"


def extension_path(name: str) -> Path:
    """An extension binary shipped in the duckdb-extension-<name> wheel: loaded by path, never downloaded."""
    root = resources.files(f"duckdb_extension_{name}") / "extensions" / f"v{duckdb.__version__}"
    return Path(str(root / f"{name}.duckdb_extension"))


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def single_row(con: Connection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate): no row is a bug, raised, not a None."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"no row from {sql}")
    return row


def scalar(con: Connection, sql: str, params: object = None) -> Any:
    """The single value of a one-row, one-column query such as `SELECT count(*) ...`."""
    return single_row(con, sql, params)[0]


@contextlib.contextmanager
def registered(con: Connection, name: str, rows: Any) -> Iterator[None]:
    """Arrow `rows` readable on `con` as the relation `name` inside the block (nothing when None)."""
    if rows is not None:
        con.register(name, rows)
    try:
        yield
    finally:
        if rows is not None:
            con.unregister(name)


def temp_table(con: Connection, name: str, rows: Any, append: bool = False) -> None:
    """Arrow `rows` held in the temporary table `name` (created anew, or appended to with `append`)."""
    target = f"INSERT INTO {name}" if append else f"CREATE OR REPLACE TEMP TABLE {name} AS"
    with registered(con, "_rows", rows):
        con.execute(f"{target} SELECT * FROM _rows")


def row_counts(con: Connection, tables: dict[str, str]) -> dict[str, int]:
    """{name: rows of its table} for {name: table} (a table may carry a WHERE clause), in one query."""
    if not tables:
        return {}
    counts = single_row(con, "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables.values()))
    return dict(zip(tables, map(int, counts), strict=True))


def load_statement(name: str) -> str:
    return f"LOAD {sql_str(str(extension_path(name)))}"


def load(con: Connection, *names: str) -> None:
    for name in names:
        con.execute(load_statement(name))


def open_db(database: str = ":memory:", read_only: bool = False) -> Connection:
    """A DuckDB connection that never installs an extension from the network, and whose buffers stay
    under PAPERLAKE_DUCKDB_MEMORY (default 2GB; DuckDB's own default is 80 % of RAM, and it keeps what
    it takes: a full resolution at 10,000 files held 5.5 GB, 3.2 GB with the limit). Beyond it DuckDB
    spills to disk."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "memory_limit": os.environ.get(MEMORY_ENV, "2GB"),
    }
    return duckdb.connect(database, read_only=read_only, config=config)
