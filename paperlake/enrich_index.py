"""Incremental enrichment: per-paper results cached by content, `related` from a stored TF-IDF index.

A full build (the first run, `full=True`, or once the papers changed since the last fit pass
REFIT_SHARE of the corpus) fits TF-IDF over every paper as `paperlake.enrich` always did, and keeps what
an increment needs in lake tables, so it works with any catalog and data path:

  staging.enrich_fit       one row: papers fitted on, papers changed since, the state's VERSION
  staging.enrich_vocab     term_id, term, idf, df of that fit: frozen until the next full build
  staging.enrich_postings  term_id, doc, weight: each paper's TF-IDF row (an inverted index; doc is an
                           integer per paper, so the index joins and groups integers)
  staging.enrich_papers    paper_id, doc, content_hash (title + abstract), row_hash (the papers_core
                           row), kw_topics (keyword topic scores, JSON), keywords, related and their
                           exact cosine similarities (related_scores)

An increment finds the papers whose papers_core row changed by hash (only among `changed` when the
caller knows them), recomputes the content-only columns of those rows, vectorises the papers whose
*content* changed against the frozen vocabulary and idf (terms the fit never saw are ignored until the
next full build: that is how idf drift is handled), takes their top related papers from the index (an
exact product with every stored row), puts them into their neighbours' lists where they beat the stored
fifth score, recomputes the lists that held a changed or removed paper the same way, and re-derives
inherited topics of every paper whose list changed. Under the frozen vocabulary and idf the lists an
increment computes are the exact top RELATED of the index, and a stored list takes a new paper exactly when
it beats the stored fifth score. The main tables are
written by key: the affected papers' rows deleted and inserted, in one commit with the state.
"""

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from paperlake import commit, lake
from paperlake.duck import row_counts, scalar
from paperlake.enrich import (
    MIN_RELATED_SIMILARITY,
    RELATED,
    assemble,
    documents,
    enrich_fitted,
    inherit_topics,
    paper_links,
    paper_topics,
    row_keywords,
    select_columns,
    term_counts,
    topic_scores,
    weigh,
)
from paperlake.frames import arrow_schema, to_arrow
from schemas import CONTRACT
from schemas.catalog import CATALOG, written_by

A = lake.ALIAS
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


@dataclass
class Published:
    """What a publish wrote: each main table's inserted rows, its row count after, and whether it refit."""

    rows: dict[str, pa.Table]
    counts: dict[str, int]
    full: bool


def publish(
    con: duckdb.DuckDBPyConnection,
    core: str,
    changed: set[str] | None = None,
    full: bool = False,
) -> Published:
    """Enrich the papers of table `core` into main.papers, paper_links and paper_topics: incrementally
    when a fit is stored and still fresh, else a full build. `changed` (papers_core rows that changed)
    limits the change scan; removed papers are found by an anti-join on paper_id (cheap)."""
    fit = _fit(con)
    if full or fit is None or not lake.table_exists(con, lake.main_table("papers")):
        return _full(con, core)
    diff = _diff(con, core, changed)
    drift = fit["changed_since"] + len(diff.content) + len(diff.removed)
    if drift > REFIT_SHARE * max(fit["papers"], 1):
        return _full(con, core)
    return _increment(con, core, fit, diff)


def _fit(con: duckdb.DuckDBPyConnection) -> dict | None:
    names = [t.split(".", 2)[2] for t in (FIT, VOCAB, POSTINGS, STATE)]
    have = scalar(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = $a AND schema_name = 'staging' "
        "AND table_name IN (SELECT unnest($n::VARCHAR[]))",
        {"a": A, "n": names},
    )
    if have < len(names):
        return None
    cur = con.execute(f"SELECT * FROM {FIT}")
    row = cur.fetchone()
    fit = dict(zip([c[0] for c in cur.description], row or (), strict=False))
    return fit if fit.get("version") == VERSION else None


