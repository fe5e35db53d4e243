"""The hostile landing folder (tests/hostile, made by tests/make_hostile.py) through the whole pipeline:
every file has a pages row with the expected status, every entry is a sighting or a reject."""

import os
import subprocess
import sys
import unicodedata

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from paperlake.config import Paths
from paperlake.warehouse import read_table
from pipelines import cli
from pipelines.run import run_pipeline
from schemas.vocabulary import RejectReason
from tests.make_hostile import HOSTILE, files

# file → (status, valid entries, sorted reject reasons)
EXPECTED = {
    "crlf_tabs_trailing.txt": ("ok", 45, []),
    "bom_utf8.txt": ("ok", 49, []),
    "same_bytes_as_bom_utf8.txt": ("ok", 49, []),
    "utf16.txt": ("ok", 70, []),
    "cp1252_windows.txt": ("ok", 1, []),
    "latin1_fallback.txt": ("rejected", 0, ["invalid_bytes"]),  # a C1 control byte holds no text
    "mojibake.txt": ("ok", 1, []),
    "html_entities.txt": ("ok", 1, []),
    "nfd_unicode.txt": ("ok", 1, []),
    "empty.txt": ("rejected", 0, ["empty_file"]),
    "whitespace_only.txt": ("rejected", 0, ["empty_file"]),
    "image.png": ("rejected", 0, ["binary_content"]),
    "README.md": ("rejected", 0, ["not_a_capture"]),
    "huge_line.txt": ("rejected", 0, ["not_a_capture"]),
    "truncated.txt": ("partial", 2, ["truncated_entry"]),
    "oversized_title.txt": ("partial", 1, ["oversized_field"]),
    "missing_fields.txt": ("partial", 1, ["bad_date", "missing_abstract", "orphan_metadata"]),
    "duplicate_entry.txt": ("partial", 1, ["duplicate_on_page"]),
    "no_page_date.txt": ("partial", 1, ["missing_abstract"]),
    # damaged downloads: the damage costs its own entry, never a neighbour
    "cut_mid_character.txt": ("partial", 3, ["truncated_entry"]),
    "cut_mid_abstract.txt": ("partial", 2, ["truncated_entry"]),
    "invalid_bytes.txt": ("partial", 3, ["invalid_bytes"]),
    "nul_run.txt": ("partial", 3, ["invalid_bytes"]),
    "cp1252_splice.txt": ("partial", 3, ["invalid_bytes"]),
    "stray_bytes_ascii.txt": ("partial", 3, ["invalid_bytes"]),
    "no_abstract.txt": ("ok", 2, []),
}


def test_hostile_folder_is_committed_and_current():
    assert {p.name for p in HOSTILE.iterdir()} == set(files()) == set(EXPECTED)
    for name, data in files().items():
        assert (HOSTILE / name).read_bytes() == data, f"{name}: run python -m tests.make_hostile"


@pytest.fixture(scope="module")
def hostile_paths(tmp_path_factory) -> Paths:
    paths = Paths(HOSTILE, tmp_path_factory.mktemp("hostile_out"))
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
    assert outcome.runs == {"update_job": True} and outcome.failed_checks == []
    return paths


@pytest.fixture(scope="module")
def hostile_tables(hostile_paths):
    return {t: read_table(t, hostile_paths) for t in ("pages", "sightings", "rejects", "papers")}


def test_every_file_and_entry_accounted_for(hostile_tables):
    pages = hostile_tables["pages"].set_index("source_file")
    rejects, sightings = hostile_tables["rejects"], hostile_tables["sightings"]
    assert set(pages.index) == set(EXPECTED)
    for name, (status, n_valid, reasons) in EXPECTED.items():
        row = pages.loc[name]
        got = sorted(rejects.loc[rejects["source_file"] == name, "reason"])
        assert (row["status"], row["n_valid"], got) == (status, n_valid, reasons), name
        assert (sightings["source_file"] == name).sum() == n_valid
    assert (pages["n_entries"] == pages["n_valid"] + pages["n_rejected"]).all()
    entry = rejects[rejects["kind"] == "entry"]
    assert entry["line_start"].notna().all() and entry["excerpt"].notna().all()


