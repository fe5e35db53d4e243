"""Links in an abstract: normalised URLs, the GitHub repositories among them, and what each points at."""

import re
from urllib.parse import urlsplit, urlunsplit

from schemas.vocabulary import LinkKind

# Hugging Face mirrors and proxies seen in captures: all are huggingface.co underneath.
HF_MIRRORS = frozenset(
    {"huggingface.co", "www.huggingface.co", "hf.co", "hf-mirror.com", "hf-mirror.492719920.workers.dev"}
    | {"hf-proxy-cf.effarig.site", "hf.privai.fun"}
)
URL = re.compile(r"https?://[^\s<>\"'{}|\\^`\[\]]+", re.IGNORECASE)
TRAILING = ".,;:!?'\"*"
GITHUB_REPO = re.compile(r"^/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)")
GITHUB_NOT_OWNERS = frozenset({"orgs", "features", "topics", "sponsors", "marketplace", "settings", "about"})
HF_KINDS = {"datasets": LinkKind.HF_DATASET, "spaces": LinkKind.HF_SPACE, "papers": LinkKind.HF_PAPER}
PAPER_HOSTS = ("arxiv.org", "www.arxiv.org", "openreview.net", "aclanthology.org", "doi.org")
PAGE_SUFFIXES = (".github.io", ".gitlab.io", ".pages.dev", ".netlify.app")
NOT_PAGES = ("github.com", "gitlab.com", "bit.ly", "aka.ms", "ibm.biz")  # a bare host that is no project


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
    scheme = "https" if host == "huggingface.co" else parts.scheme.lower()
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def extract_links(text: str) -> list[str]:
    """Normalised, de-duplicated links in order of appearance."""
    urls = (normalise_url(m.group(0)) for m in URL.finditer(text.replace("\\_", "_")))
    return list(dict.fromkeys(u for u in urls if u))


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
    """The repositories the links point at, each once (case-insensitively), as first spelled."""
    seen: dict[str, str] = {}
    for repo in filter(None, map(github_repo, links)):
        seen.setdefault(repo.lower(), repo)
    return list(seen.values())


def classify_link(url: str) -> LinkKind:
    """What a normalised link points at."""
    parts = urlsplit(url)
    host, segments = (parts.hostname or "").lower(), [p for p in parts.path.split("/") if p]
    if github_repo(url):
        return LinkKind.GITHUB_REPO
    if host == "huggingface.co":
        if segments and segments[0] in HF_KINDS:
            return HF_KINDS[segments[0]]
        return LinkKind.HF_MODEL if len(segments) >= 2 else LinkKind.OTHER
    if host in PAPER_HOSTS:
        return LinkKind.PAPER
    if host.endswith(PAGE_SUFFIXES) or (host not in NOT_PAGES and not segments):
        return LinkKind.PROJECT_PAGE
    return LinkKind.OTHER
