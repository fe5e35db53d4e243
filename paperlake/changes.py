"""What changed in the lake's main tables between two snapshots, read from DuckLake's change feed.

`table_changes` lists every row a snapshot inserted, deleted or updated (with DuckLake's row id); the net
change from snapshot `since` to `until` is, per row id, the values before its first change (if that
change removed it, the row was there at `since`) and after its last one (if that change added it, the row
is there at `until`). Rows added and removed in between cancel out, and snapshots expired in between do
not matter: the row ids and their data files outlive them (measured with `lake.maintain`).
"""

import duckdb

from paperlake.config import TABLES
from paperlake.db import LAKE

_SCHEMA_CHANGES = ("tables_created", "tables_dropped", "tables_altered", "schemas_dropped")


def changed_tables(con: duckdb.DuckDBPyConnection, since: int, until: int) -> list[str] | None:
    """Main tables whose rows changed after snapshot `since` up to `until` (the lake attached at
    `until`), or None when the change feed cannot say: `since` has expired, or a main table was created,
    dropped or altered in between (a schema change)."""
    snapshots = con.execute(
        f"SELECT snapshot_id, changes FROM {LAKE}.snapshots() WHERE snapshot_id >= $a AND snapshot_id <= $b",
        {"a": since, "b": until},
    ).fetchall()
    if not snapshots or snapshots[0][0] != since:
        return None
    ids = dict(
        con.execute(
            f"""SELECT t.table_id::VARCHAR, t.table_name FROM __ducklake_metadata_{LAKE}.ducklake_table t
                JOIN __ducklake_metadata_{LAKE}.ducklake_schema s USING (schema_id)
                WHERE s.schema_name = 'main' AND t.end_snapshot IS NULL"""
        ).fetchall()
    )
    changed: set[str] = set()
    for _, changes in snapshots[1:]:
        for kind, values in changes.items():
            if kind.startswith(_SCHEMA_CHANGES):
                if any(v.startswith("main.") or v in ids for v in values):
                    return None
            else:
                changed.update(ids[v] for v in values if v in ids)
    return [t for t in TABLES if t in changed]


def net_rows(con: duckdb.DuckDBPyConnection, table: str, since: int, until: int, cols: list[str]) -> None:
    """Temp tables `_old` (the rows of main.`table` at `since` that are gone at `until`) and `_new` (the
    rows at `until` that were not there at `since`), with columns `cols`."""
    start = con.execute(
        f"SELECT min(snapshot_id) FROM {LAKE}.snapshots() WHERE snapshot_id > $a", {"a": since}
    ).fetchone()[0]
    select = ", ".join(f'"{c}"' for c in cols)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _changes AS
        SELECT *, row_number() OVER (PARTITION BY rowid ORDER BY snapshot_id, added) AS first_change,
               row_number() OVER (PARTITION BY rowid ORDER BY snapshot_id DESC, added DESC) AS last_change
        FROM (SELECT *, change_type NOT IN ('delete', 'update_preimage') AS added
              FROM {LAKE}.main.table_changes('{table}', {int(start)}, {int(until)}))""")
    for name, where in (("_old", "first_change = 1 AND NOT added"), ("_new", "last_change = 1 AND added")):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select} FROM _changes WHERE {where}")
    con.execute("DROP TABLE _changes")
