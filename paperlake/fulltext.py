"""The BM25 index behind `search_papers(q)`, kept in step with `papers` one increment at a time.

The fts extension's `create_fts_index` tokenizes every paper again (a full rebuild). After an increment
only the papers whose title or abstract changed are tokenized: their rows in the index tables (docs,
terms, dict, stats) are replaced using the index's own tokenize macro, stemmer and stopword list, so the
scores equal those of a full rebuild (BM25 reads only lengths, term and document frequencies, and the
document count; the ids the rows carry are arbitrary).
"""

import duckdb

from paperlake.db import load, scalar, sql_str

FIELDS = ("title", "abstract")
STEMMER = "porter"
FTS = "fts_main_papers"

SEARCH_MACRO = f"""
    CREATE OR REPLACE MACRO search_papers(q) AS TABLE
    SELECT p.*, s.score FROM (
        SELECT paper_id, {FTS}.match_bm25(paper_id, q) AS score FROM papers
    ) s JOIN papers p USING (paper_id)
    WHERE s.score IS NOT NULL ORDER BY s.score DESC
"""


def create(con: duckdb.DuckDBPyConnection) -> None:
    """Index every paper (fts loaded, `papers` in place) and define `search_papers(q)`."""
    fields = ", ".join(f"'{f}'" for f in FIELDS)
    con.execute(f"PRAGMA create_fts_index('papers', 'paper_id', {fields}, stemmer='{STEMMER}', overwrite=1)")
    con.execute(SEARCH_MACRO)


def update(con: duckdb.DuckDBPyConnection, gone: list[str]) -> None:
    """Re-index the papers an increment changes, before it is applied to `papers`: `gone` are the ids
    whose rows it removes, temp table `_new` holds the rows it adds. Only a changed title or abstract
    costs tokenizing; the index statistics follow when any document changed."""
    text = ", ".join(["paper_id", *FIELDS])
    ids = ", ".join(sql_str(i) for i in gone) or "NULL"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fts_old AS
        SELECT {text} FROM papers WHERE paper_id IN ({ids})""")  # literal ids: an index scan
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fts_gone AS
        SELECT paper_id FROM (SELECT {text} FROM _fts_old EXCEPT SELECT {text} FROM _new)""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fts_docs AS
        SELECT (SELECT coalesce(max(docid), -1) FROM {FTS}.docs) + row_number() OVER (ORDER BY paper_id)
               AS docid, *
        FROM (SELECT {text} FROM _new EXCEPT SELECT {text} FROM _fts_old)""")
    if any(scalar(con, f"SELECT count(*) FROM {t}") for t in ("_fts_gone", "_fts_docs")):
        _remove(con)
        _add(con)
        con.execute(f"DELETE FROM {FTS}.dict WHERE df = 0")
        con.execute(f"DELETE FROM {FTS}.stats")
        con.execute(f"INSERT INTO {FTS}.stats SELECT count(docid), sum(len) / count(len) FROM {FTS}.docs")
    for temp in ("_fts_old", "_fts_gone", "_fts_docs"):
        con.execute(f"DROP TABLE {temp}")


def _remove(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the gone papers' documents and term rows; their terms' document frequencies go down."""
    docids = con.execute(f"SELECT docid FROM {FTS}.docs WHERE name IN (SELECT paper_id FROM _fts_gone)")
    gone = ", ".join(str(r[0]) for r in docids.fetchall()) or "NULL"  # literal: skips row groups
    con.execute(f"""UPDATE {FTS}.dict d SET df = d.df - g.n FROM (
            SELECT termid, count(DISTINCT docid) AS n FROM {FTS}.terms WHERE docid IN ({gone}) GROUP BY termid
        ) g WHERE d.termid = g.termid""")
    for table in ("terms", "docs"):
        con.execute(f"DELETE FROM {FTS}.{table} WHERE docid IN ({gone})")


def _add(con: duckdb.DuckDBPyConnection) -> None:
    """Tokenize the new papers as create_fts_index does (a non-empty token that is not a stopword,
    stemmed); new terms get fresh ids."""
    load(con, "fts")
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
    con.execute("DROP TABLE _fts_words")
