"""Configuration as a Dagster resource: the landing folder, the output root and the parser limits."""

import os

import dagster as dg

from paperlake import plan
from paperlake.config import (
    CATALOG_ENV,
    DATA_PATH_ENV,
    DEFAULT_OUT_DIR,
    DEFAULT_RAW_DIR,
    OUT_DIR_ENV,
    RAW_DIR_ENV,
    Paths,
    feed_from_env,
    retain_removed_from_env,
)
from paperlake.db import MAX_REJECT_RATE
from paperlake.parallel import default_workers
from paperlake.parse import ParseOptions
from paperlake.plan import RunPlan

_DEFAULTS = ParseOptions()
# Every asset that writes to the lake is in this pool; dagster.yaml limits it to one run.
WRITER_POOL = "paperlake_writer"


class PaperlakeResource(dg.ConfigurableResource):
    """Where captures land and tables go (PAPERLAKE_RAW_DIR / PAPERLAKE_OUT_DIR), and field-size limits."""

    raw_dir: str = DEFAULT_RAW_DIR
    out_dir: str = DEFAULT_OUT_DIR
    max_title_chars: int = _DEFAULTS.max_title_chars
    max_abstract_chars: int = _DEFAULTS.max_abstract_chars
    max_file_bytes: int = _DEFAULTS.max_file_bytes
    max_reject_rate: float = MAX_REJECT_RATE  # above this share of rejected entries (or files): a warning
    retain_removed_files: bool = False  # True: a file deleted from the landing folder keeps its rows
    catalog: str = ""  # the lake's catalog (PAPERLAKE_CATALOG): "" = SQLite under out_dir; postgres:…
    data_path: str = ""  # the lake's data files (PAPERLAKE_DATA_PATH): "" = under out_dir; s3://…
    keep_days: int = 30  # lake versions younger than this stay queryable (--as-of); the maintenance job
    rebuild: bool = False  # True: re-resolve, re-enrich and re-publish everything (`paperlake run --full`)
    workers: int = 0  # processes for a partition range; 0: PAPERLAKE_WORKERS, else every usable core
    feed_entries: int = 100  # the Atom feed lists this many of the newest papers (out_digest)
    feed_base_url: str = ""  # where <OUT>/digest/ is served, for the feed's links; "": its file:// URI

    def paths(self) -> Paths:
        return Paths.from_env(self.raw_dir, self.out_dir, self.catalog or None, self.data_path or None)

    def n_workers(self) -> int:
        return self.workers or default_workers()

    def plan(self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> RunPlan:
        """The run's plan (`paperlake.plan`): the landing folder as listed once for this run (invoked
        outside a run, as a test does: the folder as it is now)."""
        try:
            tags, run_id = context.run.tags, context.run.run_id
        except dg.DagsterError:  # DagsterInvalidPropertyError: a direct invocation has no run
            return plan.make(self.paths(), self.retain_removed_files)
        return plan.for_run(self.paths(), tags, run_id, self.retain_removed_files)

    def options(self) -> ParseOptions:
        return ParseOptions(
            max_title_chars=self.max_title_chars,
            max_abstract_chars=self.max_abstract_chars,
            max_file_bytes=self.max_file_bytes,
        )


def resource_from_env(**settings) -> PaperlakeResource:
    """The resource as the environment sets it (PAPERLAKE_*), with `settings` on top (a run's paths)."""
    return PaperlakeResource(
        **{
            "raw_dir": os.environ.get(RAW_DIR_ENV) or DEFAULT_RAW_DIR,
            "out_dir": os.environ.get(OUT_DIR_ENV) or DEFAULT_OUT_DIR,
            "retain_removed_files": retain_removed_from_env(),
            "catalog": os.environ.get(CATALOG_ENV, ""),
            "data_path": os.environ.get(DATA_PATH_ENV, ""),
            **feed_from_env(),
            **settings,
        }
    )
