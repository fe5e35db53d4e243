"""Blocking asset checks on whole tables: the Pandera contract, count conservation, references.

They audit the lake's main tables as the run wrote them, before anything is published: a failure stops
`out_duckdb` (publish), so readers stay on the previous version; the metadata shows examples."""

import dagster as dg
import pandas as pd
from pandera.errors import SchemaErrors

from assets.metadata import md_table
from assets.warehouse import current_keys
from paperlake import lake
from paperlake.audit import conservation_problems, reference_problems
from paperlake.config import TABLES
from paperlake.pipeline import main_table, read_main
from pipelines.resources import PaperlakeResource
from schemas import CONTRACT

EXAMPLES = 10
AUDITED = ("pages", "sightings", "rejects")


def _result(problems: pd.DataFrame, **meta) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=problems.empty,
        metadata={
            "failures": len(problems),
            "examples": dg.MetadataValue.md(md_table(problems, rows=EXAMPLES)),
            **meta,
        },
    )


def contract_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"out_{table}",
        name=f"{table}_contract",
        blocking=True,
        description=f"Every row of `{table}` satisfies the Pandera model {CONTRACT[table].__name__}.",
    )
    def _check(paperlake: PaperlakeResource) -> dg.AssetCheckResult:
        df = read_main(paperlake.paths(), table)
        try:
            CONTRACT[table].validate(df, lazy=True)
            problems = pd.DataFrame(columns=["column", "check", "failure_case", "index"])
        except SchemaErrors as exc:
            problems = exc.failure_cases[["column", "check", "failure_case", "index"]]
        return _result(problems, rows=len(df))

    return _check


@dg.asset_check(asset="out_pages", additional_deps=["out_sightings", "out_rejects"], blocking=True)
def entries_conserved(paperlake: PaperlakeResource) -> dg.AssetCheckResult:
    """Files in = pages rows; per page and in total, entries found = valid sightings + rejected entries."""
    with lake.open_lake(paperlake.paths(), read_only=True) as con:
        problems = conservation_problems(con, current_keys(paperlake), *(main_table(t) for t in AUDITED))
        files, entries, valid, rejected = con.sql(
            f"""SELECT count(*), sum(n_entries), (SELECT count(*) FROM {main_table("sightings")}),
                       (SELECT count(*) FROM {main_table("rejects")} WHERE kind = 'entry')
                FROM {main_table("pages")}"""
        ).fetchone()
    return _result(
        problems,
        files=files,
        entries=int(entries or 0),
        valid=valid,
        rejected=rejected,
        offending_files=sorted(problems["source_file"].unique().tolist())[:EXAMPLES],
    )


@dg.asset_check(asset="out_sightings", additional_deps=["out_papers"], blocking=True)
def sightings_reference_papers(paperlake: PaperlakeResource) -> dg.AssetCheckResult:
    """Every sighting's paper_id exists in papers, and papers.n_sightings counts them exactly."""
    with lake.open_lake(paperlake.paths(), read_only=True) as con:
        return _result(reference_problems(con, main_table("sightings"), main_table("papers")))


@dg.asset_check(asset="out_rejects", additional_deps=["out_pages"], blocking=False)
def reject_rate(paperlake: PaperlakeResource) -> dg.AssetCheckResult:
    """Warns when the share of rejected entries (or of rejected files) exceeds `max_reject_rate`."""
    paths = paperlake.paths()
    pages, rejects = read_main(paths, "pages"), read_main(paths, "rejects")
    entry_rate = rejected_share(int(pages["n_rejected"].sum()), int(pages["n_entries"].sum()))
    file_rate = rejected_share(int((pages["status"] == "rejected").sum()), len(pages))
    top = rejects["reason"].value_counts().head(EXAMPLES)
    return dg.AssetCheckResult(
        passed=max(entry_rate, file_rate) <= paperlake.max_reject_rate,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "entry_reject_rate": entry_rate,
            "file_reject_rate": file_rate,
            "threshold": paperlake.max_reject_rate,
            "top_reasons": dg.MetadataValue.json({str(k): int(v) for k, v in top.items()}),
        },
    )


def rejected_share(rejected: int, total: int) -> float:
    return rejected / total if total else 0.0


CHECKS = [*(contract_check(t) for t in TABLES), entries_conserved, sightings_reference_papers, reject_rate]
