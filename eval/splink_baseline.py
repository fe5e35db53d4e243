"""Offline Splink 5 (DuckDB, in-memory) deduplication baseline for research-paper sightings.

The side-by-side baseline of `make eval` (installed by the `eval` extra). Comparisons: exact /
Jaro-Winkler levels on the normalised title; exact / MinHash-similarity levels on the normalised
abstract; and, given the same evidence paperlake weighs, exact / Jaro-Winkler on the short name before
the title's colon, exact published date, authors count and organisation (null: no evidence);
blocking on the title key and on an abstract prefix; u by random sampling, m from fixed priors (EM on
this data has no non-matching pairs inside blocks to learn from; `use_em=True` tries it).
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import unicodedata
from collections.abc import Iterator

import duckdb
import numpy as np
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from paperlake.match import short_names

SEED = 42
ABS_PREFIX = 64  # chars of the alphanumeric-only abstract used for blocking
SIG_LEN = 32  # MinHash signature length (one char per bin)
U_MIN_RECORDS = 100  # below this, random-sampling u is dominated by the duplicates: keep priors
EM_MIN_PAIRS = 10  # EM is only run on a blocking rule yielding at least this many pairs
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ALPHABET = np.frombuffer(
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.", np.uint8
)  # 64 hash chars + '.' for an empty bin


def _fold(text: object) -> str | None:
    """NFKC + lowercase; each run of non-alphanumerics (incl. dashes) becomes one space."""
    if not isinstance(text, str):
        return None
    return _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip() or None


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64-style finaliser to scramble uint64 hashes."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
        return x ^ (x >> np.uint64(29))


def _minhash_block(texts: list[str]) -> list[str]:
    """One-permutation MinHash of each text's word-bigram set: hamming/SIG_LEN ~ 1 - Jaccard."""
    words = [t.split() for t in texts]
    lens = np.array([len(w) for w in words])
    h = pd.util.hash_array(np.array([x for w in words for x in w], dtype=object))
    rec = np.repeat(np.arange(len(texts)), lens)
    with np.errstate(over="ignore"):
        pairs = _mix(h[:-1] * np.uint64(0x9E3779B97F4A7C15) + h[1:])
    inner, single = rec[:-1] == rec[1:], np.repeat(lens == 1, lens)  # bigrams; 1-word texts
    hv = np.concatenate([pairs[inner], _mix(h[single])])
    key = np.concatenate([rec[:-1][inner], rec[single]]) * SIG_LEN + (hv % np.uint64(SIG_LEN))
    mins = pd.Series(hv // np.uint64(SIG_LEN)).groupby(key.astype(np.int64)).min()
    codes = np.full(len(texts) * SIG_LEN, 64, dtype=np.int64)
    codes[mins.index.to_numpy()] = (mins.to_numpy() % np.uint64(64)).astype(np.int64)
    return [row.tobytes().decode() for row in _ALPHABET[codes].reshape(len(texts), SIG_LEN)]


def _prepare(records: pd.DataFrame, block: int = 2000) -> pd.DataFrame:
    """Model input: *_norm (folded, spaces kept), *_key (alphanumerics only), abs_sig."""
    df = pd.DataFrame({"record_id": records["record_id"].astype(str).to_numpy()})
    for src, dst in (("title", "title"), ("abstract", "abs")):
        norm = [_fold(t) for t in records[src]]
        df[f"{dst}_norm"], df[f"{dst}_key"] = norm, [t and t.replace(" ", "") for t in norm]
    df["name"] = short_names(records["title"]).to_numpy()
    for col in ("published_date", "authors_count", "organization"):
        values = records[col] if col in records else pd.Series(None, index=records.index, dtype=object)
        df[col] = values.astype(str).where(values.notna(), None).to_numpy()
    todo, sigs = [t for t in df["abs_norm"] if t], []
    for lo in range(0, len(todo), block):  # blocks bound peak memory
        sigs += _minhash_block(todo[lo : lo + block])
    it = iter(sigs)
    df["abs_sig"] = [next(it) if t else None for t in df["abs_norm"]]
    return df.drop(columns="abs_norm")


def _level(level: cll.ComparisonLevelCreator, m: float, u: float) -> cll.ComparisonLevelCreator:
    """Attach m/u priors (m may be refined by EM; u is replaced when random sampling sees it)."""
    return level.configure(m_probability=m, u_probability=u)


def _settings(prior: float) -> SettingsCreator:
    """Comparisons on folded title and abstract, blocking on exact title / abstract prefix."""
    sig = "hamming(abs_sig_l, abs_sig_r) <= {}"
    title = cl.CustomComparison(
        [
            cll.NullLevel("title_key"),
            _level(cll.ExactMatchLevel("title_key"), 0.88, 1e-5),
            _level(cll.JaroWinklerLevel("title_norm", 0.95), 0.07, 1e-4),
            _level(cll.JaroWinklerLevel("title_norm", 0.88), 0.03, 2e-3),
            _level(cll.ElseLevel(), 0.02, 0.998),
        ],
        output_column_name="title",
    )
    abstract = cl.CustomComparison(
        [
            cll.NullLevel("abs_key"),
            _level(cll.ExactMatchLevel("abs_key"), 0.85, 1e-6),
            _level(cll.CustomLevel(sig.format(3), "MinHash Jaccard >~ 0.9"), 0.10, 1e-5),
            _level(cll.CustomLevel(sig.format(12), "MinHash Jaccard >~ 0.6"), 0.03, 1e-4),
            _level(cll.ElseLevel(), 0.02, 0.9999),
        ],
        output_column_name="abstract",
    )
    name = cl.CustomComparison(
        [
            cll.NullLevel("name"),
            _level(cll.ExactMatchLevel("name"), 0.95, 1e-3),
            _level(cll.JaroWinklerLevel("name", 0.9), 0.03, 1e-3),
            _level(cll.ElseLevel(), 0.02, 0.998),
        ],
        output_column_name="name",
    )
    exact = [
        cl.CustomComparison(
            [
                cll.NullLevel(col),
                _level(cll.ExactMatchLevel(col), 0.97, u),
                _level(cll.ElseLevel(), 0.03, 1 - u),
            ],
            output_column_name=col,
        )
        for col, u in (("published_date", 2e-3), ("authors_count", 0.1), ("organization", 0.05))
    ]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[title, abstract, name, *exact],
        probability_two_random_records_match=prior,
        blocking_rules_to_generate_predictions=[
            block_on("title_key"),
            block_on(f"substr(abs_key, 1, {ABS_PREFIX})"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _n_pairs(keys: pd.Series) -> int:
    """Number of record pairs sharing a (non-null) key."""
    sizes = keys.dropna().value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Splink's logger (its warnings too) for the duration of the block."""
    lg = logging.getLogger("splink")
    old = lg.level, lg.propagate
    lg.setLevel(logging.CRITICAL + 1)
    lg.propagate = False
    try:
        yield
    finally:
        lg.setLevel(old[0])
        lg.propagate = old[1]


def splink_clusters(
    records: pd.DataFrame, threshold: float = 0.9, use_em: bool = False, u_max_pairs: float = 1e6
) -> pd.Series:
    """Cluster records (record_id, title, abstract); return a record_id -> cluster id Series.

    Prior from exact (title, abstract) pairs at an assumed recall of 0.9; u by seeded random
    sampling; m = fixed priors, refined by EM on the two blocking rules if ``use_em``.
    """
    df = _prepare(records)
    if df["record_id"].duplicated().any():
        raise ValueError("record_id must be unique")
    n = len(df)
    if n < 2:
        return pd.Series(df["record_id"].to_numpy(), index=df["record_id"], name="cluster_id")
    exact = _n_pairs(df["title_key"] + "|" + df["abs_key"])
    prior = min(max(exact / 0.9 / (n * (n - 1) / 2), 1e-6), 0.5)
    with tempfile.TemporaryDirectory(prefix="splink_") as tmp, _quiet():
        con = duckdb.connect(":memory:", config={"temp_directory": tmp})  # spills stay in tmp
        con.execute("SET enable_progress_bar = false")
        try:
            linker = Linker(DuckDBAPI(connection=con).register(df), _settings(prior), log_level=None)
            if n >= U_MIN_RECORDS:
                linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=SEED)
            for rule, keys in (
                ("title_key", df["title_key"]),
                (f"substr(abs_key, 1, {ABS_PREFIX})", df["abs_key"].str[:ABS_PREFIX]),
            ):
                # a failing EM session leaves the linker's settings mutated (splink 5.0.0), so
                # only run it on a rule that is known to produce pairs
                if use_em and _n_pairs(keys) >= EM_MIN_PAIRS:
                    linker.training.estimate_parameters_using_expectation_maximisation(block_on(rule))
            pred = linker.inference.predict(
                threshold_match_probability=min(threshold, 0.01), warning_mode="never"
            )
            clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
                pred, threshold_match_probability=threshold
            ).as_pandas_dataframe()
        finally:
            con.close()
    out = clusters.set_index("record_id")["cluster_id"].astype(str)
    return out.reindex(df["record_id"]).rename("cluster_id")
