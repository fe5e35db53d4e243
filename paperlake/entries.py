"""The body of a capture → entry records and reject records; every line is accounted for.

Entries are paragraphs separated by blank lines: a title line, an abstract paragraph and, in the detailed
layout, a metadata paragraph (``• N authors`` or an organisation, ``·``, a date with optional upvotes). A
paragraph that cannot be placed in an entry is rejected with a reason and its lines. Damage stays in its
entry: one holding bytes the decoder could not read (U+FFFD) is rejected as ``invalid_bytes``; the last
entry, when the file visibly stops inside it, as ``truncated_entry``; a title directly followed by its
metadata is a sighting without abstract (flag ``no_abstract``). The rules are in the README, "Damaged
downloads".
"""

import datetime as dt
import html
import re
from dataclasses import dataclass

from paperlake.dates import infer_entry_date, parse_date_line
from paperlake.decode import DAMAGE
from paperlake.normalize import short_hash
from paperlake.parse import AUTHORS_LINE, META_SEPARATOR, ParseOptions, RawPage, excerpt, reject_row, where
from schemas.vocabulary import RejectReason

_ASCII_ODD_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"  # what str.isspace() takes in ASCII, but " "
# How a complete abstract ends: sentence punctuation, or a link (4 % of the sample's abstracts end in one).
FINISHED_ABSTRACT = re.compile("(?:[.!?)\\]}\"'\u201d\u2019\u00bb]|\\S*(?:://|www\\.)\\S*)$")
# Reasons that, on the last entry of a file, mean the download stopped inside it (a lone title; the
# first lines of a metadata block).
CUT_REASONS = (RejectReason.MISSING_ABSTRACT, RejectReason.BAD_METADATA)
_META = (
    "authors_count",
    "organization",
    "organization_id",
    "published_date",
    "published_date_raw",
    "upvotes",
)


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
class ParsedEntries:
    layout: str | None
    entries: list[dict]
    rejects: list[dict]


def _blocks(lines: list[str], start: int) -> list[Block]:
    blocks: list[Block] = []
    cur: list[str] = []
    for i, line in enumerate([*lines[start:], ""], start):  # the "" ends the last paragraph
        if line and not line.isspace():  # strip() would copy every line to say the same
            cur.append(line)
        elif cur:
            blocks.append(Block(i - len(cur) + 1, cur))
            cur = []
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
    if (parsed := parse_date_line(rest[0])) is None:
        return RejectReason.BAD_DATE
    out = {
        "published_date_raw": rest[0],
        "published_date": infer_entry_date(parsed[0], page_date),
        "upvotes": parsed[1],
    }
    if m := AUTHORS_LINE.match(who[0]):
        return out | {"authors_count": int(m[1])}
    handle, _, name = who[0].partition(" ")
    return out | {"organization_id": handle, "organization": html.unescape(name.strip() or handle)}


