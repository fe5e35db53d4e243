"""Incremental enrichment equals a full one on every column that does not depend on the corpus' TF-IDF,
and keeps related papers close to a full refit, after files are added, changed and removed."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.generate import Corpus
from paperlake import lake, steps
from paperlake.config import Paths
from paperlake.enrich import enrich, paper_links, paper_topics
from paperlake.enrich import index as enrich_index
from paperlake.enrich.topics import INHERITED_TOPIC_SCORE
from paperlake.frames import from_arrow, to_arrow
from schemas import PaperLinks, Papers, PaperTopics
from tests.helpers import SAMPLE, write_run

pytestmark = pytest.mark.slow
TFIDF_COLUMNS = ["keywords", "related", "topics"]  # topics: a paper without keyword hits inherits


def _full(paths: Paths) -> pd.DataFrame:
    with lake.open_lake(paths, read_only=True) as con:
        core = con.sql(f"SELECT * FROM {steps.PAPERS_CORE} ORDER BY paper_id").df()
    return enrich(core)


def _main(paths: Paths, table: str) -> pd.DataFrame:
    df = steps.read_main(paths, table)
    return df.sort_values(list(df.columns[:2])).reset_index(drop=True)


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, list[enrich_index.Published]]:
    """A lake built in full from the seeds and 3 generated pages, then 6 increments: 4 generated pages
    added one at a time (new papers, new sightings of known ones, edited abstracts and titles: the
    generator's hard cases), a seed changed, a seed and a generated page removed."""
    tmp_path = tmp_path_factory.mktemp("grown")
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
    corpus = Corpus(7, seed=7, lookalikes=0.3)
    pages = [corpus.page(k) for k in range(7)]
    for name, text, _ in pages[:3]:
        (raw / name).write_text(text, encoding="utf-8")
    paths = Paths(raw_dir=raw, out_dir=tmp_path / "out")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(enrich_index, "REFIT_SHARE", 1.0)  # this small a lake would refit: test the increments
        return paths, _grow(paths, raw, pages)


def _grow(paths: Paths, raw: Path, pages: list) -> list[enrich_index.Published]:
    runs = [write_run(paths)]
    for name, text, _ in pages[3:]:
        (raw / name).write_text(text, encoding="utf-8")
        runs.append(write_run(paths, [name]))
    seed = sorted(raw.glob("00[0-4]_*.txt"))
    seed[1].write_text(seed[1].read_text(encoding="utf-8").replace("a", "the", 40), encoding="utf-8")
    runs.append(write_run(paths, [seed[1].name]))
    seed[0].unlink()
    (raw / pages[1][0]).unlink()
    runs.append(write_run(paths, []))
    return runs


def test_incremental_equals_full_on_the_exact_columns(grown):
    paths, runs = grown
    assert runs[0].full and not any(r.full for r in runs[1:])
    assert all(r.rows["papers"].num_rows < r.counts["papers"] for r in runs[1:])  # by key, not whole
    full = _full(paths)
    inc = _main(paths, "papers")
    assert inc["paper_id"].tolist() == full["paper_id"].tolist()
    exact = [c for c in inc.columns if c not in TFIDF_COLUMNS]
    as_written = from_arrow(to_arrow(full, Papers), Papers)
    pd.testing.assert_frame_equal(inc[exact], as_written[exact])
    links = from_arrow(paper_links(full), PaperLinks).sort_values(["paper_id", "url"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(_main(paths, "paper_links"), links, check_dtype=False)
    topics = _main(paths, "paper_topics")
    want = (
        from_arrow(paper_topics(full), PaperTopics).sort_values(["paper_id", "topic"]).reset_index(drop=True)
    )
    keyword_hits = lambda df: df[df["score"] != INHERITED_TOPIC_SCORE].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(keyword_hits(topics), keyword_hits(want), check_dtype=False)


def test_related_after_increments_stays_close_to_a_full_refit(grown):
    paths, _ = grown
    full = _full(paths).set_index("paper_id")["related"]
    inc = _main(paths, "papers").set_index("paper_id")["related"]
    overlap = sum(len(set(inc[p]) & set(full[p])) for p in full.index) / sum(len(full[p]) for p in full.index)
    assert overlap >= 0.9, overlap
