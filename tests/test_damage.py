"""Damaged captures (issue 10): decoding confines damage to its entries, and the differential fuzzer of
tests/damage.py shows that every entry the damage did not touch comes out valid with the same fields."""

import random

import pandas as pd
import pytest

from paperlake.decode import decode_bytes
from paperlake.entries import parse_entries
from paperlake.parse import read_page
from schemas import Pages, Rejects, Sightings
from tests.damage import (
    FIELDS,
    MTIME,
    PAGE_FIELDS,
    Capture,
    Edit,
    apply,
    campaign,
    check,
    corpus,
    random_damage,
)
from tests.helpers import SAMPLE, page_text, process_page

DETAILED = SAMPLE / "001_0e521db46ed8cd94.txt"  # holds 2-byte (·) and 3-byte (•) characters


def tables(data: bytes, name: str = "damaged.txt"):
    t = process_page(read_page(data, name, MTIME))
    Pages.validate(t.pages), Sightings.validate(t.sightings), Rejects.validate(t.rejects)
    return t


def test_cut_inside_an_em_dash_keeps_the_intact_entries_and_rejects_the_cut_one():
    """The issue's trial: three intact entries, then a title and half an abstract ending in 2 of the 3
    bytes of an em dash. Was: the whole file read as cp1252 (mojibake), the intact entries
    quarantined, the cut entry kept."""
    data = DETAILED.read_bytes()
    three = data[: data.index(b"\n\nSmall Language Models Learn")]
    cut = three + "\n\nA Cut Title\n\nHalf an abstract — and".encode()[:-5]
    t = tables(cut)
    page = t.pages.iloc[0]
    assert (page["encoding"], page["status"], page["n_valid"]) == ("utf-8; 2 bytes cut at end", "partial", 3)
    assert t.rejects[["reason", "line_start"]].values.tolist() == [["truncated_entry", 37]]
    assert not t.sightings["title"].str.contains("â€|Â", regex=True).any()
    whole = tables(data).sightings.head(3).drop(columns=["sighting_id", "page_id", "source_file"])
    pd.testing.assert_frame_equal(t.sightings.drop(columns=["sighting_id", "page_id", "source_file"]), whole)


def test_a_real_capture_cut_at_237_offsets_keeps_every_intact_entry():
    """Cut inside every 2- and 3-byte character of the capture (136 offsets) and at 101 offsets spread
    over it: every entry that ends before the cut is the whole file's entry, field for field, dates
    included (the year comes from the file name, as in a dated landing folder). The differential oracle
    leaves the last of them out (a file's last entry may end unfinished); here it is checked too."""
    cap = Capture.load("2025-12-25_001.txt", DETAILED.read_bytes())
    inside = [start + k for n, starts in cap.multibyte.items() for start in starts for k in range(1, n)]
    assert set(cap.multibyte) == {2, 3} and len(inside) == 136
    offsets = sorted(set(inside) | set(range(0, len(cap.data), len(cap.data) // 100)))
    assert len(offsets) == 237
    kept = 0
    for at in offsets:
        out = check(cap, [Edit(at, len(cap.data), b"", "cut")])
        assert out.findings == [], (at, out.findings)
        assert out.counts["page_level"] == 0 or cap.line_of(at) <= cap.body_line  # a cut header
        parsed = parse_entries(read_page(cap.data[:at], cap.name, MTIME))
        got = {e["line_start"]: e for e in parsed.entries}
        for whole in [e for e in cap.entries if e["line_end"] < cap.line_of(at)]:
            assert {f: got[whole["line_start"]][f] for f in FIELDS + PAGE_FIELDS} == {
                f: whole[f] for f in FIELDS + PAGE_FIELDS
            }, (at, whole["title"])
            kept += 1
    assert kept > 237 * 47 // 3


def test_short_differential_campaign_finds_nothing():
    counts, findings = campaign(700, seed=20261123)
    assert findings == [], findings[:5]
    for kind in ("cut", "flip", "insert_invalid", "splice", "nul_insert", "nul_overwrite", "dup_lines"):
        assert counts[f"edit:{kind}"] > 20, kind
    assert counts["intact_entries"] > counts["damaged_entries"] > 0


@pytest.mark.slow
def test_damaged_outputs_satisfy_the_contract():
    rng = random.Random(7)
    for cap in corpus()[:8]:
        for _ in range(6):
            t = tables(apply(cap.data, random_damage(cap, rng)), cap.name)
            page = t.pages.iloc[0]
            assert page["n_entries"] == page["n_valid"] + page["n_rejected"]


def test_invalid_bytes_reject_only_their_entry_and_are_noted():
    data = DETAILED.read_bytes()
    at = data.index(b"hallucinated content")
    t = tables(data[:at] + b"\xff\xfe" + data[at:])
    whole = tables(data)
    assert t.pages.iloc[0]["encoding"] == "utf-8; 2 invalid bytes on line 23"
    assert t.rejects[["reason", "line_start", "line_end"]].values.tolist() == [["invalid_bytes", 21, 27]]
    assert len(t.sightings) == len(whole.sightings) - 1


@pytest.mark.parametrize(
    ("insert", "note"),
    [
        (b"\x00" * 300, "300 NUL bytes on line 31"),  # a hole a broken download left
        ("naïve “café” – x".encode("cp1252"), "5 invalid bytes on line 31"),  # a cp1252 segment
    ],
)
def test_nul_runs_and_spliced_legacy_segments_are_damage_in_a_utf8_file(insert: bytes, note: str):
    data = DETAILED.read_bytes()
    at = data.index(b"Training language models (LMs)")
    t = tables(data[:at] + insert + data[at:])
    assert t.pages.iloc[0]["encoding"] == f"utf-8; {note}"
    assert t.rejects["reason"].tolist() == ["invalid_bytes"]
    assert t.pages.iloc[0]["n_valid"] == 46


def test_encoding_evidence():
    text = page_text("Café – naïve “Title”\n\n" + "An abstract of a legacy page. " * 10)
    assert decode_bytes(text.encode("cp1252")).encoding == "cp1252"  # every non-ASCII byte invalid UTF-8
    assert decode_bytes(text.encode("latin-1", "ignore")).encoding == "cp1252"  # Latin-1 reads the same
    stray = text.encode().replace(b"legacy", b"leg\xb6\x88\x95acy", 1)  # in an otherwise ASCII file
    assert decode_bytes(stray.replace("Café – naïve “Title”".encode(), b"Title")).encoding.startswith(
        "utf-8; 3 invalid bytes"
    )
    # UTF-8 mis-read as cp1252 once, on one line only: ftfy repairs that line and leaves the rest
    mixed = text.replace("Café – naïve", "Café – naïve".encode().decode("cp1252"))
    repaired = decode_bytes(mixed.encode())
    assert repaired.encoding == "utf-8+mojibake-repaired" and "Café – naïve “Title”" in repaired.text
