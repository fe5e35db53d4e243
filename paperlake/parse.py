"""Capture text → a page record, entry records and reject records; every line is accounted for.

Two stages, matching the two partitioned assets:

* ``read_page``: bytes → decoded text, page header, page date (``RawPage``). A file that is not text or
  not a capture becomes a file-level reject, never an exception.
* ``parse_entries``: the body after the header → entries. Entries are paragraphs separated by blank
  lines: a title line, an abstract paragraph and, in the detailed layout, a metadata paragraph
  (``• N authors`` or an organisation, ``·``, a date with optional upvotes). A paragraph that cannot be
  placed in an entry is rejected with a reason and its lines. Damage stays in its entry: one holding
  bytes the decoder could not read (U+FFFD) is rejected as ``invalid_bytes``; the last entry, when the
  file visibly stops inside it, as ``truncated_entry``; a title directly followed by its metadata is a
  sighting without abstract (flag ``no_abstract``). The rules are in the README, "Damaged downloads".
"""

import datetime as dt
import html
import re
from dataclasses import dataclass

from paperlake.dates import MonthDay, infer_entry_date, infer_page_date, parse_date_line, parse_page_date
from paperlake.decode import DAMAGE, decode_bytes, looks_binary
from paperlake.normalize import content_id, short_hash
from schemas.vocabulary import MAX_TITLE_CHARS, RejectReason

HEADER_MARKERS = (
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "Daily Papers",
    "byAK and the research community",
)
# How every date line with a year ends (dates.DATE_LINE): its literal ", " lets the regex engine skip ahead
_YEAR_END = re.compile(r", \d{4}(?: \d{1,7})?[^\S\n]*$", re.M)
_ASCII_ODD_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"  # what str.isspace() takes in ASCII, but " "
HEADER_LAST = "byAK and the research community"
HEADER_SCAN_LINES = 40
HEAD_LINES = 64  # lines read_page splits off the top: more than the header scan
AUTHORS_LINE = re.compile(r"^•\s*(\d{1,5})\s+authors?$")
META_SEPARATOR = "·"
# How a complete abstract ends: sentence punctuation, or a link (4 % of the sample's abstracts end in one).
FINISHED_ABSTRACT = re.compile("(?:[.!?)\\]}\"'\u201d\u2019\u00bb]|\\S*(?:://|www\\.)\\S*)$")
# Reasons that, on the last entry of a file, mean the download stopped inside it (a lone title; the
# first lines of a metadata block).
CUT_REASONS = (RejectReason.MISSING_ABSTRACT, RejectReason.BAD_METADATA)


@dataclass(frozen=True)
class ParseOptions:
    """Limits that decide when a field is too large to be real (configurable, see README)."""

    max_title_chars: int = MAX_TITLE_CHARS  # the contract's title check follows it (contract_schema)
    max_abstract_chars: int = 20_000
    max_file_bytes: int = 64 * 1024 * 1024  # a capture is ~100 KB; anything this big is not one
    title_like_max_chars: int = 300  # longer single lines are taken as abstracts, not titles
    abstract_like_min_chars: int = 250


class Block:
    """A paragraph: consecutive non-blank lines, with 1-based line numbers. What the entry walk asks of it
    (its text, whether it is metadata) is worked out once here, not at every question."""

    __slots__ = ("end", "lines", "meta", "start", "text")

    def __init__(self, start: int, lines: list[str]):
        self.start, self.lines, self.end = start, lines, start + len(lines) - 1
        if len(lines) == 1:  # most paragraphs: a title or an abstract
            self.text = text = lines[0].strip()
            self.meta = text == META_SEPARATOR or _authors_line(text)
            return
        stripped = [line.strip() for line in lines]
        self.text = " ".join(stripped)
        self.meta = (
            META_SEPARATOR in stripped
            or _authors_line(stripped[0])
            or (len(lines) <= 3 and parse_date_line(stripped[-1]) is not None)
        )


def _authors_line(line: str) -> bool:
    return line[:1] == "•" and AUTHORS_LINE.match(line) is not None


