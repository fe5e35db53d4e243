"""DuckDB connections for readers: only duckdb imported, so the CLI starts fast."""

from importlib import resources
from pathlib import Path

import duckdb

from paperlake.config import Paths


def fts_extension_path() -> Path:
    """The FTS binary shipped in the duckdb-extension-fts wheel: loaded by path, never downloaded."""
    root = resources.files("duckdb_extension_fts") / "extensions" / f"v{duckdb.__version__}"
    return Path(str(root / "fts.duckdb_extension"))


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register_warehouse(con: duckdb.DuckDBPyConnection, paths: Paths) -> None:
    """Views over a warehouse on an fsspec filesystem read through that filesystem (no httpfs download)."""
    if paths.remote_warehouse:
        con.register_filesystem(paths.warehouse.fs)


def connect_readonly(paths: Paths) -> duckdb.DuckDBPyConnection:
    """A read-only connection with the FTS extension loaded, for users and tests."""
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    register_warehouse(con, paths)
    con.execute(f"LOAD {sql_str(str(fts_extension_path()))}")
    return con
