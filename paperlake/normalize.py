"""Text keys for matching: the same title printed with different case, dashes, quotes or spacing → one key."""

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def title_key(title: str) -> str:
    """NFKC, casefold, every run of punctuation/dashes/whitespace folded to one space."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return _NON_WORD.sub(" ", text).strip()


def short_hash(*parts: str, length: int = 16) -> str:
    """A stable hex id from text parts (sha256, so ids do not change between Python runs)."""
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8"))
    return h.hexdigest()[:length]


def content_id(data: bytes) -> str:
    """The id of a file's content: equal bytes under two names give one id."""
    return hashlib.sha256(data).hexdigest()[:16]
