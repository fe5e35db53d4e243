"""Differential fuzzing at the byte level: damage a real capture, parse it, compare with the undamaged parse.

Damage is a list of byte edits on a real capture (the bundled sample and the captures of tests/hostile):
cuts at any offset (inside multi-byte characters too), invalid bytes flipped in or inserted, a cp1252 or
Latin-1 segment spliced into a UTF-8 file, NUL runs inserted or written over bytes, blocks of lines
duplicated or deleted. The oracle knows which original lines each edit touched (widened by one line each
side, since a damaged blank line glues its neighbours; a cut also touches the entry that ends the cut
file, whose completeness the bytes cannot show; damage right after an entry without metadata touches
it, since such an entry ends where the next title begins) and how later lines shift. Properties:

* every entry whose lines no edit touched comes out valid, at its shifted lines, with the same fields;
  page-derived dates (``page_date``, ``published_date``) are compared unless the header was touched or
  the page's year evidence changed (a cut that removes every printed year): those are counted apart;
* every valid entry of the damaged parse is an original entry or carries a ``flag``; the others are
  counted as ``silent`` (by the kind of the input's last edit): damage no parser can see in the bytes
  (a cut right after a full stop; deleted lines that leave one paper's title over the next one's
  abstract; one stray byte in an ASCII file that reads as a cp1252 letter). Figures, not failures;
* conservation: positions 1..n are each one sighting or one reject; every non-blank body line is inside
  one of them; no exception.

``python -m tests.damage --inputs 100000`` (``make fuzz``) runs a long campaign in one process and prints
its figures; tests/test_damage.py runs a short one in CI.
"""

import argparse
import datetime as dt
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from paperlake.entries import ParsedEntries, parse_entries
from paperlake.parse import RawPage, read_page
from tests.helpers import SAMPLE

HOSTILE = Path(__file__).parent / "hostile"
MTIME = dt.datetime(2026, 6, 1)
FIELDS = (
    "title",
    "abstract",
    "authors_count",
    "organization",
    "organization_id",
    "published_date_raw",
    "upvotes",
    "has_metadata",
    "flag",
)
PAGE_FIELDS = ("page_date", "published_date")
NEVER_VALID = bytes([0xC0, 0xC1, *range(0xF5, 0x100)])  # invalid anywhere in UTF-8
CONTINUATION = bytes(range(0x80, 0xC0))  # invalid after an ASCII byte
_NEWLINES = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    new: bytes
    kind: str


