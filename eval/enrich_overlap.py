"""How far 100 enrichment increments drift from a full build: exact columns, and `related` overlap.

Starting from a built lake (its staging.papers_core), HOLD papers per increment are held out; the
enrichment state is built in full on the rest, then each of --increments increments changes
staging.papers_core as a new capture does (resolution is not under test): HOLD held-out papers
arrive, UPVOTED known papers get new upvotes (row-only changes), one paper's abstract is edited
(a content change), and every tenth increment a paper is removed; publish_papers runs incrementally
(told the changed paper_ids; every tenth increment finds them by hash). Then it compares main.papers with
a full enrichment of the final papers_core: the non-TF-IDF columns must be identical; `related` is
compared with the full refit (all papers) and with the exact TF-IDF top 5 on a sample (the papers the
increments touched plus --sample random ones), and the full refit's own overlap with exact is the
baseline.

Usage: python eval/enrich_overlap.py --out <copy of a built lake's out_dir> [--increments 100]
The lake is written to: run it on a copy.
"""

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from paperlake import lake, steps
from paperlake.config import Paths
from paperlake.enrich import enrich
from paperlake.enrich.related import MIN_RELATED_SIMILARITY, RELATED
from paperlake.enrich.text_model import TFIDF, documents
from paperlake.frames import from_arrow, to_arrow
from schemas import Papers

HOLD, UPVOTED = 9, 50  # per increment: ~9 new papers and ~50 re-sighted ones per file at 10,000 files
TFIDF_COLUMNS = ("keywords", "related", "topics")
CORE = steps.PAPERS_CORE
HELD = f"{lake.ALIAS}.staging.eval_held_out"


def _core(paths: Paths) -> pd.DataFrame:
    with lake.open_lake(paths, read_only=True) as con:
        return con.sql(f"SELECT * FROM {CORE} ORDER BY paper_id").df()


def _hold_out(paths: Paths, held: list[str]) -> None:
    """Move the held-out papers from papers_core to a side table they arrive from."""
    with lake.open_lake(paths) as con:
        con.execute("BEGIN")
        con.execute(
            f"CREATE OR REPLACE TABLE {HELD} AS SELECT * FROM {CORE} "
            "WHERE paper_id IN (SELECT unnest($h::VARCHAR[]))",
            {"h": held},
        )
        con.execute(f"DELETE FROM {CORE} WHERE paper_id IN (SELECT unnest($h::VARCHAR[]))", {"h": held})
        con.execute("COMMIT")


def _apply(paths: Paths, add: list[str], upvote: list[str], edit: str, remove: list[str]) -> None:
    """Change staging.papers_core as resolution would after a new capture."""
    with lake.open_lake(paths) as con:
        con.execute("BEGIN")
        con.execute(
            f"INSERT INTO {CORE} SELECT * FROM {HELD} WHERE paper_id IN (SELECT unnest($a::VARCHAR[]))",
            {"a": add},
        )
        con.execute(
            f"UPDATE {CORE} SET upvotes = coalesce(upvotes, 0) + 1, "
            "upvotes_max = coalesce(upvotes_max, 0) + 1, "
            "n_sightings = n_sightings + 1 WHERE paper_id IN (SELECT unnest($u::VARCHAR[]))",
            {"u": upvote},
        )
        con.execute(
            f"UPDATE {CORE} SET abstract = abstract || ' We also release a toolkit for retrieval.' "
            "WHERE paper_id = $e",
            {"e": edit},
        )
        con.execute(f"DELETE FROM {CORE} WHERE paper_id IN (SELECT unnest($r::VARCHAR[]))", {"r": remove})
        con.execute("COMMIT")