@dataclass
class RawPage:
    """A decoded capture with its header read; ``reason`` is set when the whole file is rejected."""

    page_id: str
    source_file: str
    n_bytes: int
    encoding: str | None = None
    text: str | None = None
    body_start: int = 0  # 0-based index of the first line after the header
    page_date: dt.date | None = None
    page_date_raw: str | None = None
    page_date_source: str | None = None
    reason: RejectReason | None = None
    detail: str | None = None  # None: the reason's description says it all
    excerpt: str | None = None
    n_lines: int = 0


@dataclass
class ParsedEntries:
    layout: str | None
    entries: list[dict]
    rejects: list[dict]


def excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _find_header(lines: list[str]) -> int | None:
    """Index of the last header line, or None when there is no header.

    The header is among the first lines, before the first entry's abstract or metadata. It ends at the
    last `byAK and the research community` there (a damaged marker before it, or a header saved twice,
    does not lose the page); without one, at the end of the first run of at least two markers."""
    head: list[str] = []
    for line in lines[:HEADER_SCAN_LINES]:
        s = line.strip()
        if len(s) >= ParseOptions.abstract_like_min_chars or s == META_SEPARATOR or AUTHORS_LINE.match(s):
            break
        head.append(s)
    if HEADER_LAST in head:
        return len(head) - 1 - head[::-1].index(HEADER_LAST)
    seen: list[int] = []
    for i, s in enumerate(head):
        if s in HEADER_MARKERS:
            seen.append(i)
        elif s and seen:
            break  # header markers stop: what follows is the page date or the body
    return seen[-1] if len(seen) >= 2 else None


def read_page(data: bytes, source_file: str, mtime: dt.datetime | None = None) -> RawPage:
    """Decode and read the header. Never raises for bad input: the reason lands on the RawPage."""
    page = RawPage(page_id=content_id(data), source_file=source_file, n_bytes=len(data))
    if not data.strip():
        page.reason = RejectReason.EMPTY_FILE
        return page
    decoded = decode_bytes(data)
    text = decoded.text
    # the header and page date are near the top: the rest of the text stays in one piece (the last item)
    lines = text.split("\n", HEAD_LINES)
    last = _find_header(lines)
    if last is None:
        if looks_binary(data):
            page.reason = RejectReason.BINARY_CONTENT
            page.excerpt = excerpt(data[:200].decode("latin-1"))
        else:
            page.reason = RejectReason.NOT_A_CAPTURE
            page.excerpt = excerpt(text[:400])
        return page
    page.encoding, page.text = decoded.encoding, text
    page.n_lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    body = last + 1
    # the page date is the first line after the header that is not blank, a stray marker or damage
    skip = ("", DAMAGE, *HEADER_MARKERS)
    nxt = next((i for i in range(body, len(lines)) if lines[i].strip() not in skip), None)
    if len(lines) > HEAD_LINES and nxt in (None, HEAD_LINES):  # the search reached the unsplit rest
        lines = text.split("\n")
        nxt = next((i for i in range(body, len(lines)) if lines[i].strip() not in skip), None)
    page_md: MonthDay | None = None
    if nxt is not None and (page_md := parse_page_date(lines[nxt])) is not None:
        page.page_date_raw = lines[nxt].strip()
        body = nxt + 1
    page.body_start = body
    printed_years = _printed_years(text, sum(len(line) + 1 for line in lines[:body]))
    page.page_date, page.page_date_source = infer_page_date(page_md, printed_years, source_file, mtime)
    return page


def _printed_years(text: str, start: int) -> list[int]:
    """Years of the date lines from offset `start` on. Only a line ending like a dated date line can give
    `parse_date_line` a year: one regex over the text finds those (asking every line cost more than
    decoding)."""
    years: list[int] = []
    for m in _YEAR_END.finditer(text, start):  # a match ends where its line does
        parsed = parse_date_line(text[text.rfind("\n", 0, m.start()) + 1 : m.end()])
        if parsed is not None and parsed[0].year is not None:
            years.append(parsed[0].year)
    return years


