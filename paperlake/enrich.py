"""Enrichment v1: links, GitHub repos, short names, topics and word counts from titles and abstracts."""

import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from paperlake.parallel import default_workers
from schemas.vocabulary import LinkKind

# Hugging Face mirrors and proxies seen in captures: all are huggingface.co underneath.
HF_MIRRORS = frozenset(
    {
        "huggingface.co",
        "www.huggingface.co",
        "hf.co",
        "hf-mirror.com",
        "hf-mirror.492719920.workers.dev",
        "hf-proxy-cf.effarig.site",
        "hf.privai.fun",
    }
)
URL = re.compile(r"https?://[^\s<>\"'{}|\\^`\[\]]+", re.IGNORECASE)
TRAILING = ".,;:!?'\"*"
GITHUB_REPO = re.compile(r"^/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)")
GITHUB_NOT_OWNERS = frozenset({"orgs", "features", "topics", "sponsors", "marketplace", "settings", "about"})
SHORT_NAME_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "on",
        "in",
        "for",
        "to",
        "and",
        "or",
        "as",
        "with",
        "via",
        "is",
        "are",
        "by",
        "from",
        "at",
        "towards",
        "toward",
        "beyond",
    }
)

# Topic taxonomy: topic → keyword patterns matched on title + abstract (word boundaries, case-insensitive).
TOPICS: dict[str, tuple[str, ...]] = {
    "reasoning": (r"reasoning", r"chain[- ]of[- ]thought", r"\bCoT\b", r"math(ematical)?\b", r"logic"),
    "alignment": (r"alignment", r"\bRLHF\b", r"preference optimi[sz]ation", r"\bDPO\b", r"reward model"),
    "hallucination": (r"hallucinat\w*", r"factual(ity)?", r"faithful\w*"),
    "multimodal": (r"multimodal", r"vision[- ]language", r"\bVLMs?\b", r"image", r"video", r"visual"),
    "agents": (r"\bagents?\b", r"agentic", r"tool[- ]use", r"planning"),
    "retrieval": (r"retrieval", r"\bRAG\b", r"search engine", r"knowledge base"),
    "efficiency": (r"efficien\w*", r"quantiz\w*", r"pruning", r"distillation", r"sparse", r"inference speed"),
    "code": (r"\bcode\b", r"program(ming|s)?\b", r"software", r"compiler"),
    "safety": (r"safety", r"jailbreak\w*", r"harmful", r"adversarial", r"red[- ]team\w*", r"privacy"),
    "evaluation": (r"benchmark\w*", r"evaluat\w*", r"leaderboard"),
    "training": (r"pre-?train\w*", r"fine-?tun\w*", r"instruction tuning", r"scaling law\w*"),
    "interpretability": (r"interpretab\w*", r"mechanistic", r"probing", r"\bprobes?\b", r"attribution"),
    "generation": (r"diffusion", r"text-to-image", r"generative model\w*"),
    "speech": (r"speech", r"audio", r"\bASR\b", r"spoken"),
    "medical": (r"medical", r"clinical", r"biomedical", r"health"),
    "fairness": (r"fairness", r"\bbias(es|ed)?\b", r"stereotyp\w*", r"discriminat\w*"),
    "calibration": (r"calibrat\w*", r"uncertaint\w*", r"overconfiden\w*", r"confidence"),
    "data": (r"dataset\w*", r"synthetic data", r"data generation", r"corpus", r"corpora", r"data selection"),
    "representations": (r"representations?", r"embeddings?", r"latent"),
}
INHERITED_TOPIC_SCORE = 0.1  # a paper with no keyword hit takes its related papers' commonest topic
KEYWORDS = 5
RELATED = 5
MIN_RELATED_SIMILARITY = 0.01  # above noise: at least some shared informative terms
SIMILARITY_CHUNK = 1024  # papers per sparse product: memory stays at chunk x candidate pairs
# Exact cosine top 5 for every paper costs sum(df^2) = 8.6e10 multiply-adds at 92k papers (the commonest
# terms dominate), too slow. Candidates come from the terms in at most CANDIDATE_MAX_DF papers (4.2e9, half
# that once identical columns are merged), CANDIDATES per paper, then are ranked by their exact cosine:
# 96% of the exact top 5 at 92k papers; exact while no term is in more papers (corpora under ~2,000 papers).
CANDIDATE_MAX_DF = 1000
CANDIDATES = 20
# A word, as Python's str.split() splits: a run of anything but its whitespace, for Arrow's RE2 matcher
_WORD = "[^" + "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace()) + "]+"  # none above
# RE2 patterns for Arrow's vectorised matcher: linear time, one pass per topic over all papers
_TOPIC_RE2 = {t: "(?i)(?:" + "|".join(TOPICS[t]) + ")" for t in sorted(TOPICS)}


