"""What changed between two published versions: per table, the rows added, removed and changed (by the
table's key, with the columns whose values differ), read from the lake's own snapshots.

Nothing is copied: both versions are read in place with DuckLake's time travel (`AT (VERSION => v)`), and
the change feed (`changes.feed`) narrows the comparison to the keys the commits in between touched, so a
version that changed ten papers compares ten papers. A table the feed says no commit touched is unchanged.
When the feed cannot say (an expired snapshot, a schema change), the whole tables are compared. A row
rewritten with the same values is not a change.

Rows are matched by the catalog's key, null-safely: a file-level reject has no line or position, so its
key is its file, and three rejected files are three rejects. A column in `DERIVED` (a hash of the row's
other columns or of its file's bytes) is never a change of its own: an upvote count edited in a capture
is one changed sighting, not every sighting of the file. Changed rows come most changed first.

`diff()` is the notebook entry point: `paperlake.diff.diff().papers.to_pandas()`.
"""

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from paperlake import changes, lake
from paperlake.config import Paths
from paperlake.db import VersionError, published_versions
from paperlake.duck import Connection, scalar
from schemas.catalog import CATALOG, TABLES

DETAILED = ("papers", "sightings")
"""The tables whose changed rows `diff` returns (the others are counted only)."""

DERIVED = {"sightings": frozenset({"sighting_id", "page_id", "record_id"}), "rejects": frozenset({"page_id"})}
"""Per table, the columns whose change alone is no change of the row. Each is a hash, of the file's bytes
(`page_id`), of them and the row's key (`sighting_id`) or of the row's own title and abstract
(`record_id`): the file is matched by name and the row by its key, so a byte changed anywhere in a file
moves the hashes of all its rows while the values a reader reads stay. Their values stay in the `old` and
`new` rows. A page's `page_id` is not here: in `pages` it is the news that the file's bytes changed."""


@dataclass(frozen=True)
class VersionDiff:
    """From published version `since` (None: before the first version) to `until`.

    `counts`: per table, rows before and after, added, removed and changed. `papers` and `sightings`: one
    row per added, removed or changed row: its key, `change`, the changed `columns`, and the `old` and
    `new` rows as structs (null on the side where the row does not exist)."""

    since: int | None
    until: int
    counts: pa.Table
    papers: pa.Table
    sightings: pa.Table


def versions_of(paths: Paths, since: int | None = None, until: int | None = None) -> tuple[int | None, int]:
    """The pair a diff compares: `until` defaults to the newest published version and `since` to the
    published version before `until` (None when `until` is the first). Either, given, must be published."""
    published = published_versions(paths)
    if not published:
        raise VersionError("nothing has been published yet: run `paperlake run` first")
    for v in (since, until):
        if v is not None and v not in published:
            raise VersionError(f"version {v} was never published or has expired (see `paperlake history`)")
    if until is None:
        until = published[0]
    if since is None:
        since = next((v for v in published if v < until), None)
    return since, until


def diff(since: int | None = None, until: int | None = None, paths: Paths | None = None) -> VersionDiff:
    """What changed from published version `since` to `until` (defaults: see `versions_of`)."""
    paths = paths or Paths.from_env()
    since, until = versions_of(paths, since, until)
    with lake.open_lake(paths, read_only=True) as con:
        return compare(con, since, until)


def compare(con: Connection, since: int | None, until: int, tables: tuple[str, ...] = TABLES) -> VersionDiff:
    """`diff` on a connection with the lake attached (both snapshots must still exist), of `tables`
    (a detailed table left out comes back with no rows)."""
    feed = None if since is None else changes.feed(con, since, until)
    counts, detail = [], dict.fromkeys(DETAILED, pa.table({}))
    for table in tables:
        _changed_rows(con, table, since, until, feed, detailed=table in DETAILED)
        n = dict(con.execute("SELECT change, count(*) FROM _changed GROUP BY ALL").fetchall())
        before = 0 if since is None else _count(con, table, since)
        counts.append({"table": table, "before": before, "after": _count(con, table, until)})
        counts[-1] |= {c: n.get(c, 0) for c in ("added", "removed", "changed")}
        if table in DETAILED:  # added, changed (most columns changed first), removed; then by key
            order = ", ".join(f'"{k}"' for k in CATALOG[table].key)
            most = "CASE change WHEN 'changed' THEN len(columns) END DESC"
            detail[table] = con.execute(
                f"SELECT * FROM _changed ORDER BY change, {most}, {order}"
            ).to_arrow_table()
    con.execute("DROP TABLE IF EXISTS _changed; DROP TABLE IF EXISTS _scope")
    return VersionDiff(since, until, pa.Table.from_pylist(counts), detail["papers"], detail["sightings"])


