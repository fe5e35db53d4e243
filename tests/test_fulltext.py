"""paperlake's own BM25 index build equals the fts extension's `create_fts_index`.

`fulltext.index_all` fills the index tables with its own SQL (one regex replace and a plain split instead
of the extension's regex split; each distinct word stemmed once). On every title and abstract of the
bundled sample, plus strings made to break a tokenizer (accents, digits, every separator, tabs and
newlines, non-ASCII letters, empty and missing text), both builds hold the same index content (per paper
and field the same terms, the same lengths, document frequencies and statistics) and give the same
search results.
"""

import duckdb
import pytest

from paperlake import fulltext
from paperlake.duck import load, open_db
from paperlake.ingest import read_raw
from tests.helpers import SAMPLE, process_page

FTS = fulltext.FTS
CONTENT = {
    "terms": f"""SELECT d.name, f.field, dict.term FROM {FTS}.terms t JOIN {FTS}.docs d USING (docid)
                 JOIN {FTS}.dict dict USING (termid) JOIN {FTS}.fields f USING (fieldid)""",
    "docs": f"SELECT name, len FROM {FTS}.docs",
    "dict": f"SELECT term, df FROM {FTS}.dict",
    "stats": f"SELECT num_docs, round(avgdl, 9) FROM {FTS}.stats",
}
HARD = [
    ("Café-naïve résumé: ÉCOLE", 'Straße, Ærø and Ōsaka; déjà-vu\'d "quotes" `ticks`'),
    ("x2y 3d GPT-4o v1.5", "a_b a+b a=b a{b}c [x] (y) <z> ~w? 100% #tag @user $5 ^up &amp; *star*"),
    ("tabs\tand\nnewlines\r\nhere", "   leading and trailing   "),
    ("back\\slash / slash | pipe", "Ünïcödé ﬁ ligature, Greek αβγ, Cyrillic слово, 中文 text"),
    ("the and of", ""),
    ("", None),
    ("I", "a"),
]
QUERIES = ["reasoning", "language model agents", "cafe naive", "école", "gpt", "слово", "straße", "x2y"]


def _papers() -> list[tuple[str, str | None, str | None]]:
    rows = []
    for f in sorted(SAMPLE.iterdir()):
        s = process_page(read_raw(f, SAMPLE)).sightings
        rows += list(zip(s["sighting_id"], s["title"], s["abstract"], strict=True))
    return rows + [(f"hard_{i}", t, a) for i, (t, a) in enumerate(HARD)]


def _index(rows: list, ours: bool) -> duckdb.DuckDBPyConnection:
    con = open_db(":memory:")
    load(con, "fts")
    con.execute("CREATE TABLE papers (paper_id VARCHAR, title VARCHAR, abstract VARCHAR)")
    if ours:
        fulltext.define(con)
    con.executemany("INSERT INTO papers VALUES (?, ?, ?)", rows)
    if ours:
        fulltext.index_all(con)
    else:
        fulltext.define(con)  # the extension indexes every row itself
    return con


@pytest.fixture(scope="module")
def both() -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]:
    rows = _papers()
    assert len(rows) > 280
    return _index(rows, ours=True), _index(rows, ours=False)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=repr)


@pytest.mark.parametrize("part", CONTENT)
def test_index_content_equals_create_fts_index(both, part: str) -> None:
    ours, extension = both
    mine = _rows(ours, CONTENT[part])
    assert mine == _rows(extension, CONTENT[part])
    assert mine  # a table of the index that is empty on both sides would prove nothing


def test_search_results_equal_create_fts_index(both) -> None:
    ours, extension = both
    hits = 0
    for q in QUERIES:
        sql = "SELECT paper_id, round(score, 9) FROM search_papers($q) ORDER BY 2 DESC, 1"
        mine = ours.execute(sql, {"q": q}).fetchall()
        assert mine == extension.execute(sql, {"q": q}).fetchall(), q
        hits += len(mine)
    assert hits > 50
