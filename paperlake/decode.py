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
_MOJIBAKE = re.compile("[ÂÃâ][\u0080-\u00bf\u2018-\u203a\u20ac\u0152\u0153\u0160\u0161\u017d\u017e\u0178]")
_ESCAPED = re.compile("[\udc80-\udcff]+")  # invalid bytes under the surrogateescape handler
_NUL = re.compile("\x00+")
_HIGH = bytes(range(0x80, 0x100))
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
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return unicodedata.normalize("NFC", text)


def _lines_of(text: str, pattern: re.Pattern) -> str:
    lines = sorted({text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)})
    shown = ", ".join(map(str, lines[:5])) + (", …" if len(lines) > 5 else "")
    return f"line{'s' if len(lines) > 1 else ''} {shown}"


def _mark_damage(text: str, notes: list[str]) -> str:
    """NUL runs (holes a broken download leaves) become U+FFFD like invalid bytes, and are noted."""
    if "\x00" in text:
        notes.append(f"{text.count(chr(0))} NUL bytes on {_lines_of(text, _NUL)}")
        text = _NUL.sub(DAMAGE, text)
    return text


def _utf8(data: bytes) -> tuple[str, list[str]] | None:
    """UTF-8 with damage confined, or None when most non-ASCII bytes are invalid (a legacy file)."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    text = decoder.decode(data, final=False)
    cut = len(decoder.getstate()[0])  # a multi-byte character cut off by the end of the file
    invalid = sum(m.end() - m.start() for m in _ESCAPED.finditer(text))
    non_ascii = len(data) - cut - len(data.translate(None, _HIGH))
    if invalid * 2 > non_ascii:
        return None
    notes = []
    if invalid:
        notes.append(f"{invalid} invalid byte{'s' if invalid > 1 else ''} on {_lines_of(text, _ESCAPED)}")
        text = _ESCAPED.sub(DAMAGE, text)
    if cut:
        notes.append(f"{cut} byte{'s' if cut > 1 else ''} cut at end")
        text += DAMAGE
    return text, notes


def decode_bytes(data: bytes) -> Decoded:
    """Decode a capture's bytes; never raises (damage is marked in the text and noted in ``encoding``)."""
    notes: list[str] = []
    for bom, codec in BOMS:
        if data.startswith(bom):
            if codec == "utf-8-sig" and (utf8 := _utf8(data[len(bom) :])) is not None:
                text, notes = utf8
            else:
                text = data.decode(codec, errors="replace")
                if n := text.count(DAMAGE) - data.decode(codec, errors="ignore").count(DAMAGE):
                    notes.append(f"{n} undecodable sequences")
            break
    else:
        if (utf8 := _utf8(data)) is not None:
            (text, notes), codec = utf8, "utf-8"
        else:
            try:
                text, codec = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                text, codec = data.decode("latin-1"), "latin-1"
    text = _mark_damage(text, notes)
    if _MOJIBAKE.search(text) and (fixed := ftfy.fix_encoding(text)) != text:
        text, codec = fixed, f"{codec}+mojibake-repaired"
    return Decoded(normalise_text(text), "; ".join([codec, *notes]))
