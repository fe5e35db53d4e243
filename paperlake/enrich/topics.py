"""Topics: a keyword taxonomy scored on title and abstract; a paper with no hit inherits from its related
papers."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from paperlake.parallel import default_workers

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
# RE2 patterns for Arrow's vectorised matcher: linear time, one pass per topic over all papers
_TOPIC_RE2 = {t: "(?i)(?:" + "|".join(TOPICS[t]) + ")" for t in sorted(TOPICS)}


def topic_scores(titles: list[str], abstracts: list[str]) -> list[dict[str, float]]:
    """Per paper, topic → score in (0, 1): keyword hits with a title hit counting double, saturating
    as h / (h + 2); best first, then by name. The Arrow kernels run on threads (they release the GIL)."""
    texts = pa.array(titles, pa.string()), pa.array(abstracts, pa.string())
    pairs = [(t, rx) for t in texts for rx in _TOPIC_RE2.values()]
    with ThreadPoolExecutor(default_workers()) as pool:
        found = list(pool.map(lambda p: pc.count_substring_regex(*p).to_numpy(zero_copy_only=False), pairs))
    counts = np.array(found, np.int64).reshape(2, len(_TOPIC_RE2), len(titles))  # title, abstract hits
    hits = (2 * counts[0] + counts[1]).T
    saturated = np.array([round(h / (h + 2), 3) for h in range(int(hits.max(initial=0)) + 1)])
    rows, cols = np.nonzero(hits)
    score = saturated[hits[rows, cols]]
    order = np.lexsort((cols, -score, rows))  # _TOPIC_RE2 is in name order
    names = np.array(list(_TOPIC_RE2), dtype=object)[cols[order]].tolist()
    scores = score[order].tolist()
    bounds = np.searchsorted(rows[order], np.arange(len(titles) + 1)).tolist()
    return [dict(zip(names[a:b], scores[a:b], strict=True)) for a, b in pairwise(bounds)]


def inherit_topics(
    scores: list[dict[str, float]], related: list[list[str]], by_id: dict[str, dict[str, float]]
) -> list[dict]:
    """Papers without a keyword hit take the most common topic of their related papers (low score);
    `by_id` holds the related papers' keyword scores."""
    out = []
    for sc, rel in zip(scores, related, strict=True):
        if not sc and (counts := Counter(t for pid in rel for t in by_id.get(pid, {}))):
            sc = {min(counts, key=lambda t: (-counts[t], t)): INHERITED_TOPIC_SCORE}
        out.append(sc)
    return out
