"""`paperlake` command line: run the pipeline through Dagster, query the warehouse read-only."""

import json
import sys
import time
import warnings
from enum import StrEnum
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paperlake.config import TABLES, Paths
from paperlake.pipeline import LandingError

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


def _rich_table(rel: duckdb.DuckDBPyRelation, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for name in rel.columns:
        table.add_column(name, overflow="fold", max_width=70)
    for row in rel.fetchall():
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def _connect(paths: Paths) -> duckdb.DuckDBPyConnection:
    from paperlake.warehouse import connect_readonly

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
def run(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Dagster's step logs")) -> None:
    """Materialise every asset through Dagster on the landing folder, then print counts and a sample query."""
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    from pipelines.resources import retain_removed_from_env
    from pipelines.run import ensure_dagster_home, run_pipeline

    paths = Paths.from_env()
    _check_out_dir(paths)
    home = ensure_dagster_home()
    console.print(f"[bold]paperlake run[/]  raw: {paths.raw_dir}  out: {paths.out_dir}  DAGSTER_HOME: {home}")
    started = time.perf_counter()
    try:
        with console.status("running Dagster jobs…") as status:
            outcome = run_pipeline(
                paths, log=status.update, verbose=verbose, retain_removed=retain_removed_from_env()
            )
    except LandingError as exc:
        _fail(str(exc))
    elapsed = time.perf_counter() - started
    for job, ok in outcome.runs.items():
        console.print(f"  {job}: {'[green]success' if ok else '[red]FAILED'}[/]")
    if outcome.warned_checks:
        console.print(f"  [yellow]warnings:[/] {', '.join(outcome.warned_checks)} (see `paperlake status`)")
    if outcome.failed_checks:
        console.print(f"  [red]failed checks:[/] {', '.join(outcome.failed_checks)}")
    if outcome.added or outcome.removed:
        console.print(f"  partitions: +{len(outcome.added)} new, -{len(outcome.removed)} removed")
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
        console.print(_rich_table(con.sql(SAMPLE_QUERY), "sample query: most-sighted papers"))


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
        if fmt is Format.table:
            console.print(_rich_table(rel))
        elif fmt is Format.csv:
            rel.df().to_csv(sys.stdout, index=False)
        else:
            rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
            sys.stdout.write(json.dumps(rows, default=str, ensure_ascii=False, indent=2) + "\n")


@app.command()
def status() -> None:
    """Table counts, page statuses and rejects by reason."""
    with _connect(Paths.from_env()) as con:
        console.print(
            _rich_table(
                con.sql(
                    " UNION ALL ".join(
                        f"SELECT '{t}' AS table_name, count(*) AS rows FROM {t}" for t in TABLES
                    )
                ),
                "tables",
            )
        )
        console.print(
            _rich_table(
                con.sql("SELECT status, count(*) AS pages FROM pages GROUP BY ALL ORDER BY 1"),
                "pages by status",
            )
        )
        console.print(
            _rich_table(
                con.sql("SELECT reason, count(*) AS n FROM rejects GROUP BY ALL ORDER BY n DESC, reason"),
                "rejects by reason",
            )
        )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
