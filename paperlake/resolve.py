"""Entity resolution in tiers: sightings → records → candidate pairs → weighed evidence → papers.

1. **Records**: sightings with the same normalised title key *and* normalised abstract key are one record
   (rule `exact`): case, punctuation, dashes, spacing, Unicode forms and a trailing period vanish here.
   A record also carries its short name (before the title's colon), published date, authors count and
   organisation (first non-null over its sightings).
2. **Candidates** (blocking, no all-pairs): records sharing a title key; records sharing the first or the
   last `block_words` words of the abstract.
3. **Evidence** (`paperlake.match`): each field of a pair (title, short name, abstract, published date,
   authors / organisation) is compared into a level with a Fellegi-Sunter weight; agreement adds,
   disagreement subtracts, a missing field adds nothing. A pair merges when its total reaches the
   threshold and both records have an abstract (decision in `rule`: `match`, `title_only_rejected` for
   equal titles that were not merged, `abstract_missing`, `no_match`).
4. **Clusters**: connected components (union-find) over merged pairs.
5. **Stable ids**: a registry maps record → paper_id. A cluster keeps the id its records already had; a
   new cluster gets "p_" + sha256(title key, abstract key of its earliest record)[:12]; when clusters
   merge, the earliest id survives and the others are kept as aliases (`papers.merged_ids`).

6. **Sightings without an abstract** never enter blocking or scoring, where a title alone must not merge.
   One joins a paper only on strong evidence: the same title key and published date as the sightings of
   exactly one paper; otherwise those sharing its title key and date form their own paper (id from both,
   stable across runs), whose abstract is empty.

The engine is `paperlake.resolve_db` (SQL over the staged sightings; `resolve_frame` for sightings in
memory); this module holds the rules it shares with `paperlake.incremental`.

Survivorship ("latest" = latest page date, then file name, then position): title: most frequent
variant, ties to the latest; abstract: the longest; authors_count, organization, published_date,
upvotes: latest non-null; upvotes_max: max; first_seen/last_seen: min/max page date; title_variants:
every distinct printed title. A page saved twice under two names counts once (page_id, position).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from paperlake.match import FIELDS, THRESHOLD, compare, short_names
from paperlake.normalize import short_hash, text_keys
from schemas.vocabulary import MatchRule

GROWTH_WINDOW_DAYS = 30


@dataclass(frozen=True)
class MatchRules:
    """Blocking sizes and the merge threshold (on the summed field weights of `paperlake.match`)."""

    block_words: int = 30
    max_block: int = 25  # a key shared by more records is boilerplate, not identity: skipped
    threshold: float = THRESHOLD


@dataclass
class Registry:
    """Identity that survives re-runs: record → paper_id, and ids that were merged away → survivor."""

    records: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["record_id", "paper_id"]))
    aliases: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["old_id", "paper_id"]))


@dataclass
class Resolution:
    sightings: pd.DataFrame  # input sightings + record_id, paper_id, title_key
    papers: pd.DataFrame  # survived papers, before enrichment
    matches: pd.DataFrame  # every scored candidate pair and its decision
    registry: Registry


def text_key_series(values: pd.Series) -> pd.Series:
    """Vectorised text keys, computed once per distinct value (a null stays null)."""
    codes, uniq = pd.factorize(values)  # a null is code -1: the appended None
    keys = text_keys(pa.array(uniq, type=pa.string())).to_pylist()
    return pd.Series(np.array([*keys, None], dtype=object)[codes], index=values.index)


RECORD_FIELDS = ["name", "published_date", "authors_count", "organization"]


def build_records(sightings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sightings with title_key/abstract_key/record_id, and one row per record (earliest first) with the
    fields the evidence compares (first non-null over the record's sightings)."""
    s = sightings.assign(
        title_key=text_key_series(sightings["title"]),
        abstract_key=text_key_series(sightings["abstract"]),
        name=short_names(sightings["title"]),
    )
    pairs = s[["title_key", "abstract_key"]].drop_duplicates()
    pairs["record_id"] = [
        short_hash(t, a or "") for t, a in zip(pairs["title_key"], pairs["abstract_key"], strict=True)
    ]
    s = s.merge(pairs, on=["title_key", "abstract_key"], how="left")
    return s.drop(columns="name"), aggregate_records(s)


def aggregate_records(s: pd.DataFrame) -> pd.DataFrame:
    """One row per record of sightings with record_id, title_key, abstract_key and name (earliest first)."""
    return (
        s.groupby("record_id", sort=False)
        .agg(
            title_key=("title_key", "first"),
            abstract_key=("abstract_key", "first"),
            first_seen=("page_date", "min"),
            n=("record_id", "size"),
            **{f: (f, "first") for f in RECORD_FIELDS},
        )
        .reset_index()
        .sort_values(["first_seen", "record_id"], na_position="last", kind="stable")
        .reset_index(drop=True)
    )


