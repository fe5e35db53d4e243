"""Text keys for matching: the same title printed with different case, dashes, quotes or spacing → one key.

The key is computed by Arrow's vectorised kernels (NFKC, lower case, every run of characters that are not
letters, digits or marks folded to one space), so a million titles take a fraction of a second, and the
scalar `title_key` is the same function on a one-element array: one definition.
"""

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NOT_WORD = r"[^\p{L}\p{N}\p{M}]+"


def text_keys(values: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    """The key of each value (null stays null). An ASCII value takes the same fold on its bytes (lower
    case, every byte that is not a letter or digit a space, runs joined by one), 2-3x faster than the
    regular expression; the others take Arrow's kernels (`_unicode_keys`)."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), False).to_numpy(zero_copy_only=False)
    if not ascii_.any():
        return _unicode_keys(arr)
    keys = np.empty(len(arr), dtype=object)
    texts = arr.to_numpy(zero_copy_only=False)
    keys[ascii_] = [
        b" ".join(t.encode().lower().translate(_ASCII_FOLD).split()).decode() for t in texts[ascii_]
    ]
    rest = ~ascii_
    if rest.any():
        keys[rest] = _unicode_keys(pa.array(texts[rest], pa.string())).to_numpy(zero_copy_only=False)
    return pa.array(keys, pa.string())


def _unicode_keys(arr: pa.Array) -> pa.Array:
    """NFKC, lower case, every run of non-letters/digits/marks folded to one space (Arrow kernels)."""
    folded = pc.replace_substring_regex(pc.utf8_lower(pc.utf8_normalize(arr, form="NFKC")), _NOT_WORD, " ")
    return pc.utf8_trim_whitespace(folded)


# every ASCII byte that is not a letter or digit (the ASCII part of _NOT_WORD) → a space
_ASCII_FOLD = bytes(c if chr(c).isalnum() else 32 for c in range(128)) + bytes(range(128, 256))


def title_key(title: str) -> str:
    """NFKC, lower case, every run of punctuation/dashes/whitespace folded to one space."""
    return text_keys([title])[0].as_py()


def short_hash(*parts: str, length: int = 16) -> str:
    """A stable hex id from text parts (sha256, so ids do not change between Python runs)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def content_id(data: bytes) -> str:
    """The id of a file's content: equal bytes under two names give one id."""
    return hashlib.sha256(data).hexdigest()[:16]
