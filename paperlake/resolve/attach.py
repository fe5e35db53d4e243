"""Sightings without an abstract never enter blocking or scoring, where a title alone must not merge.

One joins a paper only on strong evidence: the same title key and published date as the sightings of
exactly one paper; otherwise those sharing its title key and date form their own paper (id from both,
stable across runs), whose abstract is empty.
"""

import duckdb

from paperlake.resolve.keys import bare_paper_id


def attach(con: duckdb.DuckDBPyConnection, seen: str, bare: str, into: str) -> None:
    """`into`: each sighting of `bare` (sighting_id, title_key, published_date) with its paper_id, given
    the sightings with an abstract `seen` (title_key, published_date, paper_id) that share its title key."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        WITH s AS (SELECT DISTINCT title_key, published_date, paper_id FROM {seen}
                   WHERE published_date IS NOT NULL),
             one AS (SELECT title_key, published_date, any_value(paper_id) AS paper_id
                     FROM s GROUP BY ALL HAVING count(*) = 1)
        SELECT b.sighting_id,
               coalesce(one.paper_id, {bare_paper_id("b.title_key", "b.published_date")}) AS paper_id
        FROM {bare} b
        LEFT JOIN one ON one.title_key = b.title_key AND one.published_date = b.published_date"""
    )
