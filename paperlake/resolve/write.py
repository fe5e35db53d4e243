"""A resolution's writes, in one commit: a full build replaces the state and syncs the main tables; an
increment replaces the rows of its scope (records A, papers P, K's registry rows, the pairs of its
records, the sightings that were read or moved)."""

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from paperlake import commit
from paperlake.frames import arrow_schema
from paperlake.resolve.engine import Result
from paperlake.resolve.records import RECORD_SCHEMA
from paperlake.resolve.scope import (
    ABSTRACT_SCHEMA,
    MAIN,
    PAPERS_CORE,
    RECORD_ABSTRACTS,
    RECORDS,
    REGISTRY_ALIASES,
    REGISTRY_RECORDS,
    Delta,
    of_files,
)
from schemas import CONTRACT
from schemas.catalog import CATALOG


def _rows(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> pa.Table:
    cols = ", ".join(f'"{c}"' for c in schema.names)
    return con.execute(f"SELECT {cols} FROM {table}").to_arrow_table().cast(schema)


def core_delta(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> Delta:
    """Which papers differ between `rows` and papers_core, and which left it."""
    con.register("_core", rows)
    con.execute(f"CREATE TABLE IF NOT EXISTS {PAPERS_CORE} AS SELECT * FROM _core LIMIT 0")
    cols = ", ".join(f'"{c}"' for c in rows.column_names)
    changed = con.execute(
        f"SELECT DISTINCT paper_id FROM (SELECT {cols} FROM _core "
        f"EXCEPT ALL SELECT {cols} FROM {PAPERS_CORE})"
    ).fetchall()
    stored = con.execute(f"SELECT paper_id FROM {PAPERS_CORE}").fetchall()
    con.unregister("_core")
    return Delta({r[0] for r in changed}, {r[0] for r in stored} - set(rows.column("paper_id").to_pylist()))


def full(con: duckdb.DuckDBPyConnection, res: Result, main: dict[str, pa.Table | str]) -> Delta:
    """Replace every state table and sync the main tables (with `main`: pages and rejects)."""
    delta = core_delta(con, res.core)
    state = {
        PAPERS_CORE: res.core,
        RECORDS: _rows(con, "_rec_a", RECORD_SCHEMA),
        RECORD_ABSTRACTS: _rows(con, "_win", ABSTRACT_SCHEMA),
        REGISTRY_RECORDS: res.registry,
        REGISTRY_ALIASES: res.aliases,
    }
    main = {**main, "matches": "_matches_out", "sightings": "_out", "upvote_history": "_history"}
    with commit.transaction(con):
        for name, rows in state.items():
            commit.overwrite(con, name, rows)
        for table, rows in main.items():
            schema = arrow_schema(CONTRACT[table])
            commit.sync(con, MAIN[table], rows, CATALOG[table].key, schema)
    return delta


def increment(con: duckdb.DuckDBPyConnection, res: Result, files: list[str]) -> Delta:
    """Replace the scope's rows of every table the resolution writes; each paper of P counts as changed
    (comparing with the stored rows would read their abstracts, the widest column)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _out_rows AS SELECT * FROM _out")
    stored = con.execute(f"SELECT paper_id FROM {PAPERS_CORE} WHERE paper_id IN (SELECT paper_id FROM _p)")
    now = set(res.core.column("paper_id").to_pylist())
    delta = Delta(now, {r[0] for r in stored.fetchall()} - now)
    in_a = "record_id IN (SELECT record_id FROM _a)"
    pairs = (
        "record_a IN (SELECT record_id FROM _pair_scope) OR record_b IN (SELECT record_id FROM _pair_scope)"
    )
    moved = (
        "EXISTS (SELECT 1 FROM _out_rows k WHERE k.source_file = t.source_file AND k.position = t.position)"
    )
    aliases = res.aliases.filter(
        pc.is_in(res.aliases.column("old_id"), pa.array(res.aliases_changed, pa.string()))
    )
    with commit.transaction(con):
        commit.replace(con, PAPERS_CORE, res.core, "paper_id IN (SELECT paper_id FROM _p)")
        commit.replace(con, MAIN["sightings"], "_out_rows", f"{of_files(files)} OR {moved}")
        commit.replace(con, MAIN["matches"], "_matches_out", pairs)
        commit.replace(con, MAIN["upvote_history"], "_history", "paper_id IN (SELECT paper_id FROM _p)")
        commit.replace(con, RECORDS, _rows(con, "_rec_a", RECORD_SCHEMA), in_a)
        changed = "(SELECT * FROM _win WHERE abstract IS NOT NULL)"  # a winner without text stays as stored
        kept = "record_id NOT IN (SELECT record_id FROM _win WHERE abstract IS NULL)"
        commit.replace(con, RECORD_ABSTRACTS, _rows(con, changed, ABSTRACT_SCHEMA), f"{in_a} AND {kept}")
        commit.replace(
            con,
            REGISTRY_RECORDS,
            res.registry,
            "record_id IN (SELECT record_id FROM _k_reg UNION SELECT record_id FROM _a)",
        )
        commit.replace(
            con,
            REGISTRY_ALIASES,
            aliases,
            "old_id IN (SELECT unnest($o::VARCHAR[]))",
            {"o": res.aliases_changed},
        )
    return delta
