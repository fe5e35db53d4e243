"""What is new, for people: a digest of what a published version (or a day of versions) added or
changed, as Markdown and as a small HTML page, and an Atom feed of new papers.

Everything here is derived from the published versions (`paperlake.diff`), never from a state of its
own: rendering the same versions again writes the same bytes, so a run that publishes nothing changes
no file, and the feed's entries keep their ids (`urn:paperlake:paper:<paper_id>`) and times (when the
version that added the paper was published). The feed lists the newest `entries` papers, each once.
"""

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path

import duckdb
import jinja2

from paperlake import lake
from paperlake.config import Paths, write_whole
from paperlake.diff import VersionDiff, added, compare

TOP = 10  # papers per list: trending, gained code, per topic
SUMMARY_CHARS = 600  # of the abstract, in a feed entry
FEED_COLUMNS = ["paper_id", "title", "abstract", "upvotes_max", "github_repos", "topics"]


@dataclass
class Digest:
    """What one span of versions (`since` → `until`) added or changed, ready to render."""

    title: str
    since: int | None
    until: int
    published_at: dt.datetime
    new: list[dict] = field(default_factory=list)  # papers added: their rows at `until`
    trending: list[dict] = field(default_factory=list)  # changed papers, fastest upvote growth first
    gained_code: list[dict] = field(default_factory=list)  # changed papers that now have a GitHub repo
    by_topic: dict[str, list[dict]] = field(default_factory=dict)  # new papers per topic, biggest first
    removed: int = 0
    changed: int = 0


def of_diff(title: str, found: VersionDiff, published_at: dt.datetime) -> Digest:
    """The digest of a diff: new papers by upvotes, changed papers by upvote growth since `since`."""
    rows = found.papers.to_pylist()
    new = sorted((r["new"] for r in rows if r["change"] == "added"), key=_by_upvotes)
    changed = [r for r in rows if r["change"] == "changed"]
    grew = []
    for r in changed:
        growth = (r["new"]["upvotes_max"] or 0) - (r["old"]["upvotes_max"] or 0)
        if growth > 0:
            grew.append(r["new"] | {"growth": growth, "upvotes_before": r["old"]["upvotes_max"]})
    grew.sort(key=lambda p: (-p["growth"], -(p["upvotes_growth_per_day"] or 0.0), p["paper_id"]))
    gained = [r["new"] for r in changed if r["new"]["has_code"] and not r["old"]["has_code"]]
    topics: dict[str, list[dict]] = defaultdict(list)
    for paper in new:
        for topic in paper["topics"] or ["(no topic)"]:
            topics[topic].append(paper)
    return Digest(
        title,
        found.since,
        found.until,
        published_at,
        new,
        grew[:TOP],
        sorted(gained, key=_by_upvotes)[:TOP],
        dict(sorted(topics.items(), key=lambda t: (-len(t[1]), t[0]))),
        removed=sum(r["change"] == "removed" for r in rows),
        changed=len(changed),
    )


def _by_upvotes(paper: dict) -> tuple:
    return (-(paper["upvotes_max"] or 0), paper["title"], paper["paper_id"])


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


def md_text(text: object) -> str:
    """Text as literal Markdown on one line: nothing in a title turns into markup, HTML or a broken
    table (also how the Dagster metadata previews escape cells)."""
    value = " ".join(str(text if text is not None else "").split())
    return _MD_SPECIAL.sub(r"\\\1", html_escape(value, quote=False))


def markdown(d: Digest) -> str:
    """The digest as Markdown (also the asset's metadata in the Dagster UI)."""
    span = f"version {d.since} → {d.until}" if d.since is not None else f"version {d.until} (the first)"
    lines = [
        f"# {md_text(d.title)}",
        "",
        f"{span}, published {d.published_at:%Y-%m-%d %H:%M} UTC: **new papers: {len(d.new)}**, "
        f"{d.changed} changed, {d.removed} removed.",
        "",
        "## New papers",
        "",
    ]
    lines += [_md_paper(p) for p in d.new[: TOP * 5]] or ["None."]
    if len(d.new) > TOP * 5:
        lines.append(f"- … and {len(d.new) - TOP * 5} more")
    lines += ["", "## Trending: fastest upvote growth", ""]
    lines += [
        f"- {md_text(p['title'])}: {p['upvotes_before'] or 0} → {p['upvotes_max']} upvotes (+{p['growth']})"
        for p in d.trending
    ] or ["None."]
    lines += ["", "## Gained a code link", ""]
    code = [f"- {md_text(p['title'])}: {md_text(', '.join(p['github_repos']))}" for p in d.gained_code]
    lines += code or ["None."]
    lines += ["", "## New papers by topic", ""]
    for topic, papers in d.by_topic.items():
        names = "; ".join(md_text(p["title"]) for p in papers[:TOP])
        more = f" … and {len(papers) - TOP} more" if len(papers) > TOP else ""
        lines.append(f"- **{md_text(topic)}** ({len(papers)}): {names}{more}")
    lines += [] if d.by_topic else ["None."]
    return "\n".join(lines) + "\n"


