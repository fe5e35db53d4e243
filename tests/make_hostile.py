"""Writes tests/hostile/: a landing folder of hostile files, each with a known expected outcome.

Run `python -m tests.make_hostile` to regenerate; `make run PAPERLAKE_RAW_DIR=tests/hostile` (or the
test in test_hostile.py) shows every file and entry accounted for in pages / rejects.
"""

import unicodedata
from pathlib import Path

from tests.helpers import SAMPLE, page_text

HOSTILE = Path(__file__).parent / "hostile"
ABSTRACT = "An abstract that is long enough to read as one. " * 8
DETAILED = "Café – naïve Title\n\n" + ABSTRACT + "\n\n  • 3 authors\n·\nOct 22, 2024 7"


def seed(name: str) -> bytes:
    return next(SAMPLE.glob(f"{name}_*.txt")).read_bytes()


def head(data: bytes, before_title: str) -> bytes:
    """The capture up to (not including) the entry with this title: a small real page."""
    return data[: data.index(b"\n\n" + before_title.encode())]


def files() -> dict[str, bytes]:
    s000, s001, s004 = seed("000"), seed("001"), seed("004")
    text001 = s001.decode("utf-8")
    five = head(s001, "GeDi: Generative")  # header + 4 detailed entries, with • and ·
    compact = head(s000, "Improving Visual Commonsense")  # header + 4 compact entries, ASCII only
    return {
        # damaged downloads (issue 10): the damage costs its entry, never a neighbour
        "cut_mid_character.txt": head(s001, "Small Language Models Learn")
        + "\n\nA Cut Title\n\nHalf an abstract — and".encode()[:-5],  # 2 of the em dash's 3 bytes
        "cut_mid_abstract.txt": compact[: compact.index(b" addresses this limitation")],
        "invalid_bytes.txt": five.replace(b"hallucinated content", b"halluc\xff\xfeinated content"),
        "nul_run.txt": five.replace(b"Training language", b"Training\x00" * 40 + b" language"),
        "cp1252_splice.txt": five.replace(b"Training language", "naïve “café” –".encode("cp1252")),
        "stray_bytes_ascii.txt": compact.replace(
            b"source code generation", b"source \xb6\x88\x95 generation"
        ),
        # a detailed entry whose abstract line is missing; its paper is in utf16.txt (same date)
        "no_abstract.txt": page_text(
            "The Importance of Being Scalable: Improving the Speed and Accuracy of Neural Network "
            "Interatomic Potentials Across Chemical Domains\n\n  • 2 authors\n·\nOct 31, 2024",
            DETAILED,
        ).encode(),
        "crlf_tabs_trailing.txt": s000.decode().replace("\n", "\t  \r\n").encode(),
        "bom_utf8.txt": b"\xef\xbb\xbf" + seed("002"),
        "utf16.txt": s004.decode().encode("utf-16"),
        "cp1252_windows.txt": page_text(DETAILED).encode("cp1252"),
        "latin1_fallback.txt": page_text("Caf\u0081 naïve Title\n\n" + ABSTRACT).encode("latin-1"),
        "mojibake.txt": page_text(DETAILED).encode("utf-8").decode("cp1252").encode("utf-8"),
        "html_entities.txt": page_text("Q&amp;A &lt;Models&gt;: Entities\n\n" + ABSTRACT).encode(),
        "nfd_unicode.txt": unicodedata.normalize("NFD", page_text(DETAILED)).encode(),
        "empty.txt": b"",
        "whitespace_only.txt": b" \n\t\r\n  \n",
        "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        "README.md": b"# Captures\n\nSave Daily Papers pages here.\n",
        "huge_line.txt": b"x" * 1_500_000,
        "truncated.txt": text001[
            : text001.index("Training language models (LMs) and their application")
        ].encode(),
        "oversized_title.txt": page_text("T" * 5000 + "\n\n" + ABSTRACT, DETAILED).encode(),
        "missing_fields.txt": page_text(
            "Title Without Abstract",
            DETAILED,
            "  • 2 authors\n·\nMay 3",
            DETAILED.replace("Oct 22, 2024 7", "Octember 5"),
        ).encode(),
        "duplicate_entry.txt": page_text(DETAILED, DETAILED).encode(),
        "same_bytes_as_bom_utf8.txt": b"\xef\xbb\xbf" + seed("002"),
        "no_page_date.txt": page_text(DETAILED, date="sometime").encode(),
    }


def main() -> None:
    HOSTILE.mkdir(exist_ok=True)
    for name, data in files().items():
        (HOSTILE / name).write_bytes(data)
    print(f"wrote {len(files())} files to {HOSTILE}")


if __name__ == "__main__":
    main()
