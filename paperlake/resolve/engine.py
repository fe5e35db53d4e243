"""The one resolution engine: DuckDB SQL over a scope (`paperlake.resolve.scope`), the same code for a
full build (every record), an increment (the changed files' records) and `make eval` (an in-memory
DuckDB laid out as the lake).

Why an increment equals a full build:
  * A changed file changes the records it had or has (A). A block whose size before or after is within
    `max_block` may gain or lose pairs, so every record in it (T) has its pairs found again, with block
    sizes counted over all records; a pair with neither record in T keeps its blocks, fields and order.
  * Clusters can only change where a pair of T changed: the old papers of T and of the records merged
    with T (K) are clustered again with their merged pairs, and ids are assigned as in a full run
    (records earliest first, the registry and aliases); every other paper keeps its records and id.
  * Sightings without an abstract attach by (title key, published date): only the keys of sightings
    whose paper may change are attached again.
  * Papers (survivorship), upvote history and the matches' paper ids are recomputed for the papers whose
    sightings or aliases changed (P), from all of their sightings, in SQL.
A run that cannot stay local (a newly minted id held by a paper outside K, possible only when a split
reused a hash) raises `Fallback` and the caller resolves everything.
"""

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from paperlake.duck import scalar
from paperlake.frames import arrow_schema
from paperlake.resolve import abstracts, attach, history, pairs, records, survivorship
from paperlake.resolve.identity import ALIAS_SCHEMA, NEW_ID, REGISTRY_SCHEMA, Registry, assign_ids, cluster
from paperlake.resolve.keys import bare_record_id, title_keys
from paperlake.resolve.pairs import MatchRules
from paperlake.resolve.scope import Fallback, inputs
from schemas import CONTRACT, ResolvedSightings


@dataclass
class Result:
    """What a resolution computed. On the connection: `_out` (the sightings rows to write), `_history`
    (the upvote history of P), `_rec_a` (A's records), `_win` (their winning abstracts; no text where
    the stored winner stays), `_a`, `_p`, `_matches_out` (pairs to write) and `_pair_scope` (the records
    whose stored pairs they replace)."""

    core: pa.Table  # papers_core rows of P, with title_key
    registry: pa.Table  # registry rows of K
    aliases: pa.Table  # every alias after the run
    aliases_changed: list[str]  # old ids whose alias row changed


