"""paperlake: turn a folder of saved Hugging Face Daily Papers pages into audited tables.

`run` builds and publishes them through Dagster; every other command reads the published version only,
read-only and sandboxed (see README, Security).

\b
Environment:
  PAPERLAKE_RAW_DIR  the landing folder of captures (default data/raw)
  PAPERLAKE_OUT_DIR  the output folder: lake, serving file (default data/out)
  DAGSTER_HOME       where `run` records its Dagster runs (default .dagster)

\b
Example:
  PAPERLAKE_RAW_DIR=~/captures PAPERLAKE_OUT_DIR=~/paperlake paperlake run
  PAPERLAKE_OUT_DIR=~/paperlake paperlake search hallucination --code
"""

import contextlib
import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn

import click
import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from paperlake.config import Paths
from paperlake.db import (
    MAX_REJECT_RATE,
    VersionError,
    connect_readonly,
    published_versions,
    reject_rates,
    run_sql,
)
from paperlake.duck import scalar, single_row, sql_str
from schemas.catalog import TABLES

console = Console()
err = Console(stderr=True)

SAMPLE_QUERY = """SELECT short_name, title, n_sightings, has_code
FROM papers ORDER BY n_sightings DESC, title LIMIT 5"""


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


_debug = {"on": False}


def _set_debug(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    _debug["on"] = value


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, help=__doc__)
@click.version_option(package_name="paperlake", message="%(prog)s %(version)s")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="On an unexpected error, show the Python traceback (by default: one line)",
)
def app() -> None:
    """click, not typer: typer imports pydantic on every call (~0.15 s of a 0.3 s query)."""


AS_OF = click.option(
    "--as-of", type=int, default=None, help="An earlier published version (`paperlake history`)"
)
FORMAT = click.option(
    "--format", "-f", "fmt", type=click.Choice(list(Format)), default="table", show_default=True
)


def _wide(_ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:  # every column at its natural width: the lines may be longer than the terminal
        console.width = max(console.width, 1_000)
    return value


WIDE = click.option(
    "--wide", is_flag=True, callback=_wide, help="Every column (the default fits an 80-column terminal)"
)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    sys.exit(code)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _require_warehouse(paths: Paths) -> None:
    if not paths.duckdb_path.exists():
        _fail(f"no warehouse at {paths.duckdb_path}: run `make run` (or `paperlake run`) first")


def _connect(paths: Paths) -> duckdb.DuckDBPyConnection:
    """The published version (the serving file), read-only and sandboxed."""
    _require_warehouse(paths)
    try:
        return connect_readonly(paths)
    except FileNotFoundError as exc:  # paperlake.db.NoWarehouse: the file went between check and open
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(f"cannot open the warehouse under {paths.out_dir} read-only: {_one_line(exc)}")


def _check_out_dir(paths: Paths) -> None:
    probe = paths.out_dir / ".write-probe"
    try:
        paths.out_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        _fail(f"output folder is not writable: {paths.out_dir} ({exc.strerror or exc})")


def _start_pipeline(flags: list[str], home: Path) -> tuple[subprocess.Popen, int]:
    """Start the pipeline process (`python -m pipelines.run`) in its own process group, before the run is
    planned: its imports (Dagster, the Definitions: seconds) overlap the listing of the landing folder.
    It waits for the plan's name on stdin (`_supervise`); `_discard` ends it when there is no work."""
    from pipelines.instance import PROGRESS_FD_ENV

    read_fd, write_fd = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "pipelines.run", *flags],
        stdin=subprocess.PIPE,
        pass_fds=(write_fd,),
        env={**os.environ, PROGRESS_FD_ENV: str(write_fd), "DAGSTER_HOME": str(home)},
        start_new_session=True,
        text=True,
    )
    os.close(write_fd)
    return child, read_fd