class _EntryBuilder:
    """Walks the body blocks and emits entry or reject records (position = candidate order)."""

    def __init__(self, page: RawPage, options: ParseOptions, mostly_detailed: bool):
        self.page, self.options, self.mostly_detailed = page, options, mostly_detailed
        self.damaged = page.text is not None and DAMAGE in page.text  # else no entry needs the line scan
        self.entries: list[dict] = []
        self.rejects: list[dict] = []
        self.position = 0

    def reject(self, blocks: list[Block], reason: RejectReason, detail: str) -> int:
        """Reject the entry made of `blocks`; returns how many blocks it took (as `add` does)."""
        if reason != RejectReason.INVALID_BYTES and self.damaged and (damaged := _damaged_lines(blocks)):
            reason, detail = RejectReason.INVALID_BYTES, f"undecodable bytes on {damaged} ({detail})"
        self.position += 1
        at = (self.position, blocks[0].start, blocks[-1].end)
        text = excerpt(" ".join(b.text for b in blocks))
        self.rejects.append(reject_row(self.page, at, reason, detail, text))
        return len(blocks)

    def title_like(self, b: Block) -> bool:
        fits = len(b.text) <= self.options.title_like_max_chars
        return len(b.lines) == 1 and not b.meta and fits and not self.abstract_like(b)

    def abstract_like(self, b: Block) -> bool:
        return not b.meta and len(b.text) >= self.options.abstract_like_min_chars

    def add(self, blocks: list[Block], title: str, abstract: str | None) -> int:
        """One entry from its blocks (title first, metadata last); `abstract` None: the line is missing."""
        o, meta_b = self.options, blocks[-1] if blocks[-1].meta else None
        if self.damaged and (damaged := _damaged_lines(blocks)):
            return self.reject(blocks, RejectReason.INVALID_BYTES, f"undecodable bytes on {damaged}")
        # tabs, non-breaking and repeated spaces, entities: one normal form before any check
        title = _one_spaced(html.unescape(title))
        if abstract is not None:
            abstract = _one_spaced(html.unescape(abstract))
        if not title:
            return self.reject(blocks, RejectReason.MISSING_TITLE, "entry has no title line")
        if len(title) > o.max_title_chars:
            detail = f"title has {len(title)} chars > {o.max_title_chars}"
            return self.reject(blocks, RejectReason.OVERSIZED_FIELD, detail)
        if abstract is not None and len(abstract) > o.max_abstract_chars:
            detail = f"abstract has {len(abstract)} chars > {o.max_abstract_chars}"
            return self.reject(blocks, RejectReason.OVERSIZED_FIELD, detail)
        meta: dict = dict.fromkeys(_META)
        if meta_b is not None:
            parsed = _parse_meta(meta_b, self.page.page_date)
            if isinstance(parsed, RejectReason):
                return self.reject(blocks, parsed, f"unreadable metadata lines: {excerpt(meta_b.text, 80)!r}")
            meta.update(parsed)
        # why a valid entry is incomplete (Sightings.flag)
        flag = "no_metadata" if self.mostly_detailed and not meta_b else None
        flag = "no_abstract" if abstract is None else flag
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
        return len(blocks)

    def run(self, blocks: list[Block]) -> None:
        i = 0
        while i < len(blocks):
            i += self.step(blocks[i], *blocks[i + 1 : i + 3])

    def step(self, b: Block, nxt: Block | None = None, after: Block | None = None) -> int:
        """Place the entry that starts at `b` (`nxt`, `after`: the blocks after it); returns its blocks."""
        if b.meta:
            detail = "metadata lines with no title and abstract before them"
            return self.reject([b], RejectReason.ORPHAN_METADATA, detail)
        if len(b.lines) > 1 and (nxt is None or nxt.meta or self.title_like(nxt)):
            # title and abstract with no blank line between them
            title, abstract = b.lines[0].strip(), Block(b.start + 1, b.lines[1:]).text
            return self.add([b, nxt] if nxt is not None and nxt.meta else [b], title, abstract)
        if nxt is None:
            detail = "title with no abstract at the end of the file"
            return self.reject([b], RejectReason.MISSING_ABSTRACT, detail)
        if nxt.meta:
            if self.title_like(b):  # the abstract line is missing: the metadata is still an observation
                return self.add([b, nxt], b.text, None)
            detail = "abstract and metadata with no title line"
            return self.reject([b, nxt], RejectReason.MISSING_TITLE, detail)
        if not self.title_like(b) and (len(b.lines) > 1 or self.title_like(nxt)):
            # an abstract whose title line is gone (a title follows it), or lines glued onto a title:
            # taking it as a title would pair every later title with the wrong abstract
            what = f"{len(b.lines)} lines" if len(b.lines) > 1 else f"{len(b.text)} chars"
            detail = f"a paragraph of {what} where a one-line title belongs"
            return self.reject([b], RejectReason.MISSING_TITLE, detail)
        if self.title_like(nxt) and after is not None and (self.abstract_like(after) or after.meta):
            # (b is title-like too: else the paragraph was rejected above)
            detail = "title followed directly by the next title"
            return self.reject([b], RejectReason.MISSING_ABSTRACT, detail)
        return self.add([b, nxt, after] if after is not None and after.meta else [b, nxt], b.text, nxt.text)

    def close(self) -> None:
        """The file's last entry is truncated when the download visibly stopped inside it: rejected."""
        last = max([*self.entries, *self.rejects], key=lambda r: r["position"], default=None)
        if last is None:
            return
        why = None
        text = self.page.text or ""  # its last visible character, read without copying the whole text
        if self.damaged and (text[-64:].rstrip() or text.rstrip())[-1:] == DAMAGE:
            why = "the file ends in undecodable bytes (a multi-byte character cut off)"
        elif last.get("reason") in CUT_REASONS:
            why = f"{last['reason']} at the end of the file"
        elif not last.get("has_metadata", True) and not FINISHED_ABSTRACT.search(last["abstract"]):
            # an entry without metadata (a reject has no has_metadata) whose abstract looks cut
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
        detail = f"file cut off: {why}"
        if "reason" in last:  # a reject already
            last.update(reason=RejectReason.TRUNCATED_ENTRY, detail=detail)
            return last
        self.entries.remove(last)
        text = excerpt(f"{last['title']} {last['abstract'] or ''}")
        self.rejects.append(reject_row(self.page, where(last), RejectReason.TRUNCATED_ENTRY, detail, text))
        return self.rejects[-1]

    def split_duplicates(self) -> list[dict]:
        """The same abstract twice on one page: the later entry becomes a duplicate_on_page reject.

        A page lists each paper once, so a repeated abstract is a repeated entry, or a chimera that a
        duplicated block of lines made (one paper's title over another's abstract). Entries without an
        abstract repeat when their title and date line do."""
        first: dict[object, int] = {}
        kept, rejects = [], []
        for e in self.entries:
            k = e["abstract"] if e["abstract"] is not None else (e["title"], e["published_date_raw"])
            if k not in first:
                first[k] = e["position"]
                kept.append(e)
                continue
            detail, text = f"same abstract as position {first[k]} on this page", excerpt(e["title"])
            rejects.append(reject_row(self.page, where(e), RejectReason.DUPLICATE_ON_PAGE, detail, text))
        self.entries = kept
        return rejects


