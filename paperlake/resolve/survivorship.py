"""Survivorship: one row per paper from its sightings.

"Latest" = latest page date, then file name, then position (a sighting without an abstract after one
with). title: most frequent variant, ties to the latest; abstract: the longest (the latest on ties);
authors_count, organization, published_date, upvotes: latest non-null; upvotes_max: max;
first_seen/last_seen: min/max page date; title_variants: every distinct printed title; merged_ids: the
ids merged into it. A page saved twice under two names counts once (page_id, position).
"""

import duckdb
import pyarrow as pa

from paperlake.frames import arrow_schema
from schemas import Papers

CHRONO = "coalesce(page_date, DATE '0001-01-01'), source_file, position, bare, sighting_id"
LATEST = ["authors_count", "organization", "published_date", "upvotes"]


def chronological(con: duckdb.DuckDBPyConnection, sightings: str) -> None:
    """`_chrono`: `sightings` with their place in page-date order (`_order`); a page saved twice counts
    once: its other copies' rows have no `_order` (survivorship skips them)."""
    con.execute(  # the order is found on the narrow columns it needs, then joined to the rows
        f"""CREATE OR REPLACE TEMP TABLE _chrono AS
        WITH o AS (SELECT sighting_id, row_number() OVER (ORDER BY {CHRONO}) AS _order FROM (
                       SELECT sighting_id, page_date, source_file, position, bare FROM {sightings}
                       QUALIFY row_number() OVER (PARTITION BY page_id, position
                                                  ORDER BY source_file, bare, sighting_id) = 1))
        SELECT s.*, o._order FROM {sightings} s LEFT JOIN o USING (sighting_id)"""
    )


def papers(con: duckdb.DuckDBPyConnection, abstracts: str, aliases: pa.Table, growth: pa.Table) -> pa.Table:
    """papers_core rows (the papers contract's types, and title_key) of the papers in `_chrono`, their
    abstract from `abstracts` (paper_id, abstract: `paperlake.resolve.abstracts`)."""
    schema = arrow_schema(Papers)
    pid = schema.field("paper_id").type
    latest = ", ".join(f"arg_max({f}, _order) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in LATEST)
    con.register("_alias", aliases.cast(pa.schema([("old_id", pid), ("paper_id", pid)])))
    con.register("_growth", growth)
    rows = con.execute(
        f"""WITH v AS (SELECT paper_id, title, count(*) AS n, max(_order) AS last FROM _chrono
                   WHERE _order IS NOT NULL GROUP BY ALL),
             t AS (SELECT paper_id, arg_max(title, (n, last)) AS title,
                          list(title ORDER BY title) AS title_variants FROM v GROUP BY paper_id),
             a AS (SELECT paper_id, abstract FROM {abstracts}),
             m AS (SELECT paper_id, list(old_id::VARCHAR ORDER BY old_id) AS merged_ids
                   FROM _alias GROUP BY paper_id),
             g AS (SELECT paper_id, {latest}, max(upvotes) AS upvotes_max, min(page_date) AS first_seen,
                          max(page_date) AS last_seen, count(*) AS n_sightings,
                          count(DISTINCT record_id) AS n_records,
                          arg_min(title_key, _order) FILTER (WHERE title_key IS NOT NULL) AS title_key
                   FROM _chrono WHERE _order IS NOT NULL GROUP BY paper_id)
        SELECT g.paper_id, t.title, coalesce(a.abstract, '') AS abstract, g.authors_count, g.organization,
               g.published_date, g.upvotes, g.upvotes_max, _growth.upvotes_growth_per_day,
               g.first_seen, g.last_seen, g.n_sightings, g.n_records, t.title_variants,
               coalesce(m.merged_ids, []::VARCHAR[]) AS merged_ids, g.title_key
        FROM g JOIN t USING (paper_id) LEFT JOIN a USING (paper_id) LEFT JOIN m USING (paper_id)
        LEFT JOIN _growth USING (paper_id) ORDER BY g.paper_id"""
    ).to_arrow_table()
    con.unregister("_alias")
    con.unregister("_growth")
    fields = [schema.field(c) for c in rows.column_names if c != "title_key"]
    return rows.cast(pa.schema([*fields, pa.field("title_key", pa.string())]))
