"""DuckDB connections for readers: only duckdb imported, so the CLI starts fast.

`connect()` is the documented way to read paperlake from Python: a read-only connection with every
table of the published version in place (or of an earlier version with `as_of`).
"""

import os
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from paperlake.config import TABLES, Paths

LAKE = "lake"
MEMORY_ENV = "PAPERLAKE_DUCKDB_MEMORY"


def extension_path(name: str) -> Path:
    """An extension binary shipped in the duckdb-extension-<name> wheel: loaded by path, never downloaded."""
    root = resources.files(f"duckdb_extension_{name}") / "extensions" / f"v{duckdb.__version__}"
    return Path(str(root / f"{name}.duckdb_extension"))


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def single_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate): no row is a bug, raised, not a None."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"no row from {sql}")
    return row


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The single value of a one-row, one-column query such as `SELECT count(*) ...`."""
    return single_row(con, sql, params)[0]


def row_counts(con: duckdb.DuckDBPyConnection, tables: dict[str, str]) -> dict[str, int]:
    """{name: rows of its table} for {name: table}, counted in one query."""
    if not tables:
        return {}
    counts = single_row(con, "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables.values()))
    return dict(zip(tables, map(int, counts), strict=True))


def load_statement(name: str) -> str:
    return f"LOAD {sql_str(str(extension_path(name)))}"


def load(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    for name in names:
        con.execute(load_statement(name))


def open_db(database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never installs an extension from the network, and whose buffers stay
    under PAPERLAKE_DUCKDB_MEMORY (default 2GB; DuckDB's own default is 80 % of RAM, and it keeps what
    it takes: a full resolution at 10,000 files held 5.5 GB, 3.2 GB with the limit). Beyond it DuckDB
    spills to disk."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "memory_limit": os.environ.get(MEMORY_ENV, "2GB"),
    }
    return duckdb.connect(database, read_only=read_only, config=config)


def connect_readonly(paths: Paths, fts: bool = True) -> duckdb.DuckDBPyConnection:
    """The serving file (the published version) read-only, with the FTS extension loaded (`fts=False`:
    on first need, see `run_sql`)."""
    con = open_db(str(paths.duckdb_path), read_only=True)
    if fts:
        load(con, "fts")
    return con


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """`con.sql(sql)`, loading the FTS extension only if the statement needs it (search_papers, stem):
    the load costs 50-90 ms, a third of a small query's budget, and most queries never search."""
    try:
        return con.sql(sql)
    except duckdb.Error as exc:
        if "extension 'fts'" not in str(exc):
            raise
    load(con, "fts")
    return con.sql(sql)


class VersionError(LookupError):
    """The asked-for version was never published (or has expired)."""


def version_statements(paths: Paths, version: int) -> list[str]:
    """SQL giving a fresh connection views `pages`, `sightings`, … over published `version` of the lake."""
    from paperlake import lake  # pyarrow-free readers of the serving file skip this import

    views = [f"CREATE VIEW {t} AS SELECT * FROM {LAKE}.main.{t}" for t in TABLES]
    return [*lake.attach_statements(paths, read_only=True, snapshot=version), *views]


def published_versions(paths: Paths) -> list[int]:
    """Every published version still in the lake, newest first."""
    from paperlake import lake

    with lake.open_lake(paths, read_only=True) as con:
        return [int(v) for v in lake.versions(con).column("version").to_pylist()]


def connect_version(paths: Paths, version: int) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose views `pages`, `sightings`, … read published `version` of the lake."""
    if version not in published_versions(paths):
        raise VersionError(f"version {version} was never published or has expired (see `paperlake history`)")
    con = open_db()
    for stmt in version_statements(paths, version):
        con.execute(stmt)
    return con


def connect(as_of: int | None = None, paths: Paths | None = None) -> duckdb.DuckDBPyConnection:
    """Read paperlake from Python: `paperlake.db.connect().sql("SELECT * FROM papers LIMIT 5")`.

    Without `as_of`: the published version (serving file, with `search_papers`). With it: that earlier
    published version, read from the lake (tables only, no full-text index)."""
    paths = paths or Paths.from_env()
    return connect_readonly(paths) if as_of is None else connect_version(paths, as_of)
