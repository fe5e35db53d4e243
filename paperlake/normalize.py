"""Text keys for matching: the same title printed with different case, dashes, quotes or spacing → one key.

The key is computed by Arrow's vectorised kernels (NFKC, lower case, every run of characters that are not
letters, digits or marks folded to one space), so a million titles take a fraction of a second, and the
scalar `title_key` is the same function on a one-element array: one definition.
"""

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

_NOT_WORD = r"[^\p{L}\p{N}\p{M}]+"


def text_keys(values: pa.Array | list[str]) -> pa.Array:
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, type=pa.string())
    folded = pc.replace_substring_regex(pc.utf8_lower(pc.utf8_normalize(arr, form="NFKC")), _NOT_WORD, " ")
    return pc.utf8_trim_whitespace(folded)


def title_key(title: str) -> str:
    """NFKC, lower case, every run of punctuation/dashes/whitespace folded to one space."""
    return text_keys([title])[0].as_py()


def short_hash(*parts: str, length: int = 16) -> str:
    """A stable hex id from text parts (sha256, so ids do not change between Python runs)."""
    h = hashlib.sha256("\x1f".join(parts).encode("utf-8"))
    return h.hexdigest()[:length]


def content_id(data: bytes) -> str:
    """The id of a file's content: equal bytes under two names give one id."""
    return hashlib.sha256(data).hexdigest()[:16]
