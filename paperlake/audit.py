"""The audit: every check of what a run wrote, on the lake before anything is published (`run_audit`).

Costs follow the change: Pandera examines the rows inserted or updated since the last published version
(the lake's change feed; every row on the first run), one batch at a time. The rules that need whole
tables (uniqueness, count conservation, references, reject rates) are SQL aggregates: aggregating
570,000 sightings in DuckDB takes a fraction of a second where loading them into pandas took seconds.
The invariants' table arguments name tables or views on `con` (the lake's `lake.main.*`, or registered
frames in tests). The Dagster checks (assets/checks.py) only report these findings.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.errors import SchemaErrors

from paperlake import changes, lake
from paperlake.config import Paths
from paperlake.db import reject_rates
from paperlake.duck import Connection, single_row
from paperlake.frames import arrow_schema, from_arrow
from schemas import CONTRACT
from schemas.catalog import CATALOG, TABLES
from schemas.tables import contract_schema

EXAMPLES = 10
CHUNK = 100_000  # rows read and validated by Pandera at a time
PROBLEM_COLUMNS = ["column", "check", "failure_case", "index"]


@dataclass
class Finding:
    """One check's outcome: the table it is about, the offending rows (none: it holds, unless `passed`
    says otherwise), facts for the report, and whether a failure only warns."""

    check: str
    table: str
    problems: pd.DataFrame | pyarrow.Table  # Pandera's failure cases, or the rows an SQL check found
    facts: dict = field(default_factory=dict)
    passed: bool | None = None
    warn_only: bool = False

    @property
    def holds(self) -> bool:
        return len(self.problems) == 0 if self.passed is None else self.passed


def run_audit(
    paths: Paths, current: list[str], max_title_chars: int, max_reject_rate: float
) -> Iterator[Finding]:
    """Every check on the lake's main tables as the run wrote them (read-only): each table's contract,
    entries conserved over the `current` landing files, sightings referencing papers, the reject rate."""
    with lake.open_lake(paths, read_only=True) as con:
        since = lake.last_version(con)
        feed = None if since is None else changes.feed(con, since, lake.current_snapshot(con))
        for table in TABLES:
            yield _contract(con, table, feed, since, max_title_chars)
        yield _conservation(con, current)
        sightings, papers = lake.main_table("sightings"), lake.main_table("papers")
        yield Finding("sightings_reference_papers", "sightings", reference_problems(con, sightings, papers))
        yield _reject_rate(con, max_reject_rate)


def _contract(
    con: Connection, table: str, feed: changes.Feed | None, since: int | None, max_title: int
) -> Finding:
    """Pandera on the rows added since the published version (netted per row id, as publishing reads
    them: paperlake.changes), or on every row when there is none or the change feed cannot say."""
    model, name = CONTRACT[table], lake.main_table(table)
    schema = arrow_schema(model)
    batches: Iterable[pyarrow.Table | pyarrow.RecordBatch] = []
    if feed is None:
        batches = lake.read_batches(con, name, schema, CHUNK)
    elif table in feed.tables:  # the rows the changes added that are still there
        changes.net_rows(con, feed, table, CATALOG[table].key, schema.names)
        batches = con.execute("SELECT * FROM _new").to_arrow_table().cast(schema).to_batches()
    problems, examined = pandera_problems(batches, model, max_title)
    if unique := [n for n, col in model.to_schema().columns.items() if col.unique]:  # over the whole table
        sql = " UNION ALL ".join(
            f"SELECT '{c}' AS column, 'unique' AS check, {c}::VARCHAR AS failure_case, count(*) AS index "
            f"FROM {name} GROUP BY {c} HAVING count(*) > 1"
            for c in unique
        )
        dupes = con.execute(f"{sql} LIMIT 100").df()
        problems = pd.concat([dupes, problems]) if len(dupes) else problems
    examined_what = "every row" if feed is None else f"rows changed since version {since}"
    return Finding(
        f"{table}_contract", table, problems, {"rows_examined": examined, "examined": examined_what}
    )


def pandera_problems(
    batches: Iterable[pyarrow.Table | pyarrow.RecordBatch], model: type[pa.DataFrameModel], max_title: int
) -> tuple[pd.DataFrame, int]:
    """Pandera's failure cases over the rows of `batches` (and how many rows), one batch in pandas at a
    time: a whole table in memory (its text as Python strings) would multiply the audit's peak, and every
    check of the models is per row (uniqueness over the whole table is checked in SQL). `index` is the
    row's position among all the rows."""
    schema = contract_schema(model, max_title)
    found, seen = [], 0
    for batch in batches:
        df = from_arrow(pyarrow.table(batch), model)
        df.index += seen
        seen += len(df)
        try:
            schema.validate(df, lazy=True)
        except SchemaErrors as exc:
            found.append(exc.failure_cases[PROBLEM_COLUMNS])
    return (pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=PROBLEM_COLUMNS)), seen


