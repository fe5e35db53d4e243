"""What is new, for people: a digest of what a published version (or a day of versions) added or
changed, as Markdown and as a small HTML page, and an Atom feed of new papers.

Everything here is derived from the published versions (`paperlake.diff`), never from a state of its
own: rendering the same versions again writes the same bytes, so a run that publishes nothing changes
no file, and the feed's entries keep their ids (`urn:paperlake:paper:<paper_id>`) and times (when the
version that added the paper was published). The feed lists the newest `entries` papers, each once.

The cost is bounded by the change, not by the lake: a digest is summarised in DuckDB (only the papers it
shows become Python objects), a day's page is written once, when the day is over, and the feed is the
previous feed (`feed.json`, checked against the version it was built for) with the new version's papers
in front; without it the feed is read back from the versions.
"""

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path

import duckdb
import jinja2
import pyarrow as pa
import pyarrow.compute as pc

from paperlake import lake
from paperlake.config import Paths, write_whole
from paperlake.diff import VersionDiff, added, compare

TOP = 10  # papers per list: trending, gained code, per topic
SHOWN = 500  # new papers listed on a page (the count says how many there are)
FEED_CACHE = "feed.json"  # the feed's entries and the version they were read for
SUMMARY_CHARS = 600  # of the abstract, in a feed entry
FEED_COLUMNS = ["paper_id", "title", "abstract", "upvotes_max", "github_repos", "topics"]


@dataclass
class Digest:
    """What one span of versions (`since` → `until`) added or changed, ready to render."""

    title: str
    since: int | None
    until: int
    published_at: dt.datetime
    new: list[dict] = field(default_factory=list)  # papers added, most upvoted first (the first SHOWN)
    trending: list[dict] = field(default_factory=list)  # changed papers, fastest upvote growth first
    gained_code: list[dict] = field(default_factory=list)  # changed papers that now have a GitHub repo
    by_topic: dict[str, list[dict]] = field(default_factory=dict)  # per topic its first TOP new papers
    topic_counts: dict[str, int] = field(default_factory=dict)  # new papers per topic, biggest first
    n_new: int = 0
    removed: int = 0
    changed: int = 0


_UPVOTES = "coalesce(new.upvotes_max, 0) DESC, new.title, new.paper_id"  # `_by_upvotes` in SQL: the feed
# sorts a version's new papers in Python, the pages in DuckDB; both by this one order


def of_diff(title: str, found: VersionDiff, published_at: dt.datetime) -> Digest:
    """The digest of a diff: new papers by upvotes, changed papers by upvote growth since `since`."""
    with duckdb.connect() as con:
        con.register("d", found.papers)
        return _summarise(con, "d", Digest(title, found.since, found.until, published_at))


def of_first(con: duckdb.DuckDBPyConnection, title: str, until: int, published_at: dt.datetime) -> Digest:
    """The digest of the first version (every paper is new), read in place from the lake: a diff of
    everything would copy every paper twice (old and new rows; 18 s and gigabytes at 10,000 files)."""
    papers = f"{lake.main_table('papers')} AS p AT (VERSION => {int(until)})"
    rows = f"(SELECT 'added' AS change, p AS new, CASE WHEN false THEN p END AS old FROM {papers})"
    return _summarise(con, rows, Digest(title, None, until, published_at))


