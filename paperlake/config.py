"""Where paperlake reads and writes: one place, so paths never get hard-coded elsewhere."""

import os
from dataclasses import dataclass
from pathlib import Path

RAW_DIR_ENV = "PAPERLAKE_RAW_DIR"
OUT_DIR_ENV = "PAPERLAKE_OUT_DIR"
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
    """The landing folder and the output root; every table path derives from these two."""

    raw_dir: Path
    out_dir: Path

    @classmethod
    def from_env(cls, raw_dir: str | None = None, out_dir: str | None = None) -> "Paths":
        raw = raw_dir or os.environ.get(RAW_DIR_ENV) or DEFAULT_RAW_DIR
        out = out_dir or os.environ.get(OUT_DIR_ENV) or DEFAULT_OUT_DIR
        return cls(Path(raw).expanduser().resolve(), Path(out).expanduser().resolve())

    @property
    def warehouse(self) -> Path:
        return self.out_dir / "warehouse"

    @property
    def staging(self) -> Path:
        return self.out_dir / "staging"

    @property
    def duckdb_path(self) -> Path:
        return self.out_dir / "paperlake.duckdb"

    def table_dir(self, table: str) -> Path:
        return self.warehouse / table

    def staging_dir(self, name: str) -> Path:
        return self.staging / name