BLOCK_FLAGS = {"title": 1, "abstract_head": 2, "abstract_tail": 4}
BLOCK_COLUMNS = {"title": "title_key", "abstract_head": "abstract_head", "abstract_tail": "abstract_tail"}


def abstract_blocks(abstract_keys: pd.Series, n: int) -> tuple[pd.Series, pd.Series]:
    """The first and the last `n` words of each abstract key ('' when it has fewer than `n` words)."""
    keys = abstract_keys.fillna("").tolist()
    long_enough = [k.count(" ") >= n - 1 for k in keys]
    head = pd.Series(
        [" ".join(k.split(" ", n)[:n]) if ok else "" for k, ok in zip(keys, long_enough, strict=True)]
    )
    tail = pd.Series(
        [" ".join(k.rsplit(" ", n)[-n:]) if ok else "" for k, ok in zip(keys, long_enough, strict=True)]
    )
    return head, tail


def with_block_keys(records: pd.DataFrame, rules: MatchRules) -> pd.DataFrame:
    """Records with their abstract blocks as `abstract_head` / `abstract_tail`: hashes of the first / last
    `block_words` words of the abstract key ('' when shorter), as the stored records keep them."""
    head, tail = abstract_blocks(records["abstract_key"], rules.block_words)
    hashed = [[short_hash(k) if k else "" for k in col] for col in (head, tail)]
    return records.assign(abstract_head=hashed[0], abstract_tail=hashed[1])


def block_keys(records: pd.DataFrame) -> pd.DataFrame:
    """The one blocking relation: a row per (record_id, kind, key) of a non-empty block key (the title
    key; the abstract's head and tail, `with_block_keys`)."""
    parts = [
        pd.DataFrame({"record_id": records["record_id"], "kind": kind, "key": records[column]})
        for kind, column in BLOCK_COLUMNS.items()
    ]
    keys = pd.concat(parts, ignore_index=True)
    return keys[keys["key"].notna() & (keys["key"].str.len() > 0)]


def block_pairs(records: pd.DataFrame, keys: pd.DataFrame, scope: set[str] | None = None) -> pd.DataFrame:
    """The one pair finder: pairs (i < j, the positions of earliest-first `records`) that share a block
    key of `keys` (`block_keys` rows of the blocks to pair in), each naming every block that found it;
    with `scope`, only pairs with a record in it (an increment: the changed records against the rest)."""
    keys = keys.assign(i=keys["record_id"].map(pd.Series(range(len(records)), index=records["record_id"])))
    m = keys.merge(keys, on=["kind", "key"], suffixes=("_a", "_b"))
    keep = m["i_a"] < m["i_b"]
    if scope is not None:
        keep &= m["record_id_a"].isin(scope) | m["record_id_b"].isin(scope)
    m = m[keep]
    flags = m["kind"].map(BLOCK_FLAGS)  # distinct bit flags summed per pair: vectorised
    per_pair = flags.groupby([m["i_a"].astype(int), m["i_b"].astype(int)]).sum()
    names = {code: "+".join(n for n, f in BLOCK_FLAGS.items() if code & f) for code in range(1, 8)}
    return pd.DataFrame(
        {
            "i": per_pair.index.get_level_values(0).astype(int),
            "j": per_pair.index.get_level_values(1).astype(int),
            "block": per_pair.map(names).values,
        }
    )


def candidate_pairs(records: pd.DataFrame, rules: MatchRules) -> pd.DataFrame:
    """A full resolution's pairs: `block_pairs` over every record (`with_block_keys`), in the blocks of 2
    to `max_block` records (a key shared more widely, like a boilerplate last sentence, is no evidence)."""
    keys = block_keys(records)
    size = keys.groupby(["kind", "key"])["record_id"].transform("size")
    return block_pairs(records, keys[(size >= 2) & (size <= rules.max_block)])