def _summarise(con: duckdb.DuckDBPyConnection, d: str, digest: Digest) -> Digest:
    """`digest` filled in from relation `d` (change, old and new rows as structs), summarised in DuckDB:
    only the papers a page shows are read into Python."""
    n = dict(con.execute(f"SELECT change, count(*) FROM {d} GROUP BY ALL").fetchall())
    digest.n_new, digest.removed, digest.changed = (n.get(c, 0) for c in ("added", "removed", "changed"))
    digest.new = _rows(con, f"SELECT new FROM {d} WHERE change = 'added' ORDER BY {_UPVOTES} LIMIT {SHOWN}")
    grew = "coalesce(new.upvotes_max, 0) - coalesce(old.upvotes_max, 0)"
    trending = f"""SELECT struct_insert(new, growth := {grew}, upvotes_before := old.upvotes_max) FROM {d}
            WHERE change = 'changed' AND {grew} > 0
            ORDER BY {grew} DESC, coalesce(new.upvotes_growth_per_day, 0) DESC, new.paper_id
            LIMIT {TOP}"""
    gained_code = f"""SELECT new FROM {d}
            WHERE change = 'changed' AND new.has_code AND NOT coalesce(old.has_code, false)
            ORDER BY {_UPVOTES} LIMIT {TOP}"""
    digest.trending, digest.gained_code = _rows(con, trending), _rows(con, gained_code)
    topics = con.execute(f"""
        WITH t AS (SELECT unnest(CASE WHEN len(coalesce(new.topics, [])) = 0 THEN ['(no topic)']
                                      ELSE new.topics END) AS topic,
                          struct_pack(paper_id := new.paper_id, title := new.title,
                                      upvotes_max := new.upvotes_max) AS new  -- what the order reads
                   FROM {d} WHERE change = 'added'),
             top AS (SELECT topic, count(*) OVER (PARTITION BY topic) AS n, new.paper_id AS id,
                            row_number() OVER (PARTITION BY topic ORDER BY {_UPVOTES}) AS k FROM t)
        SELECT topic, any_value(n), list(id ORDER BY k) FROM top WHERE k <= {TOP}
        GROUP BY topic ORDER BY any_value(n) DESC, topic""").fetchall()
    shown = {p["paper_id"]: p for p in digest.new}
    missing = {i for _, _, ids in topics for i in ids} - shown.keys()
    if missing:  # a topic's first papers that are not among the page's first SHOWN
        sql = f"SELECT new FROM {d} WHERE change = 'added' AND list_contains($ids, new.paper_id)"
        shown.update({p["paper_id"]: p for p in _rows(con, sql, {"ids": sorted(missing)})})
    digest.by_topic = {topic: [shown[i] for i in ids] for topic, _, ids in topics}
    digest.topic_counts = {topic: count for topic, count, _ in topics}
    return digest


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    return [row for (row,) in con.execute(sql, params or {}).fetchall()]


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
    head = f"{span}, published {d.published_at:%Y-%m-%d %H:%M} UTC: **new papers: {d.n_new}**, "
    lines = [f"# {md_text(d.title)}", "", head + f"{d.changed} changed, {d.removed} removed.", ""]
    lines += ["## New papers", ""] + ([_md_paper(p) for p in d.new[: TOP * 5]] or ["None."])
    if d.n_new > TOP * 5:
        lines.append(f"- … and {d.n_new - TOP * 5} more")
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
        names = "; ".join(md_text(p["title"]) for p in papers)
        count = d.topic_counts[topic]
        more = f" … and {count - len(papers)} more" if count > len(papers) else ""
        lines.append(f"- **{md_text(topic)}** ({count}): {names}{more}")
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
UTC: <strong>new papers: {{ d.n_new }}</strong>, {{ d.changed }} changed, {{ d.removed }} removed.
{% if feed %}<a href="{{ feed }}">Atom feed</a>{% endif %}</p>
<h2>New papers</h2>
<ul>{% for p in d.new %}
<li id="{{ p.paper_id }}"><strong>{{ p.title }}</strong>{% if p.upvotes_max is not none
%} <span class="up">▲ {{ p.upvotes_max }}</span>{% endif %}{% for r in p.github_repos
%} <a href="https://github.com/{{ r }}">{{ r }}</a>{% endfor %}<br>{% for t in p.topics or []
%}<span class="tag">{{ t }}</span>{% endfor %}</li>{% else %}<li>None.</li>{% endfor %}{%
if d.n_new > d.new|length %}<li>… and {{ d.n_new - d.new|length }} more</li>{% endif %}</ul>
<h2>Trending: fastest upvote growth</h2>
<ul>{% for p in d.trending %}<li>{{ p.title }}: {{ p.upvotes_before or 0 }} → {{ p.upvotes_max }}
<span class="up">+{{ p.growth }}</span></li>{% else %}<li>None.</li>{% endfor %}</ul>
<h2>Gained a code link</h2>
<ul>{% for p in d.gained_code %}<li>{{ p.title }}: {% for r in p.github_repos
%}<a href="https://github.com/{{ r }}">{{ r }}</a> {% endfor %}</li>{% else %}<li>None.</li>{% endfor %}</ul>
<h2>New papers by topic</h2>
<ul>{% for topic, papers in d.by_topic.items() %}{% set count = d.topic_counts[topic]
%}<li><span class="tag">{{ topic }}</span> {{ count }}:
{% for p in papers %}<a href="#{{ p.paper_id }}">{{ p.title }}</a>{% if not loop.last %}; {% endif %}{%
endfor %}{% if count > papers|length %} … and {{ count - papers|length }} more{% endif %}</li>{% else
%}<li>None.</li>{% endfor %}</ul>
</body></html>
"""
)


def html(d: Digest, feed: str = "") -> str:
    """The digest as one self-contained HTML page (every value escaped; anchors are paper ids)."""
    return _PAGE.render(d=d, feed=feed)


def published(con: duckdb.DuckDBPyConnection) -> list[tuple[int, dt.datetime]]:
    """Every published version still in the lake with its time (UTC), newest first."""
    rows = lake.versions(con).select(["version", "published_at"]).to_pylist()
    return [(int(r["version"]), r["published_at"].astimezone(dt.UTC)) for r in rows]


Entry = tuple[dict, int, dt.datetime]  # a paper's FEED_COLUMNS, the version that added it, when published


@dataclass
class Known:
    """The feed's entries as read for `version` with `limit` (FEED_CACHE): a later feed reads only the
    versions after it."""

    version: int
    limit: int
    entries: list[Entry]


def feed_entries(
    con: duckdb.DuckDBPyConnection,
    versions: list[tuple[int, dt.datetime]],
    limit: int,
    known: Known | None = None,
    newest: pa.Table | None = None,
) -> list[Entry]:
    """The newest `limit` papers added by the published `versions` (newest first), each once, with the
    version that added it and when it was published. A paper removed and added again counts from its
    newest addition; versions are read only as far back as the entries need, and not past a version whose
    entries are `known` (unless a paper listed again leaves a full known list short). `newest`: the
    FEED_COLUMNS of the papers the newest version added, when the caller has read them already."""
    entries: dict[str, Entry] = {}
    for i, (version, at) in enumerate(versions):
        if known is not None and known.version == version and known.limit >= limit:
            merged = dict(entries)
            for entry in known.entries:
                merged.setdefault(entry[0]["paper_id"], entry)
            if len(merged) >= limit or len(known.entries) < known.limit:
                return list(merged.values())[:limit]
        since = versions[i + 1][0] if i + 1 < len(versions) else None
        rows = newest if i == 0 and newest is not None else added(con, since, version, "papers", FEED_COLUMNS)
        for paper in sorted(rows.to_pylist(), key=_by_upvotes):  # a paper's first entry stays: its newest
            entries.setdefault(paper["paper_id"], (paper, version, at))
        if len(entries) >= limit:
            break
    return list(entries.values())[:limit]


def _known(path: Path) -> Known | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [(e["paper"], e["version"], dt.datetime.fromisoformat(e["at"])) for e in data["entries"]]
        return Known(data["version"], data["limit"], entries)
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: read the versions
        return None


def _known_bytes(version: int, limit: int, entries: list[Entry]) -> bytes:
    rows = [{"paper": p, "version": v, "at": at.isoformat()} for p, v, at in entries]
    return json.dumps({"version": version, "limit": limit, "entries": rows}, ensure_ascii=False).encode()


def atom(entries: list[Entry], base_url: str, updated: dt.datetime) -> bytes:
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


@dataclass
class Written:
    """What `write` produced: the served version's digest, the finished days' digests written this time,
    the feed, and which files changed."""

    version: Digest
    days: list[Digest]
    files: dict[str, Path]
    changed: list[str]
    feed_entries: int


def _finished_days(
    versions: list[tuple[int, dt.datetime]], today: dt.date, out: Path
) -> list[tuple[dt.date, int | None, int, dt.datetime]]:
    """The days before `today` (UTC) with a published version and no page yet: per day, the last version
    before it (None: none is left), its own last version and when that was published. A day's page is
    written once, when the day is over, so it never grows with the lake."""
    days: dict[dt.date, tuple[int, dt.datetime]] = {}
    for version, at in versions:  # newest first: a day's first entry is its last version
        days.setdefault(at.date(), (version, at))
    return [
        (day, next((v for v, t in versions if t.date() < day), None), last, at)  # the last version before it
        for day, (last, at) in days.items()
        if day < today and not (out / "daily" / f"{day:%Y-%m-%d}.md").exists()
    ]


def _digest(
    con: duckdb.DuckDBPyConnection, title: str, since: int | None, until: int, at: dt.datetime
) -> tuple[Digest, pa.Table | None]:
    """The digest of `since` → `until`, and the FEED_COLUMNS of the papers it added (None: not read)."""
    if since is None:
        return of_first(con, title, until, at), None
    found = compare(con, since, until, ("papers",))  # the digest reads papers only
    new = found.papers.filter(pc.equal(found.papers["change"], "added"))["new"].combine_chunks()
    return of_diff(title, found, at), pa.table({c: new.field(c) for c in FEED_COLUMNS})


def write(paths: Paths, entries: int = 100, base_url: str = "", now: dt.datetime | None = None) -> Written:
    """Render the newest published version's digest (`v<V>.*`, `latest.*`), the digest of each finished
    UTC day that has none yet (`daily/<date>.*`: from the last version before that day to its last), and
    the feed of the newest `entries` papers, under `paths.digest_dir`. Files whose content would not
    change are left alone."""
    out = paths.digest_dir
    base = base_url or out.as_uri() + "/"
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    with lake.open_lake(paths, read_only=True) as con:
        versions = published(con)
        if not versions:
            raise LookupError("nothing has been published yet: no digest to write")
        until, at = versions[0]
        since = versions[1][0] if len(versions) > 1 else None
        version, added_now = _digest(con, f"paperlake: what's new in version {until}", since, until, at)
        days = [
            _digest(con, f"paperlake: what's new on {day:%Y-%m-%d}", before, last, last_at)[0]
            for day, before, last, last_at in _finished_days(versions, today, out)
        ]
        feed = feed_entries(con, versions, entries, _known(out / FEED_CACHE), added_now)
    page, text = html(version, "feed.xml").encode(), markdown(version).encode()
    files = {f"v{until}.md": text, f"v{until}.html": page, "latest.md": text, "latest.html": page}
    files |= {"feed.xml": atom(feed, base, at), FEED_CACHE: _known_bytes(until, entries, feed)}
    for day in days:
        files[f"daily/{day.published_at:%Y-%m-%d}.md"] = markdown(day).encode()
        files[f"daily/{day.published_at:%Y-%m-%d}.html"] = html(day, "../feed.xml").encode()
    changed = [n for n, data in files.items() if not (out / n).exists() or (out / n).read_bytes() != data]
    for name in changed:
        write_whole(out / name, files[name])
    return Written(version, days, {name: out / name for name in files}, changed, len(feed))
