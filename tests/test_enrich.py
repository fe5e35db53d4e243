"""Link normalisation, GitHub repos, short names and topics."""

import pytest

from paperlake.enrich import extract_links, github_repos, normalise_url, short_name, topic_scores


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


def test_related_papers_exact_and_pruned_agree_on_the_sample():
    """The pruned sparse path (used past 20,000 papers) finds mostly the same neighbours as exact cosine."""
    import pandas as pd

    from paperlake.enrich import text_similarity
    from paperlake.ingest import read_raw
    from tests.helpers import SAMPLE, SEED_ENTRIES, process_page

    s = pd.concat([process_page(read_raw(SAMPLE / n, SAMPLE)).sightings for n in SEED_ENTRIES])
    papers = s.drop_duplicates("title").assign(paper_id=lambda d: [f"p{i}" for i in range(len(d))])
    _, exact = text_similarity(papers)
    _, pruned = text_similarity(papers, exact_max=0)
    assert all(len(r) == 5 for r in exact) and all(len(r) == 5 for r in pruned)
    assert all(pid not in r for pid, r in zip(papers["paper_id"], pruned, strict=True))
    overlap = sum(len(set(a) & set(b)) for a, b in zip(exact, pruned, strict=True)) / (5 * len(exact))
    assert overlap >= 0.75, overlap  # 0.79 measured; the 128-d LSA it replaced gave 0.5
