"""Enrichment v1: links, GitHub repos, short names, topics and word counts from titles and abstracts."""

import re
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

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
}
_TOPIC_RE = {t: re.compile("|".join(p), re.IGNORECASE) for t, p in TOPICS.items()}


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


def topics(text: str) -> list[str]:
    return [t for t, rx in _TOPIC_RE.items() if rx.search(text)]


def enrich(papers: pd.DataFrame) -> pd.DataFrame:
    """Add links, github_repos, has_code, short_name, topics and abstract_words to resolved papers."""
    links = papers["abstract"].map(extract_links)
    repos = links.map(github_repos)
    text = papers["title"] + "\n" + papers["abstract"]
    return papers.assign(
        links=links,
        github_repos=repos,
        has_code=repos.map(bool),
        short_name=papers["title"].map(short_name),
        topics=text.map(topics),
        abstract_words=papers["abstract"].str.split().str.len().fillna(0).astype("int64"),
    )
