"""The parser on the five real captures and on hand-written pages covering both layouts and bad input."""

from pathlib import Path

import pandas as pd
import pytest

from paperlake.dates import parse_date_line
from paperlake.entries import _one_spaced, parse_entries
from paperlake.ingest import read_raw
from paperlake.parse import _printed_years, read_page
from tests.helpers import SAMPLE, SEED_ENTRIES, SHARED_SEEDS, page_text, process_page

COMPACT = "A Compact Title\n\nAn abstract long enough to be an abstract. " + "Words " * 60 + "The end."
DETAILED = (
    "A Detailed Title\n\nThe abstract of a detailed entry. "
    + "More " * 60
    + "\n\n  • 3 authors\n·\nOct 22, 2024 7"
)


def test_bundled_sample_is_the_shared_seeds():
    if not SHARED_SEEDS.exists():
        pytest.skip("../shared/seeds not beside the repo")
    for name in SEED_ENTRIES:
        assert (SAMPLE / name).read_bytes() == (SHARED_SEEDS / name).read_bytes()


@pytest.mark.parametrize(("name", "expected"), sorted(SEED_ENTRIES.items()))
def test_seed_entry_counts(name: str, expected: int):
    tables = process_page(read_raw(SAMPLE / name, SAMPLE))
    page = tables.pages.iloc[0]
    assert len(tables.sightings) == expected
    assert len(tables.rejects) == 0
    assert (page["n_entries"], page["n_valid"], page["status"]) == (expected, expected, "ok")
    assert tables.sightings["position"].tolist() == list(range(1, expected + 1))
    # provenance: line_start points at the title line of the file
    lines = (SAMPLE / name).read_text(encoding="utf-8").split("\n")
    for row in tables.sightings.itertuples():
        assert lines[row.line_start - 1].strip() == row.title


def test_seed_layouts_and_metadata():
    detailed = process_page(read_raw(SAMPLE / "001_0e521db46ed8cd94.txt", SAMPLE))
    compact = process_page(read_raw(SAMPLE / "000_7cb6f7359ec6334f.txt", SAMPLE))
    assert detailed.pages.iloc[0]["layout"] == "detailed"
    assert compact.pages.iloc[0]["layout"] == "compact"
    s = detailed.sightings.set_index("title")
    tiny = s.loc[s.index.str.startswith("TinyHelen's First Curriculum")].iloc[0]
    assert (tiny["authors_count"], str(tiny["published_date"].date()), tiny["upvotes"]) == (
        3,
        "2024-12-31",
        1,
    )
    org = detailed.sightings[detailed.sightings["organization"].notna()].iloc[0]
    assert (org["organization_id"], org["organization"]) == ("alibaba-inc", "alibaba-inc")
    assert compact.sightings["published_date"].isna().all()
    assert compact.sightings["upvotes"].isna().all()


def test_both_layouts_on_one_handwritten_page():
    page = read_page(page_text(COMPACT, DETAILED, date="Dec 25").encode(), "mixed.txt")
    parsed = parse_entries(page)
    assert parsed.layout == "detailed"
    assert [e["title"] for e in parsed.entries] == ["A Compact Title", "A Detailed Title"]
    d = parsed.entries[1]
    assert (d["authors_count"], d["upvotes"], str(d["published_date"])) == (3, 7, "2024-10-22")
    assert (d["line_start"], d["line_end"]) == (17, 23)  # title line 17 … date line 23
    # the printed 2024 date makes the page at least 2025
    assert str(page.page_date) == "2025-12-25" and page.page_date_source == "content"


def test_yearless_entry_dates_take_the_page_year_or_the_year_before():
    early = DETAILED.replace("Oct 22, 2024 7", "Dec 30 4")
    same = DETAILED.replace("A Detailed Title", "Another Title").replace("Oct 22, 2024 7", "Jan 2")
    same = same.replace("The abstract of", "Another abstract of")
    page = read_page(page_text(early, same, date="Jan 3").encode(), "2026-01-03_capture.txt")
    assert page.page_date_source == "filename" and str(page.page_date) == "2026-01-03"
    dates = [str(e["published_date"]) for e in parse_entries(page).entries]
    assert dates == ["2025-12-30", "2026-01-02"]


def test_missing_abstract_is_rejected_not_swallowed():
    text = page_text("Orphan Title Without Abstract", COMPACT, DETAILED)
    tables = process_page(read_page(text.encode(), "gap.txt"))
    assert tables.sightings["title"].tolist() == ["A Compact Title", "A Detailed Title"]
    assert tables.rejects[["reason", "line_start", "position"]].values.tolist() == [
        ["missing_abstract", 13, 1]
    ]
    page = tables.pages.iloc[0]
    assert (page["n_entries"], page["n_valid"], page["n_rejected"], page["status"]) == (3, 2, 1, "partial")


def test_truncated_file_keeps_complete_entries():
    full = page_text(COMPACT, DETAILED)
    cut = full[: full.index("The abstract of a detailed")]
    tables = process_page(read_page(cut.encode(), "cut.txt"))
    assert tables.sightings["title"].tolist() == ["A Compact Title"]
    assert tables.rejects[["reason", "line_start"]].values.tolist() == [["truncated_entry", 17]]
    assert tables.pages.iloc[0]["status"] == "partial"