def score_pairs(records: pd.DataFrame, pairs: pd.DataFrame, rules: MatchRules) -> pd.DataFrame:
    """Each candidate pair with its field levels, total weight and decision (`paperlake.match`)."""
    a = records.iloc[pairs["i"].to_numpy()].reset_index(drop=True)
    b = records.iloc[pairs["j"].to_numpy()].reset_index(drop=True)
    ev = compare(a, b)
    merged = ev["has_abstract"].to_numpy() & (ev["match_weight"].to_numpy() >= rules.threshold)
    rule = np.select(
        [merged, ~ev["has_abstract"].to_numpy(), (a["title_key"] == b["title_key"]).to_numpy()],
        [MatchRule.MATCH, MatchRule.ABSTRACT_MISSING, MatchRule.TITLE_ONLY_REJECTED],
        default=MatchRule.NO_MATCH,
    )
    return pd.DataFrame(
        {
            "i": pairs["i"].to_numpy(),
            "j": pairs["j"].to_numpy(),
            "record_a": a["record_id"].to_numpy(),
            "record_b": b["record_id"].to_numpy(),
            "block": pairs["block"].to_numpy(),
            "title_score": ev["title_score"].to_numpy(),
            "abstract_score": ev["abstract_score"].to_numpy(),
            "abstract_places": ev["abstract_places"].array,
            **{f"{f}_agreement": ev[f"{f}_agreement"].to_numpy() for f in FIELDS},
            "match_weight": ev["match_weight"].to_numpy(),
            "rule": rule,
            "merged": merged,
        }
    )


def with_papers(pairs: pd.DataFrame, paper_of_record: pd.Series) -> pd.DataFrame:
    """Scored pairs as `matches` rows: each side's paper (`paper_a`, `paper_b`) by its record."""
    return pairs.assign(
        paper_a=pairs["record_a"].map(paper_of_record), paper_b=pairs["record_b"].map(paper_of_record)
    )


def cluster(n: int, scored: pd.DataFrame) -> np.ndarray:
    """Connected components over merged pairs: record index → cluster label."""
    merged = scored[scored["merged"]]
    graph = coo_matrix(
        (np.ones(len(merged)), (merged["i"].astype(int), merged["j"].astype(int))), shape=(n, n)
    )
    return connected_components(graph, directed=False)[1]


def assign_ids(records: pd.DataFrame, labels: np.ndarray, registry: Registry) -> tuple[pd.Series, Registry]:
    """record_id → paper_id, reusing registered ids; merged-away ids become aliases (vectorised).

    Records are in earliest-first order, so "first" below means earliest: a cluster keeps the registered
    id of its earliest record that has one; if a registered id now spans several clusters (a split), the
    earliest cluster keeps it and the others get new ids."""
    frame = pd.DataFrame(
        {"record_id": records["record_id"].values, "label": labels, "order": np.arange(len(records))}
    )
    frame["prev"] = frame["record_id"].map(
        dict(zip(registry.records["record_id"], registry.records["paper_id"], strict=True))
    )
    label_rank = frame.groupby("label")["order"].min()
    olds = frame.dropna(subset=["prev"]).drop_duplicates(["label", "prev"])
    olds = olds.assign(rank=olds["label"].map(label_rank))
    owner = olds.sort_values("rank").drop_duplicates("prev").set_index("prev")["label"]
    owned = olds[olds["label"].to_numpy() == olds["prev"].map(owner).to_numpy()].sort_values("order")
    chosen = owned.drop_duplicates("label").set_index("label")["prev"]
    first = frame.drop_duplicates("label").set_index("label")
    fresh = first.index.difference(chosen.index)
    firsts = records.iloc[first.loc[fresh, "order"].to_numpy()]
    new_ids = pd.Series(
        [
            "p_" + short_hash(t, a or "", length=12)
            for t, a in zip(firsts["title_key"], firsts["abstract_key"], strict=True)
        ],
        index=fresh,
        dtype=object,
    )
    clash = new_ids.isin(set(chosen.values))  # a split half whose earliest record minted the kept id
    # stubs: a list is a valid value for a masked assignment
    new_ids[clash] = ["p_" + short_hash(pid, "split", length=12) for pid in new_ids[clash]]  # type: ignore[call-overload]
    ids = pd.concat([chosen, new_ids])
    merged_away = owned[~owned["prev"].isin(chosen.values)]
    aliases = dict(zip(registry.aliases["old_id"], registry.aliases["paper_id"], strict=True))
    aliases.update(zip(merged_away["prev"], merged_away["label"].map(ids), strict=True))
    aliases = {old: new for old, new in aliases.items() if old not in set(ids.values)}
    paper_of_record = pd.Series(frame["label"].map(ids).values, index=frame["record_id"].values)
    new_registry = Registry(
        records=pd.DataFrame({"record_id": paper_of_record.index, "paper_id": paper_of_record.values}),
        aliases=pd.DataFrame(
            {"old_id": list(aliases), "paper_id": list(aliases.values())}, columns=["old_id", "paper_id"]
        ),
    )
    return paper_of_record, new_registry


def bare_record_ids(title_keys: pd.Series, published: pd.Series) -> list[str]:
    """The record id of sightings without an abstract: their title key and published date."""
    dates = published.astype(str)
    return [short_hash(t, "", d) for t, d in zip(title_keys, dates, strict=True)]


