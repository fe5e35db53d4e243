"""Full resolution inside DuckDB: the rules of `paperlake.resolve` (its module docstring) over every staged
sighting, without a pandas copy of the sightings.

Text keys, records, the sightings' record and paper ids, survivorship and the upvote history are SQL over
the staged table (text keys are Arrow kernels over the distinct titles and abstracts). Only records (one row
per distinct title/abstract key pair) reach pandas, for blocking, scoring (`paperlake.match`), clustering
and the registry's ids: the steps `paperlake.incremental` shares with this path.
"""

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from paperlake.duck import open_db
from paperlake.frames import arrow_schema, from_arrow, to_arrow
from paperlake.match import short_names
from paperlake.normalize import text_keys
from paperlake.resolve import (
    GROWTH_WINDOW_DAYS,
    MatchRules,
    Registry,
    Resolution,
    assign_ids,
    candidate_pairs,
    cluster,
    score_pairs,
    with_block_keys,
    with_papers,
)
from schemas import Papers, ResolvedSightings, Sightings

# a sighting's place in page-date order ("latest" = latest page date, then file name, then position; a
# sighting without an abstract after one with: the order `paperlake.incremental` keeps too)
CHRONO = "coalesce(page_date, DATE '0001-01-01'), source_file, position, bare, sighting_id"
RECORD_FIELDS = ["name", "published_date", "authors_count", "organization"]
LATEST_FIELDS = ["authors_count", "organization", "published_date", "upvotes"]


@dataclass
class FullResolution:
    """Temp tables `_sightings_out` (resolved sightings, contract columns less the abstract's source) and
    `_history` (upvote_history rows) stay on the connection; the record-level results are here."""

    records: pd.DataFrame  # earliest first: record_id, keys, block keys, first_seen, the fields compared
    matches: pd.DataFrame
    registry: Registry
    papers_core: pa.Table  # papers contract's core columns and title_key, by paper_id
    record_abstracts: pa.Table  # per record: its longest abstract and the sighting printing it


def _sha(*parts: str, length: int) -> str:
    """SQL for `paperlake.normalize.short_hash` of SQL expressions."""
    return f"substr(sha256(concat_ws(chr(31), {', '.join(parts)})), 1, {length})"


def _keys(con: duckdb.DuckDBPyConnection, sightings: str) -> None:
    """Temp tables `_tk` (title → title_key, name), `_ak` (abstract → abstract_key): distinct values."""
    titles = con.execute(f"SELECT DISTINCT title FROM {sightings}").to_arrow_table().column(0)
    names = short_names(pd.Series(titles.to_pylist(), dtype=object))
    tk = pa.table({"title": titles, "title_key": text_keys(titles), "name": pa.array(names, pa.string())})
    abstracts = con.execute(
        f"SELECT DISTINCT abstract FROM {sightings} WHERE abstract IS NOT NULL"
    ).to_arrow_table()
    ak = abstracts.append_column("abstract_key", text_keys(abstracts.column(0)))
    for name, table in (("_tk", tk), ("_ak", ak)):
        con.register("_rows", table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _rows")
        con.unregister("_rows")


def _keyed(con: duckdb.DuckDBPyConnection, sightings: str) -> None:
    """`_keyed`: every sighting's ordering, evidence and survivorship columns with its keys and record id
    (no text but the title). A sighting without an abstract is a record of its title key and published
    date (`paperlake.resolve.bare_record_ids`)."""
    day = "coalesce(strftime(published_date, '%Y-%m-%d'), 'NaT')"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _keyed AS
        SELECT s.sighting_id, s.source_file, s.position, s.page_id, s.page_date, s.title, s.published_date,
               s.authors_count, s.organization, s.upvotes, s.abstract IS NULL AS bare,
               length(s.abstract) AS abstract_len, t.title_key, t.name, a.abstract_key,
               CASE WHEN s.abstract IS NULL THEN {_sha("t.title_key", "''", day, length=16)}
                    ELSE {_sha("t.title_key", "coalesce(a.abstract_key, '')", length=16)} END AS record_id,
               {_sha("t.title_key", "''", day, length=12)} AS bare_id
        FROM {sightings} s JOIN _tk t USING (title) LEFT JOIN _ak a USING (abstract)"""
    )


def _records(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per record of sightings with an abstract (earliest first), its fields the first non-null
    over its sightings in (source_file, position) order."""
    first = ", ".join(
        f"arg_min({f}, (source_file, position)) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in RECORD_FIELDS
    )
    rows = con.execute(
        f"""SELECT record_id, any_value(title_key) AS title_key, any_value(abstract_key) AS abstract_key,
               min(page_date) AS first_seen, count(*) AS n, {first}
        FROM _keyed WHERE NOT bare GROUP BY record_id ORDER BY first_seen NULLS LAST, record_id"""
    ).to_arrow_table()
    return rows.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get, date_as_object=False)