def _read_core(con: duckdb.DuckDBPyConnection, core: str, ids: list[str] | None = None) -> pd.DataFrame:
    """papers_core rows (all, or of `ids`: those already in the _changed temp table are taken from it)
    sorted by paper_id, with their two hashes as _ch and _rh."""
    if ids is None:
        sql, params = f"SELECT c.*, {CONTENT_HASH} AS _ch, {ROW_HASH} AS _rh FROM {core} c", {}
    else:
        have = {r[0] for r in con.execute("SELECT paper_id FROM _changed").fetchall()}
        sql = "SELECT * EXCLUDE (_content) FROM _changed WHERE paper_id IN (SELECT unnest($ids::VARCHAR[]))"
        params = {"ids": ids}
        if extra := sorted(set(ids) - have):
            sql += (
                f" UNION ALL SELECT c.*, {CONTENT_HASH} AS _ch, {ROW_HASH} AS _rh FROM {core} c "
                "WHERE c.paper_id IN (SELECT unnest($extra::VARCHAR[]))"
            )
            params["extra"] = extra
    return con.execute(f"SELECT * FROM ({sql}) ORDER BY paper_id", params).df().reset_index(drop=True)


def _full(con: duckdb.DuckDBPyConnection, core: str) -> Published:
    """Fit everything as `paperlake.enrich.enrich` does; write the main tables (diff) and the state."""
    papers = _read_core(con, core)
    hashes = papers.pop("_ch"), papers.pop("_rh")
    enriched, kw, model = enrich_fitted(papers)
    ids = papers["paper_id"].tolist()
    rows = _rows(enriched)
    vec = model.vectors.tocoo()
    docs = np.arange(len(ids))
    state = _state_rows(ids, docs, hashes[0], hashes[1], kw, model.keywords, model.related, model.scores)
    with commit.transaction(con):
        for table, arrow in rows.items():
            commit.sync(con, lake.main_table(table), arrow, CATALOG[table].key)
        commit.overwrite(
            con, FIT, pa.table({"papers": [len(ids)], "changed_since": [0], "version": [VERSION]})
        )
        commit.overwrite(
            con,
            VOCAB,
            pa.table(
                {
                    "term_id": pa.array(np.arange(len(model.terms)), pa.int32()),
                    "term": pa.array(model.terms.tolist(), pa.string()),
                    "idf": pa.array(model.idf, pa.float32()),
                    "df": pa.array(model.df, pa.int32()),
                }
            ),
        )
        commit.overwrite(
            con,
            POSTINGS,
            pa.table(
                {
                    "term_id": pa.array(vec.col, pa.int32()),
                    "doc": pa.array(docs[vec.row], pa.int32()),
                    "weight": pa.array(vec.data, pa.float32()),
                }
            ),
        )
        commit.overwrite(con, STATE, state)
    return Published(rows, {t: r.num_rows for t, r in rows.items()}, True)


def _rows(enriched: pd.DataFrame) -> dict[str, pa.Table]:
    frames = {
        "papers": enriched,
        "paper_links": paper_links(enriched),
        "paper_topics": paper_topics(enriched),
    }
    return {t: to_arrow(df, CONTRACT[t]) for t, df in frames.items()}


def _state_rows(ids, docs, content_hash, row_hash, kw, keywords, related, scores) -> pa.Table:
    return pa.table(
        {
            "paper_id": pa.array(list(ids), pa.string()),
            "doc": pa.array(list(docs), pa.int32()),
            "content_hash": pa.array(list(content_hash), pa.uint64()),
            "row_hash": pa.array(list(row_hash), pa.uint64()),
            "kw_topics": pa.array([json.dumps(sc) for sc in kw], pa.string()),
            "keywords": pa.array(list(keywords), pa.list_(pa.string())),
            "related": pa.array(list(related), pa.list_(pa.string())),
            "related_scores": pa.array(list(scores), pa.list_(pa.float32())),
        }
    )


@dataclass
class Diff:
    """Papers whose papers_core row changed (`rows`), the subset whose title or abstract changed or that
    are new (`content`), and the paper_ids gone from papers_core (`removed`)."""

    rows: set[str]
    content: set[str]
    removed: set[str]


