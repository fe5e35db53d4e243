"""The DuckLake warehouse: Parquet data files plus a catalog, written and read by DuckDB.

Schemas in the lake:
  staging.*       what ingestion and resolution write: a file's rows replaced, resolution outputs
  main.<table>    the contract tables as the warehouse steps last wrote them (not yet audited)
  meta.versions   one row per published version: the audited lake snapshot, Dagster run id, counts

Readers never open `main` at its latest snapshot: they read a published version, either the serving
file (`paperlake.duckdb`, copied from the lake at the published snapshot) or the lake attached at a
version's snapshot (`paperlake query --as-of`). Every extension comes from a wheel, loaded by path.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlparse

import duckdb

from paperlake import commit
from paperlake.config import Paths
from paperlake.duck import LAKE as ALIAS
from paperlake.duck import Connection, load_statement, open_db, scalar, sql_str
from schemas.catalog import CATALOG, STAGED

if TYPE_CHECKING:  # pyarrow is imported by what reads Arrow: `paperlake history` and `diff` start faster
    import pyarrow as pa

_CATALOG_EXTENSION = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}
VERSIONS = f"{ALIAS}.meta.versions"
SETTLED = f"{ALIAS}.meta.settled"  # one row: the snapshot up to which the lake is known to serve a version


def main_table(table: str) -> str:
    """A contract table as written in the lake (what the audit checks and publishing serves)."""
    return f"{ALIAS}.main.{CATALOG[table].name}"


def staging_table(table: str) -> str:
    """A writer's working table (`schemas.catalog.STAGED`) as written in the lake."""
    return f"{ALIAS}.staging.{STAGED[table].name}"


def _s3_secret_sql() -> str:
    """Credentials for an s3:// data path from the usual AWS_* variables (AWS_ENDPOINT_URL for a
    self-hosted, S3-compatible server)."""
    opts = [
        "TYPE s3",
        f"KEY_ID {sql_str(os.environ.get('AWS_ACCESS_KEY_ID', ''))}",
        f"SECRET {sql_str(os.environ.get('AWS_SECRET_ACCESS_KEY', ''))}",
        f"REGION {sql_str(os.environ.get('AWS_REGION', 'us-east-1'))}",
    ]
    if endpoint := os.environ.get("AWS_ENDPOINT_URL"):
        url = urlparse(endpoint)
        opts += [
            f"ENDPOINT {sql_str(url.netloc)}",
            f"USE_SSL {'true' if url.scheme == 'https' else 'false'}",
            "URL_STYLE 'path'",
        ]
    return f"CREATE OR REPLACE SECRET paperlake_s3 ({', '.join(opts)})"


def attach_statements(paths: Paths, read_only: bool = False, snapshot: int | None = None) -> list[str]:
    """The SQL that attaches the lake as `lake` (extensions loaded by path): run by `attach`, and printed,
    pinned to the served version, by `paperlake attach` for readers outside paperlake."""
    kind = paths.lake_catalog.split(":", 1)[0]
    if kind not in _CATALOG_EXTENSION:
        raise ValueError(f"unsupported lake catalog {paths.lake_catalog!r}: use sqlite:… or postgres:…")
    names = ["ducklake", _CATALOG_EXTENSION[kind]]
    remote = paths.lake_data_path.startswith("s3://")
    if remote:
        names.append("httpfs")
    stmts = [load_statement(n) for n in names]
    if remote:
        stmts.append(_s3_secret_sql())
    opts = [f"DATA_PATH {sql_str(paths.lake_data_path)}"]
    if not paths.data_path:  # the default layout follows the output folder when it is moved or copied
        opts.append("OVERRIDE_DATA_PATH true")
    if read_only:
        opts.append("READ_ONLY")
    if snapshot is not None:
        opts.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    stmts.append(f"ATTACH {sql_str('ducklake:' + paths.lake_catalog)} AS {ALIAS} ({', '.join(opts)})")
    return stmts