def _one_spaced(text: str) -> str:
    """Every run of whitespace one space, none at the ends. Most fields already are, and the test costs a
    fraction of the split and join it saves: ASCII whitespace other than the space is a few characters to
    look for; beyond ASCII, every whitespace character but the space is unprintable."""
    if "  " not in text and text[:1] != " " and text[-1:] != " ":
        plain = not any(c in text for c in _ASCII_ODD_SPACE) if text.isascii() else text.isprintable()
        if plain:
            return text
    return " ".join(text.split())


def _damaged_lines(blocks: list[Block]) -> str | None:
    """'line 12' / 'lines 12, 14' holding U+FFFD (bytes the decoder could not read), or None."""
    lines = [b.start + k for b in blocks for k, line in enumerate(b.lines) if DAMAGE in line]
    return f"line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}" if lines else None


def parse_entries(page: RawPage, options: ParseOptions | None = None) -> ParsedEntries:
    """Body text → entry and reject records; ``layout`` is detailed when any metadata paragraph exists."""
    if page.reason is not None or page.text is None:
        return ParsedEntries(None, [], [])
    blocks = _blocks(page.text.split("\n"), page.body_start)
    n_meta = sum(b.meta for b in blocks)
    # an entry lacks metadata (flag no_metadata) on a page that is mostly detailed (a detailed entry is
    # 3 paragraphs): one stray metadata-like paragraph must not flag every entry of a compact page
    builder = _EntryBuilder(page, options or ParseOptions(), mostly_detailed=4 * n_meta > len(blocks))
    builder.run(blocks)
    builder.close()
    duplicates = builder.split_duplicates()
    return ParsedEntries("detailed" if n_meta else "compact", builder.entries, builder.rejects + duplicates)
