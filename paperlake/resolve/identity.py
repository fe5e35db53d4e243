"""Papers and their ids: connected components over merged pairs, and ids that survive re-runs.

A registry maps record → paper_id. A cluster keeps the id its records already had; a new cluster gets
"p_" + sha256(title key, abstract key of its earliest record)[:12]; when clusters merge, the earliest id
survives and the others are kept as aliases (`papers.merged_ids`).
"""

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from paperlake.duck import temp_table

# SQL: the id a record gives the new paper it is the earliest record of: "p_" + sha256 of its title and
# abstract keys, first 12 hex digits (its record id is the first 16 of that very hash)
NEW_ID = "'p_' || left(record_id, 12)"
REGISTRY_SCHEMA = pa.schema([("record_id", pa.string()), ("paper_id", pa.string())])
ALIAS_SCHEMA = pa.schema([("old_id", pa.string()), ("paper_id", pa.string())])


@dataclass
class Registry:
    """Identity that survives re-runs: record → paper_id, and ids that were merged away → survivor."""

    records: pa.Table = field(default_factory=REGISTRY_SCHEMA.empty_table)
    aliases: pa.Table = field(default_factory=ALIAS_SCHEMA.empty_table)


def cluster(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components over merged pairs (record indexes `i`, `j`): record index → cluster label."""
    graph = coo_matrix((np.ones(len(i)), (i.astype(int), j.astype(int))), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def assign_ids(con: duckdb.DuckDBPyConnection, records: str, labels: np.ndarray, registry: str) -> None:
    """`_por` (record_id → paper_id, earliest first) and `_aliases_new` (every alias after the run).

    `records` (record_id, new_id: NEW_ID, i: earliest first) are clustered by `labels` (index i → label);
    `registry` holds their registered ids and `_aliases` every alias. A cluster keeps the registered id of
    its earliest record that has one; if a registered id now spans several clusters (a split), the
    earliest cluster keeps it and the others get new ids; the other ids a cluster held become aliases."""
    temp_table(con, "_label", pa.table({"i": np.arange(len(labels)), "label": labels}))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _f AS
        SELECT k.record_id, k.new_id, k.i, l.label, r.paper_id AS prev
        FROM {records} k JOIN _label l USING (i) LEFT JOIN {registry} r USING (record_id);
        CREATE OR REPLACE TEMP TABLE _owned AS
        WITH rank AS (SELECT label, min(i) AS rank FROM _f GROUP BY label),
             olds AS (SELECT label, prev, min(i) AS i FROM _f WHERE prev IS NOT NULL GROUP BY ALL),
             owner AS (SELECT prev, arg_min(label, rank) AS label FROM olds JOIN rank USING (label)
                       GROUP BY prev)
        SELECT * FROM olds SEMI JOIN owner USING (prev, label);
        CREATE OR REPLACE TEMP TABLE _ids AS
        WITH kept AS (SELECT label, arg_min(prev, i) AS paper_id FROM _owned GROUP BY label),
             fresh AS (SELECT label, arg_min(new_id, i) AS new_id FROM _f ANTI JOIN kept USING (label)
                       GROUP BY label)
        SELECT * FROM kept UNION ALL
        SELECT label, CASE WHEN new_id IN (SELECT paper_id FROM kept)  -- a split half minted the kept id
                           THEN 'p_' || left(sha256(new_id || chr(31) || 'split'), 12) ELSE new_id END
        FROM fresh;
        CREATE OR REPLACE TEMP TABLE _por AS
        SELECT record_id, paper_id FROM _f JOIN _ids USING (label) ORDER BY i;
        CREATE OR REPLACE TEMP TABLE _aliases_new AS
        WITH away AS (SELECT o.prev AS old_id, d.paper_id FROM _owned o JOIN _ids d USING (label)
                      WHERE o.prev NOT IN (SELECT paper_id FROM _ids))
        SELECT * FROM (SELECT * FROM _aliases WHERE old_id NOT IN (SELECT old_id FROM away)
                       UNION ALL SELECT * FROM away)
        WHERE old_id NOT IN (SELECT paper_id FROM _ids);
        DROP TABLE _label; DROP TABLE _f; DROP TABLE _owned; DROP TABLE _ids"""
    )
