"""Whole-table assets: resolution across all files, the four contract tables, and the DuckDB file.

They re-run automatically (AutomationCondition.eager) once a file's partition is re-materialised. Every
writer asset is in one pool (run granularity, limit 1): one writer run at a time touches the warehouse.
"""

import dagster as dg
import pyarrow.compute as pc

from assets.ingest import core_sightings
from assets.metadata import PREVIEW_ROWS, md_table, table_metadata, table_schema
from paperlake import pipeline
from paperlake.config import TABLES
from paperlake.db import connect_readonly
from paperlake.warehouse import build_duckdb
from pipelines.partitions import raw_files
from pipelines.resources import WRITER_POOL, PaperlakeResource
from schemas import CONTRACT

EAGER = dg.AutomationCondition.eager()
SAMPLE_QUERY = """
SELECT title, n_sightings, upvotes_max, has_code, list_sort(topics) AS topics
FROM papers ORDER BY n_sightings DESC, upvotes_max DESC NULLS LAST, title LIMIT 5
"""


def current_keys(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[str]:
    """The files that exist now: a removed file's partition is deleted, so its rows are retracted."""
    return list(context.instance.get_dynamic_partitions(raw_files.name))


def _table_asset(table: str, deps: list, description: str | None = None):
    """Decorator for an asset that publishes one contract table: schema known before the first run."""
    return dg.asset(
        name=f"out_{table}",
        deps=deps,
        description=description,
        group_name="warehouse",
        kinds={"parquet", "pandas"},
        pool=WRITER_POOL,
        automation_condition=EAGER,
        metadata={"dagster/column_schema": table_schema(CONTRACT[table]), "dagster/table_name": table},
    )


@dg.asset(
    deps=[core_sightings],
    group_name="core",
    kinds={"python", "parquet"},
    pool=WRITER_POOL,
    automation_condition=EAGER,
)
def core_papers(context: dg.AssetExecutionContext, paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Entity resolution over every file's sightings: normalised title key → stable paper_id, survivorship.

    Takes one consistent snapshot of all files' slices (what the out_ tables publish) and retracts the
    slices of files that left the landing folder."""
    paths, keys = paperlake.paths(), current_keys(context)
    pruned = pipeline.prune_slices(paths, keys)
    if pruned:
        context.log.info(f"retracted rows of {len(pruned)} removed file(s): {pruned[:10]}")
    res = pipeline.resolve_all(paths, keys)
    top = res.papers.sort_values(["n_sightings", "paper_id"], ascending=[False, True])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(res.papers),
            "sightings": len(res.sightings),
            "merged_sightings": len(res.sightings) - len(res.papers),
            "merged_pairs": int(res.matches["merged"].sum()),
            "rejected_title_only_pairs": int((res.matches["rule"] == "title_only_rejected").sum()),
            "retracted_files": len(pruned),
            "preview": dg.MetadataValue.md(
                md_table(top, ["paper_id", "title", "n_sightings", "upvotes_max"])
            ),
        }
    )


# table → (preview columns, column counted in the metadata or None, description)
PUBLISHED = {
    "pages": (
        ["source_file", "status", "layout", "page_date", "n_valid", "n_rejected"],
        "status",
        "`pages`: one row per raw file with its status, layout, page date and entry counts.",
    ),
    "rejects": (
        ["source_file", "line_start", "reason", "excerpt"],
        "reason",
        "`rejects`: every quarantined entry or file, with a stable reason code and its lines.",
    ),
    "sightings": (
        ["source_file", "position", "line_start", "title", "paper_id"],
        None,
        "`sightings`: every valid entry with its provenance (file, position, lines) and its paper_id.",
    ),
    "matches": (
        ["rule", "title_score", "abstract_score", "paper_a", "paper_b"],
        "rule",
        "`matches`: every candidate pair resolution scored, with its rule and scores.",
    ),
    "upvote_history": (
        ["paper_id", "page_date", "upvotes"],
        None,
        "`upvote_history`: each paper on each page date it was seen, with its upvotes.",
    ),
    "paper_links": (
        ["paper_id", "kind", "url"],
        "kind",
        "`paper_links`: every link of every paper, classified (GitHub repo, HF model/dataset/space…).",
    ),
    "paper_topics": (
        ["paper_id", "topic", "score"],
        "topic",
        "`paper_topics`: each paper's topics with a score.",
    ),
}


def _publish_asset(table: str, deps: list) -> dg.AssetsDefinition:
    """An asset that writes one table from the resolution snapshot and reports its metadata."""
    preview, count_by, description = PUBLISHED[table]

    @_table_asset(table, deps=deps, description=description)
    def _asset(paperlake: PaperlakeResource) -> dg.MaterializeResult:
        paths = paperlake.paths()
        published = pipeline.publish(paths, table)
        head = published.slice(0, PREVIEW_ROWS).to_pandas()
        meta = table_metadata(head, CONTRACT[table], preview, str(paths.table_dir(table)), published.num_rows)
        if count_by:
            counts = pc.value_counts(published[count_by]).to_pylist()
            meta[f"by_{count_by}"] = dg.MetadataValue.json(
                {str(c["values"]): c["counts"] for c in sorted(counts, key=lambda c: -c["counts"])}
            )
        return dg.MaterializeResult(metadata=meta)

    return _asset


@_table_asset("papers", deps=[core_papers])
def out_papers(paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """`papers`: one row per distinct paper, enriched with links, GitHub repos, short name and topics."""
    paths = paperlake.paths()
    df = pipeline.publish_papers(paths)
    return dg.MaterializeResult(
        metadata=table_metadata(
            df.sort_values(["n_sightings", "paper_id"], ascending=[False, True]),
            CONTRACT["papers"],
            ["paper_id", "short_name", "title", "n_sightings", "has_code", "topics"],
            str(paths.table_dir("papers")),
        )
    )


out_pages = _publish_asset("pages", [core_papers])
out_rejects = _publish_asset("rejects", [core_papers])
out_sightings = _publish_asset("sightings", [core_papers])
out_matches = _publish_asset("matches", [core_papers])
out_upvote_history = _publish_asset("upvote_history", [core_papers])
out_paper_links = _publish_asset("paper_links", [out_papers])
out_paper_topics = _publish_asset("paper_topics", [out_papers])


@dg.asset(
    deps=[f"out_{t}" for t in TABLES],
    group_name="warehouse",
    kinds={"duckdb"},
    pool=WRITER_POOL,
    automation_condition=EAGER,
)
def out_duckdb(paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """`paperlake.duckdb`: a view per table with column comments, and BM25 search via search_papers('…')."""
    paths = paperlake.paths()
    db = build_duckdb(paths)
    with connect_readonly(paths) as con:
        counts = {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        sample = con.sql(SAMPLE_QUERY).df()
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(db)),
            "table_counts": dg.MetadataValue.json(counts),
            "sample_query": dg.MetadataValue.md(f"```sql\n{SAMPLE_QUERY.strip()}\n```"),
            "sample_result": dg.MetadataValue.md(md_table(sample)),
        }
    )