def added(con: Connection, since: int | None, until: int, table: str, columns: list[str]) -> pa.Table:
    """`columns` of the rows of `table` that version `until` has and `since` had not (keys compared
    first, then only those rows read): what a feed of new rows needs, without the old and new rows of
    everything that changed."""
    feed = None if since is None else changes.feed(con, since, until)
    _changed_rows(con, table, since, until, feed, detailed=False)
    rows = con.execute(f"""SELECT {", ".join(f't."{c}"' for c in columns)}
        FROM {lake.main_table(table)} t AT (VERSION => {int(until)})
        SEMI JOIN (SELECT * FROM _changed WHERE change = 'added') c
            ON {_same_key(table, "t", "c")}""").to_arrow_table()
    con.execute("DROP TABLE IF EXISTS _changed")
    return rows


def _scope(con: Connection, table: str, feed: changes.Feed | None) -> str:
    """What narrows `table`'s rows to those the commits in between touched: nothing when the feed cannot
    say, no row when no commit touched the table, else the keys the feed lists (temp table `_scope`)."""
    if feed is None:
        return ""
    if table not in feed.tables:
        return "LIMIT 0"
    key_cols = ", ".join(f'"{k}"' for k in CATALOG[table].key)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _scope AS SELECT DISTINCT {key_cols}
        FROM {lake.ALIAS}.main.table_changes('{CATALOG[table].name}', {feed.start}, {feed.until})""")
    return f"SEMI JOIN _scope s ON {_same_key(table, 't', 's')}"


def _same_key(table: str, a: str, b: str) -> str:
    """SQL: rows `a` and `b` of `table` have the same key. Null-safe: a key column may be null (a
    file-level reject has no line and no position), and `USING`/`=` would match such a row to nothing."""
    return " AND ".join(f'{a}."{k}" IS NOT DISTINCT FROM {b}."{k}"' for k in CATALOG[table].key)


def _count(con: Connection, table: str, version: int) -> int:
    try:
        at = f"{lake.main_table(table)} AT (VERSION => {int(version)})"
        return int(scalar(con, f"SELECT count(*) FROM {at}"))
    except duckdb.CatalogException:  # the table did not exist yet at that version
        return 0


def _side(con: Connection, table: str, version: int | None, scope: str) -> str:
    """The rows of `table` at `version` within `scope` (none before the first version, or before the
    table existed)."""
    none = f"(SELECT * FROM {lake.main_table(table)} LIMIT 0)"
    if version is None:
        return none
    rows = f"{lake.main_table(table)} t AT (VERSION => {int(version)})"
    try:
        con.execute(f"SELECT 1 FROM {rows} LIMIT 0")
    except duckdb.CatalogException:
        return none
    return f"(SELECT t.* FROM {rows} {scope})"


def _changed_rows(
    con: Connection, table: str, since: int | None, until: int, feed: changes.Feed | None, detailed: bool
) -> None:
    """Temp table `_changed`: the key of each row added, removed or changed from `since` to `until` (only
    the keys `feed` says were touched, when it can say), its `change` and changed `columns` (and the
    `old`/`new` rows as structs when `detailed`). The `DERIVED` columns are never among the changed."""
    keys = CATALOG[table].key
    key_cols = ", ".join(f'"{k}"' for k in keys)
    scope = _scope(con, table, feed)
    old, new = _side(con, table, since, scope), _side(con, table, until, scope)
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {new}").fetchall()]
    compared = [c for c in cols if c not in keys and c not in DERIVED.get(table, ())]
    differs = ", ".join(f'CASE WHEN o.r."{c}" IS DISTINCT FROM n.r."{c}" THEN \'{c}\' END' for c in compared)
    on = _same_key(table, "o", "n")
    pick = ", ".join(f'coalesce(n."{k}", o."{k}") AS "{k}"' for k in keys)
    rows = ", o.r AS old, n.r AS new" if detailed else ""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _changed AS SELECT * FROM (
            SELECT {pick},
                   CASE WHEN o.r IS NULL THEN 'added' WHEN n.r IS NULL THEN 'removed' ELSE 'changed' END
                       AS change,
                   list_filter([{differs}], c -> c IS NOT NULL) AS columns{rows}
            FROM (SELECT {key_cols}, t AS r FROM {old} t) o
            FULL JOIN (SELECT {key_cols}, t AS r FROM {new} t) n ON {on})
        WHERE change <> 'changed' OR len(columns) > 0""")


