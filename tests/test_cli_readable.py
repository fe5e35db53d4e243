"""Issue 35, items 8 and 9, through the installed entry point on the session's published sample: a result
too wide for the terminal is printed one record per block (`column  value` lines, long values cut with
an ellipsis), every column named, at 80 columns; csv and json unchanged; `search` without a hit says so
(exit 1, like grep); `show` on an ambiguous title is an error (exit 2) listing the candidates on stderr."""

import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import CLI

pytestmark = pytest.mark.subprocess
WIDE_SQL = "SELECT * FROM papers ORDER BY paper_id LIMIT 3"


@pytest.fixture(scope="module")
def served(pipeline_run) -> Path:
    return pipeline_run[0].out_dir


def _cli(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAPERLAKE_OUT_DIR": str(out), "COLUMNS": "80"}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def _json(out: Path, sql: str) -> list[dict]:
    proc = _cli(out, "query", sql, "-f", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _shown(value: object) -> str:
    """A value as the table and card layouts print it."""
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return "" if value is None else str(value)


def test_a_wide_result_is_one_block_per_record_at_80_columns(served):
    rows = _json(served, WIDE_SQL)
    columns = list(rows[0])
    assert len(rows) == 3 and len(columns) > 20
    proc = _cli(served, "query", WIDE_SQL)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, "\n".join(too_long)
    starts = {
        name: [i for i, line in enumerate(lines) if re.match(rf"{name}(\s|$)", line)] for name in columns
    }
    assert {name: len(at) for name, at in starts.items()} == dict.fromkeys(columns, 3), proc.stdout
    text = " ".join(proc.stdout.split())
    for row in rows:
        for name, value in row.items():
            shown = _shown(value)
            if shown and len(shown) <= 40:  # short values whole ...
                assert shown in text, (name, shown)
        assert " ".join(row["abstract"].split()[:6]) in text  # ... long ones begun
    name_lines = sorted(i for at in starts.values() for i in at)
    for i, following in zip(name_lines, [*name_lines[1:], len(lines)], strict=True):
        value_lines = [line for line in lines[i + 1 : following] if line.startswith(" ")]
        assert len(value_lines) <= 3, lines[i:following]  # a value takes at most 4 lines
    assert "…" in proc.stdout and "--format json" in proc.stdout  # what was cut, and where it is whole


def test_a_result_that_fits_stays_a_table(served):
    proc = _cli(
        served, "query", "SELECT paper_id, upvotes_max, has_code FROM papers ORDER BY paper_id LIMIT 3"
    )
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if line.startswith("┃"))
    assert all(name in header for name in ("paper_id", "upvotes_max", "has_code"))


def test_query_wide_prints_the_whole_table(served):
    proc = _cli(served, "query", WIDE_SQL, "--wide")
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if line.startswith("┃"))
    assert "upvotes_growth_per_day" in header and "merged_ids" in header


def test_csv_and_json_of_a_wide_result_are_unchanged(served):
    rows = _json(served, WIDE_SQL)
    proc = _cli(served, "query", WIDE_SQL, "-f", "csv")
    assert proc.returncode == 0, proc.stderr
    parsed = list(csv.reader(io.StringIO(proc.stdout)))
    assert parsed[0] == list(rows[0]) and len(parsed) == 4
    assert [r[0] for r in parsed[1:]] == [r["paper_id"] for r in rows]
    assert parsed[1][list(rows[0]).index("abstract")] == rows[0]["abstract"]  # whole, not cut


def test_search_without_a_hit_says_so_and_exits_1(served):
    proc = _cli(served, "search", "zzqxv", "qqwvz")
    assert proc.returncode == 1 and proc.stdout == "", proc.stdout + proc.stderr
    assert proc.stderr.strip() == 'no paper matches "zzqxv qqwvz"'
    filtered = _cli(served, "search", "hallucination", "--code", "--since", "2099-01-01")
    assert filtered.returncode == 1 and filtered.stdout == ""
    assert filtered.stderr.strip() == 'no paper matches "hallucination" with --code --since 2099-01-01'
    as_json = _cli(served, "search", "zzqxv", "-f", "json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout) == []  # machine output stays valid
    assert "no paper matches" in as_json.stderr
    hit = _cli(served, "search", "hallucination")
    assert hit.returncode == 0 and hit.stderr == "" and "hallucination" in hit.stdout.lower()


def test_show_on_an_ambiguous_title_is_exit_2_with_the_candidates_on_stderr(served):
    candidates = _json(
        served,
        "SELECT paper_id FROM papers WHERE contains(lower(title), 'language') "
        "ORDER BY n_sightings DESC, title LIMIT 10",
    )
    proc = _cli(served, "show", "language")
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout + proc.stderr
    first, *listed = proc.stderr.splitlines()
    assert first.startswith("error: ") and "papers match 'language'" in first and "by id" in first
    assert "Traceback" not in proc.stderr
    assert [line.split()[0] for line in listed] == [c["paper_id"] for c in candidates]
