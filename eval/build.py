"""Builds eval/resolution.csv: a labelled resolution set from the bundled captures plus constructed cases.

Every row is a sighting-like record with its gold cluster. Seeds keep their (hand-checked) clusters;
constructed variants of a seed paper must merge with it; constructed negatives must not merge with
anything; look-alikes (issue 15: another method name before a seed's subtitle, a few of its abstract's
words changed) are distinct papers too. Deterministic (seeded, the look-alikes on their own stream so the
earlier rows stay as they were); run `python -m eval.build` to regenerate, the CSV is committed.
"""

import random
import unicodedata
from pathlib import Path

import pandas as pd

from paperlake.ingest import process_pages, read_raw
from paperlake.normalize import title_key

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "raw"
OUT = Path(__file__).with_name("resolution.csv")
SEED = 20261123
N_VARIANTS, N_NEGATIVES, N_LOOKALIKES, N_SAME_NAME = 160, 100, 60, 60
DASHES = ["\u2013", "\u2014", "\u2010", " - "]  # en dash, em dash, hyphen


def seed_records() -> pd.DataFrame:
    pages = [read_raw(p, SAMPLE) for p in sorted(SAMPLE.iterdir())]
    s = process_pages(pages).sightings.reset_index(drop=True)
    # gold clusters for the seeds: same title key and same abstract, checked by hand (283 → 266)
    s["cluster"] = "c_" + s["title"].map(title_key).factorize()[0].astype(str)
    return pd.DataFrame(
        {
            "record": s["sighting_id"],
            "cluster": s["cluster"],
            "title": s["title"],
            "abstract": s["abstract"],
            "kind": "seed",
        }
    )


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(1, max(2, len(text) - 1))
    return text[:i] + text[i + 1 :] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]


TITLE_VARIANTS = {
    "upper": lambda rng, t: t.upper(),
    "lower": lambda rng, t: t.lower(),
    "trailing_period": lambda rng, t: t + ".",
    "no_punctuation": lambda rng, t: "".join(c for c in t if c.isalnum() or c.isspace()),
    "dashes": lambda rng, t: t.replace("-", rng.choice(DASHES)).replace(":", " —"),
    "spacing": lambda rng, t: "  ".join(t.split(" ")) + " ",
    "nfd": lambda rng, t: unicodedata.normalize("NFD", t.replace("e", "é", 1)),
    "fullwidth": lambda rng, t: (
        "".join(chr(ord(c) + 0xFEE0) if c.isalpha() and c.isascii() else c for c in t[:4]) + t[4:]
    ),
    "typo": _typo,
    "british": lambda rng, t: t.replace("ize", "ise").replace("yze", "yse").replace("or ", "our ") or t,
}
ABSTRACT_VARIANTS = {
    "same": lambda rng, a: a,
    "word_edit": lambda rng, a: a.replace(" the ", " this ", 1),
    "truncated": lambda rng, a: a[: int(len(a) * rng.uniform(0.6, 0.85))],
    "code_sentence": lambda rng, a: a + " Code is available at https://github.com/example/repo.",
    "latex": lambda rng, a: a.replace("%", "\\%").replace("_", "\\_"),
}


def variants(seeds: pd.DataFrame, rng: random.Random) -> list[dict]:
    rows = []
    pool = seeds.drop_duplicates("cluster").reset_index(drop=True)
    for n in range(N_VARIANTS):
        src = pool.iloc[rng.randrange(len(pool))]
        if n % 8 == 7:  # retitled: a new title over the identical abstract (arXiv v2 renames)
            name = f"{src['title'].split(':')[0].split()[0]}: {rng.choice(['A New Look', 'Revisited', 'v2'])}"
            rows.append(
                {
                    "record": f"var{n}",
                    "cluster": src["cluster"],
                    "title": name,
                    "abstract": src["abstract"],
                    "kind": "variant:retitled",
                }
            )
            continue
        tv, av = rng.choice(list(TITLE_VARIANTS)), rng.choice(list(ABSTRACT_VARIANTS))
        rows.append(
            {
                "record": f"var{n}",
                "cluster": src["cluster"],
                "title": TITLE_VARIANTS[tv](rng, src["title"]),
                "abstract": ABSTRACT_VARIANTS[av](rng, src["abstract"]),
                "kind": f"variant:{tv}+{av}",
            }
        )
    return rows


def _foreign_abstract(pool: pd.DataFrame, rng: random.Random) -> str:
    """Six sentences from six different papers: an abstract no single paper shares more than a line with."""
    picks = [pool.iloc[i]["abstract"].split(". ") for i in rng.sample(range(len(pool)), 6)]
    return ". ".join(rng.choice(sentences) for sentences in picks).rstrip(".") + "."


