"""DuckDB connections for readers: only duckdb imported, so the CLI starts fast.

`connect()` is the documented way to read paperlake from Python: a read-only connection with every
table of the published version in place (or of an earlier version with `as_of`).

Readers are untrusted: every reader connection is a sandbox (`SANDBOX`). It reads only the
files of the version it serves; `COPY … TO`, reading other files, `ATTACH`, `LOAD`, `INSTALL` and `SET`
are refused by DuckDB itself, and nothing is written anywhere (no spill files either).

Each connection is its own in-memory DuckDB instance with the serving file attached read-only, never the
file opened directly: DuckDB keeps one instance per file and configuration in a process, so a sandboxed
instance on the file would refuse a second `connect()` (its configuration is locked) and a plain
`duckdb.connect(file, read_only=True)` ("different configuration"). Read-only attaches share the file.
"""

import json
from collections.abc import Callable, Iterable

import duckdb

from paperlake.config import Paths
from paperlake.duck import Connection, load, open_db, registered, scalar, single_row, sql_str
from schemas.catalog import TABLES

SANDBOX = [
    "SET allowed_directories = []",
    "SET allowed_paths = []",
    "SET autoload_known_extensions = false",
    "SET autoinstall_known_extensions = false",
    "SET temp_directory = ''",
    "SET enable_external_access = false",
    "SET lock_configuration = true",  # last: `paperlake sql` replaces it by the shell's .safe_mode
]
"""SQL that locks a reader's connection once its extensions are loaded and its tables are in place:
nothing but the database file it opened can be read, no extension loads or installs, no spill files
(a reader writes nothing anywhere), and no setting can be changed back. Run by every reader connection
and, before `.safe_mode`, by `paperlake sql`'s shell."""


def sandbox(con: Connection) -> None:
    for stmt in SANDBOX:
        con.execute(stmt)


class NoWarehouse(FileNotFoundError):
    """Nothing published to read: the output folder, or the serving file in it, is missing."""


def _no_warehouse(paths: Paths) -> NoWarehouse:
    why = "does not exist" if not paths.out_dir.is_dir() else "holds no published version yet"
    return NoWarehouse(
        f"no warehouse at {paths.duckdb_path}: the output folder {paths.out_dir} {why}; "
        "run `paperlake run` first (or set PAPERLAKE_OUT_DIR to the output folder it wrote)"
    )


def _sandboxed(fill: Callable[[Connection], None]) -> Connection:
    """A fresh in-memory connection, filled by `fill`, then sandboxed (closed when either fails)."""
    con = open_db()
    try:
        fill(con)
        sandbox(con)
    except BaseException:
        con.close()
        raise
    return con


def connect_readonly(paths: Paths, fts: bool = True) -> Connection:
    """The serving file (the published version) read-only and sandboxed, with the FTS extension loaded
    (`fts=False` skips its 50-90 ms load, a third of a small query's budget: see `run_sql`): a fresh
    in-memory instance with the file attached (see the module's note), any number of them at once, beside
    any plain connection to the file. No serving file: `NoWarehouse`, one line naming the folder."""
    if not paths.duckdb_path.is_file():
        raise _no_warehouse(paths)

    def attach_serving(con: Connection) -> None:
        """The serving file attached read-only as the default database, under the name a plain
        connection to it has (`paperlake`); NoWarehouse when it vanished under us."""
        if fts:
            load(con, "fts")
        name = paths.duckdb_path.stem.replace('"', '""')
        try:
            con.execute(f'ATTACH {sql_str(str(paths.duckdb_path))} AS "{name}" (READ_ONLY)')
        except duckdb.IOException:
            if paths.duckdb_path.is_file():
                raise
            raise _no_warehouse(paths) from None
        con.execute(f'USE "{name}"')

    return _sandboxed(attach_serving)


