"""The report asset: PNG plots of the warehouse, shown inline in the asset's metadata."""

import base64

import dagster as dg

from assets.warehouse import EAGER, WRITER_POOL, out_duckdb
from paperlake.report import build_reports
from pipelines.resources import PaperlakeResource


@dg.asset(
    deps=[out_duckdb],
    group_name="reports",
    kinds={"matplotlib", "png"},
    pool=WRITER_POOL,
    automation_condition=EAGER,
)
def out_report(paperlake: PaperlakeResource) -> dg.MaterializeResult:
    """Plots under `<OUT>/reports/`: papers per month, topics over time, upvote distribution, top papers."""
    figures = build_reports(paperlake.paths())
    meta: dict = {}
    for name, path in figures.items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        meta[name] = dg.MetadataValue.md(f"![{name}](data:image/png;base64,{encoded})")
        meta[f"{name}_path"] = dg.MetadataValue.path(str(path))
    return dg.MaterializeResult(metadata=meta)