def attach_ids(resolved: pd.DataFrame, bare: pd.DataFrame) -> pd.DataFrame:
    """`bare` with title_key, abstract_key '', record_id and paper_id: the paper of the resolved sightings
    (title_key, published_date, paper_id) that alone share its title key and date, else its own."""
    bare = bare.assign(title_key=text_key_series(bare["title"]), abstract_key="")
    seen = resolved.dropna(subset=["published_date"])
    seen = seen.drop_duplicates(["title_key", "published_date", "paper_id"])
    seen = seen[["title_key", "published_date", "paper_id"]]
    one = seen[seen.groupby(["title_key", "published_date"])["paper_id"].transform("size") == 1]
    bare = bare.drop(columns=["record_id", "paper_id"], errors="ignore")
    bare = bare.merge(one, on=["title_key", "published_date"], how="left")
    bare["record_id"] = bare_record_ids(bare["title_key"], bare["published_date"])
    own = bare["paper_id"].isna()
    dates = bare["published_date"].astype(str)
    bare.loc[own, "paper_id"] = [
        "p_" + short_hash(t, "", d, length=12)
        for t, d in zip(bare["title_key"][own], dates[own], strict=True)
    ]
    return bare


def _chronological(sightings: pd.DataFrame) -> pd.DataFrame:
    return sightings.sort_values(["page_date", "source_file", "position"], na_position="first", kind="stable")


def chronological(resolved: pd.DataFrame) -> pd.DataFrame:
    """Sightings (in (source_file, position) order) in page date order, a page seen twice counted once."""
    return _chronological(resolved.drop_duplicates(["page_id", "position"])).reset_index(drop=True)


def longest_abstracts(s: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per `by`, the sighting of chronological `s` with the longest abstract (the latest on ties): the
    abstract survivorship keeps. Per record it is all a paper needs of the record's abstracts. A known
    `abstract_len` stands for an abstract not read."""
    length = s["abstract"].str.len().astype(float)
    if "abstract_len" in s:
        length = s["abstract_len"].astype(float).fillna(length)
    s = s.assign(abstract_len=length, _at=range(len(s)))[length.notna().to_numpy()]
    return (
        s.sort_values(["abstract_len", "_at"], kind="stable")
        .groupby(by, sort=True)
        .tail(1)
        .drop(columns="_at")
    )


def _lists(df: pd.DataFrame, column: str) -> pd.Series:
    """paper_id → sorted list of `column` values, without a Python call per group."""
    df = df.sort_values(["paper_id", column])
    ids, starts = np.unique(df["paper_id"].to_numpy(), return_index=True)
    return pd.Series([list(chunk) for chunk in np.split(df[column].to_numpy(), starts[1:])], index=ids)


def survive(
    resolved: pd.DataFrame, aliases: pd.DataFrame | None = None, growth: pd.Series | None = None
) -> pd.DataFrame:
    """One row per paper_id from its sightings (columns of the papers contract before enrichment);
    `growth`: upvotes per day by paper_id (`paperlake.resolve_db.history_and_growth`), else none."""
    s = chronological(resolved)
    s["_order"] = range(len(s))
    g = s.groupby("paper_id", sort=True)
    variants = s.groupby(["paper_id", "title"], sort=False).agg(n=("_order", "size"), last=("_order", "max"))
    best_title = (
        variants.reset_index().sort_values(["paper_id", "n", "last"]).groupby("paper_id").last()["title"]
    )
    merged_ids = (
        aliases.groupby("paper_id")["old_id"].agg(sorted)
        if aliases is not None and len(aliases)
        else pd.Series()
    )
    papers = pd.DataFrame(
        {
            "title": best_title,
            "abstract": longest_abstracts(s, "paper_id").set_index("paper_id")["abstract"],
            "authors_count": g["authors_count"].last(),
            "organization": g["organization"].last(),
            "published_date": g["published_date"].last(),
            "upvotes": g["upvotes"].last(),
            "upvotes_max": g["upvotes"].max(),
            "upvotes_growth_per_day": growth if growth is not None else pd.Series(dtype=float),
            "first_seen": g["page_date"].min(),
            "last_seen": g["page_date"].max(),
            "n_sightings": g.size(),
            "n_records": g["record_id"].nunique() if "record_id" in s else 1,
            "title_variants": _lists(s[["paper_id", "title"]].drop_duplicates(), "title"),
            "title_key": g["title_key"].first(),
        }
    )
    papers["merged_ids"] = [list(merged_ids.get(pid, [])) for pid in papers.index]
    return papers.rename_axis("paper_id").reset_index()