def _records(con: duckdb.DuckDBPyConnection, rules: MatchRules) -> None:
    """`_a` (the changed records, old or new ids), `_rec_a` (their records now), `_rec_post` (every record
    now)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _a AS SELECT DISTINCT record_id FROM _fresh WHERE NOT bare UNION "
        "SELECT record_id FROM _gone WHERE flag IS DISTINCT FROM 'no_abstract'"
    )
    title_keys(con, "(SELECT title FROM _stored WHERE record_id IN (SELECT record_id FROM _a))")
    fields = "page_date, source_file, position, published_date, authors_count, organization, bare"
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _a_sightings AS
        SELECT record_id, title_key, aid, NULL AS stored_head, NULL AS stored_tail, name, {fields}
        FROM _fresh WHERE NOT bare
        UNION ALL
        SELECT s.record_id, t.title_key, NULL, r.abstract_head, r.abstract_tail, t.name, s.page_date,
               s.source_file, s.position, s.published_date, s.authors_count, s.organization, false AS bare
        FROM _stored s JOIN _rec_stored r USING (record_id) JOIN _tk t USING (title)
        WHERE s.record_id IN (SELECT record_id FROM _a)"""
    )
    records.aggregate(con, "_a_sightings", "_rec_a", rules.block_words)
    con.execute("DROP TABLE _ak")  # the abstract keys are the records' now
    wide = "abstract_key"  # the one wide column: read once, where needed (`_abstract_keys`)
    cols = ", ".join(c for c in records.RECORD_SCHEMA.names if c != wide)
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _rec_post AS
        SELECT {cols}, NULL AS abstract_key FROM _rec_stored WHERE record_id NOT IN (SELECT record_id FROM _a)
        UNION ALL SELECT {cols}, abstract_key FROM _rec_a"""
    )


def _abstract_keys(con: duckdb.DuckDBPyConnection) -> None:
    """The abstract keys of the stored records the run compares or rewrites, in one read of that wide
    column: into `_members` (for scoring) and `_rec_a` (A's records seen only in unchanged files)."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _wide AS
        SELECT record_id, abstract_key FROM _rec_wide WHERE record_id IN (
            SELECT record_id FROM _members WHERE abstract_key IS NULL
            UNION SELECT record_id FROM _rec_a WHERE abstract_key IS NULL);
        UPDATE _members SET abstract_key = w.abstract_key FROM _wide w
        WHERE _members.abstract_key IS NULL AND _members.record_id = w.record_id;
        UPDATE _rec_a SET abstract_key = w.abstract_key FROM _wide w
        WHERE _rec_a.abstract_key IS NULL AND _rec_a.record_id = w.record_id;
        DROP TABLE _wide"""
    )


def _identity(con: duckdb.DuckDBPyConnection, full: bool) -> list[str]:
    """`_k` (K's records now, earliest first: `i`), `_k_old` (their old papers), `_por` (record → paper
    for K), `_aliases_new`, `_alias_change`: K clustered over its merged pairs, ids as
    `paperlake.resolve.identity` assigns them. Returns the old ids whose alias changed."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _edges_new AS SELECT record_a, record_b FROM _scored WHERE merged;
        CREATE OR REPLACE TEMP TABLE _k_old AS
        SELECT DISTINCT paper_id FROM _registry WHERE record_id IN (
            SELECT record_id FROM _t UNION SELECT record_a FROM _edges_new
            UNION SELECT record_b FROM _edges_new);
        CREATE OR REPLACE TEMP TABLE _k_reg AS
        SELECT * FROM _registry WHERE paper_id IN (SELECT paper_id FROM _k_old);
        CREATE OR REPLACE TEMP TABLE _k AS
        SELECT record_id, title_key, {NEW_ID} AS new_id,
               row_number() OVER (ORDER BY first_seen NULLS LAST, record_id) - 1 AS i
        FROM _rec_post WHERE record_id IN (SELECT record_id FROM _k_reg UNION SELECT record_id FROM _a);
        CREATE OR REPLACE TEMP TABLE _edges AS
        SELECT record_a, record_b FROM _matches_stored
        WHERE merged AND record_a NOT IN (SELECT record_id FROM _t)
          AND record_b NOT IN (SELECT record_id FROM _t)
          AND (record_a IN (SELECT record_id FROM _k) OR record_b IN (SELECT record_id FROM _k))
        UNION ALL SELECT record_a, record_b FROM _edges_new"""
    )
    k_ids = "(SELECT record_id FROM _k)"
    if scalar(con, f"SELECT count(*) FROM _edges WHERE record_a NOT IN {k_ids} OR record_b NOT IN {k_ids}"):
        raise Fallback("a merged pair leaves the re-clustered papers")
    ij = con.execute(
        "SELECT a.i, b.i AS j FROM _edges e JOIN _k a ON a.record_id = e.record_a "
        "JOIN _k b ON b.record_id = e.record_b"
    ).fetchnumpy()
    n = int(scalar(con, "SELECT count(*) FROM _k"))
    assign_ids(con, "_k", cluster(n, np.asarray(ij["i"]), np.asarray(ij["j"])), "_k_reg")
    if not full:
        fresh = "SELECT paper_id FROM _por EXCEPT SELECT paper_id FROM _k_old"
        if scalar(con, f"SELECT count(*) FROM _registry WHERE paper_id IN ({fresh})"):
            raise Fallback("a new paper id is held by another paper")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _alias_change AS
        (SELECT * FROM _aliases EXCEPT ALL SELECT * FROM _aliases_new)
        UNION ALL (SELECT * FROM _aliases_new EXCEPT ALL SELECT * FROM _aliases)"""
    )
    return [r[0] for r in con.execute("SELECT DISTINCT old_id FROM _alias_change ORDER BY 1").fetchall()]


