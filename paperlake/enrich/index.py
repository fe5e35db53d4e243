"""Incremental enrichment: per-paper results cached by content, `related` from a stored TF-IDF index.

A full build (the first run, `full=True`, or once the papers changed since the last fit pass
REFIT_SHARE of the corpus) fits TF-IDF over every paper as `paperlake.enrich.enrich` does, and keeps what
an increment needs in lake tables, so it works with any catalog and data path:

  staging.enrich_fit       one row: papers fitted on, papers changed since, the state's VERSION
  staging.enrich_vocab     term_id, term, idf, df of that fit: frozen until the next full build
  staging.enrich_postings  term_id, doc, weight: each paper's TF-IDF row (an inverted index; doc is an
                           integer per paper, so the index joins and groups integers)
  staging.enrich_papers    paper_id, doc, content_hash (title + abstract), row_hash (the papers_core
                           row), kw_topics (keyword topic scores, JSON), keywords, related and their
                           exact cosine similarities (related_scores)

An increment finds the papers whose papers_core row changed by hash (only among `changed` when the
caller knows them) and recomputes their content-only columns. The papers whose *content* changed are
vectorised against the frozen vocabulary and idf (terms the fit never saw are ignored until the next full
build: that is how idf drift is handled). Their lists, and the lists that held a changed or removed
paper, are the exact top RELATED of the index (one product with every stored row); a stored list takes a
new paper exactly when it beats the stored fifth score; inherited topics are re-derived wherever a list
changed. The main tables are written by key (the affected papers' rows deleted and inserted) in one
commit with the state.
"""

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from paperlake import commit, lake
from paperlake.duck import row_counts, scalar, temp_table
from paperlake.enrich import assemble, enrich_fitted, paper_links, paper_topics
from paperlake.enrich.related import MIN_RELATED_SIMILARITY, RELATED, select_columns
from paperlake.enrich.text_model import documents, row_keywords, term_counts, weigh
from paperlake.enrich.topics import inherit_topics, topic_scores
from paperlake.frames import arrow_schema, to_arrow
from schemas import CONTRACT
from schemas.catalog import CATALOG, written_by

FIT, VOCAB, POSTINGS, STATE = (
    lake.staging_table(f"enrich_{t}") for t in ("fit", "vocab", "postings", "papers")
)
ENRICHED = written_by("enrich")
REFIT_SHARE = 0.25  # refit once this share of the fitted papers changed: idf drift stays bounded
VERSION = 2  # of the stored state; any other (v1 stored pruned vectors) is rebuilt in full
# DuckDB's 64-bit hash: 12x faster than md5 here. Should a DuckDB upgrade change it, every paper reads as
# changed and the next run refits (REFIT_SHARE): slow once, never wrong.
CONTENT_HASH = "hash(c.title, c.abstract)"  # what enrichment reads
ROW_HASH = "hash(c)"  # the whole papers_core row: what main.papers copies
IN_IDS = "paper_id IN (SELECT unnest($ids::VARCHAR[]))"
STORED = "doc, kw_topics, keywords, related, related_scores"  # the state columns an increment reads back
# The Arrow type of each column of the state tables and of the pair scores, by name
TYPES = dict.fromkeys(("term_id", "doc", "df", "a", "b"), pa.int32())
TYPES |= dict.fromkeys(("idf", "weight", "s"), pa.float32())
TYPES |= dict.fromkeys(("content_hash", "row_hash"), pa.uint64())
TYPES |= dict.fromkeys(("paper_id", "term", "kw_topics"), pa.string())
TYPES |= dict.fromkeys(("keywords", "related"), pa.list_(pa.string()))
TYPES["related_scores"] = pa.list_(pa.float32())
Related = dict[str, tuple[list[str], list[float]]]  # paper_id → its related papers and their scores


def _table(**columns) -> pa.Table:
    """An Arrow table of the given columns, each of its type in TYPES."""
    return pa.table({name: pa.array(values, TYPES[name]) for name, values in columns.items()})


@dataclass
class Published:
    """What a publish wrote: each main table's inserted rows, its row count after, and whether it refit."""

    rows: dict[str, pa.Table]
    counts: dict[str, int]
    full: bool