def attach(con: Connection, paths: Paths, read_only: bool = False, snapshot: int | None = None) -> None:
    """Attach the lake as `lake`; a writer also creates the staging and meta schemas on first use."""
    if paths.lake_catalog.startswith("sqlite:"):
        catalog_file = Path(paths.lake_catalog.split(":", 1)[1])
        if read_only and not catalog_file.exists():
            raise FileNotFoundError(f"no lake at {catalog_file}: run `paperlake run` first")
        catalog_file.parent.mkdir(parents=True, exist_ok=True)
    for stmt in attach_statements(paths, read_only, snapshot):
        try:
            con.execute(stmt)
        except duckdb.InvalidInputException as exc:  # a PostgreSQL catalog with no lake in it yet
            if read_only and "does not exist" in str(exc):
                raise FileNotFoundError("no lake in the catalog yet: run `paperlake run` first") from exc
            raise
    if not read_only:
        with commit.transaction(con):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.staging")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.meta")
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSIONS} (version BIGINT, "
                "published_at TIMESTAMP WITH TIME ZONE, run_id VARCHAR, row_counts VARCHAR)"
            )
            con.execute(f"CREATE TABLE IF NOT EXISTS {SETTLED} (snapshot BIGINT, version BIGINT)")


_attached: dict[tuple, Connection] = {}
_attaching = threading.Lock()


@contextlib.contextmanager
def open_lake(paths: Paths, read_only: bool = False, snapshot: int | None = None):
    """A connection with the lake attached, closed on exit: a cursor on one database per process and
    mode, so the extensions are loaded and the catalog attached once (~0.4 s a time, paid by every step
    of a run before). A cursor sees every commit, including other processes' (DuckLake reads the catalog
    per transaction); temporary tables and registered frames stay per cursor."""
    key = (os.getpid(), paths.lake_catalog, paths.lake_data_path, read_only, snapshot)
    with _attaching:
        base = _attached.get(key)
        sqlite = paths.lake_catalog.startswith("sqlite:")
        if base is not None and sqlite and not Path(paths.lake_catalog.split(":", 1)[1]).exists():  # wiped
            _attached.pop(key).close()
            base = None
        if base is None:
            base = open_db()
            try:
                spill = paths.out_dir / ".duckdb-spill"  # not `.tmp` in the working directory
                base.execute(f"SET temp_directory = {sql_str(str(spill))}")
                attach(base, paths, read_only, snapshot)
            except BaseException:
                base.close()
                raise
            _attached[key] = base
        con = base.cursor()
    try:
        yield con
    finally:
        con.close()


def tables(con: Connection) -> set[str]:
    """The lake's tables, qualified as `lake.schema.table` (one catalog query)."""
    have = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = $c", {"c": ALIAS}
    ).fetchall()
    return {f"{ALIAS}.{r[0]}" for r in have}


def table_exists(con: Connection, table: str) -> bool:
    return table in tables(con)


def read(con: Connection, table: str, schema: pa.Schema, where: str = "", params=None) -> pa.Table:
    """A lake table's columns of `schema` as Arrow (empty when the table does not exist yet; a column
    the table lacks, written by an older paperlake, reads as null)."""
    if not table_exists(con, table):
        return schema.empty_table()
    return con.execute(_select(con, table, schema, where), params or {}).to_arrow_table().cast(schema)


def read_batches(con: Connection, table: str, schema: pa.Schema, rows: int) -> Iterator[pa.Table]:
    """`read` of a whole table, `rows` rows at a time: never all of it in memory at once."""
    import pyarrow

    if not table_exists(con, table):
        return
    for batch in con.execute(_select(con, table, schema)).to_arrow_reader(rows):
        yield pyarrow.Table.from_batches([batch]).cast(schema)


def _select(con: Connection, table: str, schema: pa.Schema, where: str = "") -> str:
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    cols = ", ".join(f'"{f.name}"' if f.name in have else f'NULL AS "{f.name}"' for f in schema)
    return f"SELECT {cols} FROM {table} {where}"


