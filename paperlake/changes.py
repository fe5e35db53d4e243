"""What changed in the lake's main tables between two snapshots (DuckLake's change feed): what the audit
examines and what publishing applies to a copy of the serving file.

`table_changes` lists every row a snapshot inserted, deleted or updated, with DuckLake's row id. The net
change from snapshot `since` to `until` is, per row id: gone if its first change removed it (it was there
at `since`), new if its last change added it (it is there at `until`); rows added and removed in between
cancel out. Snapshots expired in between do not matter, and neither does merging of data files: row ids
and their values outlive both (tried with `lake.maintain`, and tested).
"""

from collections.abc import Sequence
from typing import NamedTuple

from paperlake import commit
from paperlake.duck import LAKE, Connection, scalar
from schemas.catalog import TABLES

_SCHEMA_CHANGES = ("tables_created", "tables_dropped", "tables_altered", "schemas_dropped")
_ADDED_ONLY = {"tables_inserted_into", "inlined_insert"}
_REMOVED = "('delete', 'update_preimage')"


class Feed(NamedTuple):
    """The commits after a served snapshot: `start`..`until`, and the main tables whose rows they
    changed, each with whether a row may have been removed (else rows were only added)."""

    start: int
    until: int
    tables: dict[str, bool]


def commits(
    con: Connection, since: int, until: int | None = None, schemas: tuple[str, ...] = ("main",)
) -> tuple[dict[str, bool], int | None] | None:
    """The commits after snapshot `since` (up to `until`, else the latest): each table of `schemas` whose
    rows they changed (`schema.table`) with whether a row may have been removed (else rows were only
    added), and the first commit's snapshot (None: no commit). None when the feed cannot say: `since`
    has expired, or a table of `schemas` was created, dropped or altered (a schema change)."""
    snapshots = con.execute(
        f"SELECT snapshot_id, changes FROM {LAKE}.snapshots() WHERE snapshot_id >= $a "
        "AND ($b IS NULL OR snapshot_id <= $b) ORDER BY snapshot_id",
        {"a": since, "b": until},
    ).fetchall()
    if not snapshots or snapshots[0][0] != since:
        return None
    ids = dict(
        con.execute(
            f"""SELECT t.table_id::VARCHAR, s.schema_name || '.' || t.table_name
                FROM __ducklake_metadata_{LAKE}.ducklake_table t
                JOIN __ducklake_metadata_{LAKE}.ducklake_schema s USING (schema_id)
                WHERE s.schema_name IN (SELECT unnest($s::VARCHAR[])) AND t.end_snapshot IS NULL""",
            {"s": list(schemas)},
        ).fetchall()
    )
    prefixes = tuple(f"{s}." for s in schemas)
    removed: dict[str, bool] = {}
    for _, changes in snapshots[1:]:
        for kind, values in changes.items():
            if kind.startswith(_SCHEMA_CHANGES):
                if any(v.startswith(prefixes) or v in ids for v in values):
                    return None
                continue
            for table in (ids[v] for v in values if v in ids):
                removed[table] = removed.get(table, False) or kind not in _ADDED_ONLY
    return removed, snapshots[1][0] if len(snapshots) > 1 else None


def changed_since(con: Connection, version: int, schemas: tuple[str, ...]) -> bool:
    """Whether any commit after snapshot `version` touched a table of `schemas` (or cannot be told)."""
    found = commits(con, version, None, schemas)
    return found is None or bool(found[0])


def feed(con: Connection, since: int, until: int) -> Feed | None:
    """The main tables' changes after snapshot `since` up to `until` (None: see `commits`)."""
    found = commits(con, since, until)
    if found is None:
        return None
    removed, first = found
    start = until if first is None else first
    return Feed(start, until, {t: removed[f"main.{t}"] for t in TABLES if f"main.{t}" in removed})


def net_rows(con: Connection, changes: Feed, table: str, keys: Sequence[str], cols: list[str]) -> None:
    """Temp tables `_gone` (the key of each row of main.`table` that the changes removed) and `_new` (the
    rows they added). The removed rows' other columns are never read: in a big data file they would
    cost a scan of it (1.5 s for papers at 92k rows). A table that only had rows added needs one read."""
    source = f"{LAKE}.main.table_changes('{table}', {changes.start}, {changes.until})"
    key_cols = ", ".join(f'"{k}"' for k in keys)
    select = ", ".join(f'"{c}"' for c in cols)
    if not changes.tables[table]:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gone AS SELECT {key_cols} FROM {source} LIMIT 0")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS SELECT {select} FROM {source}")
        return
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _feed AS
        SELECT rowid, snapshot_id, {key_cols}, added,
               row_number() OVER (PARTITION BY rowid ORDER BY snapshot_id, added) AS first_change,
               row_number() OVER (PARTITION BY rowid ORDER BY snapshot_id DESC, added DESC) AS last_change
        FROM (SELECT *, change_type NOT IN {_REMOVED} AS added FROM {source})""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _gone AS
        SELECT {key_cols} FROM _feed WHERE first_change = 1 AND NOT added""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _new AS SELECT {select} FROM {source}
        SEMI JOIN (SELECT rowid, snapshot_id FROM _feed WHERE last_change = 1 AND added)
            USING (rowid, snapshot_id)
        WHERE change_type NOT IN {_REMOVED}""")
    con.execute("DROP TABLE _feed")


def apply(con: Connection, table: str, keys: Sequence[str]) -> bool:
    """Replace the rows of `_gone`'s keys by those of `_new` in `table` (the served copy). Returns
    False, having changed nothing, when a key lost only some of its rows: which ones cannot be told
    by key (the lake's writers replace all of a key's rows, so it does not happen)."""
    on = " AND ".join(f't."{k}" IS NOT DISTINCT FROM g."{k}"' for k in keys)
    key_cols = ", ".join(f'"{k}"' for k in keys)
    touched = f"EXISTS (SELECT 1 FROM _gone g WHERE {on})"
    served = f"SELECT {key_cols}, count(*) AS n FROM {table} t WHERE {touched} GROUP BY ALL"
    gone = f"SELECT {key_cols}, count(*) AS n FROM _gone GROUP BY ALL"
    if scalar(con, f"SELECT count(*) FROM (({gone}) EXCEPT ({served}))"):
        return False
    commit.replace(con, table, "_new", touched)
    return True