def run_sql(paths: Paths, sql: str, as_of: int | None = None) -> Connection:
    """Run one statement in the sandbox and return the connection holding its result (`description`,
    `fetchall`; the caller closes it). Most queries never search, so the serving file is opened without
    FTS first and again with it only when the statement needs it. More than one statement is refused
    (only the last result would be shown), and so is a statement that returns no result."""
    fts = as_of is not None
    while True:
        con = (
            connect_readonly(paths, fts) if as_of is None else connect_version(paths, as_of, _tables_in(sql))
        )
        try:
            if (n := len(con.extract_statements(sql))) != 1:
                raise ValueError(f"give exactly one SQL statement, not {n}")
            con.execute(sql)
            if con.description is None:
                raise ValueError("the statement returned no result: the read path only answers queries")
            return con
        except duckdb.Error as exc:
            con.close()
            if fts or not ("fts extension" in str(exc) or "extension 'fts'" in str(exc)):  # FTS not loaded
                raise
            fts = True
        except BaseException:
            con.close()
            raise


def _tables_in(sql: str) -> list[str]:
    """The paperlake tables a statement names, read off DuckDB's own parse tree (every table when the
    tree cannot be had: the statement then fails in the sandbox with DuckDB's own message)."""
    with duckdb.connect() as con:
        tree = json.loads(scalar(con, "SELECT json_serialize_sql($q::VARCHAR)", {"q": sql}))
    if tree.get("error"):
        return list(TABLES)
    named: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                named.add(str(node.get("table_name", "")).lower())
            node = list(node.values())
        for value in node if isinstance(node, list) else ():
            walk(value)

    walk(tree)
    return [t for t in TABLES if t in named]


class VersionError(LookupError):
    """The asked-for version was never published (or has expired)."""


def published_versions(paths: Paths) -> list[int]:
    """Every published version still in the lake, newest first."""
    from paperlake import lake  # pyarrow-free readers of the serving file skip this import

    with lake.open_lake(paths, read_only=True) as con:  # no Arrow: `history` would import pyarrow for it
        rows = con.execute(f"SELECT version FROM {lake.VERSIONS} ORDER BY version DESC").fetchall()
    return [int(v) for (v,) in rows]


def copy_version(paths: Paths, version: int, target: Connection, tables: Iterable[str]) -> None:
    """Copy `tables` of published `version` from the lake into `target`, streamed as Arrow batches.

    User SQL never runs on a connection with the lake attached: the SQLite scanner that reads the
    lake's catalog attaches and writes any SQLite file whatever the sandbox says."""
    from paperlake import lake

    if version not in published_versions(paths):
        raise VersionError(f"version {version} was never published or has expired (see `paperlake history`)")
    with lake.open_lake(paths, read_only=True, snapshot=version) as src:
        for table in tables:
            rows = src.execute(f"SELECT * FROM {lake.main_table(table)}").to_arrow_reader()
            with registered(target, "_rows", rows):
                target.execute(f"CREATE TABLE {table} AS SELECT * FROM _rows")


def connect_version(paths: Paths, version: int, tables: Iterable[str] = TABLES) -> Connection:
    """A sandboxed in-memory connection holding `tables` of published `version` (every table by
    default; a query copies only the tables it names)."""
    return _sandboxed(lambda con: copy_version(paths, version, con, tables))


def connect(as_of: int | None = None, paths: Paths | None = None) -> Connection:
    """Read paperlake from Python: `paperlake.db.connect().sql("SELECT * FROM papers LIMIT 5")`.

    Without `as_of`: the published version (serving file, with `search_papers`). With it: that earlier
    published version, read from the lake (tables only, no full-text index). Call it as often as you
    like, beside your own `duckdb.connect(<OUT>/paperlake.duckdb, read_only=True)`: each connection is
    its own sandbox. Nothing published yet: `NoWarehouse` (a FileNotFoundError), one line."""
    paths = paths or Paths.from_env()
    return connect_readonly(paths) if as_of is None else connect_version(paths, as_of)


MAX_REJECT_RATE = 0.05  # above this share of rejected entries (or files) the reject_rate check warns


def reject_rates(con: Connection, pages: str = "pages") -> tuple[float, float]:
    """The shares of rejected entries and of rejected files in `pages`: the audit's reject_rate check
    on what a run wrote, `paperlake status` on the served version (no pandas: status stays fast)."""
    n_rejected, n_entries, files_rejected, files = single_row(
        con,
        f"""SELECT coalesce(sum(n_rejected), 0), coalesce(sum(n_entries), 0),
                   count(*) FILTER (WHERE status = 'rejected'), count(*) FROM {pages}""",
    )
    return n_rejected / n_entries if n_entries else 0.0, files_rejected / files if files else 0.0
