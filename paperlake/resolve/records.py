"""Records: the sightings of one title key and abstract key, with what the evidence compares.

A record's name, published date, authors count and organisation are the first non-null over its
sightings in (source_file, position) order; first_seen is its earliest page date. Its block keys are the
title key and hashes of the first and last `block_words` words of its abstract key ('' when shorter).
Records are ordered earliest first (first_seen, then record_id): the order pairs and ids follow.
"""

import duckdb
import pyarrow as pa

from paperlake.resolve.keys import sha

FIELDS = ["name", "published_date", "authors_count", "organization"]
RECORD_SCHEMA = pa.schema(  # a stored record (staging.records)
    [
        ("record_id", pa.string()),
        ("title_key", pa.string()),
        ("abstract_key", pa.string()),
        ("abstract_head", pa.string()),
        ("abstract_tail", pa.string()),
        ("first_seen", pa.date32()),
        ("name", pa.string()),
        ("published_date", pa.date32()),
        ("authors_count", pa.int64()),
        ("organization", pa.string()),
    ]
)


def aggregate(con: duckdb.DuckDBPyConnection, sightings: str, into: str, block_words: int) -> None:
    """`into`: one row per record of `sightings` with an abstract (record_id, title_key, name, the record
    fields, and `aid` of `_ak` for sightings read now, or the stored record's block keys `stored_head`,
    `stored_tail`), the columns of RECORD_SCHEMA; the abstract key of a record seen only in stored
    sightings is left null (the caller reads it only where it is needed)."""
    first = ", ".join(
        f"arg_min({f}, (source_file, position)) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in FIELDS
    )
    n = int(block_words) - 1  # the first / last n + 1 words of a key with at least that many (else '')
    head = f"regexp_extract(abstract_key, '^(?:[^ ]* ){{{n}}}[^ ]*')"
    tail = f"regexp_extract(abstract_key, '[^ ]*(?: [^ ]*){{{n}}}$')"
    block = "CASE WHEN {0} <> '' THEN " + sha("{0}", length=16) + " ELSE '' END"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        WITH r AS (SELECT record_id, any_value(title_key) AS title_key, any_value(aid) AS aid,
                          any_value(stored_head) AS stored_head, any_value(stored_tail) AS stored_tail,
                          min(page_date) AS first_seen, {first}
                   FROM {sightings} WHERE NOT bare GROUP BY record_id),
             k AS (SELECT r.*, a.abstract_key FROM r LEFT JOIN _ak a USING (aid)),
             w AS (SELECT *, {head} AS head, {tail} AS tail FROM k)
        SELECT record_id, title_key, abstract_key,
               CASE WHEN aid IS NULL THEN stored_head ELSE {block.format("head")} END AS abstract_head,
               CASE WHEN aid IS NULL THEN stored_tail ELSE {block.format("tail")} END AS abstract_tail,
               first_seen, {", ".join(FIELDS)}
        FROM w"""
    )