@dataclass
class Diff:
    """Papers whose papers_core row changed (`rows`), the subset whose title or abstract changed or that
    are new (`content`), and the paper_ids gone from papers_core (`removed`)."""

    rows: set[str]
    content: set[str]
    removed: set[str]


def publish(
    con: duckdb.DuckDBPyConnection, core: str, changed: set[str] | None = None, full: bool = False
) -> Published:
    """Enrich the papers of table `core` into main.papers, paper_links and paper_topics: incrementally
    when a fit is stored and still fresh, else a full build. `changed` (papers_core rows that changed)
    limits the change scan; removed papers are found by an anti-join on paper_id (cheap)."""
    fit = None if full else _fit(con)
    if fit is None:
        return _full(con, core)
    diff = _diff(con, core, changed)
    if fit["changed_since"] + len(diff.content) + len(diff.removed) > REFIT_SHARE * max(fit["papers"], 1):
        return _full(con, core)
    return _increment(con, core, diff)


def _fit(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The stored fit's row, when the state and main.papers exist and the state is of this VERSION."""
    if not {FIT, VOCAB, POSTINGS, STATE, lake.main_table("papers")} <= lake.tables(con):
        return None
    cur = con.execute(f"SELECT * FROM {FIT}")
    fit = dict(zip([c[0] for c in cur.description], cur.fetchone() or (), strict=False))
    return fit if fit.get("version") == VERSION else None


def _read_core(con: duckdb.DuckDBPyConnection, core: str, ids: list[str] | None = None) -> pd.DataFrame:
    """papers_core rows (all, or of `ids`: those already in the _changed temp table are taken from it)
    sorted by paper_id, with their two hashes as _ch and _rh."""
    sql, params = f"SELECT c.*, {CONTENT_HASH} AS _ch, {ROW_HASH} AS _rh FROM {core} c", {}
    if ids is not None:
        have = {r[0] for r in con.execute("SELECT paper_id FROM _changed").fetchall()}
        params = {"ids": ids} | ({"extra": extra} if (extra := sorted(set(ids) - have)) else {})
        union = f" UNION ALL {sql} WHERE c.paper_id IN (SELECT unnest($extra::VARCHAR[]))" if extra else ""
        sql = f"SELECT * EXCLUDE (_content) FROM _changed WHERE {IN_IDS}{union}"
    return con.execute(f"SELECT * FROM ({sql}) ORDER BY paper_id", params).df().reset_index(drop=True)


def _full(con: duckdb.DuckDBPyConnection, core: str) -> Published:
    """Fit everything as `paperlake.enrich.enrich` does; write the main tables (diff) and the state."""
    papers = _read_core(con, core)
    hashes = papers.pop("_ch"), papers.pop("_rh")
    enriched, kw, model = enrich_fitted(papers)
    ids, docs, vec = papers["paper_id"].tolist(), np.arange(len(papers)), model.vectors.tocoo()
    rows = _rows(enriched)
    state = _state(ids, docs, *hashes, kw, model.keywords, model.related, model.scores)
    fit = pa.table({"papers": [len(ids)], "changed_since": [0], "version": [VERSION]})
    vocab = _table(term_id=np.arange(len(model.terms)), term=model.terms.tolist(), idf=model.idf, df=model.df)
    with commit.transaction(con):
        for table, arrow in rows.items():
            commit.sync(con, lake.main_table(table), arrow, CATALOG[table].key)
        postings = _table(term_id=vec.col, doc=docs[vec.row], weight=vec.data)
        for name, arrow in ((FIT, fit), (VOCAB, vocab), (POSTINGS, postings), (STATE, state)):
            commit.overwrite(con, name, arrow)
    return Published(rows, {t: r.num_rows for t, r in rows.items()}, True)


def _rows(enriched: pd.DataFrame) -> dict[str, pa.Table]:
    """The main tables' rows of the enriched papers."""
    papers = to_arrow(enriched, CONTRACT["papers"])
    return {"papers": papers, "paper_links": paper_links(enriched), "paper_topics": paper_topics(enriched)}


def _state(ids, docs, content_hash, row_hash, kw, keywords, related, scores) -> pa.Table:
    """The state rows of papers (`kw`: their keyword topic scores, stored as JSON)."""
    return _table(
        paper_id=ids,
        doc=docs,
        content_hash=content_hash,
        row_hash=row_hash,
        kw_topics=[json.dumps(sc) for sc in kw],
        keywords=keywords,
        related=related,
        related_scores=scores,
    )


def _diff(con: duckdb.DuckDBPyConnection, core: str, changed: set[str] | None) -> Diff:
    """Compare papers_core's hashes (of `changed` only, when given) with the stored ones, in SQL, keeping
    the changed rows in the _changed temp table: papers_core is scanned once. A paper missing from
    main.papers, or a main.papers row with no paper, is a change too: a run whose audit failed after
    something went wrong in main is healed by the next one, not trusted to the stored hashes."""
    papers = lake.main_table("papers")
    where = "" if changed is None else f"(c.{IN_IDS} OR m.paper_id IS NULL) AND"
    sql = f"""CREATE OR REPLACE TEMP TABLE _changed AS
              SELECT c.*, {CONTENT_HASH} AS _ch, {ROW_HASH} AS _rh,
                     s.content_hash IS DISTINCT FROM {CONTENT_HASH} AS _content
              FROM {core} c LEFT JOIN {STATE} s USING (paper_id)
                   LEFT JOIN (SELECT paper_id FROM {papers}) m USING (paper_id)
              WHERE {where} (s.row_hash IS DISTINCT FROM {ROW_HASH} OR m.paper_id IS NULL)"""
    con.execute(sql, {} if changed is None else {"ids": sorted(changed)})
    rows = con.execute("SELECT paper_id, _content FROM _changed").fetchall()
    sql = f"""SELECT paper_id FROM {STATE} WHERE paper_id NOT IN (SELECT paper_id FROM {core})
              UNION SELECT paper_id FROM {papers} WHERE paper_id NOT IN (SELECT paper_id FROM {core})"""
    gone = con.execute(sql).fetchall()
    return Diff({r[0] for r in rows}, {r[0] for r in rows if r[1]}, {r[0] for r in gone})


def vectorise(
    con: duckdb.DuckDBPyConnection, papers: pd.DataFrame, docs: list[int]
) -> tuple[list[list[str]], pa.Table]:
    """Each paper's keywords and TF-IDF row (term_id, doc, weight rows) under the stored vocabulary and
    idf, counted and weighed by the fit's own code (paperlake.enrich.text_model.term_counts and weigh)."""
    counts, names = term_counts(documents(papers))
    used = np.unique(counts.indices)
    column = dict(zip(names.take(used).to_pylist(), used.tolist(), strict=True))
    known = f"SELECT term, term_id, idf FROM {VOCAB} WHERE term IN (SELECT unnest($t::VARCHAR[]))"
    vocab = con.execute(f"{known} ORDER BY term_id", {"t": list(column)}).fetchnumpy()
    terms = np.asarray(vocab["term"], dtype=object)
    matrix = weigh(select_columns(counts, [column[t] for t in terms]), np.asarray(vocab["idf"], np.float32))
    rows = matrix.tocoo()
    term_ids, doc = np.asarray(vocab["term_id"])[rows.col], np.asarray(docs, np.int64)[rows.row]
    return row_keywords(matrix, terms), _table(term_id=term_ids, doc=doc, weight=rows.data)


def _increment(con: duckdb.DuckDBPyConnection, core: str, diff: Diff) -> Published:
    """Recompute only what the changed and removed papers touch; write it by key in one commit."""
    if not diff.rows and not diff.removed:
        return Published({t: arrow_schema(CONTRACT[t]).empty_table() for t in ENRICHED}, _counts(con), False)
    new = _read_core(con, core, sorted(diff.content))
    new_ids = new["paper_id"].tolist()
    kw_new = dict(zip(new_ids, topic_scores(new["title"].tolist(), new["abstract"].tolist()), strict=True))
    first = scalar(con, f"SELECT coalesce(max(doc) + 1, 0) FROM {STATE}")
    new_docs = dict(zip(new_ids, range(first, first + len(new)), strict=True))
    keywords_new, vectors = vectorise(con, new, list(new_docs.values()))
    gone = sorted(diff.content | diff.removed)
    gone_docs = [
        d for (d,) in con.execute(f"SELECT doc FROM {STATE} WHERE {IN_IDS}", {"ids": gone}).fetchall()
    ]
    sql = f"SELECT paper_id, doc FROM {STATE} WHERE list_has_any(related, $ids) AND NOT {IN_IDS}"
    refill = dict(con.execute(sql, {"ids": gone}).fetchall())
    tops, entering = _related(con, vectors, new_docs, refill, gone, gone_docs)
    stored = _stored(con, (diff.rows | set(refill) | set(entering)) - diff.content)
    related = {pid: (s["related"], s["related_scores"]) for pid, s in stored.items()}
    related |= {pid: tops.get(pid, ([], [])) for pid in diff.content | set(refill)}
    affected = sorted(diff.rows | set(refill) | _merge(related, entering))
    neighbours = {p for pid in affected for p in related[pid][0]} - diff.content
    known = {p: s["kw_topics"] for p, s in _stored(con, neighbours, "kw_topics").items()} | kw_new
    papers = _read_core(con, core, affected)
    hashes = papers.pop("_ch"), papers.pop("_rh")
    ids = papers["paper_id"].tolist()
    keywords = dict(zip(new_ids, keywords_new, strict=True))
    kw = [kw_new[p] if p in kw_new else stored[p]["kw_topics"] for p in ids]
    kws = [keywords[p] if p in keywords else stored[p]["keywords"] for p in ids]
    rel = [related[p][0] for p in ids]
    docs = [new_docs[p] if p in new_docs else stored[p]["doc"] for p in ids]
    rows = _rows(assemble(papers, inherit_topics(kw, rel, known), kws, rel))
    state = _state(ids, docs, *hashes, kw, kws, rel, [related[p][1] for p in ids])
    keys = sorted(set(affected) | diff.removed)
    with commit.transaction(con):  # the index loses the gone papers' vectors and gains the new ones
        commit.replace_in(con, POSTINGS, vectors, "doc", gone_docs)
        commit.replace_in(con, STATE, state, "paper_id", keys)
        for table, arrow in rows.items():
            commit.replace_in(con, lake.main_table(table), arrow, "paper_id", keys)
        con.execute(f"UPDATE {FIT} SET changed_since = changed_since + $n", {"n": len(gone)})
    return Published(rows, _counts(con), False)


def _related(
    con: duckdb.DuckDBPyConnection,
    vectors: pa.Table,
    new_docs: dict[str, int],
    refill: dict[str, int],
    gone: list[str],
    gone_docs: list[int],
) -> tuple[Related, dict[str, list[tuple[str, float]]]]:
    """Top related papers of the new vectors and of the `refill` papers (from their stored vectors)
    against the index without the `gone` papers plus the new vectors; and, per stored paper outside
    those, the new papers that may enter its list (pairs above its fifth score)."""
    temp_table(con, "_ids", _table(doc=list(new_docs.values()), paper_id=list(new_docs)))
    con.execute(f"INSERT INTO _ids SELECT doc, paper_id FROM {STATE} WHERE NOT {IN_IDS}", {"ids": gone})
    con.register("_scores", _pair_scores(con, vectors, list(refill.values()), gone_docs))
    con.execute("""CREATE OR REPLACE TEMP TABLE _pairs AS
                   SELECT p.*, ia.paper_id AS a_id, ib.paper_id AS b_id
                   FROM _scores p JOIN _ids ia ON ia.doc = p.a JOIN _ids ib ON ib.doc = p.b""")
    con.unregister("_scores")
    best = f"""SELECT a_id, list(b_id ORDER BY s DESC, b_id), list(s ORDER BY s DESC, b_id) FROM (
                   SELECT * FROM _pairs
                   QUALIFY row_number() OVER (PARTITION BY a ORDER BY s DESC, b_id) <= {RELATED})
               GROUP BY a_id"""
    tops = {a: (list(b), [float(x) for x in s]) for a, b, s in con.execute(best).fetchall()}
    enter = f"""SELECT p.b_id, p.a_id, p.s FROM _pairs p JOIN {STATE} st ON st.doc = p.b
                WHERE p.a IN (SELECT unnest($n::INTEGER[])) AND p.b NOT IN (SELECT unnest($r::INTEGER[]))
                  AND (len(st.related) < {RELATED} OR p.s > st.related_scores[{RELATED}]
                       OR (p.s = st.related_scores[{RELATED}] AND p.a_id < st.related[{RELATED}]))"""
    entering: dict[str, list[tuple[str, float]]] = {}
    for b, a, s in con.execute(enter, {"n": list(new_docs.values()), "r": list(refill.values())}).fetchall():
        entering.setdefault(b, []).append((a, float(s)))
    con.execute("DROP TABLE _pairs; DROP TABLE _ids")
    return tops, entering


def _pair_scores(
    con: duckdb.DuckDBPyConnection, vectors: pa.Table, refill_docs: list[int], gone_docs: list[int]
) -> pa.Table:
    """(a, b, s): the exact cosine s >= MIN_RELATED_SIMILARITY of each query row a (the new vectors and
    the refill papers' stored ones) with every other indexed row b (the stored ones but the gone, and the
    new ones): one sparse product over the postings of the query's terms only."""
    new = {c: vectors.column(c).to_numpy() for c in ("term_id", "doc", "weight")}
    select = f"SELECT term_id, doc, weight FROM {POSTINGS} WHERE"
    stored = con.execute(f"{select} doc IN (SELECT unnest($r::INTEGER[]))", {"r": refill_docs}).fetchnumpy()
    query = {c: np.concatenate([new[c], np.asarray(stored[c])]) for c in new}
    terms = np.unique(query["term_id"])
    where = "term_id IN (SELECT unnest($t::INTEGER[])) AND doc NOT IN (SELECT unnest($g::INTEGER[]))"
    indexed = con.execute(f"{select} {where}", {"t": terms.tolist(), "g": gone_docs}).fetchnumpy()
    index = {c: np.concatenate([np.asarray(indexed[c]), new[c]]) for c in new}
    docs = max(int(index["doc"].max(initial=-1)), int(query["doc"].max(initial=-1))) + 1
    rows, a = np.unique(query["doc"], return_inverse=True)

    def matrix(postings: dict, row: np.ndarray, height: int) -> sp.csr_matrix:
        columns = np.searchsorted(terms, postings["term_id"])
        return sp.csr_matrix((postings["weight"], (row, columns)), shape=(height, len(terms)))

    sims = (matrix(query, a, len(rows)) @ matrix(index, index["doc"], docs).T).tocoo()
    keep = (sims.data >= MIN_RELATED_SIMILARITY) & (rows[sims.row] != sims.col)
    return _table(a=rows[sims.row[keep]], b=sims.col[keep], s=sims.data[keep])


def _merge(related: Related, entering: dict[str, list[tuple[str, float]]]) -> set[str]:
    """Put entering papers into their neighbours' lists (best RELATED by score, then id); returns the
    papers whose list changed."""
    changed = set()
    for pid, cands in entering.items():
        ids, scores = related[pid]
        ranked = [*zip(scores, ids, strict=True), *((s, a) for a, s in cands)]
        top = sorted(ranked, key=lambda r: (-r[0], r[1]))[:RELATED]
        if [i for _, i in top] != list(ids):
            related[pid] = ([i for _, i in top], [s for s, _ in top])
            changed.add(pid)
    return changed


def _stored(con: duckdb.DuckDBPyConnection, ids: set[str], columns: str = STORED) -> dict[str, dict]:
    """The `columns` of the state rows of `ids`, by paper_id (kw_topics decoded)."""
    cur = con.execute(f"SELECT paper_id, {columns} FROM {STATE} WHERE {IN_IDS}", {"ids": sorted(ids)})
    names = [c[0] for c in cur.description][1:]
    out = {pid: dict(zip(names, values, strict=True)) for pid, *values in cur.fetchall()}
    for row in out.values():
        row["kw_topics"] = json.loads(row["kw_topics"])
    return out


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return row_counts(con, {t: lake.main_table(t) for t in ENRICHED})
