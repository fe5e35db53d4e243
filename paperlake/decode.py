"""Bytes → text by a documented fallback chain, so no capture is lost to an encoding error.

Chain: a byte-order mark decides (UTF-8/16/32); otherwise strict UTF-8, then strict cp1252 (what
Windows browsers save), then Latin-1 (which cannot fail). UTF-8 text that was once mis-decoded as
cp1252 ("â€™" for "'") is repaired when the round trip is lossless. The result is NFC with LF line
endings; line numbers are those of the original file.
"""

import codecs
import re
import unicodedata
from dataclasses import dataclass

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control characters other than tab, LF, CR, FF: their share tells a binary file from text.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MOJIBAKE = re.compile("[ÂÃâ][\u0080-\u00bf\u2018-\u203a\u20ac\u0152\u0153\u0160\u0161\u017d\u017e\u0178]")
BINARY_SAMPLE = 8192
BINARY_CONTROL_SHARE = 0.05


class UndecodableError(ValueError):
    """Raised for input that is not text at all (binary), with a stable reason code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str


def _looks_binary(data: bytes) -> bool:
    sample = data[:BINARY_SAMPLE]
    if b"\x00" in sample:
        return True
    return len(_CONTROL.findall(sample)) > BINARY_CONTROL_SHARE * len(sample)


def _repair_mojibake(text: str) -> str | None:
    """Undo one round of UTF-8-read-as-cp1252, only when it is lossless and removes the artefacts."""
    if not _MOJIBAKE.search(text):
        return None
    try:
        fixed = text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return None
    return fixed if not _MOJIBAKE.search(fixed) else None


def normalise_text(text: str) -> str:
    """LF line endings, NFC, no BOM, no NUL: the one text form every later step sees."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "").replace("\x00", "")
    return unicodedata.normalize("NFC", text)


def decode_bytes(data: bytes) -> Decoded:
    """Decode a capture's bytes; raise UndecodableError for binary content."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return Decoded(normalise_text(data.decode(encoding)), encoding)
            except UnicodeDecodeError as exc:
                detail = f"{encoding} byte-order mark but invalid data: {exc}"
                raise UndecodableError("decode_error", detail) from exc
    if _looks_binary(data):
        raise UndecodableError("binary_content", "NUL or control bytes: not a text capture")
    for encoding in ("utf-8", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        repaired = _repair_mojibake(text)
        if repaired is not None:
            return Decoded(normalise_text(repaired), f"{encoding}+mojibake-repaired")
        return Decoded(normalise_text(text), encoding)
    return Decoded(normalise_text(data.decode("latin-1")), "latin-1")