def negatives(seeds: pd.DataFrame, rng: random.Random) -> list[dict]:
    rows = []
    pool = seeds.drop_duplicates("cluster").reset_index(drop=True)
    for n in range(N_NEGATIVES):
        src, other = (pool.iloc[i] for i in rng.sample(range(len(pool)), 2))
        kind = [
            "same_title_other_abstract",
            "part_two",
            "version_suffix",
            "shared_prefix",
            "one_word_changed",
        ][n % 5]
        title = {
            "same_title_other_abstract": src["title"],
            "part_two": src["title"] + " Part II",
            "version_suffix": src["title"].split(":")[0]
            + " v4"
            + (":" + src["title"].split(":", 1)[1] if ":" in src["title"] else ""),
            "shared_prefix": src["title"].split(":")[0] + ": " + other["title"].split(":")[-1].strip(),
            "one_word_changed": src["title"].replace(src["title"].split()[-1], "Revisited", 1),
        }[kind]
        rows.append(
            {
                "record": f"neg{n}",
                "cluster": f"neg{n}",
                "title": title,
                "abstract": _foreign_abstract(pool, rng),
                "kind": f"negative:{kind}",
            }
        )
    return rows


def lookalikes(seeds: pd.DataFrame, rng: random.Random) -> list[dict]:
    """Distinct papers that share a seed's subtitle under another name, with 3-15 abstract words changed
    (rapidfuzz ~ 93-99): the pairs title and abstract alone would merge."""
    pool = seeds[seeds["title"].str.contains(": ")].drop_duplicates("cluster").reset_index(drop=True)
    words = [w for a in seeds["abstract"] for w in a.split() if w.isalpha() and len(w) > 3]
    rows = []
    for n in range(N_LOOKALIKES):
        src = pool.iloc[rng.randrange(len(pool))]
        name = "".join(rng.choice(words).capitalize() for _ in range(2))[:12]
        abstract = src["abstract"].split(" ")
        for i in rng.sample(range(len(abstract)), min(len(abstract), rng.randint(3, 15))):
            abstract[i] = rng.choice(words)
        rows.append(
            {
                "record": f"look{n}",
                "cluster": f"look{n}",
                "title": f"{name}: {src['title'].split(': ', 1)[1]}",
                "abstract": " ".join(abstract),
                "kind": "negative:lookalike",
            }
        )
    return rows


def _another(rng: random.Random, words: list[str], word: str) -> str:
    """A random word that is not `word`: a replacement that came out the same would change nothing."""
    while (other := rng.choice(words)).lower() == word.lower():
        pass
    return other


def same_name_lookalikes(seeds: pd.DataFrame, rng: random.Random) -> list[dict]:
    """Issue 24: distinct papers that keep a seed's name before the colon, change one or two subtitle words
    and reword the abstract in scattered words down to a ratio drawn from 0.85-0.99. The records carry no
    date or authors (none of this set does), so only title and abstract can tell them apart."""
    from rapidfuzz import fuzz

    pool = seeds[seeds["title"].str.contains(": ")].drop_duplicates("cluster").reset_index(drop=True)
    words = [w for a in seeds["abstract"] for w in a.split() if w.isalpha() and len(w) > 3]
    rows = []
    for n in range(N_SAME_NAME):
        src = pool.iloc[rng.randrange(len(pool))]
        name, subtitle = src["title"].split(": ", 1)
        sub = subtitle.split(" ")
        for i in rng.sample(range(len(sub)), min(len(sub), rng.randint(1, 2))):
            sub[i] = _another(rng, words, sub[i])
        target = rng.choice((0.85, 0.88, 0.91, 0.94, 0.97, 0.99)) * 100
        abstract, places = src["abstract"].split(" "), list(range(len(src["abstract"].split(" "))))
        rng.shuffle(places)
        for k, i in enumerate(places, start=1):
            abstract[i] = _another(rng, words, abstract[i])
            if k >= 2 and fuzz.ratio(src["abstract"], " ".join(abstract)) <= target:
                break
        rows.append(
            {
                "record": f"same_name{n}",
                "cluster": f"same_name{n}",
                "title": f"{name}: {' '.join(sub)}",
                "abstract": " ".join(abstract),
                "kind": "negative:lookalike_same_name",
            }
        )
    return rows


def build() -> pd.DataFrame:
    rng = random.Random(SEED)
    seeds = seed_records()
    return pd.concat(
        [
            seeds,
            pd.DataFrame(variants(seeds, rng)),
            pd.DataFrame(negatives(seeds, rng)),
            pd.DataFrame(lookalikes(seeds, random.Random(SEED + 15))),
            pd.DataFrame(same_name_lookalikes(seeds, random.Random(SEED + 24))),
        ],
        ignore_index=True,
    )


if __name__ == "__main__":
    df = build()
    df.to_csv(OUT, index=False)
    print(f"wrote {len(df)} records, {df['cluster'].nunique()} clusters to {OUT}")
    print(df["kind"].str.split(":").str[0].value_counts().to_string())