def _conservation(con: Connection, keys: list[str]) -> Finding:
    pages, sightings, rejects = (lake.main_table(t) for t in ("pages", "sightings", "rejects"))
    problems = conservation_problems(con, keys, pages, sightings, rejects)
    counts = single_row(
        con,
        f"""SELECT count(*), coalesce(sum(n_entries), 0), (SELECT count(*) FROM {sightings}),
                   (SELECT count(*) FROM {rejects} WHERE kind = 'entry')
            FROM {pages}""",
    )
    facts: dict = dict(zip(("files", "entries", "valid", "rejected"), map(int, counts), strict=True))
    facts["offending_files"] = sorted(set(problems["source_file"].to_pylist()))[:EXAMPLES]
    return Finding("entries_conserved", "pages", problems, facts)


def _reject_rate(con: Connection, threshold: float) -> Finding:
    """Warns (never blocks) when the share of rejected entries or of rejected files is over `threshold`."""
    entry_rate, file_rate = reject_rates(con, lake.main_table("pages"))
    top = con.sql(
        f"""SELECT reason, count(*) AS n FROM {lake.main_table("rejects")}
            GROUP BY reason ORDER BY n DESC, reason LIMIT {EXAMPLES}"""
    ).fetchall()
    facts: dict = {"entry_reject_rate": entry_rate, "file_reject_rate": file_rate, "threshold": threshold}
    facts["top_reasons"] = {str(r): int(n) for r, n in top}
    passed = max(entry_rate, file_rate) <= threshold
    return Finding("reject_rate", "rejects", pyarrow.table({}), facts, passed=passed, warn_only=True)


def conservation_problems(
    con: Connection,
    keys: list[str],
    pages: str = "pages",
    sightings: str = "sightings",
    rejects: str = "rejects",
) -> pyarrow.Table:
    """Files in = pages rows; per page n_entries = n_valid + n_rejected, and both match the tables."""
    return con.execute(
        f"""
        WITH p AS (SELECT source_file, n_entries, n_valid, n_rejected FROM {pages}),
        v AS (SELECT source_file, count(*) AS n FROM {sightings} GROUP BY ALL),
        r AS (SELECT source_file, count(*) AS n FROM {rejects} WHERE kind = 'entry' GROUP BY ALL),
        k AS (SELECT unnest($keys::VARCHAR[]) AS source_file)
        SELECT source_file, 'file has no pages row' AS problem FROM k ANTI JOIN p USING (source_file)
        UNION ALL SELECT source_file, 'pages row for a file that is not a partition'
            FROM p ANTI JOIN k USING (source_file)
        UNION ALL SELECT source_file, 'n_entries != n_valid + n_rejected'
            FROM p WHERE n_entries != n_valid + n_rejected
        UNION ALL SELECT source_file, format('{{}} sightings rows, n_valid {{}}', coalesce(v.n, 0), n_valid)
            FROM p LEFT JOIN v USING (source_file) WHERE coalesce(v.n, 0) != n_valid
        UNION ALL SELECT source_file,
                format('{{}} entry rejects, n_rejected {{}}', coalesce(r.n, 0), n_rejected)
            FROM p LEFT JOIN r USING (source_file) WHERE coalesce(r.n, 0) != n_rejected
        UNION ALL SELECT source_file, 'rows for a file with no pages row'
            FROM (SELECT source_file FROM v UNION SELECT source_file FROM r) ANTI JOIN p USING (source_file)
        ORDER BY source_file, problem
        """,
        {"keys": keys},
    ).to_arrow_table()


def reference_problems(
    con: Connection, sightings: str = "sightings", papers: str = "papers"
) -> pyarrow.Table:
    """Every sighting points at an existing paper and every paper's n_sightings matches its sightings
    (the same content under two file names counts once)."""
    return con.execute(
        f"""
        SELECT paper_id, format('sighting {{}} points at no paper', sighting_id) AS problem
            FROM {sightings} ANTI JOIN {papers} USING (paper_id)
        UNION ALL SELECT paper_id,
                format('n_sightings {{}} but {{}} sightings', n_sightings, coalesce(c.n, 0))
            FROM {papers} LEFT JOIN (
                SELECT paper_id, count(*) AS n FROM (
                    SELECT min(paper_id) AS paper_id FROM {sightings} GROUP BY page_id, position
                ) GROUP BY ALL
            ) c USING (paper_id)
            WHERE coalesce(c.n, 0) != n_sightings
        ORDER BY paper_id, problem
        """
    ).to_arrow_table()
