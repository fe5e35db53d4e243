"""The text model: TF-IDF over titles and abstracts (as scikit-learn's TfidfVectorizer weighs, computed in
numpy and Arrow), each paper's keywords from it, and its related papers (paperlake.enrich.related)."""

import importlib.util
import re
import runpy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from paperlake.enrich.related import select_columns, top_related

KEYWORDS = 5
TOKEN = r"(?u)\b[a-zA-Z][a-zA-Z0-9-]{2,}\b"
MAX_DF = 0.5  # a term in more than this share of the papers weighs nothing
# The reference TF-IDF (tests and eval/enrich_overlap.py compare with scikit-learn's): `term_counts` and
# `weigh` compute the same weights without its per-token Python loop.
TFIDF = dict(stop_words="english", ngram_range=(1, 2), min_df=1, max_df=MAX_DF, sublinear_tf=True)
TFIDF |= {"token_pattern": TOKEN, "dtype": np.float32}
# "\x00" joins the texts: one regex pass finds every token and every text boundary; it is no word
# character, so no token changes
_TOKENS = re.compile(TOKEN + "|\x00")


def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (what its TfidfVectorizer, the reference, leaves out), read from
    their module file: importing the sklearn package for a word list cost every run ~1 s."""
    sklearn = importlib.util.find_spec("sklearn")  # finds the package without importing it
    assert sklearn is not None and sklearn.origin is not None
    path = Path(sklearn.origin).parent / "feature_extraction" / "_stop_words.py"
    return runpy.run_path(str(path))["ENGLISH_STOP_WORDS"]


_STOP_WORDS = pa.array(sorted(english_stop_words()), pa.string())


@dataclass
class TextModel:
    """The fitted TF-IDF of a corpus: vocabulary (column order), idf and document frequency per term;
    per paper its TF-IDF row (a row of `vectors`, indices sorted), keywords, related papers and their
    exact cosine similarities."""

    terms: np.ndarray
    idf: np.ndarray
    df: np.ndarray
    vectors: sp.csr_matrix
    keywords: list[list[str]]
    related: list[list[str]]
    scores: list[list[float]]


def documents(papers: pd.DataFrame) -> list[str]:
    """The text a paper is weighted on: its title counts twice."""
    return (papers["title"] + ". " + papers["title"] + ". " + papers["abstract"]).tolist()


def term_counts(texts: list[str]) -> tuple[sp.csr_matrix, pa.StringArray]:
    """Each text's term counts as TFIDF's analyzer counts them (lowercased TOKEN tokens, English stop
    words dropped, unigrams and the bigrams of consecutive kept tokens): a (texts x terms) CSR matrix
    with sorted indices, and its columns' terms (in no particular order; some columns may be empty).
    One regex pass over all texts, then numpy and Arrow kernels."""
    if not texts:
        return sp.csr_matrix((0, 0), dtype=np.float32), pa.array([], pa.string())
    joined = "\x00".join(t.replace("\x00", " ") for t in texts).lower()
    found = pa.array(_TOKENS.findall(joined), pa.string()).dictionary_encode()
    words, ids = found.dictionary, found.indices.to_numpy()
    boundary = np.asarray(pc.equal(words, "\x00").to_numpy(zero_copy_only=False))
    doc = np.cumsum(boundary[ids])
    keep = ~(boundary | np.asarray(pc.is_in(words, _STOP_WORDS).to_numpy(zero_copy_only=False)))[ids]
    ids, doc = ids[keep].astype(np.int64), doc[keep]
    follows = doc[1:] == doc[:-1]
    pairs = pa.array(ids[:-1][follows] * len(words) + ids[1:][follows]).dictionary_encode()
    first, second = np.divmod(pairs.dictionary.to_numpy(), len(words))
    bigrams = pc.binary_join_element_wise(words.take(first), words.take(second), " ")
    rows = np.concatenate([doc, doc[:-1][follows]])
    cols = np.concatenate([ids, len(words) + pairs.indices.to_numpy()])
    counts = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(words) + len(bigrams))
    )
    counts.sum_duplicates()
    return counts, pa.concat_arrays([words, bigrams])


def weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows from term counts, as TFIDF's settings weigh them: sublinear tf (1 + ln n) times idf,
    each row L2-normalised. The full fit and an increment (paperlake.enrich.index) both weigh here, so
    a paper's row is the same either way."""
    matrix = counts.astype(np.float32, copy=True)
    np.log(matrix.data, out=matrix.data)
    matrix.data += np.float32(1)
    matrix.data *= idf[matrix.indices]
    lens = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lens)
    weights = matrix.data.astype(np.float64)
    norms = np.sqrt(np.bincount(rows, weights * weights, matrix.shape[0]))
    matrix.data = (weights / np.repeat(np.where(norms > 0, norms, 1.0), lens)).astype(np.float32)
    return matrix


def fit_text(papers: pd.DataFrame) -> TextModel:
    """Fit TF-IDF over the papers (offline, no model download); keywords and related papers from it.
    The vocabulary is every term in at most TFIDF's max_df share of the papers, sorted; idf is smoothed
    (ln((1 + n) / (1 + df)) + 1), as scikit-learn computes it."""
    n = len(papers)
    counts, names = term_counts(documents(papers))
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    kept = np.flatnonzero((df > 0) & (df <= MAX_DF * n))
    order = kept[pc.sort_indices(names.take(kept)).to_numpy()]
    df = df[order]
    idf = np.log(np.float32(n + 1) / (df + 1).astype(np.float32)) + np.float32(1)
    matrix = weigh(select_columns(counts, order), idf)
    terms = names.take(order).to_numpy(zero_copy_only=False)
    related, scores = top_related(matrix, df, papers["paper_id"].to_numpy().astype(str))
    return TextModel(terms, idf, df, matrix, row_keywords(matrix, terms), related, scores)


def row_top(matrix: sp.csr_matrix, k: int) -> np.ndarray:
    """Per row the positions (into data/indices) of its k largest values, best first, ties to the first
    position (-1 pads): k rounds of a per-row maximum over all rows at once."""
    data = matrix.data.astype(np.float32, copy=True)
    lens = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lens)
    starts = matrix.indptr[:-1][lens > 0]
    top = np.full((matrix.shape[0], k), -1, np.int64)
    for j in range(k):
        best = np.full(matrix.shape[0], -np.inf, np.float32)
        if len(starts):
            best[lens > 0] = np.maximum.reduceat(data, starts)
        hit = np.flatnonzero((data == best[rows]) & np.isfinite(best[rows]))
        first = hit[np.concatenate([[True], rows[hit[1:]] != rows[hit[:-1]]])] if len(hit) else hit
        top[rows[first], j] = first
        data[first] = -np.inf
    return top


def row_keywords(matrix: sp.csr_matrix, terms: np.ndarray) -> list[list[str]]:
    """Each row's KEYWORDS heaviest terms (ties: the first term)."""
    top = row_top(matrix, KEYWORDS)
    names = terms[matrix.indices[np.maximum(top, 0)]] if matrix.nnz else np.empty(top.shape, object)
    return [[str(t) for t in row[pos >= 0]] for row, pos in zip(names, top, strict=True)]
