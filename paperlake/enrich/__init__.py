"""Enrichment v1: links, GitHub repos, short names, topics and word counts from titles and abstracts.

Each rule has its module: links (URLs, repos, link kinds), short_names, topics, text_model (TF-IDF and
keywords), related (related papers); index enriches incrementally. This module puts the columns together.
"""

from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from paperlake.enrich.links import classify_link, extract_links, github_repos
from paperlake.enrich.short_names import short_name
from paperlake.enrich.text_model import TextModel, fit_text
from paperlake.enrich.topics import inherit_topics, topic_scores
from paperlake.frames import arrow_schema
from schemas import PaperLinks, PaperTopics

# A word, as Python's str.split() splits: a run of anything but its whitespace, for Arrow's RE2 matcher
_WORD = "[^" + "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace()) + "]+"  # none above


def enrich(papers: pd.DataFrame) -> pd.DataFrame:
    """Add links, github_repos, has_code, short_name, topics, keywords, related and abstract_words."""
    return enrich_fitted(papers)[0]


def enrich_fitted(papers: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, float]], TextModel]:
    """`enrich`, also returning each paper's keyword topic scores (before inheritance) and the fitted
    text model: what an incremental run keeps (paperlake.enrich.index)."""
    with ThreadPoolExecutor(1) as pool:  # topic scores run in Arrow beside the fit, GIL released
        topics = pool.submit(topic_scores, papers["title"].tolist(), papers["abstract"].tolist())
        model = fit_text(papers)
        scores = topics.result()
    by_id = dict(zip(papers["paper_id"].tolist(), scores, strict=True))
    inherited = inherit_topics(scores, model.related, by_id)
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


def paper_links(papers: pd.DataFrame) -> pa.Table:
    """One row per (paper, link) with its kind."""
    urls = list(chain.from_iterable(papers["links"]))
    return _per_item(papers, "links", PaperLinks, url=urls, kind=[classify_link(u) for u in urls])


def paper_topics(papers: pd.DataFrame) -> pa.Table:
    """One row per (paper, topic) with its score."""
    scores = papers["_topic_scores"]
    topics, values = [t for sc in scores for t in sc], [s for sc in scores for s in sc.values()]
    return _per_item(papers, "_topic_scores", PaperTopics, topic=topics, score=values)


def _per_item(papers: pd.DataFrame, column: str, model: type, **items: list) -> pa.Table:
    """One row per item of each paper's `column`: its paper_id and `items`, in the model's Arrow schema."""
    ids = np.repeat(papers["paper_id"].to_numpy(object), papers[column].map(len).to_numpy(int))
    return pa.table({"paper_id": ids, **items}, schema=arrow_schema(model))