def normalise_url(raw: str) -> str | None:
    """Strip trailing punctuation and unbalanced ')', unescape ``\\_``, map HF mirrors, drop a final '/'."""
    url = raw.replace("\\_", "_").rstrip(TRAILING)
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1].rstrip(TRAILING)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host or "." not in host:
        return None
    if host in HF_MIRRORS:
        host = "huggingface.co"
    netloc = host + (f":{parts.port}" if parts.port else "")
    path = parts.path.rstrip("/") if parts.path != "/" else ""
    return urlunsplit(
        ("https" if host == "huggingface.co" else parts.scheme.lower(), netloc, path, parts.query, "")
    )


def extract_links(text: str) -> list[str]:
    """Normalised, de-duplicated links in order of appearance."""
    out: list[str] = []
    for m in URL.finditer(text.replace("\\_", "_")):
        url = normalise_url(m.group(0))
        if url and url not in out:
            out.append(url)
    return out


def github_repo(url: str) -> str | None:
    parts = urlsplit(url)
    if (parts.hostname or "").lower() not in ("github.com", "www.github.com"):
        return None
    m = GITHUB_REPO.match(parts.path)
    if not m or m[1].lower() in GITHUB_NOT_OWNERS:
        return None
    repo = m[2].removesuffix(".git")
    return f"{m[1]}/{repo}" if repo and repo not in (".", "..") else None


def github_repos(links: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for link in links:
        if (repo := github_repo(link)) and repo.lower() not in seen:
            seen[repo.lower()] = repo
    return list(seen.values())


def short_name(title: str) -> str | None:
    """'ReAct: Synergizing Reasoning…' → 'ReAct'; None when the part before ':' reads as a phrase."""
    head, sep, _ = title.partition(":")
    head = head.strip()
    if not sep or not head or len(head) > 40:
        return None
    words = head.split()
    if len(words) > 3 or any(w.lower() in SHORT_NAME_STOPWORDS for w in words):
        return None
    if len(words) == 1:
        return head if head[0].isupper() or head[0].isdigit() else None
    # several words: a name only when one is styled like one (CHART-6, COBRA Frames), not a phrase
    styled = any(sum(c.isupper() for c in w) >= 2 or any(c.isdigit() for c in w) for w in words)
    return head if styled else None


def topic_scores(titles: list[str], abstracts: list[str]) -> list[dict[str, float]]:
    """Per paper, topic → score in (0, 1): keyword hits with a title hit counting double, saturating
    as h / (h + 2); best first, then by name. The Arrow kernels run on threads (they release the GIL)."""
    t_arr, a_arr = pa.array(titles, type=pa.string()), pa.array(abstracts, type=pa.string())

    def count(args: tuple[pa.Array, str]) -> np.ndarray:
        return np.asarray(pc.count_substring_regex(*args).to_numpy(zero_copy_only=False), np.int64)

    with ThreadPoolExecutor(default_workers()) as pool:
        title_hits = list(pool.map(count, [(t_arr, rx) for rx in _TOPIC_RE2.values()]))
        abstract_hits = list(pool.map(count, [(a_arr, rx) for rx in _TOPIC_RE2.values()]))
    hits = np.zeros((0, len(_TOPIC_RE2)), np.int64)
    if titles:
        hits = 2 * np.column_stack(title_hits) + np.column_stack(abstract_hits)
    saturated = np.array([round(h / (h + 2), 3) for h in range(int(hits.max(initial=0)) + 1)])
    rows, cols = np.nonzero(hits)
    score = saturated[hits[rows, cols]]
    order = np.lexsort((cols, -score, rows))  # _TOPIC_RE2 is in name order
    names = np.array(list(_TOPIC_RE2), dtype=object)[cols[order]].tolist()
    scores = score[order].tolist()
    bounds = np.searchsorted(rows[order], np.arange(len(titles) + 1)).tolist()
    return [dict(zip(names[a:b], scores[a:b], strict=True)) for a, b in pairwise(bounds)]


def classify_link(url: str) -> LinkKind:
    """What a normalised link points at."""
    parts = urlsplit(url)
    host, segments = (parts.hostname or "").lower(), [p for p in parts.path.split("/") if p]
    if github_repo(url):
        return LinkKind.GITHUB_REPO
    if host == "huggingface.co":
        kinds = {"datasets": LinkKind.HF_DATASET, "spaces": LinkKind.HF_SPACE, "papers": LinkKind.HF_PAPER}
        if segments and segments[0] in kinds:
            return kinds[segments[0]]
        return LinkKind.HF_MODEL if len(segments) >= 2 else LinkKind.OTHER
    if host in ("arxiv.org", "www.arxiv.org", "openreview.net", "aclanthology.org", "doi.org"):
        return LinkKind.PAPER
    if host.endswith((".github.io", ".gitlab.io", ".pages.dev", ".netlify.app")) or (
        host not in ("github.com", "gitlab.com", "bit.ly", "aka.ms", "ibm.biz") and not segments
    ):
        return LinkKind.PROJECT_PAGE
    return LinkKind.OTHER


def enrich(papers: pd.DataFrame) -> pd.DataFrame:
    """Add links, github_repos, has_code, short_name, topics, keywords, related and abstract_words."""
    return enrich_fitted(papers)[0]


def enrich_fitted(papers: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, float]], "TextModel"]:
    """`enrich`, also returning each paper's keyword topic scores (before inheritance) and the fitted
    text model: what an incremental run keeps (paperlake.enrich_index)."""
    with ThreadPoolExecutor(1) as pool:  # topic scores run in Arrow beside the fit, GIL released
        topics = pool.submit(topic_scores, papers["title"].tolist(), papers["abstract"].tolist())
        model = fit_text(papers)
        scores = topics.result()
    ids = papers["paper_id"].tolist()
    inherited = inherit_topics(scores, model.related, dict(zip(ids, scores, strict=True)))
    return assemble(papers, inherited, model.keywords, model.related), scores, model


