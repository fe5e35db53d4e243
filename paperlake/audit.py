"""Whole-table invariants as SQL over a DuckDB connection, returning the offending rows (empty = holds).

SQL, not pandas: the audit runs on the lake's tables before every publish, and aggregating 570,000
sightings in DuckDB takes a fraction of a second where loading them into pandas took seconds. The
table arguments name tables or views on `con` (the lake's `lake.main.*`, or registered frames in tests).
"""

import duckdb
import pandas as pd
import pandera.pandas as pa


def conservation_problems(
    con: duckdb.DuckDBPyConnection,
    keys: list[str],
    pages: str = "pages",
    sightings: str = "sightings",
    rejects: str = "rejects",
) -> pd.DataFrame:
    """Files in = pages rows; per page n_entries = n_valid + n_rejected, and both match the tables."""
    return con.execute(
        f"""
        WITH p AS (SELECT source_file, n_entries, n_valid, n_rejected FROM {pages}),
        v AS (SELECT source_file, count(*) AS n FROM {sightings} GROUP BY ALL),
        r AS (SELECT source_file, count(*) AS n FROM {rejects} WHERE kind = 'entry' GROUP BY ALL),
        k AS (SELECT unnest($keys::VARCHAR[]) AS source_file)
        SELECT source_file, 'file has no pages row' AS problem FROM k ANTI JOIN p USING (source_file)
        UNION ALL SELECT source_file, 'pages row for a file that is not a partition'
            FROM p ANTI JOIN k USING (source_file)
        UNION ALL SELECT source_file, 'n_entries != n_valid + n_rejected'
            FROM p WHERE n_entries != n_valid + n_rejected
        UNION ALL SELECT source_file, format('{{}} sightings rows, n_valid {{}}', coalesce(v.n, 0), n_valid)
            FROM p LEFT JOIN v USING (source_file) WHERE coalesce(v.n, 0) != n_valid
        UNION ALL SELECT source_file,
                format('{{}} entry rejects, n_rejected {{}}', coalesce(r.n, 0), n_rejected)
            FROM p LEFT JOIN r USING (source_file) WHERE coalesce(r.n, 0) != n_rejected
        UNION ALL SELECT source_file, 'rows for a file with no pages row'
            FROM (SELECT source_file FROM v UNION SELECT source_file FROM r) ANTI JOIN p USING (source_file)
        ORDER BY source_file, problem
        """,
        {"keys": keys},
    ).df()


def reference_problems(
    con: duckdb.DuckDBPyConnection, sightings: str = "sightings", papers: str = "papers"
) -> pd.DataFrame:
    """Every sighting points at an existing paper and every paper's n_sightings matches its sightings
    (the same content under two file names counts once)."""
    return con.execute(
        f"""
        SELECT paper_id, format('sighting {{}} points at no paper', sighting_id) AS problem
            FROM {sightings} ANTI JOIN {papers} USING (paper_id)
        UNION ALL SELECT paper_id,
                format('n_sightings {{}} but {{}} sightings', n_sightings, coalesce(c.n, 0))
            FROM {papers} LEFT JOIN (
                SELECT paper_id, count(*) AS n FROM (
                    SELECT min(paper_id) AS paper_id FROM {sightings} GROUP BY page_id, position
                ) GROUP BY ALL
            ) c USING (paper_id)
            WHERE coalesce(c.n, 0) != n_sightings
        ORDER BY paper_id, problem
        """
    ).df()


def unique_columns(model: type[pa.DataFrameModel]) -> list[str]:
    """The columns the contract declares unique."""
    return [name for name, col in model.to_schema().columns.items() if col.unique]


def duplicate_problems(con: duckdb.DuckDBPyConnection, table: str, cols: list[str]) -> pd.DataFrame:
    """Values of `cols` held by more than one row of the whole table (a check a subset cannot make)."""
    parts = [
        f"SELECT '{c}' AS column, 'unique' AS check, {c}::VARCHAR AS failure_case, count(*) AS index "
        f"FROM {table} GROUP BY {c} HAVING count(*) > 1"
        for c in cols
    ]
    if not parts:
        return pd.DataFrame(columns=["column", "check", "failure_case", "index"])
    return con.execute(" UNION ALL ".join(parts) + " LIMIT 100").df()
