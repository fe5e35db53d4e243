"""Incremental entity resolution: resolve only what the files changed since the last resolution touch,
with the same result as resolving every sighting again (`paperlake.resolve_db.resolve_full`, registry
kept).

Stored state (staging schema): `records` (one row per record: its keys, hashed abstract head/tail block
keys, first_seen and the fields the evidence compares), the id registry, `papers_core`, and the main
tables (`sightings` carry record_id and paper_id, `matches` every scored pair). Why the result is exact:
  * A changed file changes the records it had or has (A). A block whose size before or after is within
    `max_block` may gain or lose pairs, so every record in it (T) has its pairs re-found, with block
    sizes counted over all records; a pair with neither record in T keeps its blocks, fields and order.
  * Clusters can only change where a pair of T changed: the old papers of T and of the records merged
    with T (K) are re-clustered with their merged pairs, and ids are assigned as in a full run (records
    earliest first, the registry and aliases); every other paper keeps its records and id.
  * Sightings without an abstract attach by (title key, published date); only the keys of sightings
    whose paper changed are re-attached.
  * Papers (survivorship), upvote history and the matches' paper ids are recomputed for the papers
    whose sightings or aliases changed, from all of their sightings.
Sightings are ordered by (source_file, position) in both paths, so "first non-null" is deterministic.
A run that cannot stay local (a newly minted id held by a paper outside K, possible only when a split
reused a hash) raises `Fallback` and the caller resolves everything.
"""

from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa

from paperlake import commit, lake
from paperlake.duck import scalar, sql_str
from paperlake.frames import arrow_schema, columns, from_arrow, to_arrow
from paperlake.match import short_names
from paperlake.resolve import (
    BLOCK_COLUMNS,
    MatchRules,
    Registry,
    aggregate_records,
    assign_ids,
    attach_ids,
    bare_record_ids,
    block_keys,
    block_pairs,
    build_records,
    chronological,
    cluster,
    longest_abstracts,
    score_pairs,
    survive,
    text_key_series,
    with_block_keys,
    with_papers,
)
from paperlake.resolve_db import history_and_growth
from schemas import CONTRACT, Pages, ResolvedSightings, Sightings
from schemas.catalog import written_by

STAGING = {t: lake.staging_table(t) for t in ("pages", "sightings", "rejects")}
RECORDS, RECORD_ABSTRACTS, PAPERS_CORE, REGISTRY_RECORDS, REGISTRY_ALIASES = map(
    lake.staging_table, ("records", "record_abstracts", "papers_core", "registry_records", "registry_aliases")
)
MAIN = {t: lake.main_table(t) for t in written_by("resolve")}
RECORD_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("title_key", pa.string()),
        ("abstract_key", pa.string()),
        ("abstract_head", pa.string()),
        ("abstract_tail", pa.string()),
        ("first_seen", pa.date32()),
        ("name", pa.string()),
        ("published_date", pa.date32()),
        ("authors_count", pa.int64()),
        ("organization", pa.string()),
    ]
)
ABSTRACT_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("source_file", pa.string()),
        ("position", pa.int64()),
        ("abstract_len", pa.int64()),
        ("abstract", pa.string()),
    ]
)
STORED = "temp.main.stored_sightings"
_PAGE_COLS = [c for c in arrow_schema(Pages).names if c != "duplicate_of"]


@dataclass
class Delta:
    """What one resolution changed: papers_core rows inserted or changed, and removed."""

    changed_papers: set[str] = field(default_factory=set)
    removed_papers: set[str] = field(default_factory=set)


def ordered(sightings: pd.DataFrame) -> pd.DataFrame:
    """Sightings in (source_file, position) order: the order "first" means in both paths."""
    return sightings.sort_values(["source_file", "position"], kind="stable").reset_index(drop=True)