@dataclass
class Capture:
    """An undamaged capture and its parse: the reference every damaged copy is compared with."""

    name: str
    data: bytes
    utf8: bool
    line_offsets: list[int] = field(default_factory=list)  # byte offset where each line starts
    entries: list[dict] = field(default_factory=list)
    body_line: int = 1  # 1-based first line after the header and page date
    page_date: dt.date | None = None
    multibyte: dict[int, list[int]] = field(default_factory=dict)  # char length → offsets of such chars

    @classmethod
    def load(cls, name: str, data: bytes) -> "Capture":
        page = read_page(data, name, MTIME)
        parsed = parse_entries(page)
        try:
            text, utf8 = data.decode("utf-8"), True
        except UnicodeDecodeError:
            text, utf8 = "", False
        offsets = [0] + [m.end() for m in _NEWLINES.finditer(data)]
        multibyte: dict[int, list[int]] = {}
        pos = 0
        for ch in text:
            n = len(ch.encode("utf-8"))
            if n > 1:
                multibyte.setdefault(n, []).append(pos)
            pos += n
        return cls(name, data, utf8, offsets, parsed.entries, page.body_start + 1, page.page_date, multibyte)

    def line_of(self, offset: int) -> int:
        """1-based line holding byte `offset`."""
        lo, hi = 0, len(self.line_offsets) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_offsets[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1


def corpus() -> list[Capture]:
    """The bundled sample and every hostile capture with valid entries (UTF-16 aside: its bytes are
    not UTF-8 damage)."""
    files = sorted(SAMPLE.glob("*.txt")) + sorted(HOSTILE.iterdir())
    caps = [Capture.load(p.name, p.read_bytes()) for p in files if p.name != "utf16.txt"]
    return [c for c in caps if c.entries]


# ---- damage -------------------------------------------------------------------------------------------


def _invalid_bytes(rng: random.Random, before: int) -> bytes:
    pool = NEVER_VALID + (CONTINUATION if before < 0x80 else b"")
    return bytes(rng.choice(pool) for _ in range(rng.randint(1, 4)))


def _char_boundary(data: bytes, offset: int) -> int:
    while 0 < offset < len(data) and 0x80 <= data[offset] < 0xC0:
        offset -= 1
    return offset


def random_edit(cap: Capture, rng: random.Random, kind: str) -> Edit | None:
    data, n = cap.data, len(cap.data)
    at = rng.randrange(n)
    if kind == "cut":
        if cap.multibyte and rng.random() < 0.4:  # inside a multi-byte character
            starts = cap.multibyte[rng.choice(sorted(cap.multibyte))]
            s = rng.choice(starts)
            at = s + rng.randint(1, len(data[s : s + 4].decode("utf-8", "ignore")[0].encode()) - 1)
        return Edit(at, n, b"", "cut")
    if kind == "flip":
        at = _char_boundary(data, at)
        width = len(data[at : at + 4].decode("utf-8", "ignore")[:1].encode()) or 1
        new = _invalid_bytes(rng, data[at - 1] if at else 0)
        return Edit(at, at + width, new[: rng.randint(1, len(new))], "flip")
    if kind == "insert_invalid":
        at = _char_boundary(data, at)
        if at < n and 0x80 <= data[at] < 0xC0:
            return None
        return Edit(at, at, _invalid_bytes(rng, data[at - 1] if at else 0), "insert_invalid")
    if kind == "splice":
        start = _char_boundary(data, at)
        end = _char_boundary(data, min(n, start + rng.randint(1, 400)))
        try:
            seg = data[start:end].decode("utf-8").encode(rng.choice(["cp1252", "latin-1"]))
        except UnicodeError:
            return None
        return Edit(start, end, seg, "splice")
    if kind == "nul":
        at = _char_boundary(data, at)
        run = b"\x00" * rng.choice([1, 2, 16, rng.randint(1, 600)])
        end = _char_boundary(data, min(n, at + len(run))) if rng.random() < 0.5 else at
        return Edit(at, end, run, "nul_overwrite" if end > at else "nul_insert")
    line = rng.randrange(len(cap.line_offsets))
    last = min(len(cap.line_offsets), line + rng.randint(1, 12))
    start = cap.line_offsets[line]
    end = cap.line_offsets[last] if last < len(cap.line_offsets) else n
    if kind == "dup_lines":
        return Edit(end, end, data[start:end], "dup_lines")
    return Edit(start, end, b"", "del_lines")


KINDS_UTF8 = ["cut", "flip", "insert_invalid", "splice", "nul", "dup_lines", "del_lines"]
KINDS_LEGACY = ["cut", "nul", "dup_lines", "del_lines"]


def random_damage(cap: Capture, rng: random.Random) -> list[Edit]:
    """1-3 non-overlapping edits, at most one cut (the last); sorted by offset."""
    kinds = KINDS_UTF8 if cap.utf8 else KINDS_LEGACY
    edits: list[Edit] = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        e = random_edit(cap, rng, rng.choice(kinds))
        if e is None or any(e.start <= o.end + 1 and o.start <= e.end + 1 for o in edits):
            continue
        if e.kind == "cut" and any(o.kind == "cut" for o in edits):
            continue
        edits.append(e)
    edits.sort(key=lambda e: (e.start, e.end))
    cuts = [e for e in edits if e.kind == "cut"]
    if cuts:
        edits = [e for e in edits if e.end < cuts[0].start] + cuts[:1]
    return edits or [Edit(len(cap.data), len(cap.data), b"", "none")]


def apply(data: bytes, edits: list[Edit]) -> bytes:
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        data = data[: e.start] + e.new + data[e.end :]
    return data


# ---- oracle -------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    counts: Counter
    findings: list[str]


def _line_delta(data: bytes, e: Edit) -> int:
    """Change in the number of lines (as the parser counts them: CRLF, CR, LF) made by one edit."""
    lo, hi = max(0, e.start - 1), min(len(data), e.end + 1)
    before = data[lo:hi]
    after = data[lo : e.start] + e.new + data[e.end : hi]
    return len(_NEWLINES.findall(after)) - len(_NEWLINES.findall(before))


def touched_lines(cap: Capture, edits: list[Edit]) -> list[tuple[int, int]]:
    """Original line ranges (1-based, inclusive) each edit may have changed, widened by one line."""
    spans = []
    for e in edits:
        # the line after the edit too: a damaged line break glues the next line on
        first, last = cap.line_of(e.start), cap.line_of(min(e.end, len(cap.data) - 1))
        if e.end >= len(cap.data) and e.kind != "none":  # reaches the end: the new last entry is at the edge
            ends = [x["line_end"] for x in cap.entries if x["line_end"] < first]
            first, last = min([first - 1, *ends[-1:]]), 10**9
        # an entry without metadata ends where the next title begins: damage after it is damage to it
        before = [x for x in cap.entries if x["line_end"] < first - 1]
        if before and not before[-1]["has_metadata"] and before[-1]["line_end"] >= first - 3:
            first = before[-1]["line_end"] + 1
        spans.append((first - 1, last + 1))
    return spans


def _conservation(page: RawPage, parsed: ParsedEntries) -> str | None:
    rows = parsed.entries + parsed.rejects
    if sorted(r["position"] for r in rows) != list(range(1, len(rows) + 1)):
        return "positions are not 1..n"
    if page.text is None or page.reason:
        return None
    covered = set()
    for r in rows:
        covered.update(range(r["line_start"], r["line_end"] + 1))
    lines = page.text.split("\n")
    body = {i + 1 for i in range(page.body_start, len(lines)) if lines[i].strip()}
    if missing := sorted(body - covered):
        return f"body lines in no sighting or reject: {missing[:5]}"
    return None


def check(cap: Capture, edits: list[Edit]) -> Outcome:
    counts: Counter = Counter(inputs=1, **{f"edit:{e.kind}": 1 for e in edits})
    findings: list[str] = []
    data = apply(cap.data, edits)
    try:
        page = read_page(data, cap.name, MTIME)
        parsed = parse_entries(page)
    except Exception as exc:  # the property: never
        return Outcome(counts + Counter(exception=1), [f"exception {type(exc).__name__}: {exc}"])
    if problem := _conservation(page, parsed):
        counts["conservation"] += 1
        findings.append(problem)
    spans = touched_lines(cap, edits)
    header_hit = any(a < cap.body_line for a, _ in spans)
    compare_dates = not header_hit and page.page_date == cap.page_date
    counts["page_level"] += not compare_dates
    if page.reason and not header_hit:
        counts["lost_page"] += 1
        findings.append(f"page rejected ({page.reason}) though the header is intact")
    by_line = {e["line_start"]: e for e in parsed.entries}
    fields = FIELDS + (PAGE_FIELDS if compare_dates else ())
    for orig in cap.entries:
        if any(a <= orig["line_end"] and orig["line_start"] <= b for a, b in spans):
            counts["damaged_entries"] += 1
            continue
        counts["intact_entries"] += 1
        shift = sum(
            _line_delta(cap.data, e) for e in edits if e.end <= cap.line_offsets[orig["line_start"] - 1]
        )
        got = by_line.get(orig["line_start"] + shift)
        if page.reason and header_hit:
            continue
        if got is None:
            counts["intact_lost"] += 1
            findings.append(f"intact entry at line {orig['line_start']} lost: {orig['title'][:60]!r}")
            continue
        if diff := _changed_fields(orig, got, fields):
            counts["intact_changed"] += 1
            findings.append(
                f"intact entry at line {orig['line_start']} changed {diff}: {orig['title'][:60]!r}"
            )
    counts.update(_unmatched(cap, parsed, "header" if header_hit else edits[-1].kind))
    counts["rejects"] += len(parsed.rejects)
    return Outcome(counts, findings)


def _changed_fields(orig: dict, got: dict, fields: tuple[str, ...]) -> list[str]:
    """The fields of an intact entry that parsed differently (line_end: a span of another length)."""
    diff = [f for f in fields if got[f] != orig[f]]
    if got["line_end"] - got["line_start"] != orig["line_end"] - orig["line_start"]:
        diff.append("line_end")
    return diff


def _unmatched(cap: Capture, parsed: ParsedEntries, damage: str) -> Counter:
    """Parsed entries that are no original entry: flagged, or silent (valid, unflagged: damage the bytes
    could not show, see the README), counted under the damage that made them."""
    originals = {tuple(e[f] for f in FIELDS) for e in cap.entries}
    counts: Counter = Counter()
    for got in parsed.entries:
        if got["flag"] is not None:
            counts["flagged"] += 1
        elif tuple(got[f] for f in FIELDS) not in originals:
            counts[f"silent:{damage}"] += 1
    return counts


def campaign(n: int, seed: int, caps: list[Capture] | None = None) -> tuple[Counter, list[dict]]:
    """n damaged inputs over the corpus, deterministic for a seed: (counts, findings with their recipe)."""
    caps = caps or corpus()
    rng = random.Random(seed)
    total: Counter = Counter()
    findings: list[dict] = []
    for i in range(n):
        cap = caps[i % len(caps)]
        edits = random_damage(cap, rng)
        out = check(cap, edits)
        total.update(out.counts)
        for f in out.findings:
            findings.append(
                {
                    "file": cap.name,
                    "edits": [(e.kind, e.start, e.end, e.new[:20].hex()) for e in edits],
                    "finding": f,
                }
            )
    return total, findings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None, help="write figures and findings as JSON")
    args = ap.parse_args()
    t = time.perf_counter()
    counts, findings = campaign(args.inputs, args.seed)
    seconds = round(time.perf_counter() - t, 1)
    report = {"inputs": args.inputs, "seed": args.seed, "seconds": seconds, "counts": dict(counts)}
    report["findings"] = findings[:200]
    report["n_findings"] = len(findings)
    print(json.dumps({k: v for k, v in report.items() if k != "findings"}, indent=1, sort_keys=True))
    for f in findings[:20]:
        print(f)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))
    raise SystemExit(1 if findings else 0)


if __name__ == "__main__":
    main()