def _blocks(lines: list[str], start: int) -> list[Block]:
    blocks: list[Block] = []
    cur: list[str] = []
    for i in range(start, len(lines)):
        line = lines[i]
        if line and not line.isspace():  # strip() would copy every line to say the same
            cur.append(line)
        elif cur:
            blocks.append(Block(i - len(cur) + 1, cur))
            cur = []
    if cur:
        blocks.append(Block(len(lines) - len(cur) + 1, cur))
    return blocks


def _parse_meta(block: Block, page_date: dt.date | None) -> dict | RejectReason:
    """Metadata paragraph → fields, or why it was rejected."""
    stripped = [line.strip() for line in block.lines]
    if META_SEPARATOR not in stripped:
        return RejectReason.BAD_METADATA
    sep = stripped.index(META_SEPARATOR)
    who, rest = stripped[:sep], stripped[sep + 1 :]
    if len(who) != 1 or len(rest) != 1:
        return RejectReason.BAD_METADATA
    out: dict = {"authors_count": None, "organization": None, "organization_id": None}
    if m := AUTHORS_LINE.match(who[0]):
        out["authors_count"] = int(m[1])
    else:
        handle, _, name = who[0].partition(" ")
        out["organization_id"] = handle
        out["organization"] = html.unescape(name.strip() or handle)
    parsed = parse_date_line(rest[0])
    if parsed is None:
        return RejectReason.BAD_DATE
    md, upvotes = parsed
    out["published_date_raw"] = rest[0]
    out["published_date"] = infer_entry_date(md, page_date)
    out["upvotes"] = upvotes
    return out