def _md_paper(p: dict) -> str:
    extra = [f"{p['upvotes_max']} upvotes"] if p["upvotes_max"] is not None else []
    extra += [f"code: {md_text(p['github_repos'][0])}"] if p["has_code"] else []
    extra += [", ".join(md_text(t) for t in p["topics"] or [])] if p["topics"] else []
    return f"- **{md_text(p['title'])}**" + (f" ({'; '.join(extra)})" if extra else "")


_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ d.title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; margin-top: 2rem; }
.meta { color: #59636e; } .tag { background: #ddf4ff; border-radius: 1rem; padding: 0 .5rem;
       margin-right: .25rem; font-size: .85em; } .up { color: #1a7f37; font-weight: 600; }
li { margin: .3rem 0; } a { color: #0969da; }
</style></head><body>
<h1>{{ d.title }}</h1>
<p class="meta">{% if d.since is not none %}version {{ d.since }} → {{ d.until }}{% else
%}version {{ d.until }} (the first){% endif %}, published {{ d.published_at.strftime('%Y-%m-%d %H:%M') }}
UTC: <strong>new papers: {{ d.new|length }}</strong>, {{ d.changed }} changed, {{ d.removed }} removed.
{% if feed %}<a href="{{ feed }}">Atom feed</a>{% endif %}</p>
<h2>New papers</h2>
<ul>{% for p in d.new %}
<li id="{{ p.paper_id }}"><strong>{{ p.title }}</strong>{% if p.upvotes_max is not none
%} <span class="up">▲ {{ p.upvotes_max }}</span>{% endif %}{% for r in p.github_repos
%} <a href="https://github.com/{{ r }}">{{ r }}</a>{% endfor %}<br>{% for t in p.topics or []
%}<span class="tag">{{ t }}</span>{% endfor %}</li>{% else %}<li>None.</li>{% endfor %}</ul>
<h2>Trending: fastest upvote growth</h2>
<ul>{% for p in d.trending %}<li>{{ p.title }}: {{ p.upvotes_before or 0 }} → {{ p.upvotes_max }}
<span class="up">+{{ p.growth }}</span></li>{% else %}<li>None.</li>{% endfor %}</ul>
<h2>Gained a code link</h2>
<ul>{% for p in d.gained_code %}<li>{{ p.title }}: {% for r in p.github_repos
%}<a href="https://github.com/{{ r }}">{{ r }}</a> {% endfor %}</li>{% else %}<li>None.</li>{% endfor %}</ul>
<h2>New papers by topic</h2>
<ul>{% for topic, papers in d.by_topic.items() %}<li><span class="tag">{{ topic }}</span> {{ papers|length }}:
{% for p in papers[:top] %}<a href="#{{ p.paper_id }}">{{ p.title }}</a>{% if not loop.last %}; {% endif %}{%
endfor %}{% if papers|length > top %} … and {{ papers|length - top }} more{% endif %}</li>{% else
%}<li>None.</li>{% endfor %}</ul>
</body></html>
"""
)


def html(d: Digest, feed: str = "") -> str:
    """The digest as one self-contained HTML page (every value escaped; anchors are paper ids)."""
    return _PAGE.render(d=d, top=TOP, feed=feed)


def published(con: duckdb.DuckDBPyConnection) -> list[tuple[int, dt.datetime]]:
    """Every published version still in the lake with its time (UTC), newest first."""
    rows = lake.versions(con).select(["version", "published_at"]).to_pylist()
    return [(int(r["version"]), r["published_at"].astimezone(dt.UTC)) for r in rows]


def feed_entries(con: duckdb.DuckDBPyConnection, versions: list[tuple[int, dt.datetime]], limit: int):
    """The newest `limit` papers added by the published `versions` (newest first), each once, with the
    version that added it and when it was published. A paper removed and added again counts from its
    newest addition; versions are read only as far back as the entries need."""
    entries: dict[str, tuple[dict, int, dt.datetime]] = {}
    for i, (version, at) in enumerate(versions):
        since = versions[i + 1][0] if i + 1 < len(versions) else None
        for paper in sorted(added(con, since, version, "papers", FEED_COLUMNS).to_pylist(), key=_by_upvotes):
            if paper["paper_id"] not in entries and len(entries) < limit:
                entries[paper["paper_id"]] = (paper, version, at)
        if len(entries) >= limit:
            break
    return list(entries.values())


def atom(entries: list[tuple[dict, int, dt.datetime]], base_url: str, updated: dt.datetime) -> bytes:
    """The Atom feed of new papers (written by feedgen). Entry links point at the paper in the digest of
    the version that added it, under `base_url`."""
    from feedgen.feed import FeedGenerator  # lxml: paid by the digest only, not by every Definitions load

    fg = FeedGenerator()
    fg.id(f"{base_url}feed.xml")
    fg.title("paperlake: new papers")
    fg.subtitle("Papers new in each published version of the paperlake tables")
    fg.author({"name": "paperlake"})
    fg.link(href=f"{base_url}feed.xml", rel="self")
    fg.link(href=f"{base_url}latest.html", rel="alternate")
    fg.updated(max([at for _, _, at in entries], default=updated))
    for paper, version, at in reversed(entries):  # feedgen prepends: newest ends first
        entry = fg.add_entry()
        entry.id(f"urn:paperlake:paper:{paper['paper_id']}")
        entry.title(paper["title"])
        entry.updated(at)
        entry.published(at)
        # one link: feedgen 1.0.0 drops every link's rel, so a second one would be a second "alternate"
        entry.link(href=f"{base_url}v{version}.html#{paper['paper_id']}", rel="alternate")
        abstract = " ".join((paper["abstract"] or "").split())
        code = "".join(f" Code: https://github.com/{repo}" for repo in paper["github_repos"] or [])
        cut = SUMMARY_CHARS - len(code)
        entry.summary((abstract if len(abstract) <= cut else abstract[: cut - 1] + "…") + code)
        for topic in paper["topics"] or []:
            entry.category(term=topic)
    return fg.atom_str(pretty=True)


def _holds(path: Path, data: bytes) -> bool:
    return path.exists() and path.read_bytes() == data


@dataclass
class Written:
    """What `write` produced: the served version's digest, the day's, the feed and which files changed."""

    version: Digest
    day: Digest
    files: dict[str, Path]
    changed: list[str]
    feed_entries: int


def write(paths: Paths, entries: int = 100, base_url: str = "") -> Written:
    """Render the newest published version's digest, the digest of its day (UTC: from the last version
    published before that day to the newest), `latest.*`, and the feed of the newest `entries` papers,
    under `paths.digest_dir`. Files whose content would not change are left alone."""
    out = paths.digest_dir
    base = base_url or out.as_uri() + "/"
    with lake.open_lake(paths, read_only=True) as con:
        versions = published(con)
        if not versions:
            raise LookupError("nothing has been published yet: no digest to write")
        until, at = versions[0]
        since = versions[1][0] if len(versions) > 1 else None
        only = ("papers",)  # the digest reads papers only
        found = compare(con, since, until, only)
        day_start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        before_day = next((v for v, t in versions if t < day_start), None)
        found_day = found if before_day == since else compare(con, before_day, until, only)
        feed = feed_entries(con, versions, entries)
    version = of_diff(f"paperlake: what's new in version {until}", found, at)
    day = of_diff(f"paperlake: what's new on {at:%Y-%m-%d}", found_day, at)
    page, text = html(version, "feed.xml").encode(), markdown(version).encode()
    files = {
        f"v{until}.md": text,
        f"v{until}.html": page,
        "latest.md": text,
        "latest.html": page,
        f"daily/{at:%Y-%m-%d}.md": markdown(day).encode(),
        f"daily/{at:%Y-%m-%d}.html": html(day, "../feed.xml").encode(),
        "feed.xml": atom(feed, base, at),
    }
    changed = [name for name, data in files.items() if not _holds(out / name, data)]
    for name in changed:
        write_whole(out / name, files[name])
    return Written(version, day, {name: out / name for name in files}, changed, len(feed))