def assemble(
    papers: pd.DataFrame, scores: list[dict[str, float]], keywords: list[list[str]], related: list[list[str]]
) -> pd.DataFrame:
    """The papers with their enrichment columns: the content-only ones computed here, the corpus-dependent
    ones (topic scores after inheritance, keywords, related) given."""
    abstracts = pa.array(papers["abstract"].tolist(), pa.string())
    has_url = pc.match_substring(abstracts, "http", ignore_case=True).to_pylist()
    links = pd.Series(
        [extract_links(a) if u else [] for a, u in zip(papers["abstract"], has_url, strict=True)],
        index=papers.index,
    )
    repos = links.map(github_repos)
    # the ignores: pandas-stubs reject a list of lists (or dicts) as a column, pandas takes one item per row
    return papers.assign(
        links=links,
        github_repos=repos,
        has_code=repos.map(bool),
        short_name=papers["title"].map(short_name),
        topics=[list(sc) for sc in scores],  # type: ignore[misc]
        keywords=keywords,  # type: ignore[arg-type]
        related=related,  # type: ignore[arg-type]
        abstract_words=pc.fill_null(pc.count_substring_regex(abstracts, _WORD), 0).to_numpy(),
    ).assign(_topic_scores=scores)  # type: ignore[arg-type]


def inherit_topics(
    scores: list[dict[str, float]], related: list[list[str]], by_id: dict[str, dict[str, float]]
) -> list[dict]:
    """Papers without a keyword hit take the most common topic of their related papers (low score);
    `by_id` holds the related papers' keyword scores."""
    out = []
    for sc, rel in zip(scores, related, strict=True):
        if not sc:
            counts: dict[str, int] = {}
            for pid in rel:
                for topic in by_id.get(pid, {}):
                    counts[topic] = counts.get(topic, 0) + 1
            if counts:
                best = min(counts, key=lambda t: (-counts[t], t))
                sc = {best: INHERITED_TOPIC_SCORE}
        out.append(sc)
    return out


def paper_links(papers: pd.DataFrame) -> pd.DataFrame:
    """One row per (paper, link) with its kind."""
    rows = [
        (pid, url, classify_link(url))
        for pid, urls in zip(papers["paper_id"], papers["links"], strict=True)
        for url in urls
    ]
    return pd.DataFrame(rows, columns=["paper_id", "url", "kind"])


def paper_topics(papers: pd.DataFrame) -> pd.DataFrame:
    """One row per (paper, topic) with its score."""
    rows = [
        (pid, topic, score)
        for pid, sc in zip(papers["paper_id"], papers["_topic_scores"], strict=True)
        for topic, score in sc.items()
    ]
    return pd.DataFrame(rows, columns=["paper_id", "topic", "score"])