def _sighting_papers(con: duckdb.DuckDBPyConnection) -> None:
    """`_bare_out` (the sightings without an abstract that may move, and their paper) and `_p` (the papers
    whose sightings or aliases changed)."""
    title_keys(con, "_gone")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ks AS
        SELECT n.title_key, n.published_date, p.paper_id FROM _fresh n JOIN _por p USING (record_id)
        WHERE NOT n.bare
        UNION ALL SELECT k.title_key, s.published_date, p.paper_id
        FROM _stored s JOIN _k k USING (record_id) JOIN _por p USING (record_id);
        CREATE OR REPLACE TEMP TABLE _bk AS
        SELECT DISTINCT title_key, published_date,
               {bare_record_id("title_key", "published_date")} AS rid FROM (
            SELECT title_key, published_date FROM _ks
            UNION ALL SELECT t.title_key, g.published_date FROM _gone g JOIN _tk t USING (title)
            UNION ALL SELECT title_key, published_date FROM _fresh WHERE bare);
        CREATE OR REPLACE TEMP VIEW _seen AS
        SELECT title_key, published_date, paper_id FROM _ks
        UNION ALL SELECT r.title_key, s.published_date, s.paper_id
        FROM _stored s JOIN _rec_stored r USING (record_id)
        WHERE r.title_key IN (SELECT title_key FROM _bk) AND s.record_id NOT IN (SELECT record_id FROM _k);
        CREATE OR REPLACE TEMP VIEW _bare_in AS
        SELECT sighting_id, title_key, published_date FROM _fresh WHERE bare
        UNION ALL SELECT s.sighting_id, b.title_key, s.published_date
        FROM _stored s JOIN _bk b ON b.rid = s.record_id
        WHERE s.flag = 'no_abstract'"""
    )
    attach.attach(con, "_seen", "_bare_in", "_bare_out")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _p AS
        SELECT paper_id FROM _k_old UNION SELECT paper_id FROM _por UNION SELECT paper_id FROM _alias_change
        UNION SELECT s.paper_id FROM _stored s JOIN _bare_out b USING (sighting_id)
        UNION SELECT paper_id FROM _bare_out UNION SELECT paper_id FROM _gone"""
    )


def _sightings_now(con: duckdb.DuckDBPyConnection) -> None:
    """`_chrono`: every sighting of P now, with its paper (`old_paper`: as stored), title key, whether
    it was read now (`fresh`) and its place in page-date order."""
    cols = (
        "sighting_id, source_file, position, page_id, page_date, title, published_date, authors_count, "
        "organization, upvotes, record_id"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _work0 AS
        SELECT {cols}, bare, abstract_len, coalesce(b.paper_id, p.paper_id) AS paper_id,
               NULL::VARCHAR AS old_paper, true AS fresh
        FROM _fresh n LEFT JOIN _por p USING (record_id) LEFT JOIN _bare_out b USING (sighting_id)
        UNION ALL
        SELECT {cols}, s.flag IS NOT DISTINCT FROM 'no_abstract' AS bare, NULL::BIGINT AS abstract_len,
               coalesce(p.paper_id, b.paper_id, s.paper_id) AS paper_id, s.paper_id AS old_paper,
               false AS fresh
        FROM _stored s LEFT JOIN _por p USING (record_id) LEFT JOIN _bare_out b USING (sighting_id)
        WHERE s.paper_id IN (SELECT paper_id FROM _p) OR p.record_id IS NOT NULL
           OR b.sighting_id IS NOT NULL"""
    )
    title_keys(con, "(SELECT title FROM _work0 WHERE NOT fresh)")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _work AS
        SELECT w.*, t.title_key FROM _work0 w JOIN _tk t USING (title)
        WHERE w.paper_id IN (SELECT paper_id FROM _p);
        DROP TABLE _work0; DROP TABLE _fresh"""
    )
    survivorship.chronological(con, "_work")
    con.execute("DROP TABLE _work")


