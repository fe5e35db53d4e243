"""The engine on sightings held in memory (`make eval`, tests): an in-memory DuckDB laid out as the lake's
staging table, so they run the very code a full build runs."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from paperlake.duck import open_db, sql_str
from paperlake.frames import from_arrow, to_arrow
from paperlake.resolve.engine import resolve
from paperlake.resolve.identity import Registry
from paperlake.resolve.pairs import MatchRules
from schemas import CONTRACT, ResolvedSightings, Sightings


@dataclass
class Resolution:
    sightings: pd.DataFrame  # input sightings (without their abstract) + record_id, paper_id, title_key
    papers: pd.DataFrame  # survived papers, before enrichment
    matches: pd.DataFrame  # every scored candidate pair and its decision
    registry: Registry


@contextlib.contextmanager
def _staged(sightings: pd.DataFrame | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB whose table `sightings` holds them (a Parquet file is read where it is)."""
    with open_db() as con:
        if isinstance(sightings, Path):
            con.execute(f"CREATE VIEW sightings AS SELECT * FROM read_parquet({sql_str(str(sightings))})")
        else:
            con.register("_rows", to_arrow(sightings, Sightings))
            con.execute("CREATE TABLE sightings AS SELECT * FROM _rows")  # buffer-managed: read many times
            con.unregister("_rows")
        yield con


def resolve_frame(
    sightings: pd.DataFrame | Path, registry: Registry | None = None, rules: MatchRules | None = None
) -> Resolution:
    """Resolve `sightings` (a frame, or a Parquet file with the contract's types, as the lake stages
    them) in full, from `registry`."""
    with _staged(sightings) as con:
        res = resolve(con, "sightings", rules or MatchRules(), registry=registry or Registry())
        resolved = con.execute(
            "SELECT o.* REPLACE (NULL::VARCHAR AS abstract), w.title_key "
            "FROM _out o JOIN _chrono w USING (sighting_id)"
        ).to_arrow_table()
        matches = from_arrow(con.execute("SELECT * FROM _matches_out").to_arrow_table(), CONTRACT["matches"])
    papers = res.core.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get, date_as_object=False)
    for field in res.core.schema:  # lists as Python lists, as a frame's readers compare them
        if pa.types.is_list(field.type):
            papers[field.name] = papers[field.name].map(list)
    out = from_arrow(resolved, ResolvedSightings).drop(columns="abstract")
    out["title_key"] = resolved.column("title_key").to_pylist()
    return Resolution(out, papers, matches, Registry(res.registry, res.aliases))


def resolve_counts(sightings: Path, rules: MatchRules | None = None) -> dict[str, int]:
    """The engine on a Parquet file of sightings, as a full build runs it, reporting only how many
    sightings and papers it resolved (`make eval`'s speed test: no result is converted to pandas)."""
    with _staged(sightings) as con:
        res = resolve(con, "sightings", rules or MatchRules())
        n = int(con.execute("SELECT count(*) FROM _chrono").fetchone()[0])  # type: ignore[index]
    return {"sightings": n, "papers": res.core.num_rows}