TOKEN = r"(?u)\b[a-zA-Z][a-zA-Z0-9-]{2,}\b"
# The reference TF-IDF (tests and eval/enrich_overlap.py compare with scikit-learn's): `term_counts` and
# `weigh` compute the same weights without its per-token Python loop.
MAX_DF = 0.5  # a term in more than this share of the papers weighs nothing
TFIDF = {
    "stop_words": "english",
    "ngram_range": (1, 2),
    "min_df": 1,
    "max_df": MAX_DF,
    "sublinear_tf": True,
    "token_pattern": TOKEN,
    "dtype": np.float32,
}
# "\x00" joins the texts: one regex pass finds every token and every text boundary; it is no word
# character, so no token changes
_TOKENS = re.compile(TOKEN + "|\x00")


def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (what its TfidfVectorizer, the reference, leaves out), read from
    their module file: importing the sklearn package for a word list cost every run ~1 s."""
    sklearn = importlib.util.find_spec("sklearn")  # finds the package without importing it
    assert sklearn is not None and sklearn.origin is not None
    path = Path(sklearn.origin).parent / "feature_extraction" / "_stop_words.py"
    spec = importlib.util.spec_from_file_location("_sklearn_stop_words", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ENGLISH_STOP_WORDS


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


def select_columns(matrix: sp.csr_matrix, new: np.ndarray, width: int) -> sp.csr_matrix:
    """The matrix with column c moved to new[c] (dropped where new[c] < 0), `width` columns, indices
    sorted."""
    moved = new[matrix.indices]
    mask = moved >= 0
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[mask]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=matrix.shape[0]))])
    out = sp.csr_matrix((matrix.data[mask], moved[mask], indptr), shape=(matrix.shape[0], width))
    out.sort_indices()
    return out


def weigh(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows from term counts, as TFIDF's settings weigh them: sublinear tf (1 + ln n) times idf,
    each row L2-normalised. The full fit and an increment (paperlake.enrich_index) both weigh here, so
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
    if not len(order):
        empty = np.array([], dtype=object)
        nothing: list[list] = [[] for _ in range(n)]
        vectors = sp.csr_matrix((n, 0), dtype=np.float32)
        return TextModel(
            empty, np.zeros(0, np.float32), np.zeros(0, np.int64), vectors, nothing, nothing, nothing
        )
    new = np.full(counts.shape[1], -1, np.int64)
    new[order] = np.arange(len(order))
    df = df[order]
    idf = np.log(np.float32(n + 1) / (df + 1).astype(np.float32)) + np.float32(1)
    matrix = weigh(select_columns(counts, new, len(order)), idf)
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


def _columns(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """The matrix restricted to the `keep` columns, renumbered 0..k-1."""
    return select_columns(matrix, np.where(keep, np.cumsum(keep) - 1, -1), int(keep.sum()))


def _merge_equal_columns(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Identical columns (the same weights in the same papers: the terms of a shared phrase) merged into
    one scaled by sqrt(count): every row product stays the same, for fewer multiply-adds. Columns are
    compared by a 64-bit hash of their (row, weight) pairs; none may be empty."""
    if not matrix.nnz:
        return matrix
    cols = matrix.tocsc()
    mix = cols.indices.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ cols.data.view(np.uint32).astype(
        np.uint64
    ) * np.uint64(0xC2B2AE3D27D4EB4F)
    mix ^= mix >> np.uint64(31)
    mix *= np.uint64(0xBF58476D1CE4E5B9)
    mix ^= mix >> np.uint64(29)
    lens = np.diff(cols.indptr)
    key = np.add.reduceat(mix, cols.indptr[:-1]) ^ lens.astype(np.uint64) * np.uint64(0x94D049BB133111EB)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    merged = cols[:, first] @ sp.diags(np.sqrt(counts).astype(np.float32))
    return merged.tocsr()


@dataclass
class _Blocks:
    """What every chunk of `top_related` reads: the TF-IDF rows, their rarer-term part (identical
    columns merged) and its transpose, their commoner-term part, and each row's rank by id."""

    matrix: sp.csr_matrix
    rare: sp.csr_matrix
    rare_t: sp.csr_matrix
    frequent: sp.csr_matrix
    rank: np.ndarray


