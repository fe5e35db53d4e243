"""Bytes → text, confining damage to the lines it touches, so a cut or corrupted download keeps its intact
entries.

* A byte-order mark decides (UTF-8/16/32).
* Otherwise the file is UTF-8 unless the evidence says otherwise: when most of its non-ASCII bytes are
  invalid as UTF-8 it is a legacy file (strict cp1252, what Windows browsers save, else Latin-1, which
  cannot fail). A UTF-8 file with a few invalid bytes, a NUL run or a multi-byte character cut off at
  the end stays UTF-8: each damaged run becomes one U+FFFD on its own line, the parser rejects the entry
  that holds it, and ``encoding`` says what was found (``utf-8; 2 bytes cut at end``).
* Text that was once UTF-8 mis-read as cp1252 ("â€™" for "'") is repaired by ftfy, only where it shows
  mojibake artefacts (ftfy costs ~25 ms on a 100 KB page; the regex gate costs nothing).

charset-normalizer was measured on the hostile samples and rejected: it names a UTF-8 capture cut
mid-character, or with three flipped bytes, cp1250, and the cp1252 / Latin-1 samples cp1250 / cp775.
The result is NFC with LF line endings; line numbers are those of the original file.
"""

import codecs
import re
import unicodedata
from dataclasses import dataclass

import ftfy
from ftfy.badness import is_bad

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
DAMAGE = "\ufffd"  # what every damaged run of bytes becomes: the parser rejects entries holding it
# Control characters other than tab, LF, CR, FF: their share tells a binary file from text.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MOJIBAKE_LEADS = "ÂÃâ"  # a str search for each is far cheaper than the regex over a whole clean file
_MOJIBAKE = re.compile("[ÂÃâ][\u0080-\u00bf\u2018-\u203a\u20ac\u0152\u0153\u0160\u0161\u017d\u017e\u0178]")
_ESCAPED = re.compile("[\udc80-\udcff]+")  # invalid bytes under the surrogateescape handler
_NUL = re.compile("\x00+")
_HIGH = bytes(range(0x80, 0x100))
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
# dashes, quotes, bullets, signs of units and money: what legacy-encoded abstracts hold
_TYPOGRAPHIC = frozenset(
    "\u00a0\u2013\u2014\u2018\u2019\u201a\u201c\u201d\u201e\u2022\u00b7\u2026"
    "\u00ab\u00bb\u2039\u203a\u00b0\u00b1\u00d7\u00f7\u00b2\u00b3\u00b9\u00b5"
    "\u00a7\u00a9\u00ae\u2122\u20ac\u00a3\u00a5\u00a2\u00bd\u00bc\u00be"
)
BINARY_SAMPLE = 8192
BINARY_CONTROL_SHARE = 0.05


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the codec, then what was damaged or repaired: "utf-8; 3 invalid bytes on line 40"


def looks_binary(data: bytes) -> bool:
    """NUL or many control bytes at the start: asked only of files that have no capture header."""
    sample = data[:BINARY_SAMPLE]
    return b"\x00" in sample or len(_CONTROL.findall(sample)) > BINARY_CONTROL_SHARE * len(sample)


def normalise_text(text: str) -> str:
    """LF line endings, NFC, no BOM: the one text form every later step sees."""
    if "\r" in text:  # each test is a fraction of the replace it saves on a clean file
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    return unicodedata.normalize("NFC", text)


def _lines_of(text: str, pattern: re.Pattern) -> str:
    lines = sorted({text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)})
    shown = ", ".join(map(str, lines[:5])) + (", …" if len(lines) > 5 else "")
    return f"line{'s' if len(lines) > 1 else ''} {shown}"


def _escaped(text: str, notes: list[str], what: str) -> str:
    """Runs of bytes the codec could not read (surrogateescape) → one U+FFFD each, noted."""
    if n := sum(m.end() - m.start() for m in _ESCAPED.finditer(text)):
        notes.append(f"{n} {what} byte{'s' if n > 1 else ''} on {_lines_of(text, _ESCAPED)}")
        text = _ESCAPED.sub(DAMAGE, text)
    return text


def _plausible(text: str) -> bool:
    """Legacy text has its non-ASCII characters one at a time (a letter, a dash, a quote) or as a letter
    pair; runs of signs are stray bytes. ftfy's is_bad catches the mojibake-like ones."""
    for m in _NON_ASCII_RUN.finditer(text.replace(DAMAGE, "")):  # undefined bytes are damage already
        run = m.group()
        single = len(run) == 1 and (run.isalpha() or run in _TYPOGRAPHIC)
        if not single and not (len(run) == 2 and run.isalpha()):
            return False
    return not is_bad(text)


def _utf8(data: bytes) -> tuple[str, list[str], bool]:
    """UTF-8 with damage confined, and whether most non-ASCII bytes are invalid (then a legacy file)."""
    try:  # the common case, at C speed
        return data.decode("utf-8"), [], False
    except UnicodeDecodeError:
        pass
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    text = decoder.decode(data, final=False)
    cut = len(decoder.getstate()[0])  # a multi-byte character cut off by the end of the file
    invalid = sum(m.end() - m.start() for m in _ESCAPED.finditer(text))
    non_ascii = len(data) - len(data.translate(None, _HIGH)) - cut
    notes: list[str] = []
    text = _escaped(text, notes, "invalid")
    if cut:
        notes.append(f"{cut} byte{'s' if cut > 1 else ''} cut at end")
        text += DAMAGE
    return text, notes, invalid * 2 > non_ascii


def decode_bytes(data: bytes) -> Decoded:
    """Decode a capture's bytes; never raises (damage is marked in the text and noted in ``encoding``)."""
    notes: list[str] = []
    for bom, codec in BOMS:
        if data.startswith(bom):
            if codec == "utf-8-sig" and not (utf8 := _utf8(data[len(bom) :]))[2]:
                text, notes, _ = utf8
            else:
                text = data.decode(codec, errors="replace")
                if n := text.count(DAMAGE) - data.decode(codec, errors="ignore").count(DAMAGE):
                    notes.append(f"{n} undecodable sequences")
            break
    else:
        text, notes, legacy = _utf8(data)
        codec = "utf-8"
        # cp1252, its few undefined bytes being damage as invalid bytes are in UTF-8 (Latin-1 needs no path
        # of its own: its printable characters are cp1252's, and the C1 bytes where they differ hold no
        # text), unless its characters are implausible: stray bytes in an ASCII file, not cp1252 text
        if legacy:
            cp_notes: list[str] = []
            cp = _escaped(data.decode("cp1252", errors="surrogateescape"), cp_notes, "undefined")
            if _plausible(cp):
                text, notes, codec = cp, cp_notes, "cp1252"
    # NUL runs (holes a broken download leaves) become U+FFFD like invalid bytes, and are noted; no NUL
    # byte, no NUL character: the byte search is the cheaper (memchr)
    if b"\x00" in data and "\x00" in text:
        notes.append(f"{text.count(chr(0))} NUL bytes on {_lines_of(text, _NUL)}")
        text = _NUL.sub(DAMAGE, text)
    mojibake = any(c in text for c in _MOJIBAKE_LEADS) and _MOJIBAKE.search(text) is not None
    if mojibake and (fixed := ftfy.fix_encoding(text)) != text:
        text, codec = fixed, f"{codec}+mojibake-repaired"
    return Decoded(normalise_text(text), "; ".join([codec, *notes]))
