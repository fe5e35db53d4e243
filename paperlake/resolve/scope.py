"""What a resolution reads and what it affects.

A resolution runs over a scope: the sightings of the changed files (new, changed or gone since the
last resolution) against the stored state, or, for a full build, every staged sighting against an empty
state (the id registry kept). The state (the lake's staging schema): `records` (one row per record: keys,
block keys, the fields compared), `record_abstracts` (each record's winning abstract), `papers_core`, the
id registry and aliases, and the main tables it writes (`sightings` with record_id and paper_id,
`matches` every scored pair, `upvote_history`, `pages`, `rejects`).

The scope's inputs are temporary relations on the connection (`inputs`): `_fresh` (the changed files'
staged sightings, keyed), `_gone` (their stored rows), `_stored` (every other stored sighting, no
abstract), `_rec_stored` (the records' narrow columns; `_rec_wide` their abstract keys), `_abs_stored`,
`_matches_stored`, `_registry`, `_aliases`: the small or often-read ones copied once per run.
"""

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from paperlake import lake
from paperlake.duck import sql_str, temp_table
from paperlake.frames import arrow_schema
from paperlake.resolve.identity import ALIAS_SCHEMA, REGISTRY_SCHEMA, Registry
from paperlake.resolve.keys import keyed
from paperlake.resolve.records import RECORD_SCHEMA
from schemas import CONTRACT, Pages, ResolvedSightings
from schemas.catalog import written_by

STAGED_PAGES = lake.staging_table("pages")
RECORDS, RECORD_ABSTRACTS, PAPERS_CORE, REGISTRY_RECORDS, REGISTRY_ALIASES = map(
    lake.staging_table, ("records", "record_abstracts", "papers_core", "registry_records", "registry_aliases")
)
MAIN = {t: lake.main_table(t) for t in written_by("resolve")}
ABSTRACT_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("source_file", pa.string()),
        ("position", pa.int64()),
        ("abstract_len", pa.int64()),
        ("abstract", pa.string()),
    ]
)
_PAGE_COLS = [c for c in arrow_schema(Pages).names if c != "duplicate_of"]


@dataclass
class Delta:
    """What one resolution changed: papers_core rows inserted or changed, and removed."""

    changed_papers: set[str] = field(default_factory=set)
    removed_papers: set[str] = field(default_factory=set)


class Fallback(Exception):
    """The change cannot be applied locally (a new id is held by another paper): resolve everything."""


def has_state(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every table an incremental resolution reads exists."""
    want = {RECORDS, RECORD_ABSTRACTS, PAPERS_CORE, REGISTRY_RECORDS, REGISTRY_ALIASES, *MAIN.values()}
    return want <= lake.tables(con)


def changed_files(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Files whose staged page row differs from the one the last resolution wrote (new, changed, gone)."""
    cols = ", ".join(f'"{c}"' for c in _PAGE_COLS)
    p, m = STAGED_PAGES, MAIN["pages"]
    rows = con.execute(
        f"SELECT DISTINCT source_file FROM ((SELECT {cols} FROM {p} EXCEPT ALL SELECT {cols} FROM {m}) "
        f"UNION ALL (SELECT {cols} FROM {m} EXCEPT ALL SELECT {cols} FROM {p}))"
    ).fetchall()
    return sorted(r[0] for r in rows)


def of_files(files: list[str]) -> str:
    """A literal list, so that the per-file min/max statistics can skip data files."""
    return f"source_file IN ({', '.join(map(sql_str, files))})" if files else "FALSE"


def _view(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")


def _table(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    """`name`: a view of `rows` held in a temporary table (an input is always a view, so that a full
    build after a fallback replaces it)."""
    temp_table(con, f"_t{name}", rows)
    _view(con, name, f"SELECT * FROM _t{name}")


def inputs(
    con: duckdb.DuckDBPyConnection, staged: str, files: list[str] | None, registry: Registry | None = None
) -> None:
    """The scope's input relations: `files` changed against the stored state, or (None) every sighting
    of `staged` against none (a full build). The id registry: `registry` when given, else the lake's
    (none on a first build)."""
    con.execute("DROP TABLE IF EXISTS _tk")
    resolved = arrow_schema(ResolvedSightings)
    stored = pa.schema([f for f in resolved if f.name != "abstract"])
    main = MAIN["sightings"]
    if files is None:
        _view(con, "_new_text", f"SELECT * FROM {staged}")
        for name, schema in (
            ("_stored", stored),
            ("_gone", stored),
            ("_main_text", resolved),
            ("_rec_stored", RECORD_SCHEMA),
            ("_abs_stored", ABSTRACT_SCHEMA),
            ("_matches_stored", arrow_schema(CONTRACT["matches"])),
        ):
            _table(con, name, schema.empty_table())
        _view(con, "_rec_wide", "SELECT record_id, abstract_key FROM _rec_stored")
    else:
        cols = ", ".join(f'"{c}"' for c in stored.names)
        for name, where in (("_stored", f"NOT ({of_files(files)})"), ("_gone", of_files(files))):
            con.execute(f"CREATE OR REPLACE TEMP TABLE _t{name} AS SELECT {cols} FROM {main} WHERE {where}")
            _view(con, name, f"SELECT * FROM _t{name}")
        _view(con, "_new_text", f"SELECT * FROM {staged} WHERE {of_files(files)}")
        _view(con, "_main_text", f"SELECT * FROM {main} WHERE NOT ({of_files(files)})")
        # the records' narrow columns, read many times, copied once (each read of a lake table costs a
        # catalog look-up and a scan); their wide abstract key is read where needed (`_rec_wide`)
        narrow = ", ".join(
            "NULL::VARCHAR AS abstract_key" if c == "abstract_key" else c for c in RECORD_SCHEMA.names
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _t_rec_stored AS SELECT {narrow} FROM {RECORDS}")
        _view(con, "_rec_stored", "SELECT * FROM _t_rec_stored")
        _view(con, "_rec_wide", f"SELECT record_id, abstract_key FROM {RECORDS}")
        _view(con, "_abs_stored", f"SELECT * FROM {RECORD_ABSTRACTS}")
        _view(con, "_matches_stored", f"SELECT * FROM {MAIN['matches']}")
    if registry is not None:
        _table(con, "_registry", registry.records.cast(REGISTRY_SCHEMA))
        _table(con, "_aliases", registry.aliases.cast(ALIAS_SCHEMA))
    elif lake.table_exists(con, REGISTRY_RECORDS):
        for name, table in (("_registry", REGISTRY_RECORDS), ("_aliases", REGISTRY_ALIASES)):
            con.execute(f"CREATE OR REPLACE TEMP TABLE _t{name} AS SELECT * FROM {table}")
            _view(con, name, f"SELECT * FROM _t{name}")
    else:
        _table(con, "_registry", REGISTRY_SCHEMA.empty_table())
        _table(con, "_aliases", ALIAS_SCHEMA.empty_table())
    keyed(con, "_new_text", "_fresh")
