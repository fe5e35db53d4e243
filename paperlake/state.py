"""What the lake holds of the landing folder, and whether a run has anything to do.

Light on imports (no pandas, scikit-learn or Dagster): `paperlake run` answers "nothing new" from here in
well under the time it takes to import Dagster.
"""

import pyarrow as pa

from paperlake import changes, lake
from paperlake.config import Paths, write_whole
from paperlake.duck import Connection
from paperlake.landing import FileState, LandingDiff

FILES = lake.staging_table("files")
FILES_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("day", pa.string()), ("n_bytes", pa.int64()), ("mtime_ns", pa.int64())]
)


def ingested_state(con: Connection) -> dict[str, FileState]:
    """What the lake holds for each ingested file: the size, mtime and landing day it was parsed from."""
    rows = lake.read(con, FILES, FILES_SCHEMA).to_pylist()
    return {r["source_file"]: FileState(r["n_bytes"], r["mtime_ns"], r["day"]) for r in rows}


def up_to_date(paths: Paths, change: LandingDiff) -> int | None:
    """The published version when nothing is left to do: no landing `change`, no commit to the staging
    or main tables since that version was published, and the serving file holds it. Else None."""
    if not change.empty or not paths.duckdb_path.exists():  # nothing served yet: maybe no lake to open
        return None
    with lake.open_lake(paths, read_only=True) as con:
        return served_and_unchanged(con, paths, ("staging", "main"))


def served_and_unchanged(con: Connection, paths: Paths, schemas: tuple[str, ...]) -> int | None:
    """The last published version when no table of `schemas` changed since the lake was last known to
    serve it (`lake.settled`) and the serving file holds it (the same rule for `paperlake run`'s "nothing
    new" and for publishing's "keep the served version")."""
    from paperlake.warehouse import served_version  # pandas: only when a serving file exists

    last = lake.last_version(con)
    if last is None or not paths.duckdb_path.exists():
        return None
    if changes.changed_since(con, lake.settled(con, last), schemas):
        return None
    return last if served_version(paths) == last else None


# What a published version gets besides its tables, written after publishing (out_report, out_digest): a
# run stopped or failed between publishing and these leaves them behind, so each records the version it
# was made for and the next run writes the missing ones (without publishing anything).
OUTPUTS = ("report", "digest")


def output_written(paths: Paths, name: str, version: int) -> None:
    """Record that output `name` (one of OUTPUTS) now shows published `version`."""
    write_whole(paths.state_dir / "outputs" / name, str(version).encode())


def outputs_missing(paths: Paths, version: int) -> list[str]:
    """The OUTPUTS not yet written for published `version`."""
    return [name for name in OUTPUTS if _made_for(paths, name) != str(version)]


def _made_for(paths: Paths, name: str) -> str:
    try:
        return (paths.state_dir / "outputs" / name).read_text(encoding="utf-8").strip()
    except OSError:
        return ""
