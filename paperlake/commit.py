"""The one way paperlake writes a table: inside `transaction`, in one of three shapes.

* `replace`: the rows a condition selects (a file's, a paper's, a record's) deleted, the new ones inserted;
* `sync`: the table made to hold exactly the given rows, writing only the keys whose rows differ (unchanged
  rows stay in their data files, and the change feed shows only real changes);
* `overwrite`: the whole table replaced (state re-derived in full).

A transaction commits whole or not at all: any error, Ctrl-C included, rolls it back, so readers and the
next run see the previous commit. The shapes never begin or commit themselves; one transaction holds as
many writes as must land together. Used on the lake and on the serving file alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from paperlake.duck import Connection, registered, scalar

if TYPE_CHECKING:
    import pyarrow as pa


@contextlib.contextmanager
def transaction(con: Connection) -> Iterator[None]:
    """One commit for every write inside; rolled back on any exception (KeyboardInterrupt included)."""
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def ensure(con: Connection, table: str, schema: pa.Schema) -> None:
    """Create the table from `schema`, or add the columns a newer contract has (a lake written by an
    older paperlake keeps working; old rows read the new columns as null)."""
    with registered(con, "_empty", schema.empty_table()):
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM _empty")
        have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
        for name, sql_type, *_ in con.execute("DESCRIBE _empty").fetchall():
            if name not in have:
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {sql_type}')


def upgrade(con: Connection, schemas: dict[str, pa.Schema]) -> list[str]:
    """`ensure` for those of `schemas`' tables (`db.schema.table`) that exist and lack a column, found by
    one catalog query: a lake written by an older paperlake is read by code that selects today's columns
    (a run must not fail on it). Returns the tables changed."""
    have: dict[str, set[str]] = {}
    rows = con.execute("SELECT database_name, schema_name, table_name, column_name FROM duckdb_columns()")
    for db, schema, table, column in rows.fetchall():
        have.setdefault(f"{db}.{schema}.{table}", set()).add(column)
    stale = [t for t, s in schemas.items() if t in have and not set(s.names) <= have[t]]
    for table in stale:
        ensure(con, table, schemas[table])
    return stale


def replace(
    con: Connection,
    table: str,
    rows: pa.Table | str,
    where: str,
    params: object = None,
    keys: pa.Table | None = None,
) -> None:
    """Delete the rows of `table` (alias t) matching `where`, whose statement may read `keys` as `_keys`,
    then insert `rows` (Arrow, or the name of a relation on `con`) by column name."""
    with registered(con, "_keys", keys):
        con.execute(f"DELETE FROM {table} t WHERE {where}", params)
    if isinstance(rows, str):
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {rows}")
    elif rows.num_rows:
        with registered(con, "_rows", rows):
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")


def replace_in(con: Connection, table: str, rows: pa.Table, column: str, values: list) -> None:
    """`replace` of the rows whose `column` is one of `values` (a file's rows, a paper's rows)."""
    replace(con, table, rows, f"{column} IN (SELECT unnest($v))", {"v": values})


def sync(
    con: Connection, table: str, rows: pa.Table | str, keys: Sequence[str], schema: pa.Schema | None = None
) -> int:
    """Make `table` hold exactly `rows` (Arrow, or the name of a relation on `con` with the columns of
    `schema`), writing only the difference: every key whose rows changed, appeared or vanished has its old
    rows deleted and its new rows inserted (into an empty table, every row, without comparing). Returns
    the number of keys touched."""
    schema = schema or rows.schema  # type: ignore[union-attr]  # a relation name comes with its schema
    ensure(con, table, schema)
    source = rows if isinstance(rows, str) else "_new"
    with registered(con, "_new", None if isinstance(rows, str) else rows):
        cols = ", ".join(f'"{c}"' for c in schema.names)
        on = " AND ".join(f'c."{k}" IS NOT DISTINCT FROM x."{k}"' for k in keys)
        key_cols = ", ".join(f'"{k}"' for k in keys)
        if scalar(con, f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1)") == 0:  # nothing to compare
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}")
            return int(scalar(con, f"SELECT count(*) FROM (SELECT DISTINCT {key_cols} FROM {table})"))
        row = f"{key_cols}, hash({cols}) AS _row"  # rows compared by hash: no copy of wide rows held
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _changed AS SELECT DISTINCT {key_cols} FROM (
                    (SELECT {row} FROM {table} EXCEPT ALL SELECT {row} FROM {source})
                    UNION ALL (SELECT {row} FROM {source} EXCEPT ALL SELECT {row} FROM {table}))"""
        )
        touched = int(scalar(con, "SELECT count(*) FROM _changed"))
        if touched:
            con.execute(f"DELETE FROM {table} x WHERE EXISTS (SELECT 1 FROM _changed c WHERE {on})")
            con.execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source} x "
                f"WHERE EXISTS (SELECT 1 FROM _changed c WHERE {on})"
            )
        con.execute("DROP TABLE _changed")
    return touched


def overwrite(con: Connection, table: str, rows: pa.Table) -> None:
    """Replace the whole table (and its schema) by `rows`."""
    with registered(con, "_rows", rows):
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _rows")
