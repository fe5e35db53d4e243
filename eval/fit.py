"""Fits the Fellegi-Sunter weights of `paperlake.match` on labelled candidate pairs, and prints them.

The training data is a generated look-alike corpus with its own seed (`make eval` scores seed 1): its
truth labels every candidate pair that blocking finds, so m (share of true pairs at a level) and u (share
of different-paper pairs at it) are counted, not guessed. Weight = log2(m / u), with one pseudo-pair per
level so an unseen level stays finite. `paperlake.match.WEIGHTS` holds these, rounded; the README lists
m and u. Usage: python -m eval.fit [--files 1000 --seed 2 --lookalikes 0.2]
"""

import argparse

import numpy as np
import pandas as pd

from eval.run import corpus_sightings
from paperlake.match import FIELDS, WEIGHTS
from paperlake.resolve.memory import resolve_frame


def labelled_pairs(files: int, seed: int, lookalikes: float) -> pd.DataFrame:
    """Every candidate pair of the corpus's records (the engine's blocking and field levels: its `matches`)
    and whether it is one paper."""
    s, gold = corpus_sightings(files, lookalikes, seed=seed)
    res = resolve_frame(s)
    s = res.sightings
    paper_of_record = s.assign(true=s["sighting_id"].map(gold)).groupby("record_id")["true"].first()
    ev = res.matches
    same = ev["record_a"].map(paper_of_record).to_numpy() == ev["record_b"].map(paper_of_record).to_numpy()
    return ev.assign(same=same)


def fit(pairs: pd.DataFrame) -> pd.DataFrame:
    """m, u and log2(m/u) per field and level ('missing' is 0 by definition: no evidence).

    An identical long abstract decides a pair alone, and it comes with the other fields that a paper
    renamed between captures shows (a different title and short name): counted together, those would
    teach that a different name is common in one paper. So the other fields are fitted on the pairs
    whose abstracts are *not* identical, the ones their weights actually decide."""
    rows = []
    for field in FIELDS:
        subset = pairs if field == "abstract" else pairs[pairs["abstract_agreement"] != "exact"]
        n_m, n_u = int(subset["same"].sum()), int((~subset["same"]).sum())
        levels = list(WEIGHTS[field])
        counts = pd.crosstab(subset[f"{field}_agreement"], subset["same"]).reindex(levels, fill_value=0)
        counts = counts.reindex(columns=[True, False], fill_value=0)
        for level in levels:
            m = (counts.at[level, True] + 1) / (n_m + len(levels))
            u = (counts.at[level, False] + 1) / (n_u + len(levels))
            weight = 0.0 if level == "missing" else float(np.log2(m / u))
            rows.append(
                {
                    "field": field,
                    "level": level,
                    "true_pairs": int(counts.at[level, True]),
                    "other_pairs": int(counts.at[level, False]),
                    "m": round(m, 4),
                    "u": round(u, 4),
                    "fitted": round(weight, 2),
                    "used": WEIGHTS[field][level],
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--lookalikes", type=float, default=0.2)
    args = ap.parse_args()
    pairs = labelled_pairs(args.files, args.seed, args.lookalikes)
    n_m = int(pairs["same"].sum())
    prior = np.log2(n_m / (len(pairs) - n_m))
    print(f"{len(pairs):,} candidate pairs, {n_m:,} of one paper; prior log2 odds {prior:.2f}")
    print(fit(pairs).to_string(index=False))


if __name__ == "__main__":
    main()