def record_rows(sightings: pd.DataFrame, rules: MatchRules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sightings with an abstract (ordered) → (sightings with keys and record_id, records with hashed
    block keys), as `build_records` defines them."""
    s, records = build_records(sightings)
    return s, with_blocks(records, rules)


def record_abstracts(sightings: pd.DataFrame) -> pd.DataFrame:
    """Each record's longest abstract and the sighting printing it, of ordered sightings with record_id
    (stored, so that survivorship reads one abstract per record, not every sighting's)."""
    longest = longest_abstracts(chronological(sightings), "record_id")[ABSTRACT_SCHEMA.names]
    return longest.astype({"abstract_len": "int64"})


def abstracts_arrow(winners: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(winners[ABSTRACT_SCHEMA.names], schema=ABSTRACT_SCHEMA, preserve_index=False)


def with_blocks(records: pd.DataFrame, rules: MatchRules) -> pd.DataFrame:
    """Records as stored: their columns of RECORD_SCHEMA, block keys included (`with_block_keys`)."""
    return with_block_keys(records, rules)[RECORD_SCHEMA.names]


def records_arrow(records: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(records[RECORD_SCHEMA.names], schema=RECORD_SCHEMA, preserve_index=False)


def _ids(values) -> list[str]:
    return sorted({v for v in values if isinstance(v, str)})


def _in(column: str, param: str) -> str:
    return f"{column} IN (SELECT unnest(${param}::VARCHAR[]))"


def _records(con: duckdb.DuckDBPyConnection, where: str, params: dict, wide: bool = False) -> pd.DataFrame:
    """Stored records; without `wide` the abstract key (the one wide column, read in full by any
    query that selects it) is left null."""
    cols = "*" if wide else "* EXCLUDE (abstract_key), NULL::VARCHAR AS abstract_key"
    df = con.execute(f"SELECT {cols} FROM {RECORDS} WHERE {where}", params).to_arrow_table()
    df = df.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
    return df.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get, date_as_object=False)


def select(con: duckdb.DuckDBPyConnection, table: str, model, where: str, params: dict) -> pd.DataFrame:
    """Rows of a table the state check found (no existence or column look-ups: each costs a catalog
    query), typed by the model."""
    schema = arrow_schema(model)
    cols = ", ".join(f'"{c}"' for c in schema.names)
    rows = con.execute(f"SELECT {cols} FROM {table} WHERE {where}", params).to_arrow_table()
    return from_arrow(rows.cast(schema), model)


def has_state(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every table an incremental resolution reads exists."""
    want = {RECORDS, RECORD_ABSTRACTS, PAPERS_CORE, REGISTRY_RECORDS, REGISTRY_ALIASES, *MAIN.values()}
    return want <= lake.tables(con)


def _sightings(con: duckdb.DuckDBPyConnection, where: str, params: dict, files: list[str]) -> pd.DataFrame:
    """Resolved sightings of unchanged files matching `where`, from the run's copy without their
    abstract (null: the column is most of the table's bytes; `flag` says which printed none)."""
    schema = arrow_schema(ResolvedSightings)
    cols = ", ".join(f'NULL::VARCHAR AS "{c}"' if c == "abstract" else f'"{c}"' for c in schema.names)
    where = f"({where}) AND NOT {_in('source_file', 'files')}"
    rows = con.execute(f"SELECT {cols} FROM {STORED} WHERE {where}", {**params, "files": files})
    return from_arrow(rows.to_arrow_table().cast(schema), ResolvedSightings)


def _abstracts(con: duckdb.DuckDBPyConnection, sightings: pd.DataFrame) -> pd.Series:
    """The abstracts of stored sightings (one scan of the abstract column)."""
    keys = pa.Table.from_pandas(sightings[["source_file", "position"]], preserve_index=False)
    con.register("_want", keys)
    got = con.execute(
        f"SELECT s.source_file, s.position, s.abstract FROM {MAIN['sightings']} s "
        "SEMI JOIN _want w ON s.source_file = w.source_file AND s.position = w.position"
    ).df()
    con.unregister("_want")
    index = pd.MultiIndex.from_frame(got[["source_file", "position"]])
    found = pd.Series(got["abstract"].values, index=index, dtype=object)
    return pd.Series(
        found.reindex(pd.MultiIndex.from_frame(sightings[["source_file", "position"]])).values,
        index=sightings.index,
        dtype=object,
    )


def changed_files(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Files whose staged page row differs from the one the last resolution wrote (new, changed, gone)."""
    cols = ", ".join(f'"{c}"' for c in _PAGE_COLS)
    p, m = STAGING["pages"], MAIN["pages"]
    rows = con.execute(
        f"SELECT DISTINCT source_file FROM ((SELECT {cols} FROM {p} EXCEPT ALL SELECT {cols} FROM {m}) "
        f"UNION ALL (SELECT {cols} FROM {m} EXCEPT ALL SELECT {cols} FROM {p}))"
    ).fetchall()
    return sorted(r[0] for r in rows)


def _db_counts(con: duckdb.DuckDBPyConnection, keys: pd.DataFrame) -> pd.Series:
    """(kind, key) → number of stored records with that block key."""
    parts = []
    params = {}
    for n, kind in enumerate(BLOCK_COLUMNS):
        col = BLOCK_COLUMNS[kind]
        params[f"k{n}"] = _ids(keys.loc[keys["kind"] == kind, "key"])
        parts.append(
            f"SELECT '{kind}' AS kind, {col} AS key, count(*) AS n FROM {RECORDS} "
            f"WHERE {_in(col, f'k{n}')} GROUP BY {col}"
        )
    df = con.execute(" UNION ALL ".join(parts), params).df()
    return df.astype({"n": int}).set_index(["kind", "key"])["n"]


def _count(keys: pd.DataFrame) -> pd.Series:
    return keys.groupby(["kind", "key"]).size()


def _members(
    con: duckdb.DuckDBPyConnection,
    keys: pd.DataFrame,
    post_a: pd.DataFrame,
    a_ids: list[str],
    wide: bool = False,
    also: list[str] | None = None,
):
    """Records (after the change) holding any of the block keys: stored ones outside A, and A's; and
    the stored rows of `also` (A's records whose abstract key is read here)."""
    params = {"a": a_ids, "also": also or []}
    conds = []
    for n, kind in enumerate(BLOCK_COLUMNS):
        params[f"k{n}"] = _ids(keys.loc[keys["kind"] == kind, "key"])
        conds.append(_in(BLOCK_COLUMNS[kind], f"k{n}"))
    where = f"(({' OR '.join(conds)}) AND NOT {_in('record_id', 'a')}) OR {_in('record_id', 'also')}"
    stored = _records(con, where, params, wide)
    mine = block_keys(post_a).merge(keys[["kind", "key"]].drop_duplicates(), on=["kind", "key"])
    return pd.concat([stored, post_a[post_a["record_id"].isin(mine["record_id"])]], ignore_index=True)


def _earliest_first(records: pd.DataFrame) -> pd.DataFrame:
    return (
        records.drop_duplicates("record_id")
        .sort_values(["first_seen", "record_id"], na_position="last", kind="stable")
        .reset_index(drop=True)
    )


def _paper_of(con: duckdb.DuckDBPyConnection, record_ids: list[str]) -> pd.Series:
    df = con.execute(
        f"SELECT record_id, paper_id FROM {REGISTRY_RECORDS} WHERE {_in('record_id', 'r')}", {"r": record_ids}
    ).df()
    return pd.Series(df["paper_id"].values, index=df["record_id"].values, dtype=object)


def _matches(con: duckdb.DuckDBPyConnection, record_ids: list[str]) -> pd.DataFrame:
    """Stored matches with a record in `record_ids`."""
    where = f"{_in('record_a', 'r')} OR {_in('record_b', 'r')}"
    return select(con, MAIN["matches"], CONTRACT["matches"], where, {"r": record_ids})


class Fallback(Exception):
    """The change cannot be applied locally (a new id is held by another paper): resolve everything."""


def _of_files(files: list[str]) -> str:
    """A literal list, so that the per-file min/max statistics can skip data files."""
    return f"source_file IN ({', '.join(map(sql_str, files))})"


def _staged_sightings(con: duckdb.DuckDBPyConnection, files: list[str]) -> pd.DataFrame:
    return ordered(select(con, STAGING["sightings"], Sightings, _of_files(files), {}))


@dataclass
class _Records:
    """The records A the changed files had or have: after the change (post) and as stored (old)."""

    ids: list[str]
    post: pd.DataFrame
    old: pd.DataFrame
    sightings: pd.DataFrame  # the changed files' sightings with an abstract, with record_id
    abstracts: pd.DataFrame  # post's longest abstracts (`record_abstracts`; null: the stored one, unread)

    @property
    def removed(self) -> set[str]:
        return set(self.ids) - set(self.post["record_id"])


def _changed_records(
    con: duckdb.DuckDBPyConnection, files: list[str], new_abs: pd.DataFrame, old_s: pd.DataFrame, rules
) -> _Records:
    """A, each record recomputed from all of its sightings (the unchanged files', keyed by the stored
    record, and the new ones)."""
    new_abs = record_rows(new_abs, rules)[0] if len(new_abs) else new_abs.assign(record_id=None)
    ids = _ids([*old_s.loc[old_s["flag"] != "no_abstract", "record_id"], *new_abs["record_id"]])
    old = _records(con, _in("record_id", "r"), {"r": ids})
    rest = _sightings(con, _in("record_id", "r"), {"r": ids}, files)
    rest = rest.merge(old[["record_id", "title_key"]], on="record_id").assign(abstract_key=None)
    both = ordered(pd.concat([_with_longest(con, rest, ids, files), new_abs], ignore_index=True))
    if both.empty:
        return _Records(ids, old.iloc[:0], old, new_abs, pd.DataFrame(columns=ABSTRACT_SCHEMA.names))
    post = _post_records(aggregate_records(both.assign(name=short_names(both["title"]))), old, rules)
    return _Records(ids, post, old, new_abs, record_abstracts(both))


def _post_records(records: pd.DataFrame, old: pd.DataFrame, rules: MatchRules) -> pd.DataFrame:
    """A's records with block keys: a record seen only in unchanged files keeps its stored ones (its
    abstract key, a wide column, is null until `_scored_pairs` reads it with the blocks)."""
    unknown = records["abstract_key"].isna().to_numpy()
    post = with_blocks(records, rules)
    stored = old.set_index("record_id")
    for col in ("abstract_head", "abstract_tail"):
        post.loc[unknown, col] = post.loc[unknown, "record_id"].map(stored[col]).values
    return post


def _with_longest(con: duckdb.DuckDBPyConnection, rest: pd.DataFrame, ids: list[str], files: list[str]):
    """The unchanged files' sightings of A with what can still be their record's longest abstract: the
    stored longest's length (its text is not read), or, where its file changed, all of the record's."""
    stored = con.execute(
        f"SELECT record_id, source_file, position, abstract_len FROM {RECORD_ABSTRACTS} "
        f"WHERE {_in('record_id', 'r')} AND NOT {_in('source_file', 'f')}",
        {"r": ids, "f": files},
    ).df()
    rest = rest.merge(stored.drop(columns="record_id"), on=["source_file", "position"], how="left")
    lost = ~rest["record_id"].isin(stored["record_id"]).to_numpy()
    if lost.any():
        rest.loc[lost, "abstract"] = _abstracts(con, rest[lost]).values
    return rest


def _scored_pairs(con: duckdb.DuckDBPyConnection, a: _Records, rules: MatchRules):
    """T (A and the records sharing a block with A that is or was small enough to pair) and the scored
    pairs with a record in T, over block sizes counted on all records."""
    a_keys = pd.concat([block_keys(a.old), block_keys(a.post)]).drop_duplicates(["kind", "key"])
    delta = _count(block_keys(a.post)).sub(_count(block_keys(a.old)), fill_value=0)
    before = _db_counts(con, a_keys)
    sizes = pd.DataFrame({"before": before, "after": before.add(delta, fill_value=0)}).fillna(0)
    touched = sizes[sizes.min(axis=1) <= rules.max_block].reset_index()[["kind", "key"]]
    t_recs = pd.concat([_members(con, touched, a.post, a.ids), a.post]).drop_duplicates("record_id")
    t_ids = set(a.ids) | set(t_recs["record_id"])  # (narrow: only their block keys are needed)
    t_keys = block_keys(t_recs).drop_duplicates(["kind", "key"])
    after = _db_counts(con, t_keys).add(delta, fill_value=0)
    valid = after[(after >= 2) & (after <= rules.max_block)].reset_index()[["kind", "key"]]
    unknown = _ids(a.post.loc[a.post["abstract_key"].isna(), "record_id"])
    members = _members(con, valid, a.post, a.ids, wide=True, also=unknown)
    from_store = (members["record_id"].isin(unknown) & members["abstract_key"].notna()).to_numpy()
    keys = members[from_store].set_index("record_id")["abstract_key"]
    a.post["abstract_key"] = a.post["abstract_key"].fillna(a.post["record_id"].map(keys))
    members = members[~from_store]
    members = members.assign(abstract_key=members["abstract_key"].fillna(members["record_id"].map(keys)))
    blocks = _earliest_first(members)
    pairs = block_pairs(blocks, block_keys(blocks).merge(valid, on=["kind", "key"]), t_ids)
    if pairs.empty:
        return t_ids, None, blocks
    return t_ids, score_pairs(blocks, pairs, rules).drop(columns=["i", "j"]), blocks


def resolve_changed(con: duckdb.DuckDBPyConnection, files: list[str], rules: MatchRules) -> Delta:
    """Resolve the changed `files` against the stored state and write every affected row, in one commit.
    The stored sightings are read once, without abstracts, into a temporary table the steps query."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {STORED} AS SELECT * EXCLUDE (abstract) FROM {MAIN['sightings']}"
    )
    try:
        return _resolve_changed(con, files, rules)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {STORED}")


def _resolve_changed(con: duckdb.DuckDBPyConnection, files: list[str], rules: MatchRules) -> Delta:
    new_s = _staged_sightings(con, files)
    old_s = _sightings(con, _of_files(files), {}, [])
    has_abs = new_s["abstract"].notna()
    a = _changed_records(con, files, new_s[has_abs], old_s, rules)
    t_ids, scored, blocks = _scored_pairs(con, a, rules)

    # K: the old papers of T and of the records T merges with, re-clustered; ids as a full run gives
    seeds = set(t_ids)
    if scored is not None:
        hit = scored[scored["merged"]]
        seeds |= set(hit["record_a"]) | set(hit["record_b"])
    k_old_ids = set(_paper_of(con, _ids(seeds)).values)
    k_registry = con.execute(
        f"SELECT record_id, paper_id FROM {REGISTRY_RECORDS} WHERE {_in('paper_id', 'p')}",
        {"p": _ids(k_old_ids)},
    ).df()
    k_ids = (set(k_registry["record_id"]) | set(a.post["record_id"])) - a.removed
    stored_k = _records(
        con, f"{_in('record_id', 'r')} AND NOT {_in('record_id', 'a')}", {"r": _ids(k_ids), "a": a.ids}
    )
    k_recs = _with_abstract_keys(con, pd.concat([stored_k, a.post], ignore_index=True), [blocks, a.post])
    old_pairs = _matches(con, _ids(t_ids | set(k_registry["record_id"])))
    kept_pairs = old_pairs[~(old_pairs["record_a"].isin(t_ids) | old_pairs["record_b"].isin(t_ids))]
    pairs = pd.concat([kept_pairs, scored], ignore_index=True) if scored is not None else kept_pairs
    edges = pairs[pairs["merged"].astype(bool)]
    index = pd.Series(k_recs.index, index=k_recs["record_id"].values)
    if not (edges["record_a"].isin(index.index) & edges["record_b"].isin(index.index)).all():
        raise Fallback("a merged pair leaves the re-clustered papers")
    graph = pd.DataFrame(
        {"i": edges["record_a"].map(index), "j": edges["record_b"].map(index), "merged": True}
    )
    aliases = con.execute(f"SELECT old_id, paper_id FROM {REGISTRY_ALIASES}").df()
    paper_of_record, registry = assign_ids(k_recs, cluster(len(k_recs), graph), Registry(k_registry, aliases))
    fresh = _ids(set(paper_of_record.values) - k_old_ids)
    taken = f"SELECT count(*) FROM {REGISTRY_RECORDS} WHERE {_in('paper_id', 'p')}"
    if scalar(con, taken, {"p": fresh}):
        raise Fallback("a new paper id is held by another paper")
    alias_change = pd.concat([aliases, registry.aliases]).drop_duplicates(keep=False)

    # sightings whose paper may change: those of K's records, and those without an abstract sharing
    # a (title key, published date) with them or with the changed files
    s_k = pd.concat(
        [_sightings(con, _in("record_id", "r"), {"r": _ids(k_ids)}, files), a.sightings], ignore_index=True
    )
    s_k = s_k.assign(
        old_paper=s_k["paper_id"],
        paper_id=s_k["record_id"].map(paper_of_record),
        title_key=text_key_series(s_k["title"]),
    )
    old_s = old_s.assign(title_key=text_key_series(old_s["title"]))
    new_bare = new_s[~has_abs].assign(title_key=text_key_series(new_s.loc[~has_abs, "title"]))
    bare_keys = pd.concat([s_k, old_s, new_bare])[["title_key", "published_date"]].drop_duplicates()
    bare_old = _sightings(
        con,
        _in("record_id", "r"),
        {"r": bare_record_ids(bare_keys["title_key"], bare_keys["published_date"])},
        files,
    )
    bare_old = bare_old[bare_old["flag"] == "no_abstract"].assign(old_paper=lambda d: d["paper_id"])
    seen = _seen(con, bare_keys, s_k, a, files)
    bare_post = attach_ids(seen, ordered(pd.concat([bare_old, new_s[~has_abs]], ignore_index=True)))

    papers = (
        k_old_ids
        | set(paper_of_record.values)
        | set(alias_change["paper_id"])
        | set(bare_old["old_paper"])
        | set(bare_post["paper_id"])
        | set(old_s["paper_id"])
    )
    moved = pd.concat([s_k, bare_post], ignore_index=True)
    rest = _sightings(con, _in("paper_id", "p"), {"p": _ids(papers)}, files)
    rest = rest.merge(moved[["source_file", "position"]], how="left", indicator=True)
    rest = rest[rest.pop("_merge") == "left_only"]
    rest = rest.assign(title_key=text_key_series(rest["title"]), old_paper=rest["paper_id"])
    work = ordered(pd.concat([moved, rest], ignore_index=True))
    work = work[work["paper_id"].isin(papers)]
    work = _survivor_abstracts(con, work, files, a.abstracts)
    history_cols = CONTRACT["upvote_history"]
    history, growth = history_and_growth(con, to_arrow(work[list(columns(history_cols))], history_cols))
    core = (
        survive(work, registry.aliases, growth)
        if len(work)
        else pd.DataFrame(columns=[*CORE_COLUMNS, "title_key"])
    )
    core["abstract"] = core["abstract"].fillna("")

    pair_papers = pd.concat(
        [_paper_of(con, _ids(set(pairs["record_a"]) | set(pairs["record_b"]))), paper_of_record]
    )
    pair_papers = pair_papers[~pair_papers.index.duplicated(keep="last")]
    pairs = with_papers(pairs, pair_papers)
    written = _moved_abstracts(
        con, work[work["source_file"].isin(files) | (work["paper_id"] != work["old_paper"])]
    )
    gone_pairs = _ids(t_ids | set(k_registry["record_id"]) | k_ids)
    with commit.transaction(con):
        delta = _write_core(con, core_arrow(core), _ids(papers))
        commit.replace(
            con,
            MAIN["sightings"],
            to_arrow(written, ResolvedSightings),
            f"{_in('source_file', 'f')} OR EXISTS (SELECT 1 FROM _keys k WHERE k.source_file = t.source_file "
            "AND k.position = t.position)",
            {"f": files},
            keys=pa.Table.from_pandas(written[["source_file", "position"]], preserve_index=False),
        )
        commit.replace(
            con,
            MAIN["matches"],
            to_arrow(pairs, CONTRACT["matches"]),
            f"{_in('record_a', 'r')} OR {_in('record_b', 'r')}",
            {"r": gone_pairs},
        )
        commit.replace(
            con,
            MAIN["upvote_history"],
            history.cast(arrow_schema(history_cols)),
            _in("paper_id", "p"),
            {"p": _ids(papers)},
        )
        commit.replace(con, RECORDS, records_arrow(a.post), _in("record_id", "r"), {"r": a.ids})
        kept = a.abstracts["abstract"].isna()
        commit.replace(
            con,
            RECORD_ABSTRACTS,
            abstracts_arrow(a.abstracts[~kept]),
            _in("record_id", "r"),
            {"r": _ids(set(a.ids) - set(a.abstracts.loc[kept, "record_id"]))},
        )
        commit.replace(
            con,
            REGISTRY_RECORDS,
            pa.Table.from_pandas(registry.records, preserve_index=False),
            _in("record_id", "r"),
            {"r": _ids(set(k_registry["record_id"]) | set(a.ids))},
        )
        changed_aliases = _ids(alias_change["old_id"])
        new_aliases = registry.aliases[registry.aliases["old_id"].isin(changed_aliases)]
        commit.replace(
            con,
            REGISTRY_ALIASES,
            pa.Table.from_pandas(new_aliases, schema=ALIAS_SCHEMA, preserve_index=False),
            _in("old_id", "o"),
            {"o": changed_aliases},
        )
    return delta


def _survivor_abstracts(
    con: duckdb.DuckDBPyConnection, work: pd.DataFrame, files: list[str], a_longest: pd.DataFrame
) -> pd.DataFrame:
    """`work` with the abstracts survivorship can pick: the changed files' (as staged) and, of the
    stored sightings, each record's longest where it is as long as its paper's longest (only those
    are read; the others cannot win, so they stay null)."""
    at = ["source_file", "position"]
    work = work.reset_index(drop=True)
    stored = ~work["source_file"].isin(files).to_numpy()
    recs = _ids(work.loc[stored & ~work["record_id"].isin(a_longest["record_id"]), "record_id"])
    longest = con.execute(
        f"SELECT record_id, source_file, position, abstract_len FROM {RECORD_ABSTRACTS} "
        f"WHERE {_in('record_id', 'r')}",
        {"r": recs},
    ).df()
    longest = pd.concat([longest, a_longest[longest.columns]], ignore_index=True)
    work.loc[stored, "abstract"] = None
    length = work[at].merge(longest, on=at, how="left")["abstract_len"].astype(float)
    length = length.where(stored, work["abstract"].str.len())  # type: ignore[arg-type]  # stubs: other's dtype
    want = stored & (length == length.groupby(work["paper_id"]).transform("max")).to_numpy()
    texts = a_longest.dropna(subset="abstract").set_index(at)["abstract"]
    read = _ids(work.loc[want & ~work.set_index(at).index.isin(texts.index), "record_id"])
    if read:  # the one read of the abstract column
        got = con.execute(
            f"SELECT source_file, position, abstract FROM {RECORD_ABSTRACTS} WHERE {_in('record_id', 'r')}",
            {"r": read},
        ).df()
        texts = pd.concat([texts, got.set_index(at)["abstract"]])
    work.loc[want, "abstract"] = texts.reindex(pd.MultiIndex.from_frame(work.loc[want, at])).values
    return work


def _moved_abstracts(con: duckdb.DuckDBPyConnection, written: pd.DataFrame) -> pd.DataFrame:
    """Rewritten sightings with their abstracts: survivorship left the stored ones it cannot pick
    unread, so those of sightings that move to another paper (a merge or split) are read here."""
    gap = (written["abstract"].isna() & (written["flag"] != "no_abstract")).to_numpy()
    if gap.any():
        written = written.copy()
        written.loc[gap, "abstract"] = _abstracts(con, written[gap]).values
    return written


def _with_abstract_keys(con: duckdb.DuckDBPyConnection, records: pd.DataFrame, known: list[pd.DataFrame]):
    """Records earliest first with their abstract keys (new ids hash them): from the frames already
    read, else read (only a split's records can lack one)."""
    keys = pd.concat(known).drop_duplicates("record_id").set_index("record_id")["abstract_key"]
    records = records.assign(abstract_key=records["record_id"].map(keys))
    missing = _ids(records.loc[records["abstract_key"].isna(), "record_id"])
    if missing:
        read = _records(con, _in("record_id", "r"), {"r": missing}, wide=True)
        more = read.set_index("record_id")["abstract_key"]
        records["abstract_key"] = records["abstract_key"].fillna(records["record_id"].map(more))
    return _earliest_first(records)


def _seen(con, keys: pd.DataFrame, s_k: pd.DataFrame, a: _Records, files: list[str]) -> pd.DataFrame:
    """Sightings with an abstract (after the change) with a title key of `keys`: K's, and the others'
    as stored."""
    stored = _records(
        con,
        f"{_in('title_key', 't')} AND NOT {_in('record_id', 'a')}",
        {"t": _ids(keys["title_key"]), "a": a.ids},
    )
    others = _sightings(
        con, _in("record_id", "r"), {"r": _ids(set(stored["record_id"]) - set(s_k["record_id"]))}, files
    )
    others = others.assign(title_key=text_key_series(others["title"]))
    return pd.concat([s_k, others], ignore_index=True)


ALIAS_SCHEMA = pa.schema([("old_id", pa.string()), ("paper_id", pa.string())])
REGISTRY_SCHEMA = pa.schema([("record_id", pa.string()), ("paper_id", pa.string())])
CORE_COLUMNS = [
    "paper_id",
    "title",
    "abstract",
    "authors_count",
    "organization",
    "published_date",
    "upvotes",
    "upvotes_max",
    "upvotes_growth_per_day",
    "first_seen",
    "last_seen",
    "n_sightings",
    "n_records",
    "title_variants",
    "merged_ids",
]


def core_arrow(core: pd.DataFrame) -> pa.Table:
    """papers_core rows with the papers contract's types (and the title key enrichment reads)."""
    # the enrichment columns are not selected; abstract_words only needs a non-null placeholder
    rows = to_arrow(core.assign(abstract_words=0), CONTRACT["papers"]).select(CORE_COLUMNS)
    return rows.append_column("title_key", pa.array(core["title_key"].tolist(), type=pa.string()))


def core_delta(con: duckdb.DuckDBPyConnection, rows: pa.Table, papers: list[str] | None = None) -> Delta:
    """Which of `papers` (None: all) differ between `rows` and papers_core, and which left it."""
    con.register("_core", rows)
    con.execute(f"CREATE TABLE IF NOT EXISTS {PAPERS_CORE} AS SELECT * FROM _core LIMIT 0")
    scope = "TRUE" if papers is None else _in("paper_id", "p")
    params = {} if papers is None else {"p": papers}
    cols = ", ".join(f'"{c}"' for c in rows.column_names)
    changed = con.execute(
        f"SELECT DISTINCT paper_id FROM (SELECT {cols} FROM _core EXCEPT ALL "
        f"SELECT {cols} FROM {PAPERS_CORE} WHERE {scope})",
        params,
    ).fetchall()
    stored = con.execute(f"SELECT paper_id FROM {PAPERS_CORE} WHERE {scope}", params).fetchall()
    con.unregister("_core")
    return Delta({r[0] for r in changed}, {r[0] for r in stored} - set(rows.column("paper_id").to_pylist()))


def _write_core(con: duckdb.DuckDBPyConnection, rows: pa.Table, papers: list[str]) -> Delta:
    """Replace the papers_core rows of `papers`: each is recomputed, so each counts as changed (comparing
    with the stored rows would read their abstracts, the widest column)."""
    stored = con.execute(f"SELECT paper_id FROM {PAPERS_CORE} WHERE {_in('paper_id', 'p')}", {"p": papers})
    now = set(rows.column("paper_id").to_pylist())
    delta = Delta(now, {r[0] for r in stored.fetchall()} - now)
    commit.replace(con, PAPERS_CORE, rows, _in("paper_id", "p"), {"p": papers})
    return delta