def top_related(
    matrix: sp.csr_matrix, df: np.ndarray, ids: np.ndarray
) -> tuple[list[list[str]], list[list[float]]]:
    """Each row's RELATED most similar other rows (cosine >= MIN_RELATED_SIMILARITY, best first, then by
    id) and their exact similarities: candidates from a sparse product over the rarer terms, ranked by
    their exact cosine (the rarer terms' part from that product, the commoner terms' part added per pair);
    a row with fewer than RELATED candidates is compared with every row. Chunks run on threads: the
    sparse products and numpy kernels release the GIL, and threads share the matrices (forked workers are
    unsafe once pyarrow's thread pools exist, see paperlake.parallel; spawned ones would copy them)."""
    common = df > CANDIDATE_MAX_DF
    rare = _merge_equal_columns(_columns(matrix, (df >= 2) & ~common))
    rank = np.argsort(np.argsort(ids, kind="stable"), kind="stable")
    blocks = _Blocks(matrix, rare, rare.T.tocsr(), _columns(matrix, common), rank)
    with ThreadPoolExecutor(default_workers()) as pool:
        chunks = list(pool.map(partial(_chunk_related, blocks), range(0, matrix.shape[0], SIMILARITY_CHUNK)))
    related = [ids[row[row >= 0]].tolist() for top, _ in chunks for row in top]
    scores = [s[row >= 0].tolist() for top, sims in chunks for row, s in zip(top, sims, strict=True)]
    return related, scores


def _chunk_related(b: _Blocks, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """`top_related` of the rows from `lo`: per row its RELATED best rows (-1 pads) and similarities."""
    hi = min(lo + SIMILARITY_CHUNK, b.matrix.shape[0])
    cand, sims = _candidates((b.rare[lo:hi] @ b.rare_t).tocsr(), lo)
    sims += _pair_products(b.frequent, lo, hi, cand)
    short = np.flatnonzero((cand < 0).sum(axis=1) > CANDIDATES - RELATED)
    if b.frequent.shape[1] and len(short):
        cand[short], sims[short] = _exact(b.matrix, lo + short)
    ok = (cand >= 0) & (sims >= MIN_RELATED_SIMILARITY)
    order = np.lexsort((b.rank[np.maximum(cand, 0)], np.where(ok, -sims, np.inf)), axis=1)[:, :RELATED]
    ok = np.take_along_axis(ok, order, 1)
    top = np.where(ok, np.take_along_axis(cand, order, 1), -1)
    return top, np.where(ok, np.take_along_axis(sims, order, 1), np.float32(0))


def _candidates(sims: sp.csr_matrix, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a similarity block starting at row `lo`: its CANDIDATES best other columns (-1 pads) and
    their similarities."""
    cand = np.full((sims.shape[0], CANDIDATES), -1, np.int64)
    vals = np.zeros((sims.shape[0], CANDIDATES), np.float32)
    for k in range(sims.shape[0]):
        a, b = sims.indptr[k], sims.indptr[k + 1]
        c, v = sims.indices[a:b], sims.data[a:b]
        ok = c != lo + k
        c, v = c[ok], v[ok]
        if len(c) > CANDIDATES:
            top = np.argpartition(-v, CANDIDATES - 1)[:CANDIDATES]
            c, v = c[top], v[top]
        cand[k, : len(c)], vals[k, : len(c)] = c, v
    return cand, vals


def _pair_products(part: sp.csr_matrix, lo: int, hi: int, cand: np.ndarray) -> np.ndarray:
    """Row products of `part` between each row lo..hi and its candidates (0 for -1 pads)."""
    if not part.shape[1]:
        return np.zeros(cand.shape, np.float32)
    dense = part[lo:hi].toarray()
    other = np.maximum(cand, 0).ravel()
    lens = np.diff(part.indptr)[other] * (cand.ravel() >= 0)
    pos = np.repeat(part.indptr[other] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
    row = np.repeat(np.arange(cand.size) // cand.shape[1], lens)
    products = dense[row, part.indices[pos]] * part.data[pos]
    pair = np.repeat(np.arange(cand.size), lens)
    return np.bincount(pair, products, cand.size).reshape(cand.shape).astype(np.float32)


def _exact(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CANDIDATES most similar other rows of `rows` and their similarities, against every row."""
    sims = (matrix[rows] @ matrix.T).toarray()
    sims[np.arange(len(rows)), rows] = -1.0
    take = min(CANDIDATES, matrix.shape[0] - 1)
    cand = np.full((len(rows), CANDIDATES), -1, np.int64)
    vals = np.zeros((len(rows), CANDIDATES), np.float32)
    if take > 0:
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        cand[:, :take], vals[:, :take] = top, np.take_along_axis(sims, top, 1)
    return cand, vals
