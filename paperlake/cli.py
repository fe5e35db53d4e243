"""`paperlake` command line: run the pipeline through Dagster, query the warehouse read-only."""

import csv
import datetime as dt
import json
import os
import sys
import time
import warnings
from enum import StrEnum
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from paperlake import progress
from paperlake.config import TABLES, LandingError, Paths
from paperlake.db import connect_readonly
from paperlake.match import WEIGHTS

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
err = Console(stderr=True)

SAMPLE_QUERY = """SELECT short_name, title, n_sightings, has_code
FROM papers ORDER BY n_sightings DESC, title LIMIT 5"""


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _connect(paths: Paths) -> duckdb.DuckDBPyConnection:
    if not paths.duckdb_path.exists():
        _fail(f"no warehouse at {paths.duckdb_path}: run `make run` (or `paperlake run`) first")
    try:
        return connect_readonly(paths)
    except duckdb.Error as exc:
        _fail(f"cannot open {paths.duckdb_path} read-only: {exc}")
    raise AssertionError  # unreachable: _fail raises


def _check_out_dir(paths: Paths) -> None:
    probe = paths.out_dir / ".write-probe"
    try:
        paths.out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        _fail(f"output folder is not writable: {paths.out_dir} ({exc.strerror or exc})")


@app.command()
def run(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Dagster's step logs"),
    full: bool = typer.Option(False, "--full", help="Re-read every file, not only new and changed ones"),
) -> None:
    """Materialise every asset through Dagster on the landing folder, then print counts and a sample query."""
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    from pipelines.resources import retain_removed_from_env
    from pipelines.run import ensure_dagster_home, run_pipeline

    paths = Paths.from_env()
    _check_out_dir(paths)
    home = ensure_dagster_home()
    console.print(f"[bold]paperlake run[/]  raw: {paths.raw_dir}  out: {paths.out_dir}  DAGSTER_HOME: {home}")
    started = time.perf_counter()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            stage = bar.add_task("starting Dagster", total=None)
            tasks: dict[str, TaskID] = {}

            def on_progress(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = bar.add_task(f"{what} files", total=total)
                bar.update(tasks[what], completed=done)

            unsubscribe = progress.subscribe(on_progress)
            try:
                outcome = run_pipeline(
                    paths,
                    log=lambda msg: bar.update(stage, description=msg),
                    verbose=verbose,
                    retain_removed=retain_removed_from_env(),
                    full=full,
                )
            finally:
                unsubscribe()
            bar.update(stage, description="done", total=1, completed=1)
    except LandingError as exc:
        _fail(str(exc))
    elapsed = time.perf_counter() - started
    for job, ok in outcome.runs.items():
        console.print(f"  {job}: {'[green]success' if ok else '[red]FAILED'}[/]")
    if outcome.warned_checks:
        console.print(f"  [yellow]warnings:[/] {', '.join(outcome.warned_checks)} (see `paperlake status`)")
    if outcome.failed_checks:
        console.print(f"  [red]failed checks:[/] {', '.join(outcome.failed_checks)}")
    console.print(
        f"  files: {outcome.files}, parsed this run: {outcome.ingested}, "
        f"partitions +{len(outcome.added)} new, -{len(outcome.removed)} removed"
    )
    if not outcome.success:
        _fail("the pipeline did not complete: see the run in `make ui`", code=1)
    with _connect(paths) as con:
        counts = Table(title=f"{outcome.files} files in {elapsed:.1f}s")
        counts.add_column("table")
        counts.add_column("rows", justify="right")
        for t in TABLES:
            counts.add_row(t, str(con.sql(f"SELECT count(*) FROM {t}").fetchone()[0]))
        console.print(counts)
        console.print(f"[dim]{SAMPLE_QUERY}[/]")
        _emit(con.sql(SAMPLE_QUERY), Format.table, "sample query: most-sighted papers")


@app.command()
def query(
    sql: str | None = typer.Argument(None, help="SQL over the views pages, sightings, papers, rejects"),
    file: Path | None = typer.Option(None, "--file", "-F", help="Read the SQL from a file"),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, csv or json"),
) -> None:
    """Run SQL on a read-only connection to paperlake.duckdb."""
    if file is not None:
        try:
            sql = file.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}")
    if not sql or not sql.strip():
        _fail("give a SQL statement or --file FILE")
    with _connect(Paths.from_env()) as con:
        try:
            rel = con.sql(sql)
        except duckdb.Error as exc:
            _fail(f"query failed: {exc}")
        if rel is None:
            _fail("statement returned no rows (the connection is read-only: use SELECT)")
        _emit(rel, fmt)


