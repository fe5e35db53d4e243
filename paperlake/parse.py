"""Capture bytes → a page: decoded text, header, page date (``RawPage``); the first of the two stages that
match the two partitioned assets (the second, the body → entries, is ``paperlake.entries``).

A file that is not text or not a capture becomes a file-level reject, never an exception.
"""

import datetime as dt
import re
from dataclasses import dataclass

from paperlake.dates import MonthDay, infer_page_date, parse_date_line, parse_page_date
from paperlake.decode import DAMAGE, decode_bytes, looks_binary
from paperlake.normalize import content_id
from schemas.vocabulary import MAX_TITLE_CHARS, RejectReason

HEADER_LAST = "byAK and the research community"
HEADER_MARKERS = ("new", "Get trending papers in your email inbox!", "Subscribe", "Daily Papers", HEADER_LAST)
# How every date line with a year ends (dates.DATE_LINE): its literal ", " lets the regex engine skip ahead
_YEAR_END = re.compile(r", \d{4}(?: \d{1,7})?[^\S\n]*$", re.M)
HEADER_SCAN_LINES = 40
HEAD_LINES = 64  # lines read_page splits off the top: more than the header scan
AUTHORS_LINE = re.compile(r"^•\s*(\d{1,5})\s+authors?$")
META_SEPARATOR = "·"


@dataclass(frozen=True)
class ParseOptions:
    """Limits that decide when a field is too large to be real (configurable, see README)."""

    max_title_chars: int = MAX_TITLE_CHARS  # the contract's title check follows it (contract_schema)
    max_abstract_chars: int = 20_000
    max_file_bytes: int = 64 * 1024 * 1024  # a capture is ~100 KB; anything this big is not one
    title_like_max_chars: int = 300  # longer single lines are taken as abstracts, not titles
    abstract_like_min_chars: int = 250


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


def excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reject_row(page: RawPage, at: tuple | None, reason: RejectReason, detail: str, text: str | None) -> dict:
    """A rejects row: of the entry at (position, line_start, line_end), or of the whole file (`at` None)."""
    position, start, end = at or (None, None, None)
    return {
        "source_file": page.source_file,
        "page_id": page.page_id or None,
        "kind": "entry" if at else "file",
        "position": position,
        "line_start": start,
        "line_end": end,
        "reason": reason,
        "detail": detail,
        "excerpt": text,
    }


def where(record: dict) -> tuple:
    """An entry record's (position, line_start, line_end): where a reject of it is."""
    return record["position"], record["line_start"], record["line_end"]


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
        binary = looks_binary(data)
        page.reason = RejectReason.BINARY_CONTENT if binary else RejectReason.NOT_A_CAPTURE
        page.excerpt = excerpt(data[:200].decode("latin-1") if binary else text[:400])
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