SHOWN = ("title", "abstract", "upvotes_max", "upvotes", "has_code", "github_repos", "links", "topics")
"""The columns a reader asks about first: a change summary spells these out, old → new."""


def summary(columns: list[str], old: dict, new: dict, width: int = 40) -> str:
    """One changed row in words: the SHOWN columns spelt out (numbers old → new, lists +added -removed,
    text shortened), then the names of the other changed columns."""
    said, rest = [], []
    for col in sorted(columns, key=lambda c: SHOWN.index(c) if c in SHOWN else len(SHOWN)):
        a, b = old.get(col), new.get(col)
        if col not in SHOWN:
            rest.append(col)
        elif isinstance(a, list) or isinstance(b, list):
            gained = [f"+{v}" for v in b or [] if v not in (a or [])]
            lost = [f"-{v}" for v in a or [] if v not in (b or [])]
            said.append(f"{col} {' '.join(gained + lost) or 'reordered'}")
        elif col == "abstract":
            said.append("abstract edited")
        elif isinstance(a, str) or isinstance(b, str):
            said.append(f"{col} {_short(a, width)!r} → {_short(b, width)!r}")
        else:
            said.append(f"{col} {a} → {b}")
    return "; ".join(said + ([", ".join(rest)] if rest else []))


def _short(text: object, width: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


def as_records(d: VersionDiff, columns: Sequence[str] = ()) -> dict:
    """The diff as plain data (what `paperlake diff --format json` prints): counts per table, then per
    detailed table the added and removed rows (key and title) and each changed row's changed columns,
    old → new, most changed first. Given `columns`, only the changed rows where one of them changed
    (no added or removed row; the counts stay those of the whole diff): ValueError names one unknown."""
    _known(d, columns)
    out: dict = {"since": d.since, "until": d.until, "tables": d.counts.to_pylist()}
    for table in DETAILED:
        keys = CATALOG[table].key
        grouped: dict[str, list] = {"added": [], "removed": [], "changed": []}
        for r in getattr(d, table).to_pylist():
            if columns and not set(columns) & set(r["columns"] if r["change"] == "changed" else ()):
                continue
            row = r["new"] if r["new"] is not None else r["old"]
            item = {k: r[k] for k in keys} | {c: row[c] for c in ("title", "paper_id") if c not in keys}
            if r["change"] == "changed":
                item["columns"] = r["columns"]
                item |= {side: {c: r[side][c] for c in r["columns"]} for side in ("old", "new")}
            grouped[r["change"]].append(item)
        out[table] = grouped
    return out


def _known(d: VersionDiff, columns: Sequence[str]) -> None:
    """ValueError unless each of `columns` is a column of a detailed table (naming the closest one)."""
    rows = [getattr(d, t).schema for t in DETAILED]  # a table left out of `compare` has no `new` rows
    have = sorted({f.name for s in rows if "new" in s.names for f in s.field("new").type})
    if unknown := [c for c in columns if c not in have]:
        close = difflib.get_close_matches(unknown[0], have, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"one of {', '.join(have)}"
        raise ValueError(f"no column {unknown[0]!r} in {' or '.join(DETAILED)}: {hint}")


def as_rows(d: VersionDiff, columns: Sequence[str] = ()) -> list[dict]:
    """The diff in long form (what `--format csv` prints): one row per added or removed row, and one
    per changed column of a changed row, with the old and new values (lists and dates as JSON); given
    `columns`, those of `as_records(d, columns)`."""
    out, records = [], as_records(d, columns)
    for table in DETAILED:
        for change, items in records[table].items():
            for item in items:
                key = "/".join(str(item[k]) for k in CATALOG[table].key)
                base = {"table": table, "change": change, "key": key, "title": item["title"]}
                if change != "changed":
                    out.append(base | {"column": "", "old": "", "new": ""})
                for col in item.get("columns", []):
                    old, new = item["old"][col], item["new"][col]
                    out.append(base | {"column": col, "old": _text(old), "new": _text(new)})
    return out


def _text(value: object) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(value, default=str, ensure_ascii=False)