@pytest.mark.parametrize(
    ("cut_after", "kept"),
    [
        ("The abstract of a detailed entry. More More", ["A Compact Title"]),  # mid-sentence: truncated
        ("  • 3 authors\n", ["A Compact Title"]),  # metadata block stops before its date
        ("Oct 22, 2024 7", ["A Compact Title", "A Detailed Title"]),  # the whole file
    ],
)
def test_last_entry_of_a_cut_file_is_truncated_never_a_silent_sighting(cut_after: str, kept: list[str]):
    full = page_text(COMPACT, DETAILED)
    cut = full[: full.index(cut_after) + len(cut_after)]
    tables = process_page(read_page(cut.encode(), "cut.txt"))
    assert tables.sightings["title"].tolist() == kept
    assert tables.rejects["reason"].tolist() == ["truncated_entry"] * (2 - len(kept))


def test_compact_page_whose_last_abstract_ends_in_a_link_is_complete():
    linked = COMPACT + "Code: https://github.com/o/r"
    tables = process_page(
        read_page(page_text(COMPACT.replace("A Compact", "First"), linked).encode(), "l.txt")
    )
    assert tables.sightings["abstract"].str.endswith("https://github.com/o/r").tolist() == [False, True]
    assert tables.rejects.empty


def test_entry_without_abstract_is_a_flagged_sighting_with_its_metadata():
    no_abstract = "A Bare Title\n\n  • 11 authors\n·\nOct 3 12"
    tables = process_page(read_page(page_text(COMPACT, no_abstract, DETAILED).encode(), "bare.txt"))
    assert tables.rejects.empty
    s = tables.sightings.set_index("title")
    bare = s.loc["A Bare Title"]
    assert pd.isna(bare["abstract"]) and bare["flag"] == "no_abstract"
    assert (bare["authors_count"], bare["upvotes"], str(bare["published_date"].date())) == (
        11,
        12,
        "2025-10-03",
    )
    assert s.loc["A Detailed Title", "flag"] is None and s.loc["A Compact Title", "flag"] == "no_metadata"


def test_abstract_and_metadata_without_a_title_is_rejected():
    orphan = DETAILED.split("\n\n", 1)[1]  # abstract, then metadata
    tables = process_page(read_page(page_text(orphan, DETAILED).encode(), "notitle.txt"))
    assert tables.rejects["reason"].tolist() == ["missing_title"]
    assert tables.sightings["title"].tolist() == ["A Detailed Title"]


def test_broken_metadata_and_orphan_metadata_are_rejected():
    bad_date = DETAILED.replace("Oct 22, 2024 7", "Octember 5")
    text = page_text(bad_date, "  • 2 authors\n·\nMay 3", COMPACT)
    tables = process_page(read_page(text.encode(), "meta.txt"))
    assert sorted(tables.rejects["reason"]) == ["bad_date", "orphan_metadata"]
    assert tables.sightings["title"].tolist() == ["A Compact Title"]


def test_duplicate_entry_on_one_page_is_rejected():
    tables = process_page(read_page(page_text(COMPACT, COMPACT).encode(), "dup.txt"))
    assert len(tables.sightings) == 1
    assert tables.rejects["reason"].tolist() == ["duplicate_on_page"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary_content"),
        (b"# README\n\nThis folder holds captures.\n", "not_a_capture"),
    ],
)
def test_files_that_are_not_captures_become_file_rejects(data: bytes, reason: str):
    tables = process_page(read_page(data, "stray.bin"))
    assert tables.rejects[["kind", "reason"]].values.tolist() == [["file", reason]]
    assert tables.pages.iloc[0]["status"] == "rejected"
    assert tables.pages.iloc[0]["n_entries"] == 0 and tables.sightings.empty


def test_encodings_and_line_endings():
    text = page_text(COMPACT.replace("A Compact Title", "Café Ümlaut – Title"))
    for data, encoding in [
        (text.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + text.encode("utf-8"), "utf-8-sig"),
        (text.encode("utf-16"), "utf-16"),
        (text.encode("cp1252"), "cp1252"),
        (text.replace("\n", "\r\n").encode("utf-8"), "utf-8"),
        (text.encode("utf-8").decode("cp1252").encode("utf-8"), "utf-8+mojibake-repaired"),
    ]:
        page = read_page(data, "enc.txt")
        assert page.encoding == encoding
        entries = parse_entries(page).entries
        assert [e["title"] for e in entries] == ["Café Ümlaut – Title"], encoding


def test_oversized_title_is_rejected():
    huge = page_text(COMPACT.replace("A Compact Title", "T" * 5000))
    tables = process_page(read_page(huge.encode(), "huge.txt"))
    assert tables.rejects["reason"].tolist() == ["oversized_field"]


def test_shortcuts_agree_with_the_rules_they_skip():
    """The parser's shortcuts (issue 13) give what the plain rules give: printed years found by one regex
    are those of parse_date_line on every body line, and whitespace folding skipped only where folding
    changes nothing, on the seeds, the hostile captures and every whitespace character."""
    hostile = Path(__file__).parent / "hostile"
    for path in [*sorted(SAMPLE.iterdir()), *sorted(hostile.glob("*.txt"))]:
        page = read_page(path.read_bytes(), path.name)
        if page.text is None:
            continue
        lines = page.text.split("\n")
        parsed = [parse_date_line(line) for line in lines[page.body_start :]]
        offset = sum(len(line) + 1 for line in lines[: page.body_start])
        years = [p[0].year for p in parsed if p is not None and p[0].year is not None]
        assert sorted(_printed_years(page.text, offset)) == sorted(years), path.name
        for line in lines:
            assert _one_spaced(line) == " ".join(line.split())
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    for text in ["a b", " a", "a ", "a  b", *(f"a{s}b" for s in spaces), *(f"é{s}b" for s in spaces)]:
        assert _one_spaced(text) == " ".join(text.split()), repr(text)
