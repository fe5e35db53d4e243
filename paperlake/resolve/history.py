"""Upvote history and growth: per paper and page date, the most upvotes printed (and a file printing
them); growth per day over the last GROWTH_WINDOW_DAYS of a paper's observations."""

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

GROWTH_WINDOW_DAYS = 30


def history(con: duckdb.DuckDBPyConnection, sightings: str) -> None:
    """`_history`: each paper and page date of the resolved `sightings`, the max upvotes printed and a
    file that printed them: the first by name of those, else the day's first file."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _history AS
        SELECT paper_id, page_date, max(upvotes) AS upvotes,
               first(source_file ORDER BY upvotes DESC NULLS LAST, source_file) AS source_file
        FROM {sightings} WHERE page_date IS NOT NULL GROUP BY ALL ORDER BY paper_id, page_date"""
    )


def growth(con: duckdb.DuckDBPyConnection, window_days: int = GROWTH_WINDOW_DAYS) -> pa.Table:
    """Each paper's upvote growth per day over `_history` (paper_id, upvotes_growth_per_day): (last -
    first upvotes) / days over the observations in the last `window_days` before the latest one, rounded
    to 3 places (half to even); null over a single day."""
    g = con.execute(
        f"""WITH h AS (SELECT *, max(page_date) OVER (PARTITION BY paper_id) AS last
                       FROM _history WHERE upvotes IS NOT NULL)
        SELECT paper_id, date_diff('day', min(page_date), max(page_date))::DOUBLE AS days,
               (arg_max(upvotes, page_date) - arg_min(upvotes, page_date))::DOUBLE AS gain
        FROM h WHERE page_date >= last - INTERVAL {int(window_days)} DAY GROUP BY paper_id"""
    ).to_arrow_table()
    days = g.column("days")
    rate = pc.round(
        pc.divide(g.column("gain"), pc.if_else(pc.greater(days, 0), days, None)), 3, "half_to_even"
    )
    return pa.table({"paper_id": g.column("paper_id"), "upvotes_growth_per_day": rate})