def _emit(
    rel: duckdb.DuckDBPyRelation | duckdb.DuckDBPyConnection, fmt: Format, title: str | None = None
) -> None:
    """Print a result as a rich table, CSV or JSON (the same for query, search and show)."""
    columns = [d[0] for d in rel.description]
    rows = rel.fetchall()
    if fmt is Format.table:
        table = Table(title=title)
        for name in columns:
            table.add_column(name, overflow="fold", max_width=70)
        for row in rows:
            table.add_row(*(Text(_cell(v)) for v in row))  # Text: data is never read as rich markup
        console.print(table)
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([_cell(v) for v in row] for row in rows)
    else:
        records = [dict(zip(columns, r, strict=True)) for r in rows]
        sys.stdout.write(json.dumps(records, default=str, ensure_ascii=False, indent=2) + "\n")


def _print_last_runs(limit: int = 5) -> None:
    """The newest Dagster runs in DAGSTER_HOME, if there is an instance there."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster")
    if not (home / "dagster.yaml").exists():
        console.print(f"[dim]no Dagster instance at {home}[/]")
        return
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home.resolve())
    with dg.DagsterInstance.get() as instance:
        table = Table(title="last runs")
        for name in ("run_id", "job", "status", "started", "partitions"):
            table.add_column(name)
        for record in instance.get_run_records(limit=limit):
            run = record.dagster_run
            started = (
                dt.datetime.fromtimestamp(record.start_time).isoformat(" ", "seconds")
                if record.start_time
                else ""
            )
            span = "…".join(v for k, v in sorted(run.tags.items()) if "partition_range" in k)
            table.add_row(run.run_id[:8], run.job_name, run.status.value, started, Text(span))
        console.print(table)


class Sort(StrEnum):
    score = "score"
    upvotes = "upvotes"


@app.command()
def search(
    text: str = typer.Argument(..., help="Words to look for in titles and abstracts (BM25)"),
    code: bool = typer.Option(False, "--code", help="Only papers with a GitHub repository"),
    sort: Sort = typer.Option(Sort.score, "--sort", help="score (relevance) or upvotes"),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, csv or json"),
) -> None:
    """Full-text search over papers, e.g. `paperlake search hallucination --code --sort upvotes`."""
    order = "score DESC" if sort is Sort.score else "upvotes_max DESC NULLS LAST, score DESC"
    sql = f"""SELECT paper_id, title, upvotes_max, n_sightings, has_code, github_repos,
                     round(score, 3) AS score
              FROM search_papers($q) {"WHERE has_code" if code else ""} ORDER BY {order} LIMIT {limit}"""
    with _connect(Paths.from_env()) as con:
        _emit(con.execute(sql, {"q": text}), fmt, f"papers matching {text!r}")


def _why_columns() -> str:
    """SQL: each field's agreement in `matches` with its weight from paperlake.match, e.g. 'near +4'."""
    return ", ".join(
        f"{field}_agreement || ' ' || CASE {field}_agreement "
        + " ".join(f"WHEN '{level}' THEN '{weight:+g}'" for level, weight in levels.items())
        + f" END AS {field}"
        for field, levels in WEIGHTS.items()
    )