def exact_top(
    core: pd.DataFrame, sample: list[str], lists: dict[str, pd.Series]
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Exact TF-IDF cosine top RELATED of the sampled papers, against every paper; and, per named set of
    related lists, the share of the exact top's similarity its lists capture (near-ties swapped by idf
    drift cost little here, a wrong neighbour a lot)."""
    matrix = TfidfVectorizer(**TFIDF).fit_transform(documents(core))
    ids = core["paper_id"].to_numpy()
    where = {p: i for i, p in enumerate(ids)}
    rows = np.flatnonzero(np.isin(ids, sample))
    out, got, best = {}, dict.fromkeys(lists, 0.0), 0.0
    for lo in range(0, len(rows), 512):
        chunk = rows[lo : lo + 512]
        sims = (matrix[chunk] @ matrix.T).toarray()
        sims[np.arange(len(chunk)), chunk] = -1
        for k, r in enumerate(chunk):
            top = np.argpartition(-sims[k], RELATED)[: RELATED + 1]
            top = sorted((j for j in top if sims[k, j] >= MIN_RELATED_SIMILARITY), key=lambda j: -sims[k, j])
            out[str(ids[r])] = [str(ids[j]) for j in top[:RELATED]]
            best += float(sum(sims[k, j] for j in top[:RELATED]))
            for name, series in lists.items():
                got[name] += float(sum(sims[k, where[p]] for p in series[ids[r]] if p in where))
    return out, {name: round(g / max(best, 1e-9), 4) for name, g in got.items()}


def overlap(a: pd.Series, b: dict | pd.Series, ids) -> float:
    hits = sum(len(set(a[p]) & set(b[p])) for p in ids)
    return hits / max(1, sum(len(b[p]) for p in ids))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--increments", type=int, default=100)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    paths = Paths(raw_dir=args.out / "unused", out_dir=args.out)
    rng = random.Random(args.seed)
    core = _core(paths)
    held_ids = rng.sample(core["paper_id"].tolist(), HOLD * args.increments)
    _hold_out(paths, held_ids)
    t = time.perf_counter()
    steps.publish_papers(paths, full=True)
    result = {"papers_start": len(core) - len(held_ids), "full_build_s": round(time.perf_counter() - t, 2)}
    print(result, flush=True)
    times, touched, known = [], set(), sorted(set(core["paper_id"]) - set(held_ids))
    for i in range(args.increments):
        add = held_ids[i * HOLD : (i + 1) * HOLD]
        upvote, edit = rng.sample(known, UPVOTED), rng.choice(known)
        remove = [rng.choice(known)] if i % 10 == 9 else []
        known = sorted((set(known) | set(add)) - set(remove))
        _apply(paths, add, upvote, edit, remove)
        changed = set(add) | set(upvote) | {edit}
        t = time.perf_counter()
        pub = steps.publish_papers(paths, changed=None if i % 10 == 0 else changed)
        times.append(time.perf_counter() - t)
        print(f"increment {i}: {times[-1]:.2f} s, {pub.rows['papers'].num_rows} papers written", flush=True)
        assert not pub.full, f"increment {i} refit"
        touched |= set(pub.rows["papers"].column("paper_id").to_pylist())
    final = _core(paths)
    full = enrich(final).set_index("paper_id")
    inc = steps.read_main(paths, "papers").set_index("paper_id").loc[full.index]
    exact_cols = [c for c in inc.columns if c not in TFIDF_COLUMNS]
    want = from_arrow(to_arrow(full.reset_index(), Papers), Papers).set_index("paper_id")
    pd.testing.assert_frame_equal(inc[exact_cols], want[exact_cols])
    present = set(full.index)
    sample = sorted((touched & present) | set(rng.sample(sorted(present), min(args.sample, len(present)))))
    exact, captured = exact_top(final, sample, {"incremental": inc["related"], "full_refit": full["related"]})
    new_ids = [p for p in held_ids if p in full.index]
    result |= {
        "papers_end": len(final),
        "increments": args.increments,
        "increment_s_median": round(float(np.median(times)), 3),
        "increment_s_max": round(max(times), 3),
        "exact_columns_identical": True,
        "related_overlap_vs_full_refit_all": round(overlap(inc["related"], full["related"], full.index), 4),
        "related_overlap_vs_full_refit_new": round(overlap(inc["related"], full["related"], new_ids), 4),
        "related_overlap_vs_exact_sample": round(overlap(inc["related"], exact, sample), 4),
        "full_refit_overlap_vs_exact_sample": round(overlap(full["related"], exact, sample), 4),
        "related_similarity_captured_vs_exact_sample": captured,
        "keywords_identical_share": round(
            float(
                np.mean([list(a) == list(b) for a, b in zip(inc["keywords"], full["keywords"], strict=True)])
            ),
            4,
        ),
        "sample": len(sample),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
