"""What readers see: the published version (`out_duckdb`) and the report plots drawn from it.

`out_duckdb` runs only when every blocking check of assets/checks.py passed, so a reader never sees an
unaudited table."""

import base64

import dagster as dg

from assets.metadata import md_table
from assets.papers import EAGER
from assets.resources import WRITER_POOL, PaperlakeResource
from paperlake import digest, state, steps
from paperlake.db import connect_readonly
from paperlake.duck import scalar
from paperlake.report import build_reports
from schemas.catalog import TABLES

SAMPLE_QUERY = """
SELECT title, n_sightings, upvotes_max, has_code, list_sort(topics) AS topics
FROM papers ORDER BY n_sightings DESC, upvotes_max DESC NULLS LAST, title LIMIT 5
"""


@dg.asset(
    deps=[f"out_{t}" for t in TABLES],
    group_name="warehouse",
    kinds={"duckdb", "ducklake"},
    pool=WRITER_POOL,
    automation_condition=EAGER,
)
def out_duckdb(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Publish: the audited lake snapshot becomes a version (with this run's id and row counts), and
    `paperlake.duckdb` (tables, comments, BM25 search via search_papers('…')) is rebuilt from exactly
    that snapshot and swapped in. Runs only when every blocking check passed."""
    paths = paperlake.paths()
    version, counts = steps.publish(paths, context.run.run_id, full=paperlake.rebuild)
    with connect_readonly(paths) as con:
        sample = con.sql(SAMPLE_QUERY).df()
        built = scalar(con, "SELECT built FROM paperlake_version ORDER BY version DESC LIMIT 1")
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "built": built,  # 'incremental from N' (the served file plus the changes since) or 'full: why'
            "run_id": context.run.run_id,
            "path": dg.MetadataValue.path(str(paths.duckdb_path)),
            "table_counts": dg.MetadataValue.json(counts),
            "sample_query": dg.MetadataValue.md(f"```sql\n{SAMPLE_QUERY.strip()}\n```"),
            "sample_result": dg.MetadataValue.md(md_table(sample)),
        }
    )


@dg.asset(
    deps=[out_duckdb],
    group_name="reports",
    kinds={"matplotlib", "png"},
    pool=WRITER_POOL,
    automation_condition=EAGER,
)
def out_report(paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Plots under `<OUT>/reports/`: papers per month, topics over time, upvote distribution, top papers.
    Each is drawn again only when its data changed (`drawn` lists those of this run)."""
    paths = paperlake.paths()
    reports = build_reports(paths)
    state.output_written(paths, "report", reports.version)
    meta: dict = {"drawn": dg.MetadataValue.json(reports.drawn)}  # the others' data did not change
    for name, path in reports.figures.items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        meta[name] = dg.MetadataValue.md(f"![{name}](data:image/png;base64,{encoded})")
        meta[f"{name}_path"] = dg.MetadataValue.path(str(path))
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    deps=[out_duckdb],
    group_name="reports",
    kinds={"markdown", "html", "atom"},
    automation_condition=EAGER,
)
def out_digest(paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """What's new, under `<OUT>/digest/`: the served version's digest (new papers, trending, gained a code
    link, new papers by topic) as Markdown and HTML, each finished UTC day's (written once, after the day),
    and the Atom feed `feed.xml` of the newest papers. Derived from the published versions only: a run
    that publishes nothing rewrites no file; the daily schedule writes the day that just ended."""
    paths = paperlake.paths()
    written = digest.write(paths, paperlake.feed_entries, paperlake.feed_base_url)
    state.output_written(paths, "digest", written.version.until)
    return dg.MaterializeResult(
        metadata={
            "version": written.version.until,
            "new_papers": written.version.n_new,
            "days_written": dg.MetadataValue.json([f"{d.published_at:%Y-%m-%d}" for d in written.days]),
            "feed_entries": written.feed_entries,
            "files_changed": dg.MetadataValue.json(written.changed),
            "digest": dg.MetadataValue.md(written.files["latest.md"].read_text(encoding="utf-8")),
            "html": dg.MetadataValue.path(str(written.files["latest.html"])),
            "feed": dg.MetadataValue.path(str(written.files["feed.xml"])),
        }
    )