WHY_SQL = f"""SELECT CASE WHEN merged THEN 'merged' ELSE 'kept apart' END AS decision, rule, match_weight,
  {_why_columns()},
  (SELECT any_value(title) FROM sightings WHERE record_id = m.record_a) AS title_a,
  (SELECT any_value(title) FROM sightings WHERE record_id = m.record_b) AS title_b,
  CASE WHEN paper_a = paper_b THEN NULL WHEN paper_a = $p THEN paper_b ELSE paper_a END AS other_paper
FROM matches m WHERE paper_a = $p OR paper_b = $p
ORDER BY merged DESC, match_weight DESC LIMIT 20"""


@app.command()
def show(key: str = typer.Argument(..., help="A paper_id, or part of a title")) -> None:
    """One paper: its record, every sighting (file and line), why its sightings are one paper (each
    field's agreement and weight per scored pair), its upvote history, related papers."""
    with _connect(Paths.from_env()) as con:
        found = con.execute(
            "SELECT paper_id, title FROM papers WHERE paper_id = $k OR title ILIKE '%' || $k || '%' "
            "ORDER BY paper_id = $k DESC, n_sightings DESC, title LIMIT 11",
            {"k": key},
        ).fetchall()
        if not found:
            _fail(f"no paper with id or title matching {key!r}")
        if len(found) > 1 and found[0][0] != key:
            console.print(
                f"{len(found)}{'+' if len(found) > 10 else ''} papers match {key!r}; show one by id:"
            )
            for pid, title in found[:10]:
                console.print(Text(f"  {pid}  {title}"))
            raise typer.Exit(1)
        pid = found[0][0]
        rel = con.execute("SELECT * FROM papers WHERE paper_id = $p", {"p": pid})
        record = dict(zip([d[0] for d in rel.description], rel.fetchone(), strict=True))
        card = Table.grid(padding=(0, 2))
        card.add_column(style="bold")
        card.add_column()
        for name, value in record.items():
            card.add_row(name, Text(_cell(value)))
        console.print(card)
        _emit(
            con.execute(
                "SELECT source_file, position, line_start, page_date, title, upvotes, published_date_raw "
                "FROM sightings WHERE paper_id = $p ORDER BY page_date NULLS FIRST, source_file",
                {"p": pid},
            ),
            Format.table,
            "sightings",
        )
        why = con.execute(WHY_SQL, {"p": pid})
        if why.fetchone() is None:
            console.print("why one paper: its sightings share one record (equal title and abstract keys)")
        else:
            _emit(
                con.execute(WHY_SQL, {"p": pid}), Format.table, "why: its scored pairs (paperlake/match.py)"
            )
        _emit(
            con.execute(
                "SELECT page_date, upvotes, source_file FROM upvote_history WHERE paper_id = $p", {"p": pid}
            ),
            Format.table,
            "upvote history",
        )
        _emit(
            con.execute(
                "SELECT r.paper_id, r.title, r.n_sightings FROM papers p, papers r "
                "WHERE p.paper_id = $p AND list_contains(p.related, r.paper_id) "
                "ORDER BY list_position(p.related, r.paper_id)",
                {"p": pid},
            ),
            Format.table,
            "related papers (TF-IDF)",
        )


@app.command()
def status() -> None:
    """Last Dagster runs, table counts, page statuses and rejects by reason."""
    _print_last_runs()
    with _connect(Paths.from_env()) as con:
        counts = " UNION ALL ".join(f"SELECT '{t}' AS table_name, count(*) AS rows FROM {t}" for t in TABLES)
        _emit(con.sql(counts), Format.table, "tables")
        _emit(
            con.sql("SELECT status, count(*) AS pages FROM pages GROUP BY ALL ORDER BY 1"),
            Format.table,
            "pages by status",
        )
        _emit(
            con.sql("SELECT reason, count(*) AS n FROM rejects GROUP BY ALL ORDER BY n DESC, reason"),
            Format.table,
            "rejects by reason",
        )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