class _EntryBuilder:
    """Walks the body blocks and emits entry or reject records (position = candidate order)."""

    def __init__(self, page: RawPage, options: ParseOptions, mostly_detailed: bool):
        self.page, self.options, self.mostly_detailed = page, options, mostly_detailed
        self.damaged = page.text is not None and DAMAGE in page.text  # else no entry needs the line scan
        self.entries: list[dict] = []
        self.rejects: list[dict] = []
        self.position = 0

    def reject(self, blocks: list[Block], reason: RejectReason, detail: str) -> None:
        if reason != RejectReason.INVALID_BYTES and self.damaged and (damaged := _damaged_lines(blocks)):
            reason, detail = RejectReason.INVALID_BYTES, f"undecodable bytes on {damaged} ({detail})"
        self.position += 1
        self.rejects.append(
            {
                "source_file": self.page.source_file,
                "page_id": self.page.page_id,
                "kind": "entry",
                "position": self.position,
                "line_start": blocks[0].start,
                "line_end": blocks[-1].end,
                "reason": reason,
                "detail": detail,
                "excerpt": excerpt(" ".join(b.text for b in blocks)),
            }
        )

    def title_like(self, b: Block) -> bool:
        return (
            len(b.lines) == 1
            and not b.meta
            and len(b.text) <= self.options.title_like_max_chars
            and not self.abstract_like(b)
        )

    def abstract_like(self, b: Block) -> bool:
        return not b.meta and len(b.text) >= self.options.abstract_like_min_chars

    def add(self, blocks: list[Block], title: str, abstract: str | None, meta_b: Block | None) -> None:
        """One entry from its blocks (title first, metadata last); `abstract` None: the line is missing."""
        o = self.options
        if self.damaged and (damaged := _damaged_lines(blocks)):
            return self.reject(blocks, RejectReason.INVALID_BYTES, f"undecodable bytes on {damaged}")
        # tabs, non-breaking and repeated spaces, entities: one normal form before any check
        title = _one_spaced(html.unescape(title))
        if abstract is not None:
            abstract = _one_spaced(html.unescape(abstract))
        if not title:
            return self.reject(blocks, RejectReason.MISSING_TITLE, "entry has no title line")
        if len(title) > o.max_title_chars:
            return self.reject(
                blocks, RejectReason.OVERSIZED_FIELD, f"title has {len(title)} chars > {o.max_title_chars}"
            )
        if abstract is not None and len(abstract) > o.max_abstract_chars:
            return self.reject(
                blocks,
                RejectReason.OVERSIZED_FIELD,
                f"abstract has {len(abstract)} chars > {o.max_abstract_chars}",
            )
        meta: dict = {
            "authors_count": None,
            "organization": None,
            "organization_id": None,
            "published_date": None,
            "published_date_raw": None,
            "upvotes": None,
        }
        if meta_b is not None:
            parsed = _parse_meta(meta_b, self.page.page_date)
            if isinstance(parsed, RejectReason):
                return self.reject(blocks, parsed, f"unreadable metadata lines: {excerpt(meta_b.text, 80)!r}")
            meta.update(parsed)
        flag = None  # why a valid entry is incomplete (Sightings.flag)
        if abstract is None:
            flag = "no_abstract"
        elif self.mostly_detailed and not meta_b:
            flag = "no_metadata"
        self.position += 1
        self.entries.append(
            {
                "sighting_id": short_hash(self.page.page_id, self.page.source_file, str(self.position)),
                "page_id": self.page.page_id,
                "source_file": self.page.source_file,
                "position": self.position,
                "line_start": blocks[0].start,
                "line_end": blocks[-1].end,
                "title": title,
                "abstract": abstract,
                **meta,
                "page_date": self.page.page_date,
                "has_metadata": meta_b is not None,
                "flag": flag,
            }
        )

    def run(self, blocks: list[Block]) -> None:
        i, n = 0, len(blocks)
        while i < n:
            b = blocks[i]
            if b.meta:
                self.reject(
                    [b], RejectReason.ORPHAN_METADATA, "metadata lines with no title and abstract before them"
                )
                i += 1
                continue
            nxt = blocks[i + 1] if i + 1 < n else None
            if len(b.lines) > 1 and (nxt is None or nxt.meta or self.title_like(nxt)):
                # title and abstract with no blank line between them
                title, abstract = b.lines[0].strip(), Block(b.start + 1, b.lines[1:]).text
                meta_b = nxt if nxt is not None and nxt.meta else None
                self.add([b, meta_b] if meta_b else [b], title, abstract, meta_b)
                i += 2 if meta_b else 1
                continue
            if nxt is None:
                self.reject(
                    [b], RejectReason.MISSING_ABSTRACT, "title with no abstract at the end of the file"
                )
                i += 1
                continue
            if nxt.meta:
                if self.title_like(b):  # the abstract line is missing: the metadata is still an observation
                    self.add([b, nxt], b.text, None, nxt)
                else:
                    self.reject(
                        [b, nxt], RejectReason.MISSING_TITLE, "abstract and metadata with no title line"
                    )
                i += 2
                continue
            if not self.title_like(b) and (len(b.lines) > 1 or self.title_like(nxt)):
                # an abstract whose title line is gone (a title follows it), or lines glued onto a title:
                # taking it as a title would pair every later title with the wrong abstract
                what = f"{len(b.lines)} lines" if len(b.lines) > 1 else f"{len(b.text)} chars"
                self.reject(
                    [b], RejectReason.MISSING_TITLE, f"a paragraph of {what} where a one-line title belongs"
                )
                i += 1
                continue
            after = blocks[i + 2] if i + 2 < n else None
            if (
                self.title_like(nxt)
                and after is not None
                and (self.abstract_like(after) or after.meta)
                and self.title_like(b)
            ):
                self.reject([b], RejectReason.MISSING_ABSTRACT, "title followed directly by the next title")
                i += 1
                continue
            meta_b = after if after is not None and after.meta else None
            self.add([b, nxt, meta_b] if meta_b else [b, nxt], b.text, nxt.text, meta_b)
            i += 3 if meta_b else 2

    def close(self) -> None:
        """The file's last entry is truncated when the download visibly stopped inside it: rejected."""
        last = max([*self.entries, *self.rejects], key=lambda r: r["position"], default=None)
        if last is None:
            return
        why = None
        if self.damaged and _last_char(self.page.text or "") == DAMAGE:
            why = "the file ends in undecodable bytes (a multi-byte character cut off)"
        elif last.get("reason") in CUT_REASONS:
            why = f"{last['reason']} at the end of the file"
        elif (
            "reason" not in last
            and not last["has_metadata"]
            and not FINISHED_ABSTRACT.search(last["abstract"])
        ):
            why = f"the last abstract stops mid-sentence: {last['abstract'][-40:]!r}"
        if why is None:
            return
        last = self._truncate(last, why)
        before = next((e for e in self.entries if e["position"] == last["position"] - 1), None)
        if before is not None and not before["has_metadata"] and last["excerpt"][:1] in ("•", "·", DAMAGE):
            # the cut fell in the first line of its metadata block: the entry before it is the cut one
            self._truncate(before, "its metadata block was cut off")

    def _truncate(self, last: dict, why: str) -> dict:
        """The entry or reject `last` becomes a truncated_entry reject (same position and lines)."""
        if any(e is last for e in self.entries):
            self.entries.remove(last)
            last = {
                **{k: last[k] for k in ("source_file", "page_id", "position", "line_start", "line_end")},
                "kind": "entry",
                "excerpt": excerpt(f"{last['title']} {last['abstract'] or ''}"),
            }
            self.rejects.append(last)
        last.update(reason=RejectReason.TRUNCATED_ENTRY, detail=f"file cut off: {why}")
        return last