def current_snapshot(con: Connection) -> int:
    return int(scalar(con, f"SELECT id FROM {ALIAS}.current_snapshot()"))


def last_version(con: Connection) -> int | None:
    last = scalar(con, f"SELECT max(version) FROM {VERSIONS}")
    return None if last is None else int(last)


def record_version(con: Connection, version: int, run_id: str, counts: dict[str, int]) -> None:
    """Mark lake snapshot `version` as published (its commit carries the run id)."""
    with commit.transaction(con):
        con.execute(
            f"CALL {ALIAS}.set_commit_message('paperlake', 'publish', extra_info => $i)",
            {"i": json.dumps({"version": version, "run_id": run_id})},
        )
        con.execute(
            f"INSERT INTO {VERSIONS} VALUES ($v, now(), $r, $c)",
            {"v": version, "r": run_id, "c": json.dumps(counts)},
        )


def settle(con: Connection, version: int) -> None:
    """Record that the lake, as of now, still serves published `version`: a run whose commits changed no
    main table publishes no new version, and its commits must not make every later run look unfinished."""
    with commit.transaction(con):
        con.execute(f"DELETE FROM {SETTLED}")
        con.execute(f"INSERT INTO {SETTLED} VALUES ($s, $v)", {"s": current_snapshot(con), "v": version})


def settled(con: Connection, version: int) -> int:
    """The newest snapshot known to serve `version` (`settle`), else `version` itself."""
    if SETTLED not in tables(con):  # a lake written before it existed
        return version
    found = scalar(con, f"SELECT max(snapshot) FROM {SETTLED} WHERE version = $v", {"v": version})
    return version if found is None else int(found)


def versions(con: Connection) -> pa.Table:
    """Published versions, newest first."""
    return con.execute(f"SELECT * FROM {VERSIONS} ORDER BY version DESC").to_arrow_table()


_held: list[IO] = []


@contextlib.contextmanager
def writer_lock(paths: Paths, on_wait=None) -> Iterator[None]:
    """One writer at a time on this output folder (re-entrant within a process): `paperlake run` holds
    it for a whole run, and each writing step takes it too, so a daemon run and a CLI run queue."""
    if _held:
        yield
        return
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    fh = (paths.state_dir / "writer.lock").open("a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
            fcntl.flock(fh, fcntl.LOCK_EX)
        _held.append(fh)
        try:
            yield
        finally:
            _held.clear()
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def maintain(paths: Paths, keep_days: int) -> dict[str, int]:
    """Retention: expire lake snapshots older than `keep_days` (never the published or the current one;
    a published version whose snapshot expires leaves `history`), merge small adjacent data files, and
    delete the files no snapshot references any more."""
    with writer_lock(paths), open_lake(paths) as con:
        keep = {current_snapshot(con), last_version(con)}
        snapshots = con.execute(
            f"SELECT snapshot_id FROM {ALIAS}.snapshots() "
            "WHERE snapshot_time < now() - to_days($d) ORDER BY snapshot_id",
            {"d": keep_days},
        ).fetchall()
        old = [int(s) for (s,) in snapshots if int(s) not in keep]
        gone_versions = 0
        if old:
            con.execute(f"CALL ducklake_expire_snapshots('{ALIAS}', versions => $v)", {"v": old})
            where = f"FROM {VERSIONS} WHERE version IN (SELECT unnest($v::BIGINT[]))"
            gone_versions = int(scalar(con, f"SELECT count(*) {where}", {"v": old}))
            con.execute(f"DELETE {where}", {"v": old})
        merged = con.execute(f"CALL ducklake_merge_adjacent_files('{ALIAS}')").fetchall()
        deleted = con.execute(f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)").fetchall()
    counts = (len(old), gone_versions, len(merged), len(deleted))
    return dict(
        zip(("expired_snapshots", "expired_versions", "merged_tables", "deleted_files"), counts, strict=True)
    )