def _paper_ids(con: duckdb.DuckDBPyConnection, paper_of_record: pd.Series) -> None:
    """`_resolved`: `_keyed` with paper_id. A sighting without an abstract joins the one paper whose
    sightings share its title key and published date, else its own (`paperlake.resolve.attach_ids`);
    `_chrono`: the resolved sightings in page-date order (`_order`), a page saved twice counted once."""
    ids = arrow_schema(ResolvedSightings)  # typed by the contract: with no record (no capture) too
    por = pa.table(
        {"record_id": paper_of_record.index.to_numpy(object), "paper_id": paper_of_record.to_numpy(object)},
        schema=pa.schema([ids.field("record_id"), ids.field("paper_id")]),
    )
    con.register("_rows", por)
    con.execute("CREATE OR REPLACE TEMP TABLE _por AS SELECT * FROM _rows")
    con.unregister("_rows")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _resolved AS
        WITH seen AS (SELECT DISTINCT k.title_key, k.published_date, p.paper_id
                      FROM _keyed k JOIN _por p USING (record_id)
                      WHERE NOT k.bare AND k.published_date IS NOT NULL),
             one AS (SELECT title_key, published_date, any_value(paper_id) AS paper_id
                     FROM seen GROUP BY ALL HAVING count(*) = 1)
        SELECT k.* EXCLUDE (bare_id),
               CASE WHEN k.bare THEN coalesce(one.paper_id, 'p_' || k.bare_id) ELSE p.paper_id END AS paper_id
        FROM _keyed k LEFT JOIN _por p USING (record_id)
        LEFT JOIN one ON one.title_key = k.title_key AND one.published_date = k.published_date"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _chrono AS
        SELECT *, row_number() OVER (ORDER BY {CHRONO}) AS _order FROM _resolved
        QUALIFY row_number() OVER (PARTITION BY page_id, position
                                   ORDER BY source_file, bare, sighting_id) = 1"""
    )


def _record_abstracts(con: duckdb.DuckDBPyConnection, sightings: str) -> pa.Table:
    """Per record: the sighting with its longest abstract (the latest on ties) and that abstract."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _longest AS
        SELECT record_id, any_value(paper_id) AS paper_id,
               arg_max({'sighting_id': sighting_id, 'source_file': source_file, 'position': position,
                       'abstract_len': abstract_len,
                       '_order': _order}, (abstract_len, _order)) AS w
        FROM _chrono WHERE NOT bare GROUP BY record_id"""
    )
    return con.execute(
        f"""SELECT l.record_id, l.w.source_file, l.w.position, l.w.abstract_len, s.abstract, l.paper_id,
                   l.w._order
        FROM _longest l JOIN {sightings} s ON s.sighting_id = l.w.sighting_id
        ORDER BY l.record_id"""
    ).to_arrow_table()


def _history(con: duckdb.DuckDBPyConnection, sightings: str = "_resolved") -> None:
    """`_history`: each paper and page date of the resolved `sightings`, the max upvotes printed and a
    file that printed them: the first by name of those, else the day's first file."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _history AS
        SELECT paper_id, page_date, max(upvotes) AS upvotes,
               first(source_file ORDER BY upvotes DESC NULLS LAST, source_file) AS source_file
        FROM {sightings} WHERE page_date IS NOT NULL GROUP BY ALL ORDER BY paper_id, page_date"""
    )


def history_and_growth(con: duckdb.DuckDBPyConnection, sightings: pa.Table) -> tuple[pa.Table, pd.Series]:
    """The upvote history of resolved `sightings` (paper_id, page_date, upvotes, source_file) and each
    paper's growth per day: the rules a full build applies (`_history`, `_growth`), for an increment's
    papers (`paperlake.incremental`)."""
    con.register("_scope_sightings", sightings)
    try:
        _history(con, "_scope_sightings")
    finally:
        con.unregister("_scope_sightings")
    return con.execute("SELECT * FROM _history").to_arrow_table(), _growth(con)


def _growth(con: duckdb.DuckDBPyConnection, window_days: int = GROWTH_WINDOW_DAYS) -> pd.Series:
    """Each paper's upvote growth per day over `_history`: (last - first upvotes) / days over the
    observations in the last `window_days` before the latest one (rounded to 3 places)."""
    g = con.execute(
        f"""WITH h AS (SELECT *, max(page_date) OVER (PARTITION BY paper_id) AS last
                       FROM _history WHERE upvotes IS NOT NULL)
        SELECT paper_id, date_diff('day', min(page_date), max(page_date)) AS days,
               arg_max(upvotes, page_date) - arg_min(upvotes, page_date) AS gain
        FROM h WHERE page_date >= last - INTERVAL {int(window_days)} DAY GROUP BY paper_id"""
    ).df()
    days = g["days"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.round(g["gain"].to_numpy(dtype=float) / days, 3)
    return pd.Series(np.where(days > 0, rate, np.nan), index=g["paper_id"])


def _papers(con: duckdb.DuckDBPyConnection, abstracts: pa.Table, aliases: pd.DataFrame, growth: pd.Series):
    """Survivorship per paper over `_chrono`: papers_core rows (the papers contract's types)."""
    schema = arrow_schema(Papers)
    pid = schema.field("paper_id").type  # the registered ids typed by the contract, empty ones too
    latest = ", ".join(f"arg_max({f}, _order) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in LATEST_FIELDS)
    con.register("_abs", abstracts.select(["paper_id", "abstract_len", "_order", "abstract"]))
    alias = pa.schema([("old_id", pid), ("paper_id", pid)])
    con.register("_alias", pa.Table.from_pandas(aliases[alias.names], alias, preserve_index=False))
    rate = pa.array(growth.to_numpy(dtype=float), from_pandas=True)  # NaN: no growth (null)
    ids = pa.array(growth.index.astype(str), type=pid)  # empty when no page printed upvotes
    con.register("_growth", pa.table({"paper_id": ids, "upvotes_growth_per_day": rate}))
    rows = con.execute(
        f"""WITH v AS (SELECT paper_id, title, count(*) AS n, max(_order) AS last FROM _chrono GROUP BY ALL),
             t AS (SELECT paper_id, arg_max(title, (n, last)) AS title,
                          list(title ORDER BY title) AS title_variants FROM v GROUP BY paper_id),
             a AS (SELECT paper_id, arg_max(abstract, (abstract_len, _order)) AS abstract
                   FROM _abs GROUP BY paper_id),
             m AS (SELECT paper_id, list(old_id::VARCHAR ORDER BY old_id) AS merged_ids
                   FROM _alias GROUP BY paper_id),
             g AS (SELECT paper_id, {latest}, max(upvotes) AS upvotes_max, min(page_date) AS first_seen,
                          max(page_date) AS last_seen, count(*) AS n_sightings,
                          count(DISTINCT record_id) AS n_records,
                          arg_min(title_key, _order) FILTER (WHERE title_key IS NOT NULL) AS title_key
                   FROM _chrono GROUP BY paper_id)
        SELECT g.paper_id, t.title, coalesce(a.abstract, '') AS abstract, g.authors_count, g.organization,
               g.published_date, g.upvotes, g.upvotes_max, _growth.upvotes_growth_per_day,
               g.first_seen, g.last_seen, g.n_sightings, g.n_records, t.title_variants,
               coalesce(m.merged_ids, []::VARCHAR[]) AS merged_ids, g.title_key
        FROM g JOIN t USING (paper_id) LEFT JOIN a USING (paper_id) LEFT JOIN m USING (paper_id)
        LEFT JOIN _growth USING (paper_id) ORDER BY g.paper_id"""
    ).to_arrow_table()
    for name in ("_abs", "_alias", "_growth"):
        con.unregister(name)
    fields = [schema.field(c) for c in rows.column_names if c != "title_key"]
    return rows.cast(pa.schema([*fields, pa.field("title_key", pa.string())]))


def resolve_full(
    con: duckdb.DuckDBPyConnection, sightings: str, registry: Registry, rules: MatchRules
) -> FullResolution:
    """Resolve every sighting of the table `sightings` (see the module docstring)."""
    _keys(con, sightings)
    _keyed(con, sightings)
    records = with_block_keys(_records(con), rules)
    scored = score_pairs(records, candidate_pairs(records, rules), rules)
    paper_of_record, new_registry = assign_ids(records, cluster(len(records), scored), registry)
    matches = with_papers(scored, paper_of_record).drop(columns=["i", "j"])
    _paper_ids(con, paper_of_record)
    abstracts = _record_abstracts(con, sightings)
    _history(con)
    papers = _papers(con, abstracts, new_registry.aliases, _growth(con))
    cols = ", ".join(f's."{c}"' for c in arrow_schema(Sightings).names)
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _sightings_out AS
        SELECT {cols}, r.record_id, r.paper_id FROM {sightings} s
        JOIN _resolved r USING (sighting_id)"""
    )
    return FullResolution(records.drop(columns="n"), matches, new_registry, papers, abstracts)


def resolve_frame(
    sightings: pd.DataFrame | pa.Table, registry: Registry | None = None, rules: MatchRules | None = None
) -> Resolution:
    """`resolve_full` on sightings held in memory (`make eval`, tests): an in-memory DuckDB laid out as the
    lake's staging table, so they run the very engine a full build runs. An Arrow table is taken as it is
    (the contract's types, as the lake stages them)."""
    staged = sightings if isinstance(sightings, pa.Table) else to_arrow(sightings, Sightings)
    with open_db() as con:
        con.register("_rows", staged)
        con.execute("CREATE TABLE sightings AS SELECT * FROM _rows")  # buffer-managed: read many times
        con.unregister("_rows")
        res = resolve_full(con, "sightings", registry or Registry(), rules or MatchRules())
        resolved = con.execute(
            "SELECT o.*, r.title_key FROM _sightings_out o JOIN _resolved r USING (sighting_id)"
        ).to_arrow_table()
    papers = res.papers_core.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get, date_as_object=False)
    for field in res.papers_core.schema:  # lists as Python lists, as a frame's readers compare them
        if pa.types.is_list(field.type):
            papers[field.name] = papers[field.name].map(list)
    out = from_arrow(resolved, ResolvedSightings).assign(title_key=resolved.column("title_key").to_pylist())
    return Resolution(out, papers, res.matches.reset_index(drop=True), res.registry)