def _matches(con: duckdb.DuckDBPyConnection) -> None:
    """`_matches_out`: the scored pairs and the stored pairs of K kept, each side's paper now;
    `_pair_scope`: the records whose stored pairs they replace."""
    cast = ", ".join(f'"{f.name}"::{_sql(f.type)} AS "{f.name}"' for f in arrow_schema(CONTRACT["matches"]))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _pair_scope AS
        SELECT record_id FROM _t UNION SELECT record_id FROM _k_reg UNION SELECT record_id FROM _k;
        CREATE OR REPLACE TEMP TABLE _matches_out AS
        WITH m AS (SELECT * EXCLUDE (paper_a, paper_b) FROM _matches_stored
                   WHERE (record_a IN (SELECT record_id FROM _pair_scope)
                          OR record_b IN (SELECT record_id FROM _pair_scope))
                     AND record_a NOT IN (SELECT record_id FROM _t)
                     AND record_b NOT IN (SELECT record_id FROM _t)
                   UNION ALL BY NAME SELECT * FROM _scored),
             papers AS (SELECT record_id, paper_id FROM _registry
                        WHERE record_id NOT IN (SELECT record_id FROM _por) UNION ALL SELECT * FROM _por)
        SELECT {cast} FROM (SELECT m.*, pa.paper_id AS paper_a, pb.paper_id AS paper_b FROM m
        LEFT JOIN papers pa ON pa.record_id = m.record_a LEFT JOIN papers pb ON pb.record_id = m.record_b)"""
    )


def _sql(t: pa.DataType) -> str:
    return {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}[t]


def _sightings_out(con: duckdb.DuckDBPyConnection) -> None:
    """`_out`: the resolved sightings rows to write: every fresh one, and the stored ones that moved."""
    cols = ", ".join(
        f's."{c}"' for c in arrow_schema(ResolvedSightings).names if c not in ("record_id", "paper_id")
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _out AS
        SELECT {cols}, w.record_id, w.paper_id FROM _new_text s JOIN _chrono w USING (sighting_id)
        WHERE w.fresh
        UNION ALL
        SELECT {cols}, s.record_id, w.paper_id FROM _main_text s JOIN _chrono w USING (sighting_id)
        WHERE NOT w.fresh AND w.paper_id IS DISTINCT FROM w.old_paper"""
    )


def resolve(
    con: duckdb.DuckDBPyConnection,
    staged: str,
    rules: MatchRules,
    files: list[str] | None = None,
    registry: Registry | None = None,
) -> Result:
    """Resolve the sightings of `files` (None: every sighting of `staged`) against the stored state."""
    full = files is None
    inputs(con, staged, files, registry)
    _records(con, rules)
    pairs.find(con, "_a", "_rec_stored", "_rec_post", rules)
    _abstract_keys(con)
    pairs.score(con, rules)
    aliases_changed = _identity(con, full)
    aliases = con.execute("SELECT * FROM _aliases_new").to_arrow_table().cast(ALIAS_SCHEMA)
    _sighting_papers(con)
    _sightings_now(con)
    abstracts.record_winners(con, "_rec_a", "_abs_stored", "_new_text", "_main_text")
    abstracts.paper_abstracts(con, "_a", "_abs_stored")
    history.history(con, "_chrono")
    core = survivorship.papers(con, "_paper_abs", aliases, history.growth(con))
    _matches(con)
    _sightings_out(con)
    reg = con.execute("SELECT * FROM _por").to_arrow_table().cast(REGISTRY_SCHEMA)
    return Result(core, reg, aliases, aliases_changed)
