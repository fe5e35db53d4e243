"""Whole-table assets: resolution across all files and enrichment, writing the contract tables in the lake.

Write → audit → publish: `core_papers` and `out_papers` write the tables into the lake (only changed
rows), the blocking checks in assets/checks.py audit exactly that state, and `out_duckdb`
(assets/serving.py) publishes it as a new version. A failed blocking check stops `out_duckdb`: readers
stay on the previous version. They re-run automatically (AutomationCondition.eager) once a file's
partition is re-materialised. Every writer asset is in one pool (run granularity, limit 1) and takes the
output folder's writer lock.
"""

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from assets.captures import core_sightings
from assets.metadata import PREVIEW_ROWS, table_metadata, table_schema
from assets.resources import WRITER_POOL, PaperlakeResource
from paperlake import lake, steps
from schemas import CONTRACT
from schemas.catalog import CATALOG, written_by

EAGER = dg.AutomationCondition.eager()


RESOLVED, ENRICHED = written_by("resolve"), written_by("enrich")


def _table_spec(table: str, deps: list) -> dg.AssetSpec:
    """A contract table in the lake: its schema is known before the first run."""
    return dg.AssetSpec(
        f"out_{table}",
        deps=deps,
        description=CATALOG[table].description,
        group_name="warehouse",
        kinds={"ducklake", "parquet"},
        automation_condition=EAGER,
        metadata={"dagster/column_schema": table_schema(CONTRACT[table]), "dagster/table_name": table},
    )


def _table_result(table: str, rows: pa.Table, count: int | None = None) -> dg.MaterializeResult:
    """Metadata from the rows just written, not a re-read: count, schema, preview (papers: most sighted
    first), and for some tables the counts by a column."""
    spec = CATALOG[table]
    if table == "papers":
        rows = rows.sort_by([("n_sightings", "descending"), ("paper_id", "ascending")])
    head = rows.slice(0, PREVIEW_ROWS).to_pandas()
    meta = table_metadata(
        head,
        CONTRACT[table],
        spec.preview,
        lake.main_table(table),
        rows.num_rows if count is None else count,
    )
    if spec.count_by:
        counts = sorted(pc.value_counts(rows[spec.count_by]).to_pylist(), key=lambda c: -c["counts"])
        meta[f"by_{spec.count_by}"] = dg.MetadataValue.json({str(c["values"]): c["counts"] for c in counts})
    return dg.MaterializeResult(asset_key=f"out_{table}", metadata=meta)


@dg.multi_asset(
    name="core_papers",
    specs=[
        dg.AssetSpec(
            "core_papers",
            deps=[core_sightings],
            group_name="core",
            kinds={"python", "ducklake"},
            automation_condition=EAGER,
            description="Entity resolution over every file's sightings: stable paper_ids, survivorship.",
        ),
        *(_table_spec(t, ["core_papers"]) for t in RESOLVED),
    ],
    pool=WRITER_POOL,
)
def core_papers(context: dg.AssetExecutionContext, paperlake: PaperlakeResource):
    """Resolve papers over every current file (retracting the rows of files that left the landing
    folder) and write pages, rejects, sightings, matches and upvote_history into the lake."""
    paths = paperlake.paths()
    res = steps.resolve_all(paths, paperlake.plan(context).current, full=paperlake.rebuild)
    if res.retracted:
        context.log.info(f"retracted rows of {len(res.retracted)} removed file(s): {res.retracted[:10]}")
    c = res.counts
    yield dg.MaterializeResult(
        asset_key="core_papers",
        metadata={
            "dagster/row_count": c["papers"],
            "sightings": c["sightings"],
            "merged_sightings": c["sightings"] - c["papers"],
            "merged_pairs": c["merged_pairs"],
            "rejected_title_only_pairs": c["title_only_rejected_pairs"],
            "retracted_files": len(res.retracted),
            "changed_papers": len(res.changed_papers),
            "removed_papers": len(res.removed_papers),
        },
    )
    for table in RESOLVED:
        yield dg.MaterializeResult(asset_key=f"out_{table}", metadata={"dagster/row_count": c[table]})


@dg.multi_asset(
    name="out_papers",
    specs=[
        _table_spec("papers", ["core_papers"]),
        *(_table_spec(t, ["out_papers"]) for t in ENRICHED if t != "papers"),
    ],
    pool=WRITER_POOL,
)
def out_papers(paperlake: PaperlakeResource):
    """Enrich the resolved papers (links, repos, short name, topics, related) and write papers,
    paper_links and paper_topics into the lake."""
    paths = paperlake.paths()
    published = steps.publish_papers(paths, full=paperlake.rebuild)
    for table in ENRICHED:
        yield _table_result(table, published.rows[table], published.counts[table])