def _discard(child: subprocess.Popen, read_fd: int) -> None:
    """The pipeline process started for a run that has no work (or was refused): it has made nothing."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    os.close(read_fd)


def _supervise(
    child: subprocess.Popen, read_fd: int, plan_name: str, paths: Paths, served_before: int | None
) -> dict:
    """Send the pipeline process its plan and draw its progress.

    Ctrl-C or SIGTERM kills that whole group at once (run, workers, Dagster's helpers) and marks its
    Dagster runs canceled: a version is published by one atomic swap, so either the previous one stays
    or the new one is whole; the message says which (`_published`)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    def stop(sig: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        _say_stopped(sig, _published(paths, served_before))
        from pipelines.run import end_runs_of

        end_runs_of(child.pid, "stopped by a signal", canceled=True)
        sys.exit(128 + sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it ended already: its code is reported below
        child.stdin.write(plan_name + "\n")
        child.stdin.close()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    result: dict = {}
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as bar:
        stage = bar.add_task("starting Dagster", total=None)
        tasks: dict[str, TaskID] = {}
        with os.fdopen(read_fd) as messages:
            for line in messages:
                message = json.loads(line)
                if "log" in message:
                    bar.update(stage, description=message["log"])
                elif "progress" in message:
                    what, done, total = message["progress"]
                    if what not in tasks:
                        tasks[what] = bar.add_task(f"{what} files", total=total)
                    bar.update(tasks[what], completed=done)
                else:
                    result = message
        code = child.wait()
        bar.update(stage, description="done", total=1, completed=1)
    if "error" in result:
        _fail(result["error"], code=1 if result.get("failed") else 2)
    if "outcome" not in result:
        from pipelines.run import end_runs_of

        end_runs_of(child.pid, f"the pipeline process ended with code {code}")
        _fail(f"the pipeline process ended with code {code} before finishing: rerun with --verbose", code=1)
    return result["outcome"]


@app.command(short_help="Build and publish the tables from the landing folder, through Dagster.")
@click.option("--verbose", "-v", is_flag=True, help="Show Dagster's step logs")
@click.option("--full", is_flag=True, help="Re-read every file, not only new and changed ones")
def run(verbose: bool, full: bool) -> None:
    """Materialise every asset through Dagster on the landing folder (new and changed files only), audit,
    publish a new version, then print counts and a sample query. One run at a time per output folder: a
    second one says so and waits. Reads PAPERLAKE_RAW_DIR, writes PAPERLAKE_OUT_DIR and DAGSTER_HOME.

    Example: PAPERLAKE_RAW_DIR=~/captures PAPERLAKE_OUT_DIR=~/paperlake paperlake run
    """
    started = time.perf_counter()
    for sig in (signal.SIGINT, signal.SIGTERM):  # from the first moment: imports take seconds
        signal.signal(sig, _stopped_before_the_run)
    paths = Paths.from_env()
    _check_out_dir(paths)
    _wait_for_other_runs(paths)
    from pipelines.instance import dagster_home

    home = dagster_home()  # made by the pipeline process, once there is work
    child, read_fd = _start_pipeline([f for f, on in (("--verbose", verbose), ("--full", full)) if on], home)
    try:
        version, plan_name = _plan(paths, full)
    except BaseException:  # refused (one line, exit 2) or stopped while planning
        _discard(child, read_fd)
        raise
    if version is not None or plan_name is None:
        _discard(child, read_fd)
        console.print(f"[bold]paperlake run[/]  raw: {paths.raw_dir}  out: {paths.out_dir}")
        console.print(f"  nothing new: the landing folder is unchanged and version {version} is published")
        _summary(paths, time.perf_counter() - started)
        return
    console.print(f"[bold]paperlake run[/]  raw: {paths.raw_dir}  out: {paths.out_dir}  DAGSTER_HOME: {home}")
    served_before = _served_version(paths)
    outcome = SimpleNamespace(**_supervise(child, read_fd, plan_name, paths, served_before))
    outcome.success = all(outcome.runs.values()) and not outcome.failed_checks
    elapsed = time.perf_counter() - started
    for job, ok in outcome.runs.items():
        console.print(f"  {job}: {'[green]success' if ok else '[red]FAILED'}[/]")
    if outcome.warned_checks:
        console.print(
            f"  [yellow]warnings:[/] {', '.join(outcome.warned_checks)} (`paperlake status` shows why)"
        )
    if outcome.failed_checks:
        console.print(
            f"  [red]failed checks:[/] {', '.join(outcome.failed_checks)}: nothing was published, "
            "readers stay on the previous version"
        )
    added, removed = len(outcome.added), len(outcome.removed)  # the file count is the summary's `pages`
    console.print(f"  parsed this run: {outcome.ingested} files, +{added} new, -{removed} removed")
    if outcome.completed:
        late = " and ".join(outcome.completed)
        console.print(f"  wrote the served version's {late} (a stopped or failed run had not)")
    console.print(f"  {_published(paths, served_before)}")
    if not outcome.success and outcome.error:
        _fail(outcome.error, 1)
    if not outcome.success:
        _fail(f"the pipeline did not complete: see `paperlake status` and the run in DAGSTER_HOME={home}", 1)
    _summary(paths, elapsed)


def _wait_for_other_runs(paths: Paths) -> None:
    """Wait, saying so on stderr (a terminal or a log), while another run writes this output folder; the
    pipeline process takes the writer lock itself once it starts."""
    from paperlake import lake

    waiting = f"waiting for another paperlake run on {paths.out_dir} to finish (Ctrl-C to stop)"
    with lake.writer_lock(paths, on_wait=lambda: err.print(waiting, soft_wrap=True, highlight=False)):
        pass


def _say_stopped(sig: int, published: str = "nothing new was published") -> None:
    """From a signal handler: no emoji or highlighting, whose lazy imports may be the very import the
    signal interrupted (a half-imported rich._emoji_codes made the handler fail)."""
    message = f"\n[bold red]stopped[/] by {signal.Signals(sig).name}: {published}"
    err.print(message, emoji=False, highlight=False)


def _stopped_before_the_run(sig: int, _frame: object) -> NoReturn:
    """Ctrl-C or SIGTERM before the pipeline process exists: nothing was started, nothing to undo."""
    _say_stopped(sig)
    sys.exit(128 + sig)


def _served_version(paths: Paths) -> int | None:
    """The version readers see (the serving file's), or None when nothing is served (or it is unreadable)."""
    if not paths.duckdb_path.exists():
        return None
    with contextlib.suppress(duckdb.Error), connect_readonly(paths, fts=False) as con:
        return scalar(con, "SELECT max(version) FROM paperlake_version")
    return None


def _published(paths: Paths, before: int | None) -> str:
    """What a run published, in words: the version readers see now against the one they saw before it,
    and the served version's outputs (digest, report) a stopped or failed run did not write."""
    from paperlake.state import outputs_missing

    now = _served_version(paths)
    if now is None or now == before:
        return "nothing new was published" + (f"; version {now} stays served" if now is not None else "")
    said = f"version {now} was published" + (f" (readers saw version {before} before)" if before else "")
    if missing := outputs_missing(paths, now):
        said += f"; its {' and '.join(missing)} will be written by the next `paperlake run`"
    return said


def _plan(paths: Paths, full: bool) -> tuple[int | None, str | None]:
    """The run's plan (`paperlake.plan`, the one listing of the landing folder), saved for the pipeline
    process when there is work; and the published version when there is none. A missing or empty
    landing folder is refused here, in a second, before Dagster is imported."""
    from paperlake import plan
    from paperlake.config import LandingError, SettingError, feed_from_env, retain_removed_from_env
    from paperlake.state import outputs_missing, up_to_date

    try:
        feed_from_env()  # a bad setting is refused here, not after minutes of work
        run_plan = plan.make(paths, retain_removed_from_env())
        run_plan.require_captures(paths)
    except (LandingError, SettingError) as exc:
        _fail(str(exc), code=2)
    version = None if full else up_to_date(paths, run_plan.change)
    if version is not None and not outputs_missing(paths, version):
        return version, None
    return None, plan.save(paths, run_plan)


def _summary(paths: Paths, elapsed: float) -> None:
    """Row counts of the published version and the sample query."""
    with _connect(paths) as con:
        files = scalar(con, "SELECT count(*) FROM pages")
        counts = Table(title=f"{files} files in {elapsed:.1f}s")
        counts.add_column("table")
        counts.add_column("rows", justify="right")
        for t in TABLES:
            counts.add_row(t, str(scalar(con, f"SELECT count(*) FROM {t}")))
        console.print(counts)
        console.print(f"[dim]{SAMPLE_QUERY}[/]")
        _emit(con.sql(SAMPLE_QUERY), Format.table, "sample query: most-sighted papers")
    if (latest := paths.digest_dir / "latest.html").exists():
        console.print(f"what's new: {latest} (Atom feed: {paths.digest_dir / 'feed.xml'}; `paperlake diff`)")


@app.command(short_help="Run one SQL query on the published tables.")
@click.argument("sql", required=False)
@click.option("--file", "-F", type=click.Path(path_type=Path), help="Read the SQL from a file")
@FORMAT
@AS_OF
@WIDE
def query(sql: str | None, file: Path | None, fmt: str, as_of: int | None, wide: bool) -> None:
    """Run one SQL query on the published version (or an earlier one with --as-of), in the read path's
    sandbox: the tables pages, sightings, papers, rejects, ... and search_papers('words'), nothing else.
    A result too wide for the terminal is printed one record per block (`--wide`: as one table).
    Reads PAPERLAKE_OUT_DIR (default data/out).

    Example: paperlake query "SELECT title, upvotes_max FROM papers ORDER BY upvotes_max DESC LIMIT 5"
    """
    if file is not None:
        try:
            sql = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
    if not sql or not sql.strip():
        _fail("give a SQL statement or --file FILE")
    paths = Paths.from_env()
    _require_warehouse(paths)
    try:
        con = run_sql(paths, sql, as_of)
    except (VersionError, FileNotFoundError) as exc:  # FileNotFoundError: no serving file, or no lake
        _fail(str(exc))
    except (duckdb.Error, ValueError) as exc:
        _fail(f"query failed: {_one_line(exc)}")
    with con:
        _emit(con, Format(fmt))


def _one_line(exc: BaseException) -> str:
    """An error as one line; a refusal by the sandbox says why."""
    text = " ".join(str(exc).split("\n")[0].split())
    if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in text:
        text += " (the read path is a sandbox: it reads the published tables only; see README, Security)"
    return text


def _card(names: list[str], values: Iterable[object], lines: int | None = None) -> tuple[Table, bool]:
    """One row as a name/value card: fits any terminal, however many columns the row has. `lines`: each
    value folded to at most that many lines, the last one ending in '…'. Returns the card and whether a
    value was cut."""
    from rich.cells import cell_len

    name_width = min(max((cell_len(n) for n in names), default=1), max(console.width // 2, 1))
    width = max(console.width - name_width - 2, 10)  # the grid's 2 columns of padding between
    card = Table.grid(padding=(0, 2))
    card.add_column(style="bold", max_width=name_width, overflow="fold")
    card.add_column(overflow="fold")
    cut = False
    for name, value in zip(names, values, strict=True):
        text = Text(_cell(value))  # Text: data is never read as rich markup
        if lines is not None and len(wrapped := text.wrap(console, width, overflow="fold")) > lines:
            kept = [line.copy() for line in wrapped[:lines]]
            for line in kept:
                line.rstrip()
            kept[-1].truncate(width - 1)
            kept[-1].append("…")
            text, cut = Text("\n").join(kept), True
        card.add_row(Text(name), text)
    return card, cut


def _fits(columns: list[str], cells: list[list[str]]) -> bool:
    """Whether rows make a readable table at the terminal's width: each column keeps its name's width, a
    column of short values their width, a column of long values (folded) at least 20 characters. Else a
    dozen columns squeezed to 1-3 characters each print 250 lines of letters (issue 35)."""
    from rich.cells import cell_len

    need = 3 * len(columns) + 1  # the borders and each cell's padding
    for i, name in enumerate(columns):
        natural = max([cell_len(name), *(cell_len(line) for row in cells for line in row[i].splitlines())])
        need += min(natural, 70, max(cell_len(name), 20))  # 70: the table's widest column
    return need <= console.width


def _print_cards(columns: list[str], rows: list[tuple], title: str | None) -> None:
    """One block per record: `── i of n ──`, then a `name  value` line per column, values cut at 4 lines."""
    if title:
        console.print(Text(title, style="italic"))
    if not rows:
        console.print(Text(f"no rows (columns: {', '.join(columns)})", style="dim"))
    cut = False
    for i, row in enumerate(rows, 1):
        card, cut_here = _card(columns, row, lines=4)
        cut |= cut_here
        console.print(Text(f"── {i} of {len(rows)} ──", style="dim"), card, "")
    if cut:
        console.print(Text("values cut at 4 lines (…): --format json or --format csv prints them whole"))


def _emit(
    rel: duckdb.DuckDBPyRelation | duckdb.DuckDBPyConnection,
    fmt: Format,
    title: str | None = None,
    cards: bool = False,
    empty: str | None = None,
) -> int:
    """Print a result as a rich table, CSV or JSON (the same for every command) and return its number of
    rows. A table too wide for the terminal (`_fits`; or any, with `cards`) is printed one record per
    block (`_print_cards`). `empty`: said on stderr when there is no row, instead of an empty table (csv
    and json still print their empty result)."""
    columns = [d[0] for d in rel.description]
    rows = rel.fetchall()
    if not rows and empty is not None:
        err.print(Text(empty), soft_wrap=True, highlight=False)
        if fmt is Format.table:
            return 0
    cells = [[_cell(v) for v in row] for row in rows] if fmt is Format.table else []
    if fmt is Format.table and (cards or not _fits(columns, cells)):
        _print_cards(columns, rows, title)
    elif fmt is Format.table:
        table = Table(title=title)
        for name in columns:
            table.add_column(name, overflow="fold", max_width=70)
        for row in cells:
            table.add_row(*(Text(v) for v in row))  # Text: data is never read as rich markup
        console.print(table)
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([_cell(v) for v in row] for row in rows)
    else:
        records = [dict(zip(columns, r, strict=True)) for r in rows]
        sys.stdout.write(json.dumps(records, default=str, ensure_ascii=False, indent=2) + "\n")
    return len(rows)


def _print_last_runs(limit: int = 5) -> None:
    """The newest Dagster runs in DAGSTER_HOME, read from its SQLite run storage opened read-only: no
    Dagster import (seconds), no instance created, nothing written (status works on a folder the user
    cannot write)."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster")
    runs_db = home / "history" / "runs.db"
    if not runs_db.exists():
        console.print(f"[dim]no Dagster run storage at {runs_db} (a PostgreSQL instance: see `make ui`)[/]")
        return
    import sqlite3

    from pipelines.instance import ERROR_TAG

    sql = """SELECT r.run_id, r.pipeline_name, r.status, r.start_time,
                    (SELECT group_concat(value, '…') FROM (SELECT value FROM run_tags t
                     WHERE t.run_id = r.run_id AND key LIKE '%partition_range%' ORDER BY key DESC)),
                    (SELECT value FROM run_tags t WHERE t.run_id = r.run_id AND key = ?)
             FROM runs r ORDER BY r.id DESC LIMIT ?"""
    rows: list = []
    for mode in ("mode=ro", "immutable=1"):  # a WAL database in a folder we cannot write: immutable
        try:
            with contextlib.closing(sqlite3.connect(f"{runs_db.resolve().as_uri()}?{mode}", uri=True)) as db:
                rows = db.execute(sql, (ERROR_TAG, limit)).fetchall()
            break
        except sqlite3.Error as exc:
            problem = exc
    else:
        console.print(f"[dim]cannot read the Dagster runs in {runs_db}: {problem}[/]")
        return
    table = Table(title="last runs")
    for name in ("run_id", "job", "status", "started", "partitions"):
        table.add_column(name)
    for run_id, job, status, start, span, _error in rows:
        started = dt.datetime.fromtimestamp(start).isoformat(" ", "seconds") if start else ""
        table.add_row(run_id[:8], job, status, started, Text(span or ""))
    console.print(table)
    for run_id, _job, _status, _start, _span, error in rows:  # why a run failed (ERROR_TAG)
        if error:
            console.print(Text(f"{run_id[:8]}: {error}", style="red"))


class Sort(StrEnum):
    score = "score"
    upvotes = "upvotes"
    growth = "growth"


ORDER = {
    Sort.score: "score DESC",
    Sort.upvotes: "upvotes_max DESC NULLS LAST, score DESC",
    Sort.growth: "upvotes_growth_per_day DESC NULLS LAST, score DESC",
}
DAY = click.DateTime(formats=["%Y-%m-%d"])


@app.command(short_help="Full-text search over titles and abstracts.")
@click.argument("words", nargs=-1, required=True)
@click.option("--code", is_flag=True, help="Only papers with a GitHub repository")
@click.option("--topic", "topics", multiple=True, help="Only papers with this topic (repeat: all of them)")
@click.option("--since", type=DAY, help="Only papers dated on or after this day (YYYY-MM-DD)")
@click.option("--until", type=DAY, help="Only papers dated on or before this day (YYYY-MM-DD)")
@click.option(
    "--sort",
    type=click.Choice(list(Sort)),
    default="score",
    help="score (relevance), upvotes, or growth (upvotes per day)",
)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@FORMAT
@WIDE
def search(
    words: tuple[str, ...],
    code: bool,
    topics: tuple[str, ...],
    since: dt.datetime | None,
    until: dt.datetime | None,
    sort: str,
    limit: int,
    fmt: str,
    wide: bool,
) -> None:
    """Full-text search (BM25) over titles and abstracts of the published papers, best first. A paper's
    date is its published date, else the first page date it was seen on. No hit: said on stderr, exit
    code 1 (like grep; errors are 2). Reads PAPERLAKE_OUT_DIR (default data/out).

    Example: paperlake search hallucination --code --topic safety --since 2024-01-01 --sort growth
    """
    text = " ".join(words)
    columns = (
        "paper_id, title, upvotes_max, upvotes_growth_per_day, n_sightings, has_code, github_repos, "
        "coalesce(published_date, first_seen) AS date, topics, round(score, 3) AS score"
        if wide or fmt != Format.table
        else "paper_id, title, upvotes_max AS upvotes, has_code AS code"
    )
    where = ["has_code"] if code else []
    where += [f"list_contains(topics, {sql_str(t)})" for t in topics]
    where += [f"coalesce(published_date, first_seen) >= DATE '{since:%Y-%m-%d}'"] if since else []
    where += [f"coalesce(published_date, first_seen) <= DATE '{until:%Y-%m-%d}'"] if until else []
    sql = f"""SELECT {columns}
              FROM search_papers({sql_str(text)}) {"WHERE " + " AND ".join(where) if where else ""}
              ORDER BY {ORDER[Sort(sort)]} LIMIT {limit}"""
    with _connect(Paths.from_env()) as con:
        # literals, not bound parameters: DuckDB's Python binding imports pandas (~0.5 s) to bind one
        flags = ["--code"] * code + [f"--topic {t}" for t in topics]
        flags += [f"--{name} {day:%Y-%m-%d}" for name, day in (("since", since), ("until", until)) if day]
        none = f'no paper matches "{text}"' + (f" with {' '.join(flags)}" if flags else "")
        if not _emit(con.sql(sql), Format(fmt), f"papers matching {text!r}", empty=none):
            sys.exit(1)  # like grep: 0 found, 1 none, 2 an error


def _why_columns() -> str:
    """SQL: each field's agreement in `matches` with its weight from paperlake.match, e.g. 'near +4'."""
    from paperlake.match import WEIGHTS  # numpy and rapidfuzz (not pandas): only `show` pays for them

    return ", ".join(
        f"{field}_agreement || ' ' || CASE {field}_agreement "
        + " ".join(f"WHEN '{level}' THEN '{weight:+g}'" for level, weight in levels.items())
        + f" END AS {field}"
        for field, levels in WEIGHTS.items()
    )


def _why_sql(p: str) -> str:
    """`p`: the paper id as a SQL literal."""
    from paperlake.match import EXPLAIN_SQL

    return f"""SELECT {EXPLAIN_SQL} AS decision, rule, match_weight,
  {_why_columns()},
  (SELECT any_value(title) FROM sightings WHERE record_id = m.record_a) AS title_a,
  (SELECT any_value(title) FROM sightings WHERE record_id = m.record_b) AS title_b,
  CASE WHEN paper_a = paper_b THEN NULL WHEN paper_a = {p} THEN paper_b ELSE paper_a END AS other_paper
FROM matches m WHERE paper_a = {p} OR paper_b = {p}
ORDER BY merged DESC, match_weight DESC LIMIT 20"""


def _listed(con: duckdb.DuckDBPyConnection, select: str, title: str, limit: int) -> None:
    """A list of `show`: its first `limit` rows and how many more there are (a popular paper is seen in
    thousands of captures: printing them all took seconds and buried the rest)."""
    total = scalar(con, f"SELECT count(*) FROM ({select})")
    shown = title if total <= limit else f"{title}: the first {limit} of {total}"
    _emit(con.execute(f"{select} LIMIT {limit}"), Format.table, shown)
    if total > limit:
        console.print(f"… and {total - limit} more (`--limit`, or `paperlake query` for all of them)")


@app.command(short_help="One paper: its record, sightings, why they merged, upvotes, related.")
@click.argument("key")
@WIDE
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="Rows per list"
)
def show(key: str, wide: bool, limit: int) -> None:
    """One paper (KEY: a paper_id, or part of a title, matched literally): its record, its sightings
    (file and line), why its sightings are one paper (each field's agreement and weight per scored pair),
    its upvote history, related papers; each list up to `--limit` rows, saying how many more there are.
    A KEY that matches several papers is an error (exit 2) listing them on stderr. Reads
    PAPERLAKE_OUT_DIR (default data/out).

    Example: paperlake show "Language Models Explained"
    """
    if not key.strip():
        _fail("give a paper_id or a part of a title (`paperlake search WORDS` finds ids)")
    k = sql_str(key)  # literals, not bound parameters: binding one imports pandas (~0.3 s of the call)
    with _connect(Paths.from_env()) as con:
        found = con.execute(  # contains, not LIKE: '%' and '_' in KEY are characters
            f"SELECT paper_id, title FROM papers WHERE paper_id = {k} OR contains(lower(title), lower({k})) "
            f"ORDER BY paper_id = {k} DESC, n_sightings DESC, title LIMIT 11"
        ).fetchall()
        if not found:
            _fail(f"no paper with id or title matching {key!r}")
        if len(found) > 1 and found[0][0] != key:  # an error (exit 2, stderr), then the candidates
            many = f"{len(found)}{'+' if len(found) > 10 else ''} papers match {key!r}; show one by id:"
            err.print(f"[bold red]error:[/] {escape(many)}", soft_wrap=True, highlight=False)
            for pid, title in found[:10]:
                err.print(Text(f"  {pid}  {title}"), no_wrap=True, overflow="ellipsis", highlight=False)
            sys.exit(2)
        pid = found[0][0]
        p = sql_str(pid)
        row = single_row(con, f"SELECT * FROM papers WHERE paper_id = {p}")
        console.print(_card([d[0] for d in con.description], row)[0])
        columns = (
            "source_file, position, line_start, page_date, title, upvotes, published_date_raw"
            if wide
            else "source_file, line_start AS line, page_date, upvotes"  # titles: title_variants above
        )
        _listed(
            con,
            f"SELECT {columns} FROM sightings WHERE paper_id = {p} "
            "ORDER BY page_date NULLS FIRST, source_file, position",
            "sightings",
            limit,
        )
        why = con.execute(_why_sql(p))
        if why.fetchone() is None:
            console.print("why one paper: its sightings share one record (equal title and abstract keys)")
        else:
            _emit(
                con.execute(_why_sql(p)),
                Format.table,
                "why: its scored pairs (paperlake/match.py)",
                cards=not wide,
            )
        _listed(
            con,
            f"SELECT page_date, upvotes, source_file FROM upvote_history WHERE paper_id = {p} "
            "ORDER BY page_date, source_file",
            "upvote history",
            limit,
        )
        _emit(
            con.execute(
                "SELECT r.paper_id, r.title, r.n_sightings FROM papers p, papers r "
                f"WHERE p.paper_id = {p} AND list_contains(p.related, r.paper_id) "
                "ORDER BY list_position(p.related, r.paper_id)"
            ),
            Format.table,
            "related papers (TF-IDF)",
        )


@app.command(short_help="Last runs, the served version, counts, rejects by reason.")
def status() -> None:
    """Last Dagster runs, the version served, table counts, page statuses and rejects by reason with what
    each reason means; reads only, in under a second. Reads PAPERLAKE_OUT_DIR and DAGSTER_HOME.

    Example: PAPERLAKE_OUT_DIR=~/paperlake paperlake status
    """
    from schemas.vocabulary import describe_reason  # imports pandera, as the lake readers do

    _print_last_runs()
    with _connect(Paths.from_env()) as con:
        _emit(
            con.sql("SELECT version, published_at, run_id, built FROM paperlake_version"),
            Format.table,
            "published version served",
        )
        counts = " UNION ALL ".join(f"SELECT '{t}' AS table_name, count(*) AS rows FROM {t}" for t in TABLES)
        _emit(con.sql(counts), Format.table, "tables")
        _emit(
            con.sql("SELECT status, count(*) AS pages FROM pages GROUP BY ALL ORDER BY 1"),
            Format.table,
            "pages by status",
        )
        # the meanings as a SQL CASE: a Python UDF would make DuckDB import numpy and pandas (~1 s)
        reasons = [r for (r,) in con.sql("SELECT DISTINCT reason FROM rejects").fetchall()]
        cases = " ".join(f"WHEN {sql_str(r)} THEN {sql_str(describe_reason(r))}" for r in reasons)
        meaning = f"CASE reason {cases} END" if reasons else "NULL"  # no rejects: no rows either
        _emit(
            con.sql(
                f"SELECT reason, count(*) AS n, {meaning} AS meaning FROM rejects "
                "GROUP BY ALL ORDER BY n DESC, reason"
            ),
            Format.table,
            "rejects by reason",
        )
        entries, files = reject_rates(con, "pages")
        over = max(entries, files) > MAX_REJECT_RATE
        console.print(
            f"reject rate: {entries:.1%} of entries, {files:.1%} of files; the run warns (check reject_rate) "
            f"above {MAX_REJECT_RATE:.0%}" + (": [yellow]over[/]" if over else ""),
            highlight=False,
        )


def _lake_or_fail(paths: Paths) -> list[int]:
    try:
        return published_versions(paths)
    except (FileNotFoundError, duckdb.Error) as exc:
        _fail(f"no lake to read under {paths.out_dir}: {exc}")


@app.command(short_help="Published versions, newest first, with their row counts.")
@FORMAT
@WIDE
def history(fmt: str, wide: bool) -> None:
    """Published versions, newest first: version id, time, Dagster run id, row counts (the main four
    tables in a table; every table with --wide or another format). Reads PAPERLAKE_OUT_DIR.

    Example: paperlake history --format json
    """
    from paperlake import lake

    paths = Paths.from_env()
    _lake_or_fail(paths)
    full = wide or fmt != Format.table
    columns = ["version", "strftime(published_at, '%Y-%m-%d %H:%M:%S') AS published_at"]
    if full:
        columns.append("run_id" if fmt != Format.table else "run_id[:8] AS run_id")  # one line per row
    shown = TABLES if full else ("pages", "sightings", "papers", "rejects")
    columns += [f"(row_counts::JSON->>'{t}')::BIGINT AS {t}" for t in shown]
    with lake.open_lake(paths, read_only=True) as con:
        rel = con.sql(f"SELECT {', '.join(columns)} FROM {lake.VERSIONS} ORDER BY version DESC")
        _emit(rel, Format(fmt), "published versions")


@app.command(short_help="What changed between two published versions.")
@click.argument("since", type=int, required=False)
@click.argument("until", type=int, required=False)
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="Rows per list (table)"
)
@click.option(
    "--column", "columns", multiple=True, metavar="COL", help="List only the rows where COL changed (repeat)"
)
@FORMAT
def diff(since: int | None, until: int | None, limit: int, columns: tuple[str, ...], fmt: str) -> None:
    """What changed from published version SINCE to UNTIL (default: the version before the served one →
    the served one): row counts per table; papers and sightings added, removed and changed, with the
    changed columns old → new, most changed first (hashes such as sighting_id and page_id, which move
    with a file's bytes, are no change). `--format csv|json` lists every row; the table lists `--limit`
    per list. Reads PAPERLAKE_OUT_DIR. From Python: `paperlake.diff.diff(since, until)`.

    Example: paperlake diff 12 15 --column upvotes
    """
    from paperlake import diff as versions

    paths = Paths.from_env()
    _lake_or_fail(paths)
    try:
        found = versions.diff(since, until, paths)
    except VersionError as exc:
        _fail(str(exc))
    try:
        records = versions.as_records(found, columns)
    except ValueError as exc:  # a column no detailed table has
        _fail(str(exc))
    if fmt == Format.json:
        sys.stdout.write(json.dumps(records, default=str, ensure_ascii=False, indent=2))
        sys.stdout.write("\n")
    elif fmt == Format.csv:
        writer = csv.DictWriter(sys.stdout, ["table", "change", "key", "title", "column", "old", "new"])
        writer.writeheader()
        writer.writerows(versions.as_rows(found, columns))
    else:
        _print_diff(records, limit)


def _print_diff(found: dict, limit: int) -> None:
    """A diff in 80 columns: the counts, then each list of added, removed and changed rows (most changed
    first), cut at `limit`."""
    from paperlake.diff import summary

    since = "nothing" if found["since"] is None else f"version {found['since']}"
    counts = Table(title=f"{since} → version {found['until']}")
    for name in ("table", "before", "after", "added", "removed", "changed"):
        counts.add_column(name, justify="left" if name == "table" else "right")
    for row in found["tables"]:
        counts.add_row(*(str(v) for v in row.values()))
    console.print(counts)
    for table, key in (("papers", "paper_id"), ("sightings", "source_file")):
        for change, items in found[table].items():
            if not items:
                continue
            shown = Table(title=f"{table} {change} ({len(items)})", title_justify="left")
            shown.add_column(key if table == "papers" else "file:position", overflow="fold", max_width=24)
            shown.add_column("title", overflow="fold", ratio=2)
            if change == "changed":
                shown.add_column("what changed", overflow="fold", ratio=3)
            for item in items[:limit]:
                cells = [item[key] if table == "papers" else f"{item['source_file']}:{item['position']}"]
                cells.append(item["title"])
                if change == "changed":
                    cells.append(summary(item["columns"], item["old"], item["new"], width=24))
                shown.add_row(*(Text(str(c or "")) for c in cells))
            console.print(shown)
            if len(items) > limit:
                console.print(f"… and {len(items) - limit} more (--limit, or --format csv|json for all)")


@app.command(short_help="Write each published table as a Parquet file into a folder.")
@click.argument("folder", type=click.Path(path_type=Path))
@AS_OF
@click.option("--force", is_flag=True, help="Write into FOLDER even if it holds files (tables replaced)")
def export(folder: Path, as_of: int | None, force: bool) -> None:
    """Write each table of the published version (or --as-of VERSION) as one plain Parquet file in FOLDER,
    each file whole or not at all. FOLDER must be new or empty unless --force. Reads PAPERLAKE_OUT_DIR.

    Example: PAPERLAKE_OUT_DIR=data/out paperlake export /tmp/papers-v3 --as-of 3
    """
    from paperlake.warehouse import export as export_tables

    if folder.exists() and not folder.is_dir():
        _fail(f"{folder} is a file, not a folder: name a new or empty folder")
    if not force and folder.is_dir() and any(folder.iterdir()):
        _fail(f"{folder} is not empty: name a new or empty folder, or add --force to replace its tables")
    paths = Paths.from_env()
    versions = _lake_or_fail(paths)
    if not versions:
        _fail("nothing has been published yet: run `paperlake run` first")
    version = versions[0] if as_of is None else as_of
    if version not in versions:
        _fail(f"version {version} was never published or has expired (see `paperlake history`)")
    try:
        written = export_tables(paths, folder, version)
    except OSError as exc:
        _fail(f"cannot write to {folder}: {exc.strerror or exc}")
    except duckdb.IOException as exc:
        _fail(f"cannot write to {folder}: {str(exc).splitlines()[0]}")
    table = Table(title=f"version {version} → {folder}")
    table.add_column("table")
    table.add_column("file")
    for name, target in written.items():
        table.add_row(name, str(target))
    console.print(table)


@app.command(
    short_help="The duckdb shell on the published tables, sandboxed.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@AS_OF
@click.option(
    "--unrestricted",
    is_flag=True,
    help="Your own shell without the sandbox or safe mode (still read-only): files, .shell, ATTACH work",
)
@click.pass_context
def sql(ctx: click.Context, as_of: int | None, unrestricted: bool) -> None:
    """The `duckdb` shell on the published version (or --as-of VERSION), read-only and sandboxed like
    every reader: DuckDB's safe mode (no .shell, .output, .read or .open), no file access, no ATTACH,
    LOAD or SET; search_papers works. Extra arguments go to duckdb. Reads PAPERLAKE_OUT_DIR.

    Example: paperlake sql -c "SELECT count(*) FROM papers"
    """
    from paperlake.db import SANDBOX, copy_version
    from paperlake.duck import load_statement, open_db

    paths = Paths.from_env()
    shell = _duckdb_shell()
    # the sandbox's settings, then safe mode, which turns external access off and locks the configuration
    commands = [] if unrestricted else [*SANDBOX[:-1], ".safe_mode"]
    if as_of is None:
        _require_warehouse(paths)
        commands = [load_statement("fts"), *commands]
        code = _shell(shell, paths.duckdb_path, commands, ctx.args)
    else:
        if as_of not in _lake_or_fail(paths):
            _fail(f"version {as_of} was never published or has expired (see `paperlake history`)")
        with tempfile.TemporaryDirectory(prefix="paperlake-sql-") as tmp:  # never in the output folder
            copy = Path(tmp) / f"version-{as_of}.duckdb"
            with open_db(str(copy)) as con:
                copy_version(paths, as_of, con, TABLES)
            code = _shell(shell, copy, commands, ctx.args)
    sys.exit(code)


@app.command(short_help="Print the SQL that attaches the published lake in your own DuckDB.")
@AS_OF
def attach(as_of: int | None) -> None:
    """Print the SQL that attaches the published version (or --as-of VERSION) of the lake, read-only,
    in your own DuckDB 1.5.5 (CLI, Python, pandas, polars). The lake's `main` is the writer's workspace:
    after a failed check it holds rows the audit refused, so attach pinned to a version, as printed.
    Reads PAPERLAKE_OUT_DIR.

    \b
    Example: duckdb -cmd "$(paperlake attach)" -c "SELECT count(*) FROM papers"
    """
    from paperlake import lake

    paths = Paths.from_env()
    versions = _lake_or_fail(paths)
    if as_of is None:
        _require_warehouse(paths)
        with _connect(paths) as con:
            as_of = int(scalar(con, "SELECT max(version) FROM paperlake_version"))
    if as_of not in versions:
        _fail(f"version {as_of} was never published or has expired (see `paperlake history`)")
    for stmt in lake.attach_statements(paths, read_only=True, snapshot=as_of):
        if stmt.startswith("CREATE OR REPLACE SECRET"):  # never print credentials
            click.echo("-- the data path is on S3: CREATE SECRET (TYPE s3, KEY_ID …, SECRET …) first")
        else:
            click.echo(f"{stmt};")
    click.echo(f"USE {lake.ALIAS};")


def _duckdb_shell() -> Path:
    """The duckdb binary of the duckdb-cli wheel (its Python wrapper sets options that safe mode locks)."""
    import importlib.util

    spec = importlib.util.find_spec("duckdb_cli")
    binary = Path(spec.origin).with_name("duckdb") if spec and spec.origin else None
    if binary is None or not binary.exists():
        _fail("no duckdb shell: install the duckdb-cli wheel (make installs it)")
    return binary


def _shell(shell: Path, database: Path, commands: list[str], args: list[str]) -> int:
    """Run the shell read-only on `database`; `commands` (extensions, sandbox) run before any input."""
    cmd = [str(shell), "-no-init", "-readonly"]
    for command in commands:
        cmd += ["-cmd", command if command.startswith(".") else f"{command};"]
    return subprocess.call([*cmd, str(database), *args])


def main() -> None:
    """The `paperlake` entry point: an unexpected error is one line on stderr and exit 2, never a
    traceback (`paperlake --debug …` shows it); a usage error too, naming the help to read."""
    try:
        code = app.main(standalone_mode=False)
    except click.UsageError as exc:
        _fail(f"{exc.format_message()} (see `{exc.ctx.command_path if exc.ctx else 'paperlake'} --help`)")
    except click.ClickException as exc:
        _fail(exc.format_message())
    except click.Abort:
        sys.exit(130)
    except Exception as exc:
        if _debug["on"]:
            raise
        _fail(f"{type(exc).__name__}: {_one_line(exc)} (`paperlake --debug …` shows the traceback)")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
