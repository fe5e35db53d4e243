"""The audit as Dagster checks: blocking asset checks on what the run wrote, before anything is published.

A failed blocking check stops `out_duckdb` (publish), so readers stay on the previous version; the metadata
shows examples. What each check examines and how is `paperlake.audit`; this module declares the checks
and reports its findings. All eleven checks run in one step."""

import dagster as dg

from assets.metadata import md_table
from assets.resources import PaperlakeResource
from paperlake.audit import EXAMPLES, Finding, run_audit
from schemas import CONTRACT
from schemas.catalog import TABLES


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


def _result(finding: Finding) -> dg.AssetCheckResult:
    """A finding as the UI shows it: passed or not, the failures and their first rows, the facts."""
    metadata = dict(finding.facts)
    if not finding.warn_only:  # a warning reports rates, not rows
        metadata = {
            "failures": len(finding.problems),
            "examples": dg.MetadataValue.md(md_table(finding.problems, rows=EXAMPLES)),
            **finding.facts,
        }
    return dg.AssetCheckResult(
        asset_key=f"out_{finding.table}",
        check_name=finding.check,
        passed=finding.holds,
        severity=dg.AssetCheckSeverity.WARN if finding.warn_only else dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


@dg.multi_asset_check(specs=SPECS, name="audit")
def audit(context: dg.AssetCheckExecutionContext, paperlake: PaperlakeResource):
    """Every check of the warehouse tables, in one step (a Dagster step costs events, and the checks
    share one connection to the lake)."""
    paths, current = paperlake.paths(), paperlake.plan(context).current
    for finding in run_audit(paths, current, paperlake.max_title_chars, paperlake.max_reject_rate):
        yield _result(finding)
