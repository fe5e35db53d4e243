"""The abstract survivorship keeps: the longest, the latest on ties (`_order` of `_chrono`).

Per record, the winner (its sighting and text) is stored (`staging.record_abstracts`), so that a paper's
abstract is the longest of its records' winners and an increment reads one abstract per record: a
record's winner changes only when a sighting of it is added (a candidate) or its winner's file changed or
was shadowed by a copy of its page (then the record's remaining abstracts are read again).
"""

import duckdb

from paperlake.duck import scalar

WINNER = (
    "{'sighting_id': sighting_id, 'source_file': source_file, 'position': position, 'fresh': fresh, "
    "'abstract_len': abstract_len, 'paper_id': paper_id, '_order': _order}"
)


def record_winners(con: duckdb.DuckDBPyConnection, records: str, stored: str, staged: str, main: str) -> None:
    """`_win`: the winner of each record of `records` (record_id) over its sightings in `_chrono`
    (`fresh`: read now, with abstract_len), given the `stored` winners; its text from `staged` (fresh) or
    `main` (a record read again), none when the stored winner stays (its stored row is kept, unread)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _cand AS
        SELECT c.record_id, c.paper_id, c.sighting_id, c.source_file, c.position, c._order, c.fresh,
               CASE WHEN c.fresh THEN c.abstract_len ELSE w.abstract_len END AS abstract_len
        FROM _chrono c LEFT JOIN {stored} w
             ON w.record_id = c.record_id AND w.source_file = c.source_file AND w.position = c.position
        WHERE NOT c.bare AND c._order IS NOT NULL AND c.record_id IN (SELECT record_id FROM {records});
        CREATE OR REPLACE TEMP TABLE _reread_ids AS SELECT record_id FROM _cand GROUP BY record_id
        HAVING bool_or(NOT fresh) AND NOT bool_or(NOT fresh AND abstract_len IS NOT NULL)"""
    )
    some = scalar(con, "SELECT count(*) FROM _reread_ids") > 0  # else the abstracts are not scanned at all
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _reread AS
        SELECT m.source_file, m.position, length(m.abstract) AS abstract_len, m.abstract
        FROM _reread_ids r JOIN {main} m USING (record_id)
        SEMI JOIN _cand c ON c.source_file = m.source_file AND c.position = m.position
        WHERE {str(some).upper()};
        CREATE OR REPLACE TEMP TABLE _w AS
        SELECT record_id, arg_max({WINNER}, (abstract_len, _order)) AS w FROM (
            SELECT c.* REPLACE (coalesce(c.abstract_len, r.abstract_len) AS abstract_len)
            FROM _cand c LEFT JOIN _reread r USING (source_file, position))
        WHERE abstract_len IS NOT NULL GROUP BY record_id;
        CREATE OR REPLACE TEMP TABLE _w AS SELECT record_id, unnest(w) FROM _w;
        CREATE OR REPLACE TEMP TABLE _win AS
        SELECT w.*, n.abstract FROM _w w
        JOIN (SELECT sighting_id, abstract FROM {staged}) n USING (sighting_id) WHERE w.fresh
        UNION ALL SELECT w.*, r.abstract FROM _w w JOIN _reread r USING (source_file, position)
        WHERE NOT w.fresh
        UNION ALL SELECT w.*, NULL FROM _w w WHERE NOT w.fresh AND NOT EXISTS (
            SELECT 1 FROM _reread r WHERE r.source_file = w.source_file AND r.position = w.position);
        DROP TABLE _cand; DROP TABLE _reread; DROP TABLE _w"""
    )


def paper_abstracts(con: duckdb.DuckDBPyConnection, changed: str, stored: str) -> None:
    """`_paper_abs` (paper_id, abstract): each paper in `_chrono`, the longest of its records' winners:
    `_win` for the `changed` records, the `stored` winners for the others (only the text that wins is
    read, from `_win` when it holds it)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _pw AS
        SELECT paper_id, arg_max({{'record_id': record_id, 'new': new}}, (abstract_len, _order)) AS w FROM (
            SELECT record_id, paper_id, abstract_len, _order, abstract IS NOT NULL AS new FROM _win
            UNION ALL
            SELECT s.record_id, c.paper_id, s.abstract_len, c._order, false FROM {stored} s
            JOIN _chrono c
              ON c.record_id = s.record_id AND c.source_file = s.source_file AND c.position = s.position
                 AND c._order IS NOT NULL
            WHERE s.record_id NOT IN (SELECT record_id FROM {changed}))
        GROUP BY paper_id;
        CREATE OR REPLACE TEMP VIEW _paper_abs AS
        SELECT p.paper_id, n.abstract FROM _pw p
        JOIN _win n ON n.record_id = p.w.record_id WHERE p.w.new
        UNION ALL SELECT p.paper_id, s.abstract FROM _pw p JOIN {stored} s ON s.record_id = p.w.record_id
        WHERE NOT p.w.new"""
    )
