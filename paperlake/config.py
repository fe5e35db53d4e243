"""Where paperlake reads and writes: one place, so paths never get hard-coded elsewhere."""

import os
from dataclasses import dataclass
from pathlib import Path

RAW_DIR_ENV = "PAPERLAKE_RAW_DIR"
OUT_DIR_ENV = "PAPERLAKE_OUT_DIR"
CATALOG_ENV = "PAPERLAKE_CATALOG"
DATA_PATH_ENV = "PAPERLAKE_DATA_PATH"
DEFAULT_RAW_DIR = "data/raw"
DEFAULT_OUT_DIR = "data/out"


class LandingError(RuntimeError):
    """The landing folder cannot be used; the message names the path."""


@dataclass(frozen=True)
class Paths:
    """The landing folder, the output root and the lake. The lake's catalog defaults to a SQLite file
    and its data to Parquet files under out_dir; at scale the catalog is PostgreSQL
    (`postgres:dbname=… host=…`) and the data an object-store prefix (`s3://bucket/prefix/`)."""

    raw_dir: Path
    out_dir: Path
    catalog: str | None = None
    data_path: str | None = None

    @classmethod
    def from_env(
        cls,
        raw_dir: str | None = None,
        out_dir: str | None = None,
        catalog: str | None = None,
        data_path: str | None = None,
    ) -> "Paths":
        raw = Path(raw_dir or os.environ.get(RAW_DIR_ENV) or DEFAULT_RAW_DIR).expanduser().resolve()
        out = Path(out_dir or os.environ.get(OUT_DIR_ENV) or DEFAULT_OUT_DIR).expanduser().resolve()
        catalog, data_path = (
            catalog or os.environ.get(CATALOG_ENV),
            data_path or os.environ.get(DATA_PATH_ENV),
        )
        return cls(raw, out, catalog or None, data_path or None)

    @property
    def lake_dir(self) -> Path:
        return self.out_dir / "lake"

    @property
    def lake_catalog(self) -> str:
        """The DuckLake catalog: `sqlite:<out>/lake/catalog.sqlite` unless PAPERLAKE_CATALOG is set."""
        return self.catalog or f"sqlite:{self.lake_dir / 'catalog.sqlite'}"

    @property
    def lake_data_path(self) -> str:
        return self.data_path or f"{self.lake_dir / 'data'}/"

    @property
    def state_dir(self) -> Path:
        """Small local state: the landing manifest and the writer lock."""
        return self.out_dir / "state"

    @property
    def digest_dir(self) -> Path:
        """What changed, for people: each version's and each day's digest (Markdown, HTML), the Atom feed."""
        return self.out_dir / "digest"

    @property
    def duckdb_path(self) -> Path:
        return self.out_dir / "paperlake.duckdb"

    @property
    def written(self) -> tuple[Path, ...]:
        """The folders paperlake writes (the output folder, DAGSTER_HOME): never read as landing files."""
        home = os.environ.get("DAGSTER_HOME")
        return (self.out_dir, *([Path(home).expanduser().resolve()] if home else []))


def write_whole(path: Path, data: bytes) -> None:
    """Write `path` whole: a hidden partial file renamed over it, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


RETAIN_REMOVED_ENV = "PAPERLAKE_RETAIN_REMOVED"
FEED_ENTRIES_ENV = "PAPERLAKE_FEED_ENTRIES"
FEED_BASE_URL_ENV = "PAPERLAKE_FEED_BASE_URL"


class SettingError(ValueError):
    """A setting from the environment that cannot be used; the message names the variable."""


def feed_from_env() -> dict[str, int | str]:
    """The Atom feed's settings set in the environment (PAPERLAKE_FEED_ENTRIES: how many papers,
    PAPERLAKE_FEED_BASE_URL: where <OUT>/digest/ is served), as resource fields; unset ones are left out."""
    settings: dict[str, int | str] = {}
    if entries := os.environ.get(FEED_ENTRIES_ENV, "").strip():
        if not entries.isdigit() or int(entries) < 1:
            raise SettingError(
                f"{FEED_ENTRIES_ENV} must be a whole number of papers above 0, not {entries!r}"
            )
        settings["feed_entries"] = int(entries)
    if base := os.environ.get(FEED_BASE_URL_ENV, "").strip():
        if not base.startswith(("http://", "https://", "file://")):
            raise SettingError(f"{FEED_BASE_URL_ENV} must be an http(s):// or file:// address, not {base!r}")
        settings["feed_base_url"] = base if base.endswith("/") else base + "/"
    return settings


def retain_removed_from_env() -> bool:
    """PAPERLAKE_RETAIN_REMOVED=1: a file deleted from the landing folder keeps its rows."""
    return os.environ.get(RETAIN_REMOVED_ENV, "").strip().lower() in ("1", "true", "yes")
