"""The audit: blocking asset checks on what the run wrote, before anything is published.

The lake's main tables are audited as the run wrote them: a failed blocking check stops `out_duckdb`
(publish), so readers stay on the previous version; the metadata shows examples. Costs follow the
change: Pandera examines the rows inserted or updated since the last published version (the lake's
change feed; every row on the first run), and the rules that need whole tables (uniqueness, count
conservation, references, reject rates) are SQL aggregates. All eleven checks run in one step."""

from collections.abc import Iterable

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
from pandera.errors import SchemaErrors
from pandera.pandas import DataFrameModel

from assets.metadata import md_table
from assets.resources import PaperlakeResource
from paperlake import changes, lake
from paperlake.audit import conservation_problems, duplicate_problems, reference_problems, unique_columns
from paperlake.duck import single_row
from paperlake.frames import arrow_schema, from_arrow
from schemas import CONTRACT
from schemas.catalog import CATALOG, TABLES
from schemas.tables import contract_schema

EXAMPLES = 10
CHUNK = 100_000  # rows read and validated by Pandera at a time
PROBLEM_COLUMNS = ["column", "check", "failure_case", "index"]


def _spec(name: str, table: str, description: str, deps=(), blocking: bool = True) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name, asset=f"out_{table}", additional_deps=list(deps), blocking=blocking, description=description
    )


SPECS = [
    *(
        _spec(
            f"{t}_contract",
            t,
            f"The rows of `{t}` written since the last published version satisfy the Pandera model "
            f"{CONTRACT[t].__name__}; its unique columns are unique over the whole table.",
        )
        for t in TABLES
    ),
    _spec(
        "entries_conserved",
        "pages",
        "Files in = pages rows; per page and in total, entries found = valid sightings + rejected entries.",
        ["out_sightings", "out_rejects"],
    ),
    _spec(
        "sightings_reference_papers",
        "sightings",
        "Every sighting's paper_id exists in papers, and papers.n_sightings counts them exactly.",
        ["out_papers"],
    ),
    _spec(
        "reject_rate",
        "rejects",
        "Warns when the share of rejected entries (or of rejected files) exceeds `max_reject_rate`.",
        ["out_pages"],
        blocking=False,
    ),
]


def _result(check: str, table: str, problems: pd.DataFrame, **meta) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=f"out_{table}",
        check_name=check,
        passed=problems.empty,
        metadata={
            "failures": len(problems),
            "examples": dg.MetadataValue.md(md_table(problems, rows=EXAMPLES)),
            **meta,
        },
    )


def _contract(
    con: duckdb.DuckDBPyConnection,
    table: str,
    feed: changes.Feed | None,
    since: int | None,
    max_title_chars: int,
) -> dg.AssetCheckResult:
    """Pandera on the rows added since the published version (netted per row id, as publishing reads
    them: paperlake.changes), or on every row when there is none or the change feed cannot say."""
    model, name = CONTRACT[table], lake.main_table(table)
    schema = arrow_schema(model)
    batches: Iterable[pa.Table | pa.RecordBatch]
    if feed is None:
        batches = lake.read_batches(con, name, schema, CHUNK)
    elif table in feed.tables:
        batches = (
            changes.added_rows(con, feed, table, CATALOG[table].key, schema.names).cast(schema).to_batches()
        )
    else:
        batches = []
    problems, examined = _pandera_problems(batches, model, max_title_chars)
    dupes = duplicate_problems(con, name, unique_columns(model))
    return _result(
        f"{table}_contract",
        table,
        pd.concat([dupes, problems]) if len(dupes) else problems,
        rows_examined=examined,
        examined="every row" if feed is None else f"rows changed since version {since}",
    )


def _pandera_problems(
    batches: Iterable[pa.Table | pa.RecordBatch], model: type[DataFrameModel], max_title_chars: int
) -> tuple[pd.DataFrame, int]:
    """Pandera's failure cases over the rows of `batches` (and how many rows), one batch in pandas at a
    time: a whole table in memory (its text as Python strings) would multiply the audit's peak, and every
    check of the models is per row (uniqueness over the whole table is checked in SQL). `index` is the
    row's position among all the rows."""
    schema = contract_schema(model, max_title_chars)
    found, seen = [], 0
    for batch in batches:
        df = from_arrow(pa.table(batch), model)
        df.index += seen
        seen += len(df)
        try:
            schema.validate(df, lazy=True)
        except SchemaErrors as exc:
            found.append(exc.failure_cases[PROBLEM_COLUMNS])
    return (pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=PROBLEM_COLUMNS)), seen


def _conservation(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dg.AssetCheckResult:
    pages, sightings, rejects = (lake.main_table(t) for t in ("pages", "sightings", "rejects"))
    problems = conservation_problems(con, keys, pages, sightings, rejects)
    files, entries, valid, rejected = single_row(
        con,
        f"""SELECT count(*), sum(n_entries), (SELECT count(*) FROM {sightings}),
                   (SELECT count(*) FROM {rejects} WHERE kind = 'entry')
            FROM {pages}""",
    )
    return _result(
        "entries_conserved",
        "pages",
        problems,
        files=files,
        entries=int(entries or 0),
        valid=valid,
        rejected=rejected,
        offending_files=sorted(problems["source_file"].unique().tolist())[:EXAMPLES],
    )


def _reject_rate(con: duckdb.DuckDBPyConnection, threshold: float) -> dg.AssetCheckResult:
    n_rejected, n_entries, files_rejected, files = single_row(
        con,
        f"""SELECT coalesce(sum(n_rejected), 0), coalesce(sum(n_entries), 0),
                   count(*) FILTER (WHERE status = 'rejected'), count(*) FROM {lake.main_table("pages")}""",
    )
    top = con.sql(
        f"""SELECT reason, count(*) AS n FROM {lake.main_table("rejects")}
            GROUP BY reason ORDER BY n DESC, reason LIMIT {EXAMPLES}"""
    ).fetchall()
    entry_rate, file_rate = rejected_share(n_rejected, n_entries), rejected_share(files_rejected, files)
    return dg.AssetCheckResult(
        asset_key="out_rejects",
        check_name="reject_rate",
        passed=max(entry_rate, file_rate) <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "entry_reject_rate": entry_rate,
            "file_reject_rate": file_rate,
            "threshold": threshold,
            "top_reasons": dg.MetadataValue.json({str(r): int(n) for r, n in top}),
        },
    )


@dg.multi_asset_check(specs=SPECS, name="audit")
def audit(context: dg.AssetCheckExecutionContext, paperlake: PaperlakeResource):
    """Every check of the warehouse tables, in one step (a Dagster step costs events, and the checks
    share one connection to the lake)."""
    keys = paperlake.plan(context).current
    with lake.open_lake(paperlake.paths(), read_only=True) as con:
        since = lake.last_version(con)
        feed = None if since is None else changes.feed(con, since, lake.current_snapshot(con))
        for table in TABLES:
            yield _contract(con, table, feed, since, paperlake.max_title_chars)
        yield _conservation(con, keys)
        yield _result(
            "sightings_reference_papers",
            "sightings",
            reference_problems(con, lake.main_table("sightings"), lake.main_table("papers")),
        )
        yield _reject_rate(con, paperlake.max_reject_rate)


def rejected_share(rejected: int, total: int) -> float:
    return rejected / total if total else 0.0
