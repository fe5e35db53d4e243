"""`diff` counts and shows real changes (issue 35 item 5), on the five seed captures published through the
core steps (no Dagster): three files that are no capture at all landed, then removed (each a file-level
reject, counted one by one); one upvote count edited in one seed (one sighting changed, not the seventy
whose hashes moved with the file's bytes); a later capture of another seed (rows that changed more listed
first, and the lists narrowed to a column)."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from paperlake import diff, lake, steps
from paperlake.config import Paths
from pipelines import cli
from tests.helpers import SAMPLE, SEED_ENTRIES, write_run

REJECTED = {  # three files that are not captures: each one whole-file reject
    "picture.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "notes.txt": b"Reading list for Monday.\nAsk about the survey paper.\n",
    "blob.bin": bytes(range(256)) * 4,
}
EDITED = "004_948de80309261307.txt"  # 70 entries: "Octopus v4" printed 19 upvotes
OCTOPUS = "Octopus v4: Graph of language models"
RECAPTURED = "001_0e521db46ed8cd94.txt"  # detailed layout, page date Dec 25


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _publish(paths: Paths, changed: list[str] | None, run_id: str) -> int:
    write_run(paths, changed)
    return steps.publish(paths, run_id)[0]


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory):
    """v1 the seeds; v2 + three rejected files; v3 without them; v4 one upvote count edited (19 → 42);
    v5 a later capture of seed 001: one entry's upvotes, and another's date line with its upvotes."""
    tmp = tmp_path_factory.mktemp("diff_counts")
    raw = tmp / "raw"
    shutil.copytree(SAMPLE, raw)
    paths = Paths(raw, tmp / "out")
    out = [_publish(paths, None, "seeds")]
    for name, data in REJECTED.items():
        (raw / name).write_bytes(data)
    out.append(_publish(paths, list(REJECTED), "rejected files"))
    for name in REJECTED:
        (raw / name).unlink()
    out.append(_publish(paths, [], "rejected files removed"))
    _edit(raw / EDITED, "\nApr 30, 2024 19\n", "\nApr 30, 2024 42\n")
    out.append(_publish(paths, [EDITED], "one upvote count"))
    _edit(raw / RECAPTURED, "\nOct 22, 2024 2\n", "\nOct 22, 2024 5\n")  # position 12
    _edit(raw / RECAPTURED, "\nDec 18 2\n", "\nDec 17 4\n")  # position 42
    out.append(_publish(paths, [RECAPTURED], "a later capture"))
    assert len(set(out)) == 5, out
    return paths, out


def _counts(found: diff.VersionDiff) -> dict[str, tuple[int, int, int]]:
    return {r["table"]: (r["added"], r["removed"], r["changed"]) for r in found.counts.to_pylist()}


@pytest.mark.slow
def test_each_rejected_file_is_counted_when_it_lands_and_when_it_goes(versions):
    paths, (v1, v2, v3, *_) = versions
    landed, gone = diff.diff(v1, v2, paths), diff.diff(v2, v3, paths)
    assert _counts(landed)["pages"] == (3, 0, 0)
    assert _counts(landed)["rejects"] == (3, 0, 0)
    assert _counts(gone)["rejects"] == (0, 3, 0)
    assert _counts(gone)["pages"] == (0, 3, 0)
    assert _counts(diff.diff(v1, v3, paths))["rejects"] == (0, 0, 0)
    with lake.open_lake(paths, read_only=True) as con:
        rows = diff.added(con, v1, v2, "rejects", ["source_file", "kind", "reason"])
    assert sorted(rows.to_pylist(), key=lambda r: r["source_file"]) == [
        {"source_file": "blob.bin", "kind": "file", "reason": "binary_content"},
        {"source_file": "notes.txt", "kind": "file", "reason": "not_a_capture"},
        {"source_file": "picture.png", "kind": "file", "reason": "binary_content"},
    ]


@pytest.mark.slow
def test_one_edited_upvote_count_is_one_changed_sighting_not_every_sighting_of_its_file(versions):
    paths, (_, _, v3, v4, _) = versions
    found = diff.diff(v3, v4, paths)
    counts = _counts(found)
    assert counts["sightings"] == (0, 0, 1)  # not SEED_ENTRIES[EDITED] (every sighting_id and page_id moved)
    assert counts["papers"] == (0, 0, 1) and counts["rejects"] == (0, 0, 0)
    assert counts["pages"] == (0, 0, 1)  # the file's bytes did change: its page_id is the news there
    (row,) = found.sightings.to_pylist()
    assert (row["source_file"], row["new"]["title"], row["change"]) == (EDITED, OCTOPUS, "changed")
    assert sorted(row["columns"]) == ["published_date_raw", "upvotes"]
    assert (row["old"]["upvotes"], row["new"]["upvotes"]) == (19, 42)
    assert row["old"]["sighting_id"] != row["new"]["sighting_id"]  # moved, and not reported
    assert diff.DERIVED["sightings"] >= {"sighting_id", "page_id"}
    records = diff.as_records(found)
    assert [s["title"] for s in records["sightings"]["changed"]] == [OCTOPUS]
    assert [(r["column"], r["old"], r["new"]) for r in diff.as_rows(found) if r["table"] == "sightings"] == [
        ("published_date_raw", "Apr 30, 2024 19", "Apr 30, 2024 42"),
        ("upvotes", "19", "42"),
    ]
    assert SEED_ENTRIES[EDITED] == 70


@pytest.mark.slow
def test_changed_rows_are_listed_most_changed_first_and_narrowed_to_a_column(versions):
    paths, (*_, v4, v5) = versions
    found = diff.diff(v4, v5, paths)
    assert _counts(found)["sightings"] == (0, 0, 2)
    changed = diff.as_records(found)["sightings"]["changed"]
    assert [(s["position"], sorted(s["columns"])) for s in changed] == [
        (42, ["published_date", "published_date_raw", "upvotes"]),  # by key it would come second
        (12, ["published_date_raw", "upvotes"]),
    ]
    dated = diff.as_records(found, columns=["published_date"])
    assert [s["position"] for s in dated["sightings"]["changed"]] == [42]
    assert dated["tables"] == diff.as_records(found)["tables"]  # the counts stay those of the whole diff
    assert [
        r["key"] for r in diff.as_rows(found, columns=["published_date"]) if r["table"] == "sightings"
    ] == [f"{RECAPTURED}/42"] * 3
    with pytest.raises(ValueError, match="no column 'upvote' in papers or sightings: did you mean 'upvotes'"):
        diff.as_records(found, columns=["upvote"])


@pytest.mark.slow
def test_cli_diff_shows_the_real_change_first_in_80_columns_and_filters_by_column(versions, monkeypatch):
    paths, (_, _, v3, v4, v5) = versions
    monkeypatch.setenv("PAPERLAKE_OUT_DIR", str(paths.out_dir))
    monkeypatch.setattr(cli.console, "width", 80)

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli.app, ["diff", *args])
        assert result.exit_code == 0, result.output
        assert max(len(line) for line in result.output.splitlines()) <= 80
        return result.output

    upvote = run(str(v3), str(v4), "-n", "1")
    assert "sightings changed (1)" in upvote and "upvotes 19 → 42" in upvote and "… and" not in upvote
    assert "sighting_id" not in upvote and "page_id" not in upvote
    later = run(str(v4), str(v5), "-n", "1")  # position 42 (three columns) before 12 (two)
    assert "sightings changed (2)" in later and "upvotes 2 → 4" in later and "upvotes 2 → 5" not in later
    narrowed = run(str(v4), str(v5), "--column", "published_date")
    assert "sightings changed (1)" in narrowed and "upvotes 2 → 4" in narrowed
    assert "upvotes 2 → 5" not in narrowed
    wrong = CliRunner().invoke(cli.app, ["diff", str(v4), str(v5), "--column", "upvote"])
    assert wrong.exit_code == 2 and "no column 'upvote'" in wrong.output