def _diff(con: duckdb.DuckDBPyConnection, core: str, changed: set[str] | None) -> Diff:
    """Compare papers_core's hashes (of `changed` only, when given) with the stored ones, in SQL, keeping
    the changed rows in the _changed temp table: papers_core is scanned once. A paper missing from
    main.papers, or a main.papers row with no paper, is a change too: a run whose audit failed after
    something went wrong in main is healed by the next one, not trusted to the stored hashes."""
    papers = lake.main_table("papers")
    where = (
        ""
        if changed is None
        else "(c.paper_id IN (SELECT unnest($ids::VARCHAR[])) OR m.paper_id IS NULL) AND"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _changed AS
            SELECT c.*, {CONTENT_HASH} AS _ch, {ROW_HASH} AS _rh,
                   s.content_hash IS DISTINCT FROM {CONTENT_HASH} AS _content
            FROM {core} c LEFT JOIN {STATE} s USING (paper_id)
                 LEFT JOIN (SELECT paper_id FROM {papers}) m USING (paper_id)
            WHERE {where} (s.row_hash IS DISTINCT FROM {ROW_HASH} OR m.paper_id IS NULL)""",
        {} if changed is None else {"ids": sorted(changed)},
    )
    rows = con.execute("SELECT paper_id, _content FROM _changed").fetchall()
    gone = con.execute(
        f"""SELECT paper_id FROM {STATE} WHERE paper_id NOT IN (SELECT paper_id FROM {core})
            UNION SELECT paper_id FROM {papers} WHERE paper_id NOT IN (SELECT paper_id FROM {core})"""
    ).fetchall()
    return Diff({r[0] for r in rows}, {r[0] for r in rows if r[1]}, {r[0] for r in gone})


def vectorise(
    con: duckdb.DuckDBPyConnection, papers: pd.DataFrame, docs: list[int]
) -> tuple[list[list[str]], pa.Table]:
    """Each paper's keywords and TF-IDF row (term_id, doc, weight rows) under the stored vocabulary and
    idf, counted and weighed by the fit's own code (paperlake.enrich.term_counts and weigh)."""
    counts, names = term_counts(documents(papers))
    used = np.unique(counts.indices)
    column = dict(zip(names.take(used).to_pylist(), used.tolist(), strict=True))
    vocab = con.execute(
        f"SELECT term, term_id, idf FROM {VOCAB} WHERE term IN (SELECT unnest($t::VARCHAR[])) "
        "ORDER BY term_id",
        {"t": list(column)},
    ).fetchnumpy()
    terms = np.asarray(vocab["term"], dtype=object)
    new = np.full(counts.shape[1], -1, np.int64)
    new[[column[t] for t in terms]] = np.arange(len(terms))
    matrix = weigh(select_columns(counts, new, len(terms)), np.asarray(vocab["idf"], np.float32))
    rows = matrix.tocoo()
    vectors = pa.table(
        {
            "term_id": pa.array(np.asarray(vocab["term_id"])[rows.col], pa.int32()),
            "doc": pa.array(np.asarray(docs, np.int64)[rows.row], pa.int32()),
            "weight": pa.array(rows.data, pa.float32()),
        }
    )
    return row_keywords(matrix, terms), vectors


def _increment(con: duckdb.DuckDBPyConnection, core: str, fit: dict, diff: Diff) -> Published:
    """Recompute only what the changed and removed papers touch; write it by key in one commit."""
    if not diff.rows and not diff.removed:
        return Published({t: _empty(t) for t in ENRICHED}, _counts(con), False)
    new = _read_core(con, core, sorted(diff.content))
    kw_new = dict(
        zip(new["paper_id"], topic_scores(new["title"].tolist(), new["abstract"].tolist()), strict=True)
    )
    first = scalar(con, f"SELECT coalesce(max(doc) + 1, 0) FROM {STATE}")
    new_docs = dict(zip(new["paper_id"], range(first, first + len(new)), strict=True))
    keywords_new, vectors = vectorise(con, new, list(new_docs.values()))
    gone = sorted(diff.content | diff.removed)
    gone_docs = [
        r[0]
        for r in con.execute(
            f"SELECT doc FROM {STATE} WHERE paper_id IN (SELECT unnest($g::VARCHAR[]))", {"g": gone}
        ).fetchall()
    ]
    refill = dict(
        con.execute(
            f"SELECT paper_id, doc FROM {STATE} WHERE list_has_any(related, $g) "
            "AND paper_id NOT IN (SELECT unnest($g::VARCHAR[]))",
            {"g": gone},
        ).fetchall()
    )
    tops, entering = _related(con, vectors, new_docs, refill, gone, gone_docs)
    stored = _stored(con, set(diff.rows) | set(refill) | set(entering), diff.content)
    related = {pid: (s["related"], s["related_scores"]) for pid, s in stored.items()}
    related |= {pid: tops.get(pid, ([], [])) for pid in diff.content | set(refill)}
    merged = _merge(related, entering)
    affected = sorted(diff.rows | set(refill) | merged)
    known = _kw_topics(con, {p for pid in affected for p in related[pid][0]} - diff.content) | kw_new
    papers = _read_core(con, core, affected)
    hashes = papers.pop("_ch"), papers.pop("_rh")
    ids = papers["paper_id"].tolist()
    kw = [kw_new[p] if p in kw_new else stored[p]["kw_topics"] for p in ids]
    keywords = dict(zip(new["paper_id"], keywords_new, strict=True))
    kws = [keywords[p] if p in keywords else stored[p]["keywords"] for p in ids]
    rel = [related[p][0] for p in ids]
    docs = [new_docs[p] if p in new_docs else stored[p]["doc"] for p in ids]
    enriched = assemble(papers, inherit_topics(kw, rel, known), kws, rel)
    rows = _rows(enriched)
    state = _state_rows(ids, docs, hashes[0], hashes[1], kw, kws, rel, [related[p][1] for p in ids])
    _write(con, rows, state, vectors, gone_docs, sorted(set(affected) | diff.removed), len(gone))
    return Published(rows, _counts(con), False)


def _related(
    con: duckdb.DuckDBPyConnection,
    vectors: pa.Table,
    new_docs: dict[str, int],
    refill: dict[str, int],
    gone: list[str],
    gone_docs: list[int],
) -> tuple[dict[str, tuple[list[str], list[float]]], dict[str, list[tuple[str, float]]]]:
    """Top related papers of the new vectors and of the `refill` papers (from their stored vectors)
    against the index without the `gone` papers plus the new vectors; and, per stored paper outside
    those, the new papers that may enter its list (pairs above its fifth score)."""
    con.register(
        "_new_ids",
        pa.table(
            {
                "doc": pa.array(list(new_docs.values()), pa.int32()),
                "paper_id": pa.array(list(new_docs), pa.string()),
            }
        ),
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ids AS
            SELECT doc, paper_id FROM {STATE} WHERE paper_id NOT IN (SELECT unnest($g::VARCHAR[]))
            UNION ALL SELECT * FROM _new_ids""",
        {"g": gone},
    )
    con.register("_scores", _pair_scores(con, vectors, list(refill.values()), gone_docs))
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _pairs AS
            SELECT p.*, ia.paper_id AS a_id, ib.paper_id AS b_id
            FROM _scores p JOIN _ids ia ON ia.doc = p.a JOIN _ids ib ON ib.doc = p.b"""
    )
    con.unregister("_scores")
    con.unregister("_new_ids")
    tops = {
        a: (list(b), [float(x) for x in s])
        for a, b, s in con.execute(
            f"""SELECT a_id, list(b_id ORDER BY s DESC, b_id), list(s ORDER BY s DESC, b_id) FROM (
                    SELECT * FROM _pairs
                    QUALIFY row_number() OVER (PARTITION BY a ORDER BY s DESC, b_id) <= {RELATED})
                GROUP BY a_id"""
        ).fetchall()
    }
    entering: dict[str, list[tuple[str, float]]] = {}
    for b, a, s in con.execute(
        f"""SELECT p.b_id, p.a_id, p.s FROM _pairs p JOIN {STATE} st ON st.doc = p.b
            WHERE p.a IN (SELECT unnest($n::INTEGER[])) AND p.b NOT IN (SELECT unnest($r::INTEGER[]))
              AND (len(st.related) < {RELATED} OR p.s > st.related_scores[{RELATED}]
                   OR (p.s = st.related_scores[{RELATED}] AND p.a_id < st.related[{RELATED}]))""",
        {"n": list(new_docs.values()), "r": list(refill.values())},
    ).fetchall():
        entering.setdefault(b, []).append((a, float(s)))
    con.execute("DROP TABLE _pairs")
    con.execute("DROP TABLE _ids")
    return tops, entering


def _pair_scores(
    con: duckdb.DuckDBPyConnection, vectors: pa.Table, refill_docs: list[int], gone_docs: list[int]
) -> pa.Table:
    """(a, b, s): the exact cosine s >= MIN_RELATED_SIMILARITY of each query row a (the new vectors and
    the refill papers' stored ones) with every other indexed row b (the stored ones but the gone, and the
    new ones): one sparse product over the postings of the query's terms only."""
    new = {c: vectors.column(c).to_numpy() for c in ("term_id", "doc", "weight")}
    stored = con.execute(
        f"SELECT term_id, doc, weight FROM {POSTINGS} WHERE doc IN (SELECT unnest($r::INTEGER[]))",
        {"r": refill_docs},
    ).fetchnumpy()
    query = {c: np.concatenate([new[c], np.asarray(stored[c])]) for c in new}
    terms = np.unique(query["term_id"])
    indexed = con.execute(
        f"SELECT term_id, doc, weight FROM {POSTINGS} WHERE term_id IN (SELECT unnest($t::INTEGER[])) "
        "AND doc NOT IN (SELECT unnest($g::INTEGER[]))",
        {"t": terms.tolist(), "g": gone_docs},
    ).fetchnumpy()
    index = {c: np.concatenate([np.asarray(indexed[c]), new[c]]) for c in new}
    docs = max(int(index["doc"].max(initial=-1)), int(query["doc"].max(initial=-1))) + 1
    rows, a = np.unique(query["doc"], return_inverse=True)
    q = sp.csr_matrix(
        (query["weight"], (a, np.searchsorted(terms, query["term_id"]))), shape=(len(rows), len(terms))
    )
    idx = sp.csr_matrix(
        (index["weight"], (index["doc"], np.searchsorted(terms, index["term_id"]))), shape=(docs, len(terms))
    )
    sims = (q @ idx.T).tocoo()
    keep = (sims.data >= MIN_RELATED_SIMILARITY) & (rows[sims.row] != sims.col)
    return pa.table(
        {
            "a": pa.array(rows[sims.row[keep]], pa.int32()),
            "b": pa.array(sims.col[keep], pa.int32()),
            "s": pa.array(sims.data[keep], pa.float32()),
        }
    )


def _merge(
    related: dict[str, tuple[list[str], list[float]]], entering: dict[str, list[tuple[str, float]]]
) -> set[str]:
    """Put entering papers into their neighbours' lists (best RELATED by score, then id); returns the
    papers whose list changed."""
    changed = set()
    for pid, cands in entering.items():
        ids, scores = related[pid]
        ranked = sorted(
            [*zip(scores, ids, strict=True), *((s, a) for a, s in cands)], key=lambda r: (-r[0], r[1])
        )
        top = ranked[:RELATED]
        new_ids = [i for _, i in top]
        if new_ids != list(ids):
            related[pid] = (new_ids, [s for s, _ in top])
            changed.add(pid)
    return changed


def _stored(con: duckdb.DuckDBPyConnection, ids: set[str], skip: set[str]) -> dict[str, dict]:
    """The state rows of `ids` (except `skip`, whose state is being recomputed)."""
    want = sorted(ids - skip)
    out = {}
    for pid, doc, kw, keywords, rel, scores in con.execute(
        f"SELECT paper_id, doc, kw_topics, keywords, related, related_scores FROM {STATE} "
        "WHERE paper_id IN (SELECT unnest($ids::VARCHAR[]))",
        {"ids": want},
    ).fetchall():
        out[pid] = {
            "doc": doc,
            "kw_topics": json.loads(kw),
            "keywords": list(keywords),
            "related": list(rel),
            "related_scores": [float(s) for s in scores],
        }
    return out


def _kw_topics(con: duckdb.DuckDBPyConnection, ids: set[str]) -> dict[str, dict[str, float]]:
    rows = con.execute(
        f"SELECT paper_id, kw_topics FROM {STATE} WHERE paper_id IN (SELECT unnest($ids::VARCHAR[]))",
        {"ids": sorted(ids)},
    ).fetchall()
    return {pid: json.loads(kw) for pid, kw in rows}


def _write(
    con: duckdb.DuckDBPyConnection,
    rows: dict[str, pa.Table],
    state: pa.Table,
    vectors: pa.Table,
    gone_docs: list[int],
    keys: list[str],
    changes: int,
) -> None:
    """In one commit: the index loses the gone papers' vectors and gains the new ones; the state and
    the three main tables have the `keys` papers' rows deleted and the given rows inserted."""
    with commit.transaction(con):
        commit.replace_in(con, POSTINGS, vectors, "doc", gone_docs)
        commit.replace_in(con, STATE, state, "paper_id", keys)
        for table, arrow in rows.items():
            commit.replace_in(con, lake.main_table(table), arrow, "paper_id", keys)
        con.execute(f"UPDATE {FIT} SET changed_since = changed_since + $n", {"n": changes})


def _empty(table: str) -> pa.Table:
    return arrow_schema(CONTRACT[table]).empty_table()


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return row_counts(con, {t: lake.main_table(t) for t in ENRICHED})
