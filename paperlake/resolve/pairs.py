"""Candidate pairs (blocking, no all-pairs) and their evidence.

Blocking: records sharing a block key (`paperlake.resolve.records`: the title key, the abstract's head,
its tail) are candidates, in the blocks of 2 to `max_block` records (a key shared more widely, like a
boilerplate last sentence, is no evidence). The one relation is `(record_id, kind, key)`; the one pair
finder joins the records of a scope against every record. Scoring is `paperlake.match` (rapidfuzz,
vectorised over the pairs); a pair merges when its weights reach the threshold and both records have an
abstract (decision in `rule`).
"""

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from paperlake.duck import temp_table
from paperlake.frames import arrow_schema
from paperlake.match import FIELDS, THRESHOLD, compare
from schemas import CONTRACT
from schemas.vocabulary import MatchRule

BLOCK_FLAGS = {"title": 1, "abstract_head": 2, "abstract_tail": 4}
BLOCK_COLUMNS = {"title": "title_key", "abstract_head": "abstract_head", "abstract_tail": "abstract_tail"}


@dataclass(frozen=True)
class MatchRules:
    """Blocking sizes and the merge threshold (on the summed field weights of `paperlake.match`)."""

    block_words: int = 30
    max_block: int = 25  # a key shared by more records is boilerplate, not identity: skipped
    threshold: float = THRESHOLD


def blocks(records: str) -> str:
    """SQL: the block relation (record_id, kind, key) of the records of `records`."""
    return " UNION ALL ".join(
        f"SELECT record_id, '{kind}' AS kind, {col} AS key FROM {records} WHERE {col} <> ''"
        for kind, col in BLOCK_COLUMNS.items()
    )


def find(con: duckdb.DuckDBPyConnection, changed: str, before: str, after: str, rules: MatchRules) -> None:
    """The pairs to (re)score when the records `changed` (ids, old or new) went from the record set
    `before` to `after`: `_t` (the changed records and those sharing a block with them that is or was
    small enough to pair), `_members` (the records in the blocks a pair of `_t` can come from, earliest
    first: `i`) and `_pairs` (i < j with a record of `_t`, each naming every block that found it).
    A full resolution is `changed` = every record, `before` empty."""
    m = int(rules.max_block)
    flag = " ".join(f"WHEN '{k}' THEN {f}" for k, f in BLOCK_FLAGS.items())
    old = f"({blocks(before)})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _b AS {blocks(after)};
        CREATE OR REPLACE TEMP TABLE _touched AS
        WITH k AS (SELECT DISTINCT kind, key FROM {old} WHERE record_id IN (SELECT * FROM {changed})
                   UNION SELECT kind, key FROM _b WHERE record_id IN (SELECT * FROM {changed})),
             b AS (SELECT kind, key, count(*) AS n FROM {old} SEMI JOIN k USING (kind, key) GROUP BY ALL),
             a AS (SELECT kind, key, count(*) AS n FROM _b SEMI JOIN k USING (kind, key) GROUP BY ALL)
        SELECT kind, key FROM k LEFT JOIN b USING (kind, key) LEFT JOIN a USING (kind, key)
        WHERE least(coalesce(b.n, 0), coalesce(a.n, 0)) <= {m};
        CREATE OR REPLACE TEMP TABLE _t AS
        SELECT * FROM {changed} UNION SELECT record_id FROM _b SEMI JOIN _touched USING (kind, key);
        CREATE OR REPLACE TEMP TABLE _valid AS
        WITH k AS (SELECT DISTINCT kind, key FROM _b WHERE record_id IN (SELECT record_id FROM _t))
        SELECT kind, key FROM _b SEMI JOIN k USING (kind, key) GROUP BY ALL HAVING count(*) BETWEEN 2 AND {m};
        CREATE OR REPLACE TEMP TABLE _members AS
        SELECT r.*, row_number() OVER (ORDER BY r.first_seen NULLS LAST, r.record_id) - 1 AS i
        FROM {after} r WHERE r.record_id IN (SELECT record_id FROM _b SEMI JOIN _valid USING (kind, key));
        CREATE OR REPLACE TEMP TABLE _pairs AS
        WITH mb AS (SELECT b.kind, b.key, m.i, m.record_id FROM _b b SEMI JOIN _valid USING (kind, key)
                    JOIN _members m USING (record_id))
        SELECT x.i, y.i AS j, sum(CASE x.kind {flag} END) AS flags
        FROM mb x JOIN mb y ON x.kind = y.kind AND x.key = y.key AND x.i < y.i
        WHERE x.record_id IN (SELECT record_id FROM _t) OR y.record_id IN (SELECT record_id FROM _t)
        GROUP BY x.i, y.i ORDER BY x.i, y.i;
        DROP TABLE _b; DROP TABLE _touched; DROP TABLE _valid"""
    )


def score(con: duckdb.DuckDBPyConnection, rules: MatchRules) -> None:
    """`_scored`: `_pairs` of `_members`, each with its field levels, total weight and decision
    (`paperlake.match`): record_a is the earlier record."""
    members = con.execute(
        "SELECT record_id, title_key, abstract_key, name, published_date, authors_count, organization "
        "FROM _members ORDER BY i"
    ).to_arrow_table()
    pairs = {k: np.asarray(v, np.int64) for k, v in con.execute("SELECT * FROM _pairs").fetchnumpy().items()}
    con.execute("DROP TABLE _members; DROP TABLE _pairs")
    cols = {c: np.array(members.column(c).to_pylist(), dtype=object) for c in members.column_names}
    a = {c: v[pairs["i"]] for c, v in cols.items()}
    b = {c: v[pairs["j"]] for c, v in cols.items()}
    ev = compare(a, b)
    merged = ev["has_abstract"] & (ev["match_weight"] >= rules.threshold)
    same_title = ev["title_agreement"] == "exact"
    rule = np.select(
        [merged, ~ev["has_abstract"], same_title],
        [MatchRule.MATCH, MatchRule.ABSTRACT_MISSING, MatchRule.TITLE_ONLY_REJECTED],
        default=MatchRule.NO_MATCH,
    )
    names = {code: "+".join(n for n, f in BLOCK_FLAGS.items() if code & f) for code in range(1, 8)}
    columns: dict[str, object] = {
        "record_a": a["record_id"],
        "record_b": b["record_id"],
        "block": [names[int(f)] for f in pairs["flags"]],
        "title_score": ev["title_score"],
        "abstract_score": ev["abstract_score"],
        "abstract_places": pa.array(ev["abstract_places"], mask=ev["abstract_places"] < 0),
        **{f"{f}_agreement": ev[f"{f}_agreement"] for f in FIELDS},
        "match_weight": ev["match_weight"],
        "rule": rule,
        "merged": merged,
    }
    schema = arrow_schema(CONTRACT["matches"])
    temp_table(con, "_scored", pa.table(columns, pa.schema([schema.field(c) for c in columns])))