def _one_spaced(text: str) -> str:
    """Every run of whitespace one space, none at the ends. Most fields already are, and the test costs a
    fraction of the split and join it saves: ASCII whitespace other than the space is a few characters to
    look for; beyond ASCII, every whitespace character but the space is unprintable."""
    if "  " not in text and text[:1] != " " and text[-1:] != " ":
        plain = not any(c in text for c in _ASCII_ODD_SPACE) if text.isascii() else text.isprintable()
        if plain:
            return text
    return " ".join(text.split())


def _last_char(text: str) -> str:
    """The last character that is not whitespace ('' for none), without copying the whole text."""
    tail = text[-64:].rstrip()
    return (tail or text.rstrip())[-1:]


def _damaged_lines(blocks: list[Block]) -> str | None:
    """'line 12' / 'lines 12, 14' holding U+FFFD (bytes the decoder could not read), or None."""
    lines = [b.start + k for b in blocks for k, line in enumerate(b.lines) if DAMAGE in line]
    return f"line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}" if lines else None


def parse_entries(page: RawPage, options: ParseOptions | None = None) -> ParsedEntries:
    """Body text → entry and reject records; ``layout`` is detailed when any metadata paragraph exists."""
    if page.reason is not None or page.text is None:
        return ParsedEntries(None, [], [])
    lines = page.text.split("\n")
    blocks = _blocks(lines, page.body_start)
    n_meta = sum(b.meta for b in blocks)
    # an entry lacks metadata (flag no_metadata) on a page that is mostly detailed (a detailed entry is
    # 3 paragraphs): one stray metadata-like paragraph must not flag every entry of a compact page
    builder = _EntryBuilder(page, options or ParseOptions(), mostly_detailed=4 * n_meta > len(blocks))
    builder.run(blocks)
    builder.close()
    layout = "detailed" if n_meta else "compact"
    entries, duplicates = _split_duplicates(builder.entries)
    return ParsedEntries(layout, entries, builder.rejects + duplicates)


def _split_duplicates(entries: list[dict]) -> tuple[list[dict], list[dict]]:
    """The same abstract twice on one page: the later entry is a duplicate_on_page reject.

    A page lists each paper once, so a repeated abstract is a repeated entry, or a chimera that a
    duplicated block of lines made (one paper's title over another's abstract). Entries without an
    abstract repeat when their title and date line do."""
    first: dict[object, int] = {}
    kept, rejects = [], []
    for e in entries:
        k = e["abstract"] if e["abstract"] is not None else (e["title"], e["published_date_raw"])
        if k not in first:
            first[k] = e["position"]
            kept.append(e)
            continue
        rejects.append(
            {
                "source_file": e["source_file"],
                "page_id": e["page_id"],
                "kind": "entry",
                "position": e["position"],
                "line_start": e["line_start"],
                "line_end": e["line_end"],
                "reason": RejectReason.DUPLICATE_ON_PAGE,
                "detail": f"same abstract as position {first[k]} on this page",
                "excerpt": excerpt(e["title"]),
            }
        )
    return kept, rejects
