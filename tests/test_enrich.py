"""Link normalisation, GitHub repos, short names and topics."""

import subprocess
import sys

import pandas as pd
import pytest

from paperlake.enrich import related, text_model
from paperlake.enrich.links import extract_links, github_repos, normalise_url
from paperlake.enrich.related import MIN_RELATED_SIMILARITY, RELATED
from paperlake.enrich.short_names import short_name
from paperlake.enrich.text_model import english_stop_words, fit_text
from paperlake.enrich.topics import topic_scores


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://github.com/kaistAI/Prometheus.", "https://github.com/kaistAI/Prometheus"),
        ("https://FineGrainedRLHF.github.io.", "https://finegrainedrlhf.github.io"),
        ("https://github.com/a/b),", "https://github.com/a/b"),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        (
            "https://hf-mirror.492719920.workers.dev/alexgambashidze/SDXL\\_NCP-DPO\\_v0.1",
            "https://huggingface.co/alexgambashidze/SDXL_NCP-DPO_v0.1",
        ),
        ("http://hf-proxy-cf.effarig.site/datasets/x/y/", "https://huggingface.co/datasets/x/y"),
        ("https://github.com/", "https://github.com"),
        ("https://", None),
    ],
)
def test_normalise_url(raw, expected):
    assert normalise_url(raw) == expected


def test_extract_links_from_real_abstract_shapes():
    text = (
        "Code is available at https://github.com/wenyudu/MIGU{this https URL}. See also "
        "(https://react-lm.github.io) and https://github.com/wenyudu/MIGU again; "
        "weights: https://hf.privai.fun/x/y; escaped https://github.com/org/my\\_repo."
    )
    assert extract_links(text) == [
        "https://github.com/wenyudu/MIGU",
        "https://react-lm.github.io",
        "https://huggingface.co/x/y",
        "https://github.com/org/my_repo",
    ]


def test_github_repos():
    links = [
        "https://github.com/salesforce/CodeGen2",
        "https://github.com/Salesforce/codegen2/tree/main/x",
        "https://github.com/orgs/microsoft",
        "https://github.com/NVIDIA/Megatron-LM.git",
        "https://sail-sg.github.io/Attention-Sink",
        "https://github.com/justanowner",
    ]
    assert github_repos(links) == ["salesforce/CodeGen2", "NVIDIA/Megatron-LM"]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("ReAct: Synergizing Reasoning and Acting in Language Models", "ReAct"),
        ("CHART-6: Human-Centered Evaluation", "CHART-6"),
        ("COBRA Frames: Contextual Reasoning", "COBRA Frames"),
        ("Language Models as Compilers: Simulating Pseudocode Execution", None),
        ("Successor Heads: Recurring, Interpretable Attention Heads", None),
        ("No colon in this title", None),
    ],
)
def test_short_name(title, expected):
    assert short_name(title) == expected


def test_topics():
    """Topics of a title, best first; a text with no topic's words has none."""
    scores = topic_scores(
        ["Mitigating hallucination in vision-language models", "A study of cooking"], ["", ""]
    )
    assert [list(s) for s in scores] == [["hallucination", "multimodal"], []]


def _seed_papers():
    import pandas as pd

    from paperlake.ingest import read_raw
    from tests.helpers import SAMPLE, SEED_ENTRIES, process_page

    s = pd.concat([process_page(read_raw(SAMPLE / n, SAMPLE)).sightings for n in SEED_ENTRIES])
    return s.drop_duplicates("title").assign(paper_id=lambda d: [f"p{i}" for i in range(len(d))])


def _brute_force(model) -> list[list[str]]:
    """The exact top RELATED by cosine (then id) above the threshold, from the whole similarity matrix."""
    import numpy as np

    sims = (model.vectors @ model.vectors.T).toarray()
    np.fill_diagonal(sims, -1.0)
    ids = [f"p{i}" for i in range(sims.shape[0])]
    return [
        [
            ids[j]
            for j in sorted(np.flatnonzero(row >= MIN_RELATED_SIMILARITY), key=lambda j: (-row[j], ids[j]))
        ][:RELATED]
        for row in sims
    ]


def test_related_papers_are_the_exact_cosine_top_on_the_seeds():
    """Below CANDIDATE_MAX_DF papers per term every pair is a candidate: related is the exact top 5, with
    its exact cosine scores."""
    model = fit_text(_seed_papers())
    assert model.related == _brute_force(model)
    sims = (model.vectors @ model.vectors.T).toarray()
    for i, (rel, scores) in enumerate(zip(model.related, model.scores, strict=True)):
        assert scores == pytest.approx([sims[i, int(p[1:])] for p in rel], abs=1e-6)


def test_related_papers_from_rare_term_candidates_stay_close_to_exact(monkeypatch):
    """When only the rarest terms find candidates (as at 92,000 papers), the candidates are ranked by their
    exact cosine: mostly the exact top 5, and every score exact."""
    papers = _seed_papers()
    exact = fit_text(papers)
    monkeypatch.setattr(related, "CANDIDATE_MAX_DF", 20)  # 223 of the terms are commoner
    assert (exact.df > related.CANDIDATE_MAX_DF).any()
    model = fit_text(papers)
    sims = (exact.vectors @ exact.vectors.T).toarray()
    assert all(pid not in r for pid, r in zip(papers["paper_id"], model.related, strict=True))
    for i, (rel, scores) in enumerate(zip(model.related, model.scores, strict=True)):
        assert scores == pytest.approx([sims[i, int(p[1:])] for p in rel], abs=1e-6)
        assert scores == sorted(scores, reverse=True)
    pairs = zip(exact.related, model.related, strict=True)
    overlap = sum(len(set(a) & set(b)) for a, b in pairs) / sum(len(a) for a in exact.related)
    assert overlap >= 0.9, overlap  # 0.95 measured


def test_tfidf_matches_scikit_learn_on_the_seeds_and_unicode_edges():
    """fit_text counts and weighs in numpy what TfidfVectorizer(**TFIDF) computes token by token: the same
    vocabulary, idf and rows, also where non-ASCII letters touch ASCII ones (Python's \\w is Unicode)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    papers = _seed_papers()
    edges = ["Naïve café-bar 1abc abc_d x-abc abc-- \u212aelvin İstanbul ²nd x\x00model", "ΣIGMA ab-cd- Über"]
    papers = pd.concat([papers, papers.tail(2).assign(abstract=edges, paper_id=["e0", "e1"])])
    reference = TfidfVectorizer(**text_model.TFIDF)
    expected = reference.fit_transform(text_model.documents(papers))
    expected.sort_indices()
    model = fit_text(papers)
    assert model.terms.tolist() == reference.get_feature_names_out().tolist()
    assert np.array_equal(model.idf, reference.idf_)
    assert np.array_equal(model.vectors.indptr, expected.indptr)
    assert np.array_equal(model.vectors.indices, expected.indices)
    assert np.allclose(model.vectors.data, expected.data, rtol=0, atol=1e-7)


def test_stop_words_are_scikit_learns():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    assert english_stop_words() == ENGLISH_STOP_WORDS and len(ENGLISH_STOP_WORDS) > 300


@pytest.mark.subprocess
def test_a_run_imports_no_plotting_or_machine_learning_library():
    """The Definitions and the enrichment module load without scikit-learn or matplotlib (each cost every
    run about a second to import; matplotlib loads only when a figure is drawn again)."""
    probe = (
        "import sys, warnings; warnings.simplefilter('ignore'); import pipelines.definitions, "
        "paperlake.enrich; print(sorted({'sklearn', 'matplotlib', 'scipy.stats'} & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
