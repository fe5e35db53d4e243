"""Deduplication on the real captures and on constructed title variants."""

import pandas as pd

from paperlake.frames import frame
from paperlake.ingest import process_page, read_raw
from paperlake.normalize import title_key
from paperlake.resolve import assign_papers, paper_id_for, survive
from schemas import Sightings
from tests.conftest import SAMPLE, SEED_ENTRIES


def seed_sightings() -> pd.DataFrame:
    return pd.concat(
        [process_page(read_raw(SAMPLE / n, SAMPLE)).sightings for n in SEED_ENTRIES], ignore_index=True
    )


def test_seeds_resolve_to_266_papers():
    resolved = assign_papers(seed_sightings())
    papers = survive(resolved)
    assert len(resolved) == 283
    assert len(papers) == 266
    assert papers["n_sightings"].sum() == 283
    fr = papers.set_index("title").loc["Characterizing Mechanisms for Factual Recall in Language Models"]
    assert fr["n_sightings"] == 4
    assert fr["paper_id"] == paper_id_for(
        title_key("Characterizing Mechanisms for Factual Recall in Language Models")
    )


def test_title_key_folds_variants():
    variants = [
        "Self-RAG: Learning to Retrieve",
        "self-rag: learning to retrieve",
        "Self–RAG:  Learning to Retrieve ",
        "Self\u2010RAG: Learning to Retrieve.",
        "Ｓｅｌｆ-RAG: Learning to Retrieve",
    ]
    assert len({title_key(v) for v in variants}) == 1
    assert title_key("Part I: Foo") != title_key("Part II: Foo")


def _sighting(pos: int, title: str, page_date: str, upvotes=None, authors=None, abstract="An abstract."):
    return {
        "sighting_id": f"s{pos}",
        "page_id": f"pg{pos}",
        "source_file": f"f{pos}.txt",
        "position": 1,
        "line_start": 13,
        "line_end": 15,
        "title": title,
        "abstract": abstract,
        "authors_count": authors,
        "organization": None,
        "organization_id": None,
        "published_date": None,
        "published_date_raw": None,
        "upvotes": upvotes,
        "page_date": page_date,
        "has_metadata": upvotes is not None,
    }


def test_survivorship_rules():
    s = frame(
        [
            _sighting(1, "Rising Paper", "2025-01-01", upvotes=3, authors=4),
            _sighting(
                2, "Rising paper.", "2025-01-05", upvotes=10, abstract="A longer abstract than before."
            ),
            _sighting(3, "Rising Paper", "2025-01-03", upvotes=None),
            _sighting(4, "Other Paper", "2025-01-02", upvotes=1),
        ],
        Sightings,
    )
    papers = survive(assign_papers(s)).set_index("title")
    p = papers.loc["Rising Paper"]  # most frequent variant
    assert (p["n_sightings"], p["upvotes"], p["upvotes_max"], p["authors_count"]) == (3, 10, 10, 4)
    assert p["abstract"] == "A longer abstract than before."
    assert (str(p["first_seen"].date()), str(p["last_seen"].date())) == ("2025-01-01", "2025-01-05")
    assert p["title_variants"] == ["Rising Paper", "Rising paper."]
    assert len(papers) == 2
