"""Every example query runs on the sample, and the CLI works through its installed entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paperlake.db import connect_readonly
from tests.helpers import CLI, ROOT

QUERIES = sorted((ROOT / "queries").glob("*.sql"))


@pytest.mark.parametrize("sql_file", QUERIES, ids=lambda p: p.stem)
def test_example_query_runs(pipeline_run, sql_file: Path):
    paths, _, _ = pipeline_run
    with connect_readonly(paths) as con:
        rel = con.sql(sql_file.read_text())
        rows = rel.fetchall()
    if sql_file.stem != "rejects_by_reason":  # the sample has no rejects
        assert rows, sql_file.name


def _cli(*args: str, out_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAPERLAKE_OUT_DIR": str(out_dir), "COLUMNS": "200"}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.subprocess
def test_cli_query_json_and_csv(pipeline_run):
    paths, _, _ = pipeline_run
    proc = _cli("query", "SELECT count(*) AS n FROM papers", "--format", "json", out_dir=paths.out_dir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 266}]
    proc = _cli("query", "--file", str(QUERIES[0]), "-f", "csv", out_dir=paths.out_dir)
    assert proc.returncode == 0 and proc.stdout.splitlines()[0].count(",") >= 1


@pytest.mark.subprocess
def test_cli_errors_are_one_clear_line(pipeline_run, tmp_path):
    paths, _, _ = pipeline_run
    bad = _cli("query", "SELEC nonsense", out_dir=paths.out_dir)
    assert bad.returncode == 2 and "query failed" in bad.stderr and "Traceback" not in bad.stderr
    empty = _cli("query", "SELECT 1", out_dir=tmp_path / "nothing")
    assert empty.returncode == 2 and "no warehouse at" in empty.stderr and "make run" in empty.stderr


@pytest.mark.subprocess
def test_cli_status(pipeline_run):
    paths, _, _ = pipeline_run
    proc = _cli("status", out_dir=paths.out_dir)
    assert proc.returncode == 0, proc.stderr
    assert "sightings" in proc.stdout and "283" in proc.stdout


def _run_cli(tmp_path: Path, raw: Path, out: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PAPERLAKE_RAW_DIR": str(raw),
        "PAPERLAKE_OUT_DIR": str(out),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    return subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.subprocess
def test_cli_run_errors_name_the_path(tmp_path):
    missing = _run_cli(tmp_path, tmp_path / "nowhere", tmp_path / "out")
    assert (
        missing.returncode == 2 and f"landing folder does not exist: {tmp_path / 'nowhere'}" in missing.stderr
    )
    (tmp_path / "empty").mkdir()  # an emptied folder is refused: tests/test_cli_usability.py
    (tmp_path / "a_file").write_text("x")
    not_dir = _run_cli(tmp_path, tmp_path / "a_file", tmp_path / "out")
    assert not_dir.returncode == 2 and "landing folder is not a folder" in not_dir.stderr
    blocked = _run_cli(tmp_path, tmp_path / "empty", tmp_path / "a_file" / "out")
    assert (
        blocked.returncode == 2
        and f"output folder is not writable: {tmp_path / 'a_file' / 'out'}" in blocked.stderr
    )
    for proc in (missing, not_dir, blocked):
        assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.subprocess
def test_cli_search_answers_the_readme_question(pipeline_run):
    """'Which papers about hallucination have code, most upvoted first?' through `paperlake search`."""
    paths, _, _ = pipeline_run
    proc = _cli("search", "hallucination", "--code", "--sort", "upvotes", "-f", "json", out_dir=paths.out_dir)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows and all(r["has_code"] and r["github_repos"] for r in rows)
    upvotes = [r["upvotes_max"] for r in rows]
    known = [u for u in upvotes if u is not None]
    assert known == sorted(known, reverse=True) and upvotes[: len(known)] == known  # nulls last
    with connect_readonly(paths) as con:
        sql = con.sql("""SELECT paper_id FROM search_papers('hallucination') WHERE has_code
                         ORDER BY upvotes_max DESC NULLS LAST, score DESC""").fetchall()
    assert [r["paper_id"] for r in rows] == [pid for (pid,) in sql][: len(rows)]


@pytest.mark.subprocess
def test_cli_show_by_title_and_ambiguity(pipeline_run):
    paths, _, _ = pipeline_run
    proc = _cli("show", "Characterizing Mechanisms for Factual Recall", out_dir=paths.out_dir)
    assert proc.returncode == 0, proc.stderr
    assert "004_948de80309261307.txt" in proc.stdout and "n_sightings" in proc.stdout
    assert "why one paper: its sightings share one record" in proc.stdout  # no pair needed scoring
    for name in ("000_7cb6f7359ec6334f.txt", "002_e8016f024cf684e5.txt", "003_d2538b47dc31753c.txt"):
        assert name in proc.stdout
    capped = _cli("show", "Characterizing Mechanisms for Factual Recall", "-n", "2", out_dir=paths.out_dir)
    assert capped.returncode == 0 and "sightings: the first 2 of 4" in capped.stdout
    listed = capped.stdout.split("sightings: the first 2 of 4")[1].split("… and 2 more")[0]
    assert listed.count(".txt") == 2  # the oldest two, in page order
    many = _cli("show", "language", out_dir=paths.out_dir)
    assert many.returncode == 2 and "papers match 'language'" in many.stderr and many.stdout == ""
    none = _cli("show", "no such paper at all", out_dir=paths.out_dir)
    assert none.returncode == 2 and "no paper with id or title matching" in none.stderr


@pytest.mark.subprocess
def test_cli_show_and_history_skip_the_heavy_imports(pipeline_run):
    """`show` (its why-columns from paperlake.match's weights, its queries with literals: binding a
    parameter makes DuckDB import pandas) runs without pandas, and `history` reads the lake without
    pyarrow: each ~0.1-0.3 s of a command that should answer in under half a second."""
    paths, _, _ = pipeline_run
    env = {**os.environ, "PAPERLAKE_OUT_DIR": str(paths.out_dir)}
    for argv, module in (
        (["show", "Characterizing Mechanisms for Factual Recall"], "pandas"),
        (["history", "-f", "json"], "pyarrow"),
    ):
        probe = (
            f"import sys; from pipelines import cli; sys.argv = ['paperlake', *{argv!r}]\n"
            f"try: cli.main()\nexcept SystemExit: pass\nprint({module!r} in sys.modules)"
        )
        argv_ = [sys.executable, "-c", probe]
        proc = subprocess.run(argv_, capture_output=True, text=True, timeout=60, env=env)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout) > 200 and proc.stdout.split()[-1] == "False", (argv, proc.stdout[-300:])


@pytest.mark.subprocess
def test_cli_show_explains_a_bare_look_alike_kept_apart(tmp_path):
    """Issue 24 through `paperlake show`: two compact captures (no date, no authors) of papers that share
    the name before the colon; the look-alike's abstract differs in 12 places. Kept apart, and said why."""
    from paperlake import steps
    from paperlake.config import Paths
    from tests.helpers import SAMPLE, page_text, write_run

    text = (SAMPLE / "003_d2538b47dc31753c.txt").read_text(encoding="utf-8").split("\n\n")
    title = 'TextGrad: Automatic "Differentiation" via Text'
    abstract = text[text.index(title) + 1]
    words = abstract.split(" ")
    look = " ".join(w + "zq" if i % 9 == 5 and i < 9 * 12 else w for i, w in enumerate(words))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text(page_text(f"{title}\n\n{abstract}", daily=False), encoding="utf-8")
    lookalike = 'TextGrad: Automatic "Integration" via Text'
    (raw / "b.txt").write_text(page_text(f"{lookalike}\n\n{look}", daily=False), encoding="utf-8")
    paths = Paths(raw, tmp_path / "out")
    write_run(paths)
    steps.publish(paths, "test")
    proc = _cli("show", "Differentiation", out_dir=paths.out_dir)
    assert proc.returncode == 0, proc.stderr
    said = " ".join(proc.stdout.split())
    assert "not merged: abstracts differ in 12 places, titles differ, no date or authors to compare" in said
    other = _cli("show", "Integration", out_dir=paths.out_dir)
    assert other.returncode == 0 and "abstracts differ in 12 places" in " ".join(other.stdout.split())
