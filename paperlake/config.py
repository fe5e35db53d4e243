"""Where paperlake reads and writes: one place, so paths never get hard-coded elsewhere."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upath import UPath

RAW_DIR_ENV = "PAPERLAKE_RAW_DIR"
OUT_DIR_ENV = "PAPERLAKE_OUT_DIR"
WAREHOUSE_URI_ENV = "PAPERLAKE_WAREHOUSE_URI"
DEFAULT_RAW_DIR = "data/raw"
DEFAULT_OUT_DIR = "data/out"

TABLES = (
    "pages",
    "sightings",
    "papers",
    "rejects",
    "matches",
    "upvote_history",
    "paper_links",
    "paper_topics",
)


class LandingError(RuntimeError):
    """The landing folder cannot be used; the message names the path."""


@dataclass(frozen=True)
class Paths:
    """The landing folder and the output root; every table path derives from these two, except that the
    published tables may live under an fsspec URL (s3://, gs://, memory://...) instead of out_dir."""

    raw_dir: Path
    out_dir: Path
    warehouse_uri: str | None = None

    @classmethod
    def from_env(
        cls, raw_dir: str | None = None, out_dir: str | None = None, warehouse_uri: str | None = None
    ) -> "Paths":
        raw = raw_dir or os.environ.get(RAW_DIR_ENV) or DEFAULT_RAW_DIR
        out = out_dir or os.environ.get(OUT_DIR_ENV) or DEFAULT_OUT_DIR
        uri = warehouse_uri or os.environ.get(WAREHOUSE_URI_ENV) or None
        return cls(Path(raw).expanduser().resolve(), Path(out).expanduser().resolve(), uri)

    @property
    def warehouse(self) -> "Path | UPath":
        """<out_dir>/warehouse, or the UPath of warehouse_uri (a local path stays a pathlib Path)."""
        if not self.warehouse_uri:
            return self.out_dir / "warehouse"
        from upath import UPath  # only when configured: readers of a local warehouse start faster

        return UPath(self.warehouse_uri)

    @property
    def remote_warehouse(self) -> bool:
        return not isinstance(self.warehouse, Path)

    @property
    def staging(self) -> Path:
        return self.out_dir / "staging"

    @property
    def duckdb_path(self) -> Path:
        return self.out_dir / "paperlake.duckdb"

    def table_dir(self, table: str) -> "Path | UPath":
        return self.warehouse / table

    def staging_dir(self, name: str) -> Path:
        return self.staging / name
