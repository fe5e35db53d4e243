"""The BM25 index behind `search_papers(q)`, kept in step with `papers` one increment at a time.

The fts extension's `create_fts_index` tokenizes every paper again (a full rebuild). After an increment
only the papers whose title or abstract changed are tokenized: their rows in the index tables (docs,
terms, dict, stats) are replaced using the index's own tokenize macro, stemmer and stopword list, so the
scores equal those of a full rebuild (BM25 reads only lengths, term and document frequencies, and the
document count; the ids the rows carry are arbitrary).
"""

import duckdb

TEXT = "papers_text"  # the indexed copy of papers(paper_id, title, abstract)
FIELDS = ("title", "abstract")
STEMMER = "porter"
FTS = f"fts_main_{TEXT}"

SEARCH_MACRO = f"""
    CREATE OR REPLACE MACRO search_papers(q) AS TABLE
    SELECT p.*, s.score FROM (
        SELECT paper_id, {FTS}.match_bm25(paper_id, q) AS score FROM {TEXT}
    ) s JOIN papers p USING (paper_id)
    WHERE s.score IS NOT NULL ORDER BY s.score DESC
"""


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Index every paper (fts loaded, `papers` in place) and define `search_papers(q)`."""
    con.execute(f"CREATE OR REPLACE TABLE {TEXT} AS SELECT paper_id, {', '.join(FIELDS)} FROM papers")
    fields = ", ".join(f"'{f}'" for f in FIELDS)
    con.execute(f"PRAGMA create_fts_index('{TEXT}', 'paper_id', {fields}, stemmer='{STEMMER}', overwrite=1)")
    con.execute(SEARCH_MACRO)


def update(con: duckdb.DuckDBPyConnection, old: str, new: str) -> int:
    """Re-index the papers whose text changed between `old` (the papers rows an increment removed) and
    `new` (the rows it added), both tables or views over papers' columns. Returns the papers re-indexed."""
    text = ", ".join(["paper_id", *FIELDS])
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fts_gone AS
        SELECT paper_id FROM (SELECT {text} FROM {old} EXCEPT SELECT {text} FROM {new})""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fts_docs AS
        SELECT (SELECT coalesce(max(docid), -1) FROM {FTS}.docs) + row_number() OVER (ORDER BY paper_id)
               AS docid, *
        FROM (SELECT {text} FROM {new} EXCEPT SELECT {text} FROM {old})""")
    n = con.execute("SELECT (SELECT count(*) FROM _fts_gone) + (SELECT count(*) FROM _fts_docs)")
    n = n.fetchone()[0]
    if n:
        _remove(con)
        _add(con)
        con.execute(f"DELETE FROM {FTS}.dict WHERE df = 0")
        con.execute(f"DELETE FROM {FTS}.stats")
        con.execute(f"INSERT INTO {FTS}.stats SELECT count(docid), sum(len) / count(len) FROM {FTS}.docs")
    con.execute("DROP TABLE _fts_gone")
    con.execute("DROP TABLE _fts_docs")
    return int(n)


def _remove(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the gone papers' documents and term rows; their terms' document frequencies go down."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fts_gone_ids AS
        SELECT docid FROM {FTS}.docs WHERE name IN (SELECT paper_id FROM _fts_gone)""")
    con.execute(f"""UPDATE {FTS}.dict d SET df = d.df - g.n FROM (
            SELECT termid, count(DISTINCT docid) AS n FROM {FTS}.terms
            WHERE docid IN (SELECT docid FROM _fts_gone_ids) GROUP BY termid
        ) g WHERE d.termid = g.termid""")
    for table in ("terms", "docs"):
        con.execute(f"DELETE FROM {FTS}.{table} WHERE docid IN (SELECT docid FROM _fts_gone_ids)")
    con.execute(f"DELETE FROM {TEXT} WHERE paper_id IN (SELECT paper_id FROM _fts_gone)")
    con.execute("DROP TABLE _fts_gone_ids")


def _add(con: duckdb.DuckDBPyConnection) -> None:
    """Tokenize the new papers as create_fts_index does (a non-empty token that is not a stopword,
    stemmed); new terms get fresh ids."""
    fields = " UNION ALL ".join(
        f"SELECT docid, (SELECT fieldid FROM {FTS}.fields WHERE field = '{f}') AS fieldid, "
        f"unnest({FTS}.tokenize({f})) AS w FROM _fts_docs"
        for f in FIELDS
    )
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fts_words AS
        SELECT docid, fieldid, stem(w, '{STEMMER}') AS term FROM ({fields})
        WHERE w IS NOT NULL AND len(w) > 0 AND w NOT IN (SELECT sw FROM {FTS}.stopwords)""")
    con.execute(f"""INSERT INTO {FTS}.dict
        SELECT (SELECT coalesce(max(termid), -1) FROM {FTS}.dict) + row_number() OVER (ORDER BY term), term, 0
        FROM (SELECT DISTINCT term FROM _fts_words WHERE term NOT IN (SELECT term FROM {FTS}.dict))""")
    con.execute(f"""UPDATE {FTS}.dict d SET df = d.df + a.n FROM (
            SELECT term, count(DISTINCT docid) AS n FROM _fts_words GROUP BY term
        ) a WHERE d.term = a.term""")
    con.execute(f"""INSERT INTO {FTS}.terms
        SELECT w.docid, w.fieldid, d.termid FROM _fts_words w JOIN {FTS}.dict d USING (term)""")
    con.execute(f"""INSERT INTO {FTS}.docs SELECT d.docid, d.paper_id, count(w.term)
        FROM _fts_docs d LEFT JOIN _fts_words w USING (docid) GROUP BY ALL""")
    fields = ", ".join(FIELDS)
    con.execute(f"INSERT INTO {TEXT} SELECT paper_id, {fields} FROM _fts_docs")
    con.execute("DROP TABLE _fts_words")