def test_text_is_clean_nfc_whatever_the_encoding(hostile_tables):
    pages = hostile_tables["pages"].set_index("source_file")
    assert pages.loc["utf16.txt", "encoding"] == "utf-16"
    assert pages.loc["cp1252_windows.txt", "encoding"] == "cp1252"
    assert pages.loc["latin1_fallback.txt", "encoding"] == "cp1252; 1 undefined byte on line 13"
    assert pages.loc["cut_mid_character.txt", "encoding"] == "utf-8; 2 bytes cut at end"
    assert pages.loc["invalid_bytes.txt", "encoding"] == "utf-8; 2 invalid bytes on line 23"
    assert pages.loc["mojibake.txt", "encoding"] == "utf-8+mojibake-repaired"
    assert pages.loc["same_bytes_as_bom_utf8.txt", "duplicate_of"] == "bom_utf8.txt"
    s = hostile_tables["sightings"].set_index("source_file")
    for name in ("cp1252_windows.txt", "mojibake.txt", "nfd_unicode.txt"):
        assert s.loc[name, "title"] == "Café – naïve Title"
        assert unicodedata.is_normalized("NFC", s.loc[name, "abstract"])
    assert s.loc["html_entities.txt", "title"] == "Q&A <Models>: Entities"
    titles = hostile_tables["sightings"]["title"]
    assert not titles.str.contains("\t|  |Ã|â€", regex=True).any()
    # the same paper on seven hostile pages is one paper; the entity page prints the same 80-word
    # abstract under another title, so resolution merges it too (similar title, identical abstract)
    papers = hostile_tables["papers"].set_index("title")
    assert papers.loc["Café – naïve Title", "n_sightings"] == 9
    assert "Q&A <Models>: Entities" in papers.loc["Café – naïve Title", "title_variants"]


def test_entry_without_abstract_is_a_flagged_sighting_of_its_paper(hostile_tables):
    """no_abstract.txt prints a utf16.txt paper's title and metadata without its abstract: same title
    key and published date, one candidate, so it joins that paper and keeps its abstract."""
    s = hostile_tables["sightings"]
    bare = s[s["source_file"] == "no_abstract.txt"].set_index("flag")
    assert pd.isna(bare.loc["no_abstract", "abstract"])
    paper = hostile_tables["papers"].set_index("paper_id").loc[bare.loc["no_abstract", "paper_id"]]
    assert paper["n_sightings"] == 2 and paper["abstract"].startswith("Scaling has been critical")


def test_status_explains_each_reason(hostile_paths, monkeypatch):
    """`paperlake status` counts the rejects by reason and says what each code means (RejectReason)."""
    monkeypatch.setenv("PAPERLAKE_OUT_DIR", str(hostile_paths.out_dir))
    monkeypatch.setattr(cli.console, "width", 250)
    result = CliRunner().invoke(cli.app, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for reason in {r for _, _, reasons in EXPECTED.values() for r in reasons}:
        n = sum(reasons.count(reason) for _, _, reasons in EXPECTED.values())
        row = next(line for line in lines if f" {reason} " in line)
        assert f" {n} " in row and RejectReason(reason).description in row, row


@pytest.mark.subprocess
def test_status_with_rejects_imports_neither_pandas_nor_numpy(hostile_paths):
    """What keeps `paperlake status` under a second (make bench): explaining reasons must not make DuckDB
    import pandas and numpy (~1 s), as a Python UDF does once it is called."""
    probe = (
        "import atexit, sys; from pipelines.cli import main; sys.argv = ['paperlake', 'status']; "
        "atexit.register(lambda: print('IMPORTED', sorted({'pandas', 'numpy'} & set(sys.modules))))\n"
        "main()"
    )
    env = {**os.environ, "PAPERLAKE_OUT_DIR": str(hostile_paths.out_dir)}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "binary_content" in proc.stdout  # the hostile folder's rejects are explained
    assert "IMPORTED []" in proc.stdout, proc.stdout[-300:]
